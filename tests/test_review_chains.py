"""Review chains through the web app, the REST API and the CLI on a real PostgreSQL (no workers; the fan-out end is
in test_review_fanout.py, the browser in test_review_browser.py): the admin page and its validation, a four-step
chain with send-backs and a resubmission, reviewers who may not act, skipped steps, per-entry overrides, hostile
input, the pending lists, the 审批单 (docx rows, PDF text) and the deployment file."""

from __future__ import annotations

import io
import re
import shutil
import unicodedata

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.api_helpers import ROOT, configure
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database: bindings are global)
from tests.review_support import (
    CHAIN_PUBLISHER,
    OFFICE,
    OTHER_OFFICE,
    SECRECY_OFFICE,
    chain_form,
    four_steps,
    setup_chains,
    write_catalog,
)
from tests.web_support import REVIEW_CATALOG, WebEnv, csrf_of, make_web_user


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    review = tmp_path / "review.yaml"
    review.write_text(REVIEW_CATALOG, encoding="utf-8")
    configure(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "website", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    }, extra_catalogs=[review, write_catalog(tmp_path)])
    from orchestrator.app import create_app
    from orchestrator.db import session_scope
    from orchestrator.review.models import ReviewBinding, ReviewChain

    with session_scope() as s:  # each test starts without chains (the module's database is shared by its tests)
        s.query(ReviewBinding).delete()
        for c in s.scalars(select(ReviewChain)):
            s.delete(c)
    users = {
        "clerk": make_web_user("clerk", OFFICE, display_name="王经办"),
        "first": make_web_user("reviewer", OFFICE, display_name="初审员"),
        "other": make_web_user("reviewer", OTHER_OFFICE, display_name="外科室审核"),
        "second": make_web_user("reviewer", "", display_name="复审员"),
        "secrecy": make_web_user("reviewer", SECRECY_OFFICE, display_name="保密员"),
        "leader": make_web_user("reviewer", "", display_name="局长"),
        "ops": make_web_user("ops"),
        "admin": make_web_user("admin", display_name="管理员甲"),
    }
    return WebEnv(create_app(), users)


def _submit(web: WebEnv, entry: str = "GZ-01", title: str = "关于规范行政执法的若干规定") -> int:
    from orchestrator.documents import submission

    res = submission.submit({"entry": entry, "publisher": CHAIN_PUBLISHER, "title": title, "body": "<p>第一条 正文</p>",
                             "formed_on": "2026-11-02", "submitted_by": web.users["clerk"]})
    return res.document_id


def _state(document_id: int) -> tuple[str, str, int, str, int]:
    """(document status, review state, current step, current step name, number of deliveries)."""
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, Document
    from orchestrator.review.models import DocumentReview

    with session_scope() as s:
        doc = s.get(Document, document_id)
        r = s.get(DocumentReview, document_id)
        n = len(list(s.scalars(select(Delivery.id).where(Delivery.document_id == document_id))))
        return doc.status, r.state, r.current_step, r.steps[r.current_step]["name"], n


def _act(client, doc_id: int, action: str, step: int | str, **fields):
    data = {"csrf_token": csrf_of(client.get(f"/documents/{doc_id}").text), "step": str(step), **fields}
    return client.post(f"/documents/{doc_id}/review/{action}", data=data)


def _flash(r) -> str:
    assert r.status_code == 200, r.text[:500]
    start = r.text.find('class="flash')
    return r.text[start:start + 400]


def test_admin_defines_chains_on_the_web_page_with_chinese_validation(web):
    admin, clerk = web.client("admin"), web.client("clerk")
    page = admin.get("/review-chains")
    assert page.status_code == 200 and "审核流程" in page.text
    assert 'href="/review-chains"' in admin.get("/admin").text  # listed under 系统管理
    tok = csrf_of(page.text)
    steps = four_steps(web.users["leader"])
    r = admin.post("/review-chains", data=chain_form("规范性文件四审", steps, csrf=tok))
    assert "已保存审核流程" in _flash(r)
    page = admin.get("/review-chains").text
    page = page[page.index('data-chain="规范性文件四审"'):]
    assert page.index("初审") < page.index("复审") < page.index("保密审查") < page.index("终审")
    assert "文件责任科室" in page and SECRECY_OFFICE in page and web.users["leader"] in page

    def refused(data: dict, *needles: str, status: int = 422) -> None:
        resp = admin.post("/review-chains", data=data)
        assert resp.status_code == status, resp.text[:300]
        for n in needles:
            assert n in resp.text, (n, resp.text[resp.text.find("chain-errors"):][:600])

    refused(chain_form("空流程", [], csrf=tok), "步骤", "至少需要一项")
    refused(chain_form("无人", [{"name": "初审"}], csrf=tok), "未指定由谁审核")
    refused(chain_form("重名", [{"name": "初审", "role": "reviewer"}, {"name": "初审", "role": "reviewer"}], csrf=tok),
            "步骤名称“初审”重复")
    refused(chain_form("错角色", [{"name": "初审", "role": "boss"}], csrf=tok), "角色“boss”不存在")
    refused(chain_form("错人", [{"name": "初审", "users": ["张 三;drop"]}], csrf=tok), "不是有效的用户名")
    refused(chain_form("规范性文件四审", [{"name": "初审", "role": "reviewer"}], csrf=tok), "已有名为“规范性文件四审”")
    refused(chain_form("长" * 101, [{"name": "初审", "role": "reviewer"}], csrf=tok), "名称", "过长（上限 100 字）")
    many = chain_form("太多", [{"name": f"第{i}步", "role": "reviewer"} for i in range(13)], csrf=tok, blanks=0)
    refused(many, "步骤过多")
    broken = chain_form("缺栏", [{"name": "初审", "role": "reviewer"}], csrf=tok)
    broken["step_role"] = broken["step_role"][:1]
    refused(broken, "表单不完整")
    # Forged posts: no CSRF token, another role, an id that is not a chain.
    assert admin.post("/review-chains", data=chain_form("伪造", steps)).status_code == 403
    r = clerk.post("/review-chains", data=chain_form("伪造", steps, csrf=csrf_of(clerk.get("/documents").text)))
    assert r.status_code == 403 and "权限不足" in r.text
    assert admin.post("/review-chains/99999/delete", data={"csrf_token": tok}).status_code == 409
    assert admin.post("/review-chains/abc", data=chain_form("x", steps, csrf=tok)).status_code == 422

    # Bindings: the chain's skippable steps only, known publisher / entry / chain.
    def bind(**fields) -> str:
        resp = admin.post("/review-chains/bindings", data={"csrf_token": tok, **fields})
        return resp.text if resp.status_code != 200 else _flash(resp)

    assert "步骤“保密审查”不允许跳过" in bind(publisher=CHAIN_PUBLISHER, entry="GZ-03", chain="规范性文件四审", skip="保密审查")
    assert "没有步骤“会签”" in bind(publisher=CHAIN_PUBLISHER, entry="GZ-03", chain="规范性文件四审", skip="会签")
    assert "审核流程“不存在的”不存在" in bind(publisher=CHAIN_PUBLISHER, chain="不存在的")
    assert "没有编码为“ZZ-99”的事项" in bind(publisher=CHAIN_PUBLISHER, entry="ZZ-99", chain="规范性文件四审")
    assert "发布机构“无此局”不存在" in bind(publisher="无此局", chain="规范性文件四审")
    assert "已设置" in bind(publisher=CHAIN_PUBLISHER, chain="规范性文件四审")
    assert "已设置" in bind(publisher=CHAIN_PUBLISHER, entry="GZ-03", chain="规范性文件四审", skip="复审")
    assert "已设置" in bind(publisher=CHAIN_PUBLISHER, entry="GZ-02", chain="")  # 不审核
    page = admin.get("/review-chains").text
    assert "不审核" in page and "（全部事项）" in page
    # A chain still in use is not deleted; an edit that would make a binding's skip invalid is refused.
    from orchestrator.db import session_scope
    from orchestrator.review.models import ReviewChain

    with session_scope() as s:
        chain_id = s.scalar(select(ReviewChain.id).where(ReviewChain.name == "规范性文件四审"))
    r = admin.post(f"/review-chains/{chain_id}/delete", data={"csrf_token": tok})
    assert r.status_code == 409 and "仍被适用范围使用" in r.text
    unskippable = [{**s, "skippable": False} for s in steps]
    r = admin.post(f"/review-chains/{chain_id}", data=chain_form("规范性文件四审", unskippable, csrf=tok))
    assert r.status_code == 422 and "不存在或不可跳过" in r.text
    # GZ-02 now has no review at all; GZ-01 the four steps.
    assert _state_or_none(_submit(web, "GZ-02")) is None
    assert _state(_submit(web, "GZ-01"))[:4] == ("pending_review", "in_review", 0, "初审")


def _state_or_none(document_id: int):
    from orchestrator.db import session_scope
    from orchestrator.models import Document
    from orchestrator.review.models import DocumentReview

    with session_scope() as s:
        assert s.get(Document, document_id).status == "active"
        return s.get(DocumentReview, document_id)


def test_four_steps_send_backs_resubmission_and_who_may_act(web):
    from orchestrator.db import session_scope
    from orchestrator.review import chains

    setup_chains(web.users["leader"])
    doc_id = _submit(web)
    assert _state(doc_id) == ("pending_review", "in_review", 0, "初审", 0)
    first, other, second = web.client("first"), web.client("other"), web.client("second")
    secrecy, leader, clerk = web.client("secrecy"), web.client("leader"), web.client("clerk")

    # The to-do lists: the responsible office's reviewer has it, the other office's does not.
    with session_scope() as s:
        def mine(who: str) -> list[int]:
            return [i.document_id for i in chains.pending_for(s, _principal(s, web.users[who]))]

        assert doc_id in mine("first") and doc_id not in mine("other") and doc_id not in mine("secrecy")
        assert any(i.document_id == doc_id and i.step_name == "初审" for i in chains.steps_awaiting(s))

    # A reviewer of another office cannot act: 403 with the reason, on the web and through the API.
    page = other.get(f"/documents/{doc_id}").text
    assert 'id="approve-btn"' not in page and "须由文件的责任科室（办公室）办理" in page
    r = _act(other, doc_id, "approve", 0)
    assert r.status_code == 403 and "须由文件的责任科室" in r.text
    assert _act(other, doc_id, "send-back", 0, comment="越权退回", target="clerk").status_code == 403
    assert _act(other, doc_id, "reject", 0, comment="越权").status_code == 403
    api = web.client()
    r = api.post(f"/api/v1/documents/{doc_id}/approve", headers={"Authorization": f"Bearer {_token(web.users['other'])}"})
    assert r.status_code == 403 and "责任科室" in r.text
    # The old single-step route applies the chain's rule too.
    r = other.post(f"/documents/{doc_id}/approve", data={"csrf_token": csrf_of(other.get("/documents").text)},
                   follow_redirects=False)
    assert r.status_code == 403 or "未执行" in other.get(f"/documents/{doc_id}").text
    assert _state(doc_id)[2] == 0

    # Hostile input: unknown step ids, a stale step, overlong comments, a bogus send-back target, no CSRF.
    assert "审核步骤不存在" in _flash(_act(first, doc_id, "approve", 99))
    assert "审核步骤不存在" in _flash(_act(first, doc_id, "approve", "abc"))
    assert "审核步骤不存在" in _flash(_act(first, doc_id, "approve", "-1"))
    assert "缺少审核步骤" in _flash(_act(first, doc_id, "approve", ""))
    assert "审核意见过长（上限 2000 字" in _flash(_act(first, doc_id, "approve", 0, comment="长" * 2001))
    r = _act(first, doc_id, "approve", 0, comment="长" * 20_001)
    assert r.status_code == 422 and "过长" in r.text
    assert "请填写退回意见" in _flash(_act(first, doc_id, "send-back", 0, comment="  ", target="clerk"))
    assert "审核步骤不存在" in _flash(_act(first, doc_id, "send-back", 0, comment="x", target="../../etc"))
    assert "只能退回给经办人或之前的审核步骤" in _flash(_act(first, doc_id, "send-back", 0, comment="x", target="0"))
    assert "请填写不通过的原因" in _flash(_act(first, doc_id, "reject", 0, comment=""))
    r = first.post(f"/documents/{doc_id}/review/approve", data={"step": "0"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert first.post("/documents/99999999/review/approve", data={"step": "0", "csrf_token": "x"}).status_code in (403, 404)
    assert _state(doc_id) == ("pending_review", "in_review", 0, "初审", 0)

    # 初审 → 复审 → 保密审查; the stale step is refused; nothing is delivered yet.
    assert "转入下一步“复审”" in _flash(_act(first, doc_id, "approve", 0, comment="同意"))
    assert "审核步骤已变化（当前为“复审”）" in _flash(_act(first, doc_id, "approve", 0))
    assert "转入下一步“保密审查”" in _flash(_act(second, doc_id, "approve", 1, comment="同意报保密审查"))
    r = _act(second, doc_id, "approve", 2)
    assert r.status_code == 403 and "须由保密办办理" in r.text
    # 保密审查 sends it back to 初审 (an earlier step); 初审 approves again, 复审 again.
    assert "已退回“初审”重新审核" in _flash(_act(secrecy, doc_id, "send-back", 2, comment="请初审核对附件", target="0"))
    assert _state(doc_id) == ("pending_review", "in_review", 0, "初审", 0)
    _act(first, doc_id, "approve", 0, comment="已核对")
    _act(second, doc_id, "approve", 1)
    assert "转入下一步“终审”" in _flash(_act(secrecy, doc_id, "approve", 2, comment="无涉密内容"))
    # Only the named leader acts at 终审; they send it back to the clerk.
    r = _act(secrecy, doc_id, "approve", 3)
    assert r.status_code == 403 and "仅限指定人员" in r.text
    assert "已退回经办人修改（终审）" in _flash(_act(leader, doc_id, "send-back", 3, comment="第一条表述需修改",
                                                    target="clerk"))
    assert _state(doc_id)[:2] == ("pending_review", "returned")
    assert "已退回经办人修改" in _flash(_act(leader, doc_id, "approve", 3))  # cannot approve while returned
    with session_scope() as s:
        back = chains.returned_for(s, _principal(s, web.users["clerk"]))
        assert [(i.document_id, i.step_name, i.comment) for i in back] == [(doc_id, "终审", "第一条表述需修改")]
        assert doc_id not in [i.document_id for i in chains.pending_for(s, _principal(s, web.users["leader"]))]
    page = clerk.get(f"/documents/{doc_id}").text
    assert 'id="returned-note"' in page and "第一条表述需修改" in page

    # The clerk resubmits a new version: the chain restarts from the first step (the chain's setting).
    r = clerk.post(f"/documents/{doc_id}/versions", data={
        "csrf_token": csrf_of(page), "title": "关于规范行政执法的若干规定", "body": "第一条 修改后的正文",
        "body_format": "markdown", "change_note": "按终审意见修改", "keep_attachments": "true"})
    assert "已重新提交审核，从“初审”开始" in _flash(clerk.get(r.headers.get("location", f"/documents/{doc_id}"))
                                                  if r.status_code == 303 else r)
    assert _state(doc_id) == ("pending_review", "in_review", 0, "初审", 0)
    for who, step in (("first", 0), ("second", 1), ("secrecy", 2)):
        _act(web.client(who), doc_id, "approve", step, comment=f"{who} 同意")
        assert _state(doc_id)[4] == 0  # still nothing delivered before the last step
    assert "审核全部通过，开始向 2 个渠道发布" in _flash(_act(leader, doc_id, "approve", 3, comment="同意发布"))
    status, state, *_rest, n = _state(doc_id)
    assert (status, state, n) == ("active", "approved", 2)

    # The timeline on the document page and the 审批单 carry every action, in order.
    with session_scope() as s:
        actions = [(a.decision, a.step_name, a.version) for a in chains.actions_of(s, doc_id)]
    assert actions == [
        ("submit", "", 1), ("approve", "初审", 1), ("approve", "复审", 1), ("send_back", "保密审查", 1),
        ("approve", "初审", 1), ("approve", "复审", 1), ("approve", "保密审查", 1), ("send_back", "终审", 1),
        ("resubmit", "", 2), ("approve", "初审", 2), ("approve", "复审", 2), ("approve", "保密审查", 2),
        ("approve", "终审", 2)]
    page = clerk.get(f"/documents/{doc_id}").text
    assert page.count('data-decision="approve"') == 9 and page.count('data-decision="send_back"') == 2
    assert "请初审核对附件" in page and "同意发布" in page and "（退回至初审）" in page

    from docx import Document as Docx

    r = clerk.get(f"/documents/{doc_id}/approval.docx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    tables = Docx(io.BytesIO(r.content)).tables
    meta = {row.cells[0].text: row.cells[1].text for row in tables[0].rows}
    assert meta["标题"] == "关于规范行政执法的若干规定" and meta["审核状态"] == "审核通过"
    rows = [[c.text for c in row.cells] for row in tables[1].rows]
    assert rows[0] == ["序号", "审核步骤", "审核意见", "办理结果", "审核人", "时间", "版本"]
    assert len(rows) - 1 == len(actions)
    signed = [(r_[1], r_[3], r_[4]) for r_ in rows[1:] if r_[3] == "通过"]
    assert ("终审", "通过", "局长") in signed and ("保密审查", "通过", "保密员") in signed
    assert sum(1 for r_ in rows[1:] if r_[3] == "通过") == 9
    assert any(r_[3] == "退回（退回至经办人）" and r_[2] == "第一条表述需修改" for r_ in rows[1:])

    # The print view and the PDF (Chromium with the packaged CJK font: the Chinese text is in the file).
    html = clerk.get(f"/documents/{doc_id}/approval").text
    assert "政府信息主动公开审批单" in html and html.count("<tr>") >= len(actions)
    r = clerk.get(f"/documents/{doc_id}/approval.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    import pdfplumber

    with pdfplumber.open(io.BytesIO(r.content)) as pdf:
        text = "".join(p.extract_text() or "" for p in pdf.pages)
    # Glyphs the font shares with the radical blocks (一, 长) extract as radicals: NFKC folds most of them back.
    flat = re.sub(r"\s", "", unicodedata.normalize("NFKC", text))
    assert "政府信息主动公开审批单" in flat and "规范性文件四审" in flat, flat
    for name in ("初审员", "复审员", "保密员"):
        assert name in flat, (name, flat)


def test_restart_from_the_step_that_sent_it_back_and_a_skipped_step(web):
    from orchestrator.db import session_scope
    from orchestrator.documents import versions
    from orchestrator.review import chains

    setup_chains(web.users["leader"], restart="from_sender")
    doc_id = _submit(web, "GZ-03", "通知公告（跳过复审）")
    first, secrecy = web.client("first"), web.client("secrecy")
    assert "转入下一步“保密审查”" in _flash(_act(first, doc_id, "approve", 0))  # 复审 is skipped for GZ-03
    assert "已退回经办人修改" in _flash(_act(secrecy, doc_id, "send-back", 2, comment="删去第三段", target="clerk"))
    res = versions.new_version(doc_id, {"body": "<p>删去第三段后</p>", "submitted_by": web.users["clerk"]})
    assert any("从“保密审查”开始" in w for w in res.warnings) and res.delivery_ids == []
    assert _state(doc_id)[:4] == ("pending_review", "in_review", 2, "保密审查")
    page = web.client("clerk").get(f"/documents/{doc_id}").text
    assert 'class="step-skipped"' in page and "跳过（按目录事项设置）" in page
    _act(secrecy, doc_id, "approve", 2)
    _act(web.client("leader"), doc_id, "approve", 3)
    assert _state(doc_id)[0] == "active"
    with session_scope() as s:
        decisions = [(a.decision, a.step_name) for a in chains.actions_of(s, doc_id)]
    assert decisions == [("submit", ""), ("approve", "初审"), ("skip", "复审"), ("send_back", "保密审查"),
                         ("resubmit", ""), ("approve", "保密审查"), ("approve", "终审")]


def test_per_entry_one_step_chain_and_the_legacy_switch(web):
    setup_chains(web.users["leader"])
    doc_id = _submit(web, "GZ-02", "机关动态一则")
    assert _state(doc_id)[:4] == ("pending_review", "in_review", 0, "保密审查")
    other = web.client("other")  # the one-step chain names a role only: any reviewer may act
    assert "审核全部通过" in _flash(_act(other, doc_id, "approve", 0))
    assert _state(doc_id)[0] == "active"
    # The catalog's review switch is still a one-step 保密审查, approved on the old route as before.
    from orchestrator.documents import submission

    res = submission.submit({"entry": "R-01", "publisher": "测试审核局", "title": "任免名单", "body": "<p>名单</p>",
                             "formed_on": "2026-11-02"})
    assert any("保密审查" in w for w in res.warnings)
    rev = web.client("second")
    page = rev.get(f"/documents/{res.document_id}").text
    assert "保密审查通过，发布" in page
    r = rev.post(f"/documents/{res.document_id}/approve", data={"csrf_token": csrf_of(page)})
    assert "保密审查已通过" in _flash(r)


def test_reviewer_page_shows_channels_attachments_and_personal_data(web):
    from orchestrator.documents import inputs, submission

    setup_chains(web.users["leader"])
    res = submission.submit({"entry": "GZ-01", "publisher": CHAIN_PUBLISHER, "title": "执法人员名单",
                             "body": "<p>联系人：张三，电话 13812345678</p>", "formed_on": "2026-11-02",
                             "confirm_personal_data": True, "submitted_by": web.users["clerk"]},
                            [inputs.Upload("名单.pdf", io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"))])
    page = web.client("first").get(f"/documents/{res.document_id}/review").text
    assert "13812345678" not in page.split('id="personal-findings"')[1].split("</div>")[0]
    assert "手机号" in page and "登记人已确认" in page
    assert 'data-channel="website"' in page and 'data-channel="reading_room"' in page
    assert "名单.pdf" in page and 'id="approve-btn"' in page
    other = web.client("other").get(f"/documents/{res.document_id}/review").text
    assert 'id="approve-btn"' not in other and 'id="not-your-step"' in other
    # A clerk of another office cannot even see it.
    outsider = web.client()
    from tests.web_support import login

    login(outsider, make_web_user("clerk", OTHER_OFFICE))
    assert outsider.get(f"/documents/{res.document_id}/review").status_code == 404
    assert outsider.get(f"/documents/{res.document_id}/approval.docx").status_code == 404


def test_deployment_file_load_and_show(web, tmp_path):
    from orchestrator.cli import app

    runner = CliRunner()
    good = tmp_path / "review_chains.yaml"
    good.write_text(f"""
chains:
  - name: 四审
    restart: from_sender
    steps:
      - {{name: 初审, role: reviewer, own_office: true}}
      - {{name: 复审, role: reviewer, skippable: true}}
      - {{name: 保密审查, role: reviewer, office: 保密办}}
      - {{name: 终审, users: [{web.users['leader']}]}}
  - name: 一审
    steps: [{{name: 保密审查, role: reviewer}}]
bindings:
  - {{publisher: {CHAIN_PUBLISHER}, chain: 四审}}
  - {{publisher: {CHAIN_PUBLISHER}, entry: GZ-02, chain: 一审}}
  - {{publisher: {CHAIN_PUBLISHER}, entry: GZ-03, chain: 四审, skip: [复审]}}
""", encoding="utf-8")
    r = runner.invoke(app, ["review-chains", "load", str(good), "--check"])
    assert r.exit_code == 0 and "检查通过（未写入）" in r.output, r.output
    assert "四审" not in runner.invoke(app, ["review-chains", "show"]).output
    r = runner.invoke(app, ["review-chains", "load", str(good)])
    assert r.exit_code == 0 and "已载入：2 个审核流程，3 条适用范围" in r.output, r.output
    shown = runner.invoke(app, ["review-chains", "show"]).output
    assert "四审" in shown and "from_sender" in shown and "skip:" in shown
    again = tmp_path / "shown.yaml"
    again.write_text(shown, encoding="utf-8")
    assert runner.invoke(app, ["review-chains", "load", str(again)]).exit_code == 0  # show's output loads back
    assert _state(_submit(web, "GZ-03"))[:4] == ("pending_review", "in_review", 0, "初审")

    for text, needle in (
        ("chains: [", "不是有效的 YAML"),
        ("- a\n- b\n", "顶层应为"),
        ("chains:\n  - name: x\n    steps: []\n", "至少需要一项"),
        ("chains:\n  - name: x\n    restart: sometimes\n    steps: [{name: a, role: reviewer}]\n", "from_start"),
        ("chains:\n  - name: x\n    steps: [{name: a, role: reviewer, colour: red}]\n", "不认识的字段"),
        (f"bindings:\n  - {{publisher: {CHAIN_PUBLISHER}, chain: 无此流程}}\n", "审核流程“无此流程”不存在"),
        ("chains:\n  - {name: x, steps: [{name: a, role: reviewer}]}\n  - {name: x, steps: [{name: a, role: reviewer}]}\n",
         "名称重复"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        r = runner.invoke(app, ["review-chains", "load", str(bad)])
        assert r.exit_code == 1 and needle in r.output, (text, r.output)
    assert "四审" in runner.invoke(app, ["review-chains", "show"]).output  # a refused file changed nothing
    r = runner.invoke(app, ["review-chains", "load", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 1 and "找不到" in r.output
    # The shipped example validates against its own publisher's catalog entries.
    from orchestrator.review.config import read_file

    assert [c.name for c in read_file(ROOT / "config" / "review_chains.yaml").chains] == ["规范性文件四审", "工作动态一审"]


def test_admin_loads_the_deployment_file_from_the_web_page(web):
    import os
    from pathlib import Path

    from orchestrator.review.models import ReviewBinding, ReviewChain

    shipped = Path(os.environ["ORCH_CONFIG_DIR"]) / "review_chains.yaml"
    shipped.write_text(f"""
chains:
  - name: 文件四审
    steps:
      - {{name: 初审, role: reviewer, own_office: true}}
      - {{name: 复审, role: reviewer, skippable: true}}
      - {{name: 保密审查, role: reviewer, office: 保密办}}
      - {{name: 终审, users: [{web.users['leader']}]}}
  - name: 动态一审
    steps: [{{name: 保密审查, role: reviewer}}]
bindings:
  - {{publisher: {CHAIN_PUBLISHER}, chain: 文件四审}}
  - {{publisher: {CHAIN_PUBLISHER}, entry: GZ-02, chain: 动态一审}}
""", encoding="utf-8")
    admin, clerk = web.client("admin"), web.client("clerk")
    page = admin.get("/review-chains").text
    assert 'id="load-config"' in page and "review_chains.yaml" in page and 'id="load-replace"' not in page
    tok = csrf_of(page)
    assert admin.post("/review-chains/load-config", data={}).status_code == 403  # no CSRF token
    assert clerk.post("/review-chains/load-config",
                      data={"csrf_token": csrf_of(clerk.get("/documents").text)}).status_code == 403

    flash = _flash(admin.post("/review-chains/load-config", data={"csrf_token": tok}))
    assert "已从配置文件 review_chains.yaml 载入：2 个审核流程，2 条适用范围" in flash
    assert _state(_submit(web, "GZ-01"))[:4] == ("pending_review", "in_review", 0, "初审")

    def saved() -> tuple[list[str], int]:
        from orchestrator.db import session_scope

        with session_scope() as s:
            return sorted(c.name for c in s.scalars(select(ReviewChain))), s.query(ReviewBinding).count()

    # Chains exist now: loading again replaces them only when the admin says so.
    page = admin.get("/review-chains").text
    assert 'id="load-replace"' in page
    r = admin.post("/review-chains/load-config", data={"csrf_token": tok})
    assert r.status_code == 422 and "替换现有设置" in r.text
    assert saved() == (["动态一审", "文件四审"], 2)
    # A broken file changes nothing and says what is wrong, in Chinese.
    shipped.write_text("chains: [", encoding="utf-8")
    r = admin.post("/review-chains/load-config", data={"csrf_token": tok, "replace": "1"})
    assert r.status_code == 422 and "不是有效的 YAML" in r.text
    assert saved() == (["动态一审", "文件四审"], 2)
    shipped.write_text("chains:\n  - name: 一审\n    steps: [{name: 保密审查, role: reviewer}]\n", encoding="utf-8")
    flash = _flash(admin.post("/review-chains/load-config", data={"csrf_token": tok, "replace": "1"}))
    assert "1 个审核流程，0 条适用范围" in flash
    assert saved() == (["一审"], 0)
    shipped.unlink()
    r = admin.post("/review-chains/load-config", data={"csrf_token": tok, "replace": "1"})
    assert r.status_code == 422 and "找不到审核流程配置文件" in r.text


def _principal(session, username: str):
    from orchestrator.auth import Principal, Role
    from orchestrator.models import User

    u = session.scalar(select(User).where(User.username == username))
    return Principal(u.id, u.username, u.display_name, Role(u.role), u.office)


def _token(username: str) -> str:
    from orchestrator import auth

    _, token = auth.create_token(username, "测试")
    return token
