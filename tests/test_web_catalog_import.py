"""公开目录 → 导入 in the web app: upload, paste or URL; entries beside their source rows; choose one of several
catalogs; confirm a proposed channel mapping (it lands in the channel map); fix cells inline; apply with the diff."""

from __future__ import annotations

import http.server
import re
import shutil
import threading

import pytest
import yaml

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.services import free_port
from tests.web_support import WebEnv, setup_web

TITLE1 = "某某县农业农村局政府信息主动公开目录"
TITLE2 = "某某县住房和城乡建设局重大建设项目领域基层政务公开标准目录"
HEAD = "序号\t一级事项\t二级事项\t公开内容\t公开时限\t公开渠道和载体\t责任科室"
PAGE = "\n".join([
    "首页 > 政务公开 > 基层政务公开",
    TITLE1, HEAD,
    "1\t机构信息\t机构职能\t本局职能和内设机构\t信息形成之日起20个工作日内\t■政府网站 □政府公报\t办公室",
    "2\t资金信息\t补贴发放\t补贴对象名单\t分配结果确定后20个工作日内\t■政府网站 ■征地信息公开平台\t财务股",
    TITLE2, HEAD,
    "1\t项目信息\t项目审批\t审批结果\t批复后10个工作日内\t■政府网站\t规划股",
    "打印 关闭",
])


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    monkeypatch.setenv("ORCH_CATALOG_FETCH_ALLOW_PRIVATE", "1")  # the GBK page is served from 127.0.0.1
    from orchestrator.catalog.channel_map import _load

    _load.cache_clear()
    yield setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
    })
    _load.cache_clear()


def _token(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def test_paste_choose_confirm_fix_and_apply(web):
    from orchestrator.settings import get_settings

    admin = web.client("admin")
    tok = web.token(admin)
    r = admin.post("/catalog/import", data={"csrf_token": tok, "text": PAGE})
    assert r.status_code == 200, r.text
    html = r.text
    token = _token(html)
    # Both catalogs of the page are offered; the first is shown, each entry beside the source line it came from.
    assert "本页含有 2 个目录" in html and TITLE1 in html and TITLE2 in html
    assert re.search(r"第4行</span> 1\s+机构信息", html) and "某某县农业农村局" in html
    # The unknown wording is not imported, but proposed (to 政府网站) for a person to confirm.
    assert "征地信息公开平台" in html and 'id="proposals"' in html
    pending = yaml.safe_load((get_settings().var_dir / "catalog-imports" / f"{token}.yaml").read_text(encoding="utf-8"))
    assert pending["entries"][1]["channels"] == ["website"]

    # Take the second catalog of the page instead.
    r = admin.post("/catalog/import/choose", data={"csrf_token": tok, "token": token, "part": "2"})
    assert r.status_code == 200 and "某某县住房和城乡建设局" in r.text and "项目审批" in r.text
    r = admin.post("/catalog/import/choose", data={"csrf_token": tok, "token": token, "part": "1"})
    assert "机构职能" in r.text

    # Confirm the proposed mapping: it is added to the channel map, and the entry now has the channel.
    map_file = get_settings().config_dir / "channel_map.yaml"
    r = admin.post("/catalog/import/mapping", data={"csrf_token": tok, "token": token, "wording": "征地信息公开平台",
                                                    "code-征地信息公开平台": "website"})
    assert r.status_code == 200, r.text
    assert yaml.safe_load(map_file.read_text(encoding="utf-8"))["confirmed"] == {"征地信息公开平台": "website"}
    assert "# Catalog channel wordings" in map_file.read_text(encoding="utf-8")  # comments kept
    assert 'id="proposals"' not in r.text

    # Fix a cell inline: the time limit is typed again from the corrected wording and the warning-free entry applies.
    r = admin.post("/catalog/import/fix", data={"csrf_token": tok, "token": token, "time-01-01": "信息形成之日起15个工作日内",
                                                "path-01-01": "机构信息 / 机构职能"})
    assert r.status_code == 200, r.text
    pending = yaml.safe_load((get_settings().var_dir / "catalog-imports" / f"{token}.yaml").read_text(encoding="utf-8"))
    first = pending["entries"][0]
    assert first["time_limit"]["days"] == 15 and first["path"] == ["机构信息", "机构职能"]
    r = admin.post("/catalog/import/fix", data={"csrf_token": tok, "token": token, "channels-01-01": "website,nonsense"})
    assert r.status_code == 422 and "nonsense" in r.text

    r = admin.post("/catalog/apply", data={"csrf_token": tok, "token": token})
    assert "目录已更新" in r.text
    files = [p for p in get_settings().catalogs_dir.glob("*.yaml") if "某某县农业农村局" in p.read_text(encoding="utf-8")]
    assert len(files) == 1 and "15个工作日" in files[0].read_text(encoding="utf-8")


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=gbk")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_url_import_reads_the_page_table(web):
    rows = "".join(f"<tr><td>{n}</td><td>{a}</td><td>{b}</td><td>{c}</td><td>{t}</td><td>{ch}</td></tr>" for n, a, b, c, t, ch in [
        ("1", "机构信息", "机构职能", "本局职能", "20个工作日内", "■政府网站 □政府公报"),
        ("2", "政策文件", "规范性文件", "文件全文", "即时公开", "■政府网站"),
    ])
    html = (f"<html><head><meta charset='gbk'></head><body><h1>{TITLE1}</h1><table><tr><td>序号</td><td>一级事项</td>"
            f"<td>二级事项</td><td>公开内容</td><td>公开时限</td><td>公开渠道和载体</td></tr>{rows}</table></body></html>")
    _Page.body = html.encode("gbk")
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        admin = web.client("admin")
        tok = web.token(admin)
        r = admin.post("/catalog/import", data={"csrf_token": tok, "url": f"http://127.0.0.1:{port}/ml.html"})
        assert r.status_code == 200, r.text
        assert "某某县农业农村局" in r.text and "规范性文件" in r.text and "识别出 2 个事项" in r.text
    finally:
        server.shutdown()
        server.server_close()


def test_bad_input_is_refused_in_chinese_and_nothing_is_written(web):
    from orchestrator.settings import get_settings

    admin = web.client("admin")
    tok = web.token(admin)
    before = sorted(p.name for p in get_settings().catalogs_dir.glob("*.yaml"))
    r = admin.post("/catalog/import", data={"csrf_token": tok})
    assert r.status_code == 422 and "三者选一" in r.text
    r = admin.post("/catalog/import", data={"csrf_token": tok, "text": "会议纪要\n今天讨论了工作安排。"})
    assert r.status_code == 422 and "表头" in r.text
    no_title = "\n".join([HEAD, "1\t机构信息\t机构职能\t本局职能\t20个工作日内\t■政府网站\t办公室"])
    r = admin.post("/catalog/import", data={"csrf_token": tok, "text": no_title})
    assert r.status_code == 422 and "发布机构" in r.text
    r = admin.post("/catalog/import", data={"csrf_token": tok, "text": no_title, "publisher": "某某县农业农村局"})
    assert r.status_code == 200
    r = admin.post("/catalog/import", data={"csrf_token": tok, "url": "ftp://example.org/x"})
    assert r.status_code == 422 and "网址" in r.text
    r = admin.post("/catalog/import/choose", data={"csrf_token": tok, "token": "../../etc", "part": "1"})
    assert r.status_code == 422
    assert sorted(p.name for p in get_settings().catalogs_dir.glob("*.yaml")) == before
