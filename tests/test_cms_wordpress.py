"""The ``wordpress`` adapter against a real WordPress 6.1 (Debian package, php -S, MariaDB) started by these tests.

Runs wherever ``apt-get install wordpress php-cli php-mysql`` has been done and MariaDB answers (scripts/ensure-services.sh
installs both in CI); otherwise every test here is skipped with the exact missing piece as the reason — and under CI
such a skip fails the run (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from channels.base import Action, NotConfigured, PermanentError, TransientError
from channels.cms.common import content_hash
from channels.cms.wordpress import WordPressChannel
from tests.cms_payloads import ENTRY_PATH, make_ctx, make_doc
from tests.cms_wordpress import ADMIN_USER, WordPressServer, unavailable_reason

_reason = unavailable_reason()
pytestmark = [pytest.mark.requires_service,
              pytest.mark.skipif(_reason is not None, reason=f"WordPress cannot run here: {_reason}")]


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory) -> Iterator[WordPressServer]:
    server = WordPressServer(tmp_path_factory.mktemp("wordpress")).install().start()
    try:
        yield server
    finally:
        server.drop()


def make_channel(wp: WordPressServer, **overrides) -> WordPressChannel:
    config = {"base_url": wp.base_url, "username": ADMIN_USER, "app_password": wp.app_password,
              "category_root": "政府信息公开", "timeout": 10}
    return WordPressChannel({**config, **overrides}, name="门户网站")


def posts_with_slug(wp: WordPressServer, slug: str) -> list[dict]:
    return wp.api("GET", "/wp/v2/posts", params={"slug": slug, "status": "publish,draft,private",
                                                 "context": "edit"}).json()


def test_publish_with_attachment_and_categories(wordpress: WordPressServer, tmp_path: Path) -> None:
    channel = make_channel(wordpress)
    doc = make_doc(tmp_path, attachments=2)
    ctx = make_ctx(doc)
    receipt = channel.run(ctx)
    assert receipt.external_id and receipt.url

    post = wordpress.api("GET", f"/wp/v2/posts/{receipt.external_id}", params={"context": "edit"}).json()
    assert post["status"] == "publish"
    assert post["title"]["raw"] == doc.title
    assert post["meta"] == {"orch_key": ctx.idempotency_key, "orch_doc": f"doc-{doc.document_id}"}

    # Hierarchical categories: 政府信息公开 > 行政执法 > 行政处罚 > 处罚决定.
    (leaf_id,) = post["categories"]
    chain = []
    cat_id = leaf_id
    while cat_id:
        cat = wordpress.api("GET", f"/wp/v2/categories/{cat_id}").json()
        chain.append(cat["name"])
        cat_id = cat["parent"]
    assert chain[::-1] == ["政府信息公开", *ENTRY_PATH]

    # Media library entries with the right bytes, linked from the body under the person-given names.
    for att in doc.attachments:
        media = wordpress.api("GET", f"/wp/v2/media/{receipt.data['media'][att.sha256]['id']}",
                              params={"context": "edit"}).json()
        assert media["title"]["raw"] == att.filename
        assert requests.get(media["source_url"], timeout=10).content == att.path.read_bytes()
        assert media["source_url"] in post["content"]["raw"] and att.filename in post["content"]["raw"]

    public = requests.get(receipt.url, timeout=10)
    assert public.status_code == 200
    assert doc.title in public.text and f"校验码：{content_hash(doc)}" in public.text
    assert channel.verify(ctx, receipt) is True

    # Same catalog entry again: categories are reused, not duplicated.
    second = channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
    assert wordpress.api("GET", f"/wp/v2/posts/{second.external_id}").json()["categories"] == [leaf_id]
    assert len(wordpress.api("GET", "/wp/v2/categories", params={"search": "行政执法"}).json()) == 1


def test_update_round_trip(wordpress: WordPressServer, tmp_path: Path) -> None:
    channel = make_channel(wordpress)
    v1 = make_doc(tmp_path)
    first = channel.run(make_ctx(v1))
    v2 = make_doc(tmp_path, document_id=v1.document_id, version=2, title="关于行政处罚决定的公告（更正）")
    ctx2 = make_ctx(v2, Action.update, previous=first)
    second = channel.run(ctx2)
    assert second.external_id == first.external_id
    post = wordpress.api("GET", f"/wp/v2/posts/{second.external_id}", params={"context": "edit"}).json()
    assert post["title"]["raw"] == v2.title and "第2条" in post["content"]["raw"]
    assert post["meta"]["orch_key"] == first.data["orch_key"]
    assert channel.verify(ctx2, second) is True
    assert channel.verify(make_ctx(v1), first) is False

    # Receipt lost: the update still finds the post (slug + registered meta) and edits it in place.
    v3 = make_doc(tmp_path, document_id=v1.document_id, version=3, title="第三版")
    assert channel.run(make_ctx(v3, Action.update)).external_id == first.external_id
    assert len(posts_with_slug(wordpress, post["slug"])) == 1


@pytest.mark.parametrize("mode", ["draft", "private", "delete"])
def test_withdraw_round_trip(wordpress: WordPressServer, tmp_path: Path, mode: str) -> None:
    channel = make_channel(wordpress, withdraw_mode=mode)
    doc = make_doc(tmp_path, attachments=0)
    published = channel.run(make_ctx(doc))
    assert requests.get(published.url, timeout=10).status_code == 200

    wctx = make_ctx(doc, Action.withdraw, previous=published)
    withdrawn = channel.run(wctx)
    assert withdrawn.data["withdrawn"] == mode
    assert requests.get(published.url, timeout=10).status_code == 404  # anonymous readers no longer see it
    assert channel.verify(wctx, withdrawn) is True
    stored = wordpress.api("GET", f"/wp/v2/posts/{published.external_id}", params={"context": "edit"})
    if mode == "delete":
        assert stored.status_code == 404
    else:
        assert stored.json()["status"] == mode
    again = channel.run(make_ctx(doc, Action.withdraw, previous=published))  # a retried withdrawal is harmless
    assert again.data["withdrawn"] == mode


def test_retry_after_unknown_outcome_finds_post_by_key(wordpress: WordPressServer, tmp_path: Path) -> None:
    doc = make_doc(tmp_path)
    key = f"website:wordpress:{doc.document_id}:1:publish"
    first = make_channel(wordpress).run(make_ctx(doc, key=key))
    retry = make_channel(wordpress).run(make_ctx(doc, key=key))  # fresh attempt: no receipt, no checkpoint
    assert retry.external_id == first.external_id
    post = wordpress.api("GET", f"/wp/v2/posts/{first.external_id}", params={"context": "edit"}).json()
    assert len(posts_with_slug(wordpress, post["slug"])) == 1
    att = doc.attachments[0]
    media = wordpress.api("GET", "/wp/v2/media", params={"search": att.filename, "per_page": 100}).json()
    assert [m["source_url"] for m in media].count(first.data["media"][att.sha256]["url"]) == 1
    assert sum(att.sha256[:12] in m["source_url"] for m in media) == 1  # uploaded once, not again by the retry


def test_errors_map_to_the_contract(wordpress: WordPressServer, tmp_path: Path) -> None:
    with pytest.raises(NotConfigured) as err:
        make_channel(wordpress, app_password="wrong wrong wrong").run(make_ctx(make_doc(tmp_path, attachments=0)))
    assert "HTTP 401" in err.value.message and "应用程序密码" in err.value.message

    with pytest.raises(NotConfigured, match="withdraw_mode"):
        make_channel(wordpress, withdraw_mode="hide").run(make_ctx(make_doc(tmp_path, attachments=0)))

    # A 4xx validation error: an unknown post id in a receipt cannot be updated into a bogus status.
    channel = make_channel(wordpress)
    published = channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
    with pytest.raises(PermanentError) as err:
        channel._call("POST", f"/wp/v2/posts/{published.external_id}", json={"status": "bogus"})
    assert "HTTP 400" in err.value.message and not isinstance(err.value, NotConfigured)

    wordpress.stop()
    try:
        with pytest.raises(TransientError, match="无法连接"):
            channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
    finally:
        wordpress.start()
