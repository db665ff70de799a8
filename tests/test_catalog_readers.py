"""The catalog readers for HTML, URL, PDF, legacy .xls/.doc/.wps and CSV: the grid they recover, the catalog it
imports to, and a clear Chinese message (non-zero exit, nothing overwritten) for hostile or unreadable input."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.formats.fetch import fetch
from orchestrator.catalog.importer import import_catalog
from orchestrator.catalog.sources import read_source
from orchestrator.cli import app

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "catalog_corpus"
runner = CliRunner()
EXISTING = "publisher: 已审核的目录\nentries: []\n# reviewed by hand\n"
PUB = "某某县民政局"

HEAD = """
<tr><th rowspan="2">序号</th><th colspan="2">公开事项</th><th rowspan="2">公开内容</th><th rowspan="2">公开时限</th>
    <th rowspan="2">公开主体</th><th rowspan="2">公开渠道和载体</th><th colspan="2">公开对象</th></tr>
<tr><th>一级事项</th><th>二级事项</th><th>全社会</th><th>特定群体</th></tr>
"""
BODY = f"""
<tr><td rowspan="2">1</td><td rowspan="2">救助信息</td><td>低保标准</td><td>城乡低保标准</td><td>信息形成之日起10个工作日内</td>
    <td rowspan="3">{PUB}</td><td rowspan="2"><input type="checkbox" checked="checked"/>政府网站<br/><input type="checkbox"/>政府公报<br/>
    <input type="checkbox" checked>社区/企事业单位/村公示栏（电子屏）</td><td>√</td><td></td></tr>
<tr><td>低保对象</td><td>低保对象名单</td><td>即时公开</td><td></td><td>√</td></tr>
<tr><td>2</td><td>机构信息</td><td>机构职能</td><td>本机关职能<p>和内设机构</p></td><td>信息形成之日起20个工作日内</td>
    <td>■政府网站 □政府公报 ■两微一端</td><td>√</td><td></td></tr>
"""


def page(body: str, charset: str = "utf-8", title: str = f"{PUB}主动公开目录") -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title>'
            f'<script>var t = "<table><tr><td>序号</td></tr></table>";</script></head><body>{body}</body></html>')


CATALOG_PAGE = page(
    '<table class="nav"><tr><td><a href="/">首页</a></td><td>政务公开</td></tr></table>'
    '<table width="1000"><tr><td class="left">栏目导航</td><td>'
    '<div class="pos">当前位置：首页 &gt; 政务公开</div>'
    f'<h2>{PUB}主动公开目录</h2><p>发布日期：2025-01-02　点击数：</p>'
    f'<table border="1">{HEAD}{BODY}</table><p>打印 关闭</p></td></tr></table>'
)


def run(*args: str):
    return runner.invoke(app, list(args))


def assert_refused(path_or_url: str, tmp_path: Path, *words: str) -> str:
    """The CLI refuses with a Chinese message, exit 1, and leaves the existing catalog untouched."""
    target = tmp_path / "catalog.yaml"
    target.write_text(EXISTING, encoding="utf-8")
    result = run("catalog", "import", path_or_url, "--out", str(target))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("错误：")
    assert "Traceback" not in result.output
    for w in words:
        assert w in result.stderr, result.stderr
    assert target.read_text(encoding="utf-8") == EXISTING
    return result.stderr


def expect_sample(catalog) -> None:
    got = {e.code: e for e in catalog.entries}
    assert catalog.publisher == PUB
    assert [e.path for e in catalog.entries] == [["救助信息", "低保标准"], ["救助信息", "低保对象"], ["机构信息", "机构职能"]]
    assert got["01-01"].channels == ["website", "bulletin_board"]
    assert got["01-02"].channels == ["website", "bulletin_board"]  # the rowspanned channel cell covers the row
    assert got["01-02"].time_limit.kind.value == "immediate"
    assert got["02-01"].channels == ["website", "wechat"]
    assert got["02-01"].content.replace(" ", "") == "本机关职能和内设机构"
    assert got["01-01"].audience == "全社会" and got["01-02"].audience == "特定群体"


# ---------------------------------------------------------------- HTML


def test_html_rowspan_colspan_expanded_into_a_grid(tmp_path):
    f = tmp_path / "ml.html"
    f.write_text(CATALOG_PAGE, encoding="utf-8")
    src = read_source(f)
    assert src.kind == "html"
    catalog_table = next(t for t in src.tables if t.rows[0].cells[0] == "序号")
    assert catalog_table.depth == 1  # nested in the layout table
    rows = [r.cells for r in catalog_table.rows]
    assert rows[0] == ["序号", "公开事项", "", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "公开对象", ""]
    # rowspan=2 header cells are carried into the second header row, the colspan leaves a blank
    assert rows[1] == ["序号", "一级事项", "二级事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "全社会", "特定群体"]
    assert rows[3][1:3] == ["救助信息", "低保对象"] and rows[3][5] == PUB and rows[3][6] == rows[2][6]
    assert rows[3][0] == "" and catalog_table.rows[3].merged == frozenset({0, 1, 5, 6})  # a merged 序号 is printed once
    assert rows[2][6] == "■政府网站\n□政府公报\n■社区/企事业单位/村公示栏（电子屏）"  # checkboxes by their checked state
    assert rows[4][5] == PUB  # rowspan=3 reaches the next section
    assert "打印 关闭" not in "".join(src.preamble) and f"{PUB}主动公开目录" in src.preamble
    expect_sample(import_catalog(f))


def test_word_saved_as_web_page_wingdings_checkboxes(tmp_path):
    """Word's "save as web page" prints checkboxes as Wingdings letters (þ ☑, ¨ □, n ■) in a styled span."""
    ws = "<span style='font-family:Wingdings;mso-ascii-font-family:宋体'>{}</span>"
    ws2 = '<font face="Wingdings 2"><b>{}</b></font>'
    cell = (ws.format("þ") + "政府网站" + ws.format("¨") + "政府公报" + ws2.format("R") + "两微一端" + ws2.format("£") + "精准推送"
            + ws.format("n") + "政务服务中心")
    f = tmp_path / "word.htm"
    f.write_text(page(f"<p>{PUB}主动公开目录</p><table><tr><td>序号</td><td>一级事项</td><td>公开内容</td><td>公开时限</td>"
                      f"<td>公开渠道和载体</td></tr><tr><td>1</td><td>救助信息</td><td>低保标准</td><td>即时公开</td><td>{cell}</td></tr>"
                      "</table>"), encoding="utf-8")
    src = read_source(f)
    assert src.tables[0].rows[1].cells[4] == "☑政府网站□政府公报☑两微一端□精准推送■政务服务中心"
    assert import_catalog(f).entries[0].channels == ["website", "wechat", "service_center"]


def test_html_channel_cell_holding_a_nested_checkbox_table(tmp_path):
    nested = ('<table><tr><td><input type="checkbox" checked>政府网站</td><td><input type="checkbox">政府公报</td></tr>'
              '<tr><td><input type="checkbox">两微一端</td><td><input type="checkbox" checked="checked">便民服务站</td></tr></table>')
    f = tmp_path / "nested.html"
    f.write_text(page(f"<h1>{PUB}主动公开目录</h1><table><thead><tr><th>序号</th><th>一级事项</th><th>公开内容</th><th>公开时限</th>"
                      f"<th>公开渠道和载体</th></tr></thead><tbody><tr><td>1</td><td>救助信息</td><td>低保标准</td><td>即时公开</td>"
                      f"<td>{nested}</td></tr></tbody></table>"), encoding="utf-8")
    src = read_source(f)
    assert [t.depth for t in src.tables] == [0, 1]
    assert src.tables[0].rows[1].cells[4].split() == ["■政府网站", "□政府公报", "□两微一端", "■便民服务站"]
    assert import_catalog(f).entries[0].channels == ["website", "service_station"]


def test_html_fragment_and_gbk_page_without_meta(tmp_path):
    frag = tmp_path / "fragment.htm"
    frag.write_text(f"<p><b>{PUB}主动公开目录</b></p><table>{HEAD}{BODY}</table>", encoding="utf-8")
    expect_sample(import_catalog(frag))
    gbk = tmp_path / "gbk.html"
    gbk.write_bytes(page(f"<h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table>", charset="gbk").encode("gbk"))
    expect_sample(import_catalog(gbk))
    mislabelled = tmp_path / "mislabelled.html"  # says gb2312, is UTF-8
    mislabelled.write_bytes(page(f"<h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table>", charset="gb2312").encode("utf-8"))
    expect_sample(import_catalog(mislabelled))
    no_meta = tmp_path / "nometa.html"
    no_meta.write_bytes(f"<html><body><h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table></body></html>".encode("gb18030"))
    expect_sample(import_catalog(no_meta))


def test_web_archive_mht(tmp_path):
    from email.mime.image import MIMEImage
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    msg = MIMEMultipart("related")
    msg["Subject"] = f"{PUB}主动公开目录"
    html_part = MIMEText(page(f"<h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table>", charset="gb2312"), "html", "gb2312")
    msg.attach(html_part)  # quoted-printable/base64 GB2312, as IE and Edge write it
    msg.attach(MIMEImage(b"GIF89a" + b"\0" * 20, "gif"))
    f = tmp_path / "saved.mht"
    f.write_bytes(msg.as_bytes())
    expect_sample(import_catalog(f))
    renamed = tmp_path / "saved.txt"  # told by its content, not its name
    renamed.write_bytes(msg.as_bytes())
    expect_sample(import_catalog(renamed))
    empty = tmp_path / "empty.mht"
    only_image = MIMEMultipart("related")
    only_image.attach(MIMEImage(b"GIF89a" + b"\0" * 20, "gif"))
    empty.write_bytes(only_image.as_bytes())
    assert_refused(str(empty), tmp_path, "没有网页内容")


def test_malformed_html_is_still_read(tmp_path):
    broken = (f"<html><body><h1>{PUB}主动公开目录<table>{HEAD}{BODY}"  # unclosed h1, no </table>, stray tags
              .replace("</td>", "").replace("</tr>", "") + "</div></span><td>")
    f = tmp_path / "broken.html"
    f.write_text(broken, encoding="utf-8")
    expect_sample(import_catalog(f))


def test_saved_corpus_pages():
    c13 = read_source(CORPUS / "13_chengxiangguihua_html_rowspan.html")
    rows = [r.cells for r in c13.tables[0].rows]
    assert len(rows) == 2 + 6 and all(len(r) == 14 for r in rows)
    # 序号 rowspan=2 printed once, 一级目录/一级事项/公开依据 carried down, 公开主体 spans every row
    assert rows[5][:5] == ["", "城乡规划", "规划许可", "建设工程规划许可", "许可结果"]
    assert c13.tables[0].rows[5].merged == frozenset({0, 1, 2, 6, 8})
    assert {r[8] for r in rows[2:]} == {"青石县自然资源局"}
    assert rows[2][9] == "■政府网站\n□政府公报\n■两微一端\n■公开查阅点\n□社区/企事业单位/村公示栏（电子屏）"
    assert [r[10] for r in rows[2:]] == ["√"] * 6 and [r[13] for r in rows[2:]] == ["", "", "", "", "√", "√"]
    c14 = read_source(CORPUS / "14_zhengdi_gbk_nested.html")
    assert [t.depth for t in c14.tables] == [1, 0, 0]  # the catalog first, then the navigation and layout tables
    assert any("征地补偿领域基层政务公开标准目录" in line for line in c14.preamble)
    assert "■征地信息公开平台" in c14.tables[0].rows[3].cells[7]


def test_html_page_with_two_catalogs_each_under_its_title(tmp_path):
    from orchestrator.catalog.importer import import_catalogs

    other = "某某县卫生健康局"
    body2 = (f"<tr><td>1</td><td>医疗机构</td><td>执业信息</td><td>机构名称、地址</td><td>信息形成之日起20个工作日内</td>"
             f"<td>{other}</td><td>■政府网站</td><td>√</td><td></td></tr>")
    f = tmp_path / "two.html"
    f.write_text(page(f"<div>当前位置：首页</div><h2>{PUB}主动公开目录</h2><table>{HEAD}{BODY}</table>"
                      f"<p>　</p><h2>{other}主动公开目录</h2><p>更新时间：2025-01-01</p><table>{HEAD}{body2}</table>"), encoding="utf-8")
    src = read_source(f)
    assert [t.rows[0].cells[0] for t in src.tables] == ["序号", f"{other}主动公开目录"]  # the title line before the second
    result = import_catalogs(f)
    assert [(c.publisher, len(c.entries)) for c in result.catalogs] == [(PUB, 3), (other, 1)]


def test_html_catalog_continued_in_a_header_less_table(tmp_path):
    """A page converted from PDF prints one table per page: a header-less table as wide as the catalog continues it."""
    more = ('<tr><td>3</td><td>财务信息</td><td>部门预算</td><td>部门预算及说明</td><td>批复后20日内</td><td>某某县民政局</td>'
            '<td>■政府网站</td><td>√</td><td></td></tr>')
    narrow = "<table><tr><td>附件</td><td>下载</td></tr></table>"
    f = tmp_path / "pages.html"
    f.write_text(page(f"<h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table><p>第 1 页</p><table>{more}</table>{narrow}"),
                 encoding="utf-8")
    src = read_source(f)
    assert [r.cells[0] for r in src.tables[0].rows][-2:] == ["2", "3"]
    assert [r.line for r in src.tables[0].rows][-1] == 6  # numbered on after the first table's rows
    assert [t.rows[0].cells for t in src.tables[1:]] == [["附件", "下载"]]  # another width: not a continuation
    catalog = import_catalog(f)
    assert [e.path for e in catalog.entries][-1] == ["财务信息", "部门预算"] and len(catalog.entries) == 4


def test_html_page_without_a_table_falls_back_to_its_text(tmp_path):
    lines = ["序号|一级事项|二级事项|公开内容|公开时限|公开渠道和载体",
             "1|救助信息|低保标准|城乡低保标准|信息形成之日起10个工作日内|■政府网站 □政府公报"]
    f = tmp_path / "cms.html"
    f.write_text(page(f"<h1>{PUB}主动公开目录</h1>" + "".join(f"<p>{ln}</p>" for ln in lines)), encoding="utf-8")
    catalog = import_catalog(f)
    assert catalog.publisher == PUB
    assert [(e.path, e.channels) for e in catalog.entries] == [(["救助信息", "低保标准"], ["website"])]


def test_hostile_html(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_text("<html><head><script>document.write('x')</script></head><body></body></html>", encoding="utf-8")
    assert_refused(str(empty), tmp_path, "没有文字内容")
    spans = tmp_path / "spans.html"
    spans.write_text(page("<table>" + '<tr><td colspan="500" rowspan="500">x</td></tr>' * 1000 + "</table>"), encoding="utf-8")
    assert_refused(str(spans), tmp_path, "单元格过多")
    not_catalog = tmp_path / "news.html"
    not_catalog.write_text(page("<table><tr><td>姓名</td><td>电话</td></tr><tr><td>张三</td><td>123</td></tr></table>"), encoding="utf-8")
    assert_refused(str(not_catalog), tmp_path, "表头")


# ---------------------------------------------------------------- URL


class _Site:
    """A local HTTP server with fixed routes: path → (status, headers, body chunks, seconds between chunks)."""

    def __init__(self, routes: dict):
        routes_ = routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                status, headers, chunks, delay = routes_.get(self.path, (404, {}, [b"not found"], 0))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    for c in chunks:
                        self.wfile.write(c)
                        self.wfile.flush()
                        time.sleep(delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_fetch_allowed(monkeypatch):
    """The local test site is on 127.0.0.1, which the fetch refuses by default: allow it as an intranet deployment would."""
    from orchestrator.settings import get_settings

    monkeypatch.setenv("ORCH_CATALOG_FETCH_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/ml.html", "http://localhost:9/ml.html", "http://10.1.2.3/ml.html",
                                 "http://192.168.0.10/ml.html", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]:9/ml.html", "http://0.0.0.0:9/"])
def test_url_to_the_servers_own_network_is_refused_by_default(url):
    with pytest.raises(CatalogImportError, match="内网或本机地址"):
        fetch(url, allow_private=False)


def test_default_refuses_a_local_page_before_requesting_it(tmp_path):
    hits = []
    routes = {"/ml.html": (200, {"Content-Type": "text/html"}, [b"<html>x</html>"], 0)}
    with _Site(routes) as site:
        site.server.RequestHandlerClass.log_message = lambda *a: hits.append(a)
        result = run("catalog", "import", site.url("/ml.html"), "--json")
    assert result.exit_code != 0 and "ORCH_CATALOG_FETCH_ALLOW_PRIVATE" in result.output
    assert hits == []  # nothing was requested


def test_redirect_hops_are_checked_too(tmp_path, monkeypatch):
    """A public page that redirects into the server's network is refused at the hop, not followed."""
    import orchestrator.catalog.formats.fetch as fetch_module

    routes = {"/ml.html": (302, {"Location": "http://10.0.0.7/admin"}, [b""], 0)}
    with _Site(routes) as site:
        first = site.url("/ml.html")
        real_check = fetch_module._check_address
        # the test site stands in for a public host: its own address passes, every other hop is checked for real
        monkeypatch.setattr(fetch_module, "_check_address",
                            lambda url, allow: None if url == first else real_check(url, allow))
        with pytest.raises(CatalogImportError, match="10.0.0.7"):
            fetch(first, allow_private=False)


def test_import_from_url_gbk_page_declared_in_http_header(tmp_path, local_fetch_allowed):
    body = f"<html><body><h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table></body></html>".encode("gbk")
    routes = {"/ml/index.shtml": (200, {"Content-Type": "text/html; charset=GBK"}, [body], 0)}
    with _Site(routes) as site:
        url = site.url("/ml/index.shtml")
        result = run("catalog", "import", url, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["publisher"] == PUB
    assert [e["path"] for e in payload["entries"]] == [["救助信息", "低保标准"], ["救助信息", "低保对象"], ["机构信息", "机构职能"]]


def test_import_from_url_of_a_pdf_or_spreadsheet_told_by_content_type(tmp_path, local_fetch_allowed):
    pdf = (CORPUS / "15_gonggongziyuan_pdf.pdf").read_bytes()
    xls = (CORPUS / "18_yiliao_e5_legacy.xls").read_bytes()
    routes = {
        "/download.do?id=15": (200, {"Content-Type": "application/pdf"}, [pdf], 0),
        "/attachment?id=18": (200, {"Content-Type": "application/octet-stream"}, [xls], 0),  # told by its content
    }
    with _Site(routes) as site:
        for path, publisher, n in (("/download.do?id=15", "青石县公共资源交易中心", 5), ("/attachment?id=18", "青石县卫生健康局", 4)):
            result = run("catalog", "import", site.url(path), "--json")
            assert result.exit_code == 0, result.output
            payload = json.loads(result.stdout)
            assert payload["publisher"] == publisher and len(payload["entries"]) == n


def test_url_limits_and_failures(tmp_path, local_fetch_allowed):
    big = [b"<html>" + b"x" * 65536] * 200  # 13 MB, no Content-Length
    routes = {
        "/big": (200, {"Content-Type": "text/html"}, big, 0),
        "/declared": (200, {"Content-Type": "text/html", "Content-Length": str(50 * 1024 * 1024)}, [b"<html>"], 0),
        "/slow": (200, {"Content-Type": "text/html"}, [b"<html>" + b" " * 100] * 40, 0.25),
        "/gone": (404, {}, [b"gone"], 0),
        "/empty": (200, {"Content-Type": "text/html"}, [b"   "], 0),
        "/gzip-bomb": (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"},
                       [gzip.compress(b"<html>" + b"\0" * (40 * 1024 * 1024))], 0),
    }
    with _Site(routes) as site:
        assert_refused(site.url("/big"), tmp_path, "过大")
        assert_refused(site.url("/declared"), tmp_path, "过大")
        assert_refused(site.url("/gone"), tmp_path, "404")
        assert_refused(site.url("/empty"), tmp_path, "空的")
        assert_refused(site.url("/gzip-bomb"), tmp_path, "过大")
        started = time.monotonic()
        with pytest.raises(CatalogImportError, match="超过 1 秒"):
            fetch(site.url("/slow"), total_timeout=1.0)
        assert time.monotonic() - started < 8  # gave up at the limit, not after the whole 10 s body
    port_closed = site.url("/x")  # the server is shut down now
    assert_refused(port_closed, tmp_path, "无法获取")


# ---------------------------------------------------------------- PDF


def _cid_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def _pdf_table(path: Path, rows: int, encrypt: str | None = None) -> None:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    font = _cid_font()
    data = [["序号", "公开事项", "公开内容", "公开时限", "公开渠道和载体"]]
    data += [[str(i), f"事项{i}", f"内容说明{i}", "信息形成之日起20个工作日内", "■政府网站 □政府公报"] for i in range(1, rows + 1)]
    table = Table(data, repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONTNAME", (0, 0), (-1, -1), font)]))
    title = Paragraph(f"{PUB}主动公开目录", ParagraphStyle("t", fontName=font, fontSize=14))
    SimpleDocTemplate(str(path), encrypt=encrypt).build([title, table])


def test_pdf_table_over_several_pages(tmp_path):
    f = tmp_path / "ml.pdf"
    _pdf_table(f, 80)
    src = read_source(f)
    assert src.kind == "pdf" and len(src.tables) == 1  # continued on pages 2 and 3, the repeated header dropped
    assert [r.cells[0] for r in src.tables[0].rows] == ["序号"] + [str(i) for i in range(1, 81)]
    assert src.preamble == [f"{PUB}主动公开目录"]
    catalog = import_catalog(f)
    assert catalog.publisher == PUB and len(catalog.entries) == 80
    assert all(e.channels == ["website"] and e.time_limit.days == 20 for e in catalog.entries)


def test_pdf_with_two_catalogs_each_under_its_title(tmp_path):
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    from orchestrator.catalog.importer import import_catalogs

    font = _cid_font()
    style = ParagraphStyle("t", fontName=font, fontSize=14)

    def table(n0, n):
        data = [["序号", "公开事项", "公开内容", "公开时限", "公开渠道和载体"]]
        data += [[str(i), f"事项{i}", f"内容说明{i}", "即时公开", "■政府网站"] for i in range(n0, n0 + n)]
        t = Table(data)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONTNAME", (0, 0), (-1, -1), font)]))
        return t

    f = tmp_path / "two.pdf"
    SimpleDocTemplate(str(f)).build([Paragraph(f"{PUB}主动公开目录", style), table(1, 3), PageBreak(),
                                     Paragraph("某某县卫生健康局主动公开目录", style), table(1, 2)])
    src = read_source(f)
    assert len(src.tables) == 2 and src.tables[1].rows[0].cells[0] == "某某县卫生健康局主动公开目录"
    result = import_catalogs(f)
    assert [(c.publisher, len(c.entries)) for c in result.catalogs] == [(PUB, 3), ("某某县卫生健康局", 2)]


def test_corpus_pdf_with_merged_cells():
    src = read_source(CORPUS / "15_gonggongziyuan_pdf.pdf")
    rows = [r.cells for r in src.tables[0].rows]
    assert rows[0] == ["序号", "公开事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "责任科室"]
    assert [r[1] for r in rows[1:]] == ["交易公告", "中标候选人公示", "中标结果", "交易规则", "信用信息"]


def test_pdf_that_cannot_be_read(tmp_path):
    enc = tmp_path / "locked.pdf"
    _pdf_table(enc, 3, encrypt="secret")
    assert_refused(str(enc), tmp_path, "加密")
    from reportlab.pdfgen import canvas

    plain = tmp_path / "layout.pdf"
    c = canvas.Canvas(str(plain))
    c.setFont(_cid_font(), 10)
    for i, line in enumerate(["序号 公开事项 公开内容 公开时限", "1 机构信息 机构职能 信息形成之日起20个工作日内"]):
        c.drawString(50, 800 - 20 * i, line)
    c.save()
    assert_refused(str(plain), tmp_path, "没有找到可以读取的表格", "原始 Word/Excel")
    blank = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(blank))
    c.rect(50, 50, 200, 200)
    c.save()
    assert_refused(str(blank), tmp_path, "扫描")
    other = tmp_path / "budget.pdf"
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    t = Table([["项目", "金额"], ["办公费", "1000"]])
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "black"), ("FONTNAME", (0, 0), (-1, -1), _cid_font())]))
    SimpleDocTemplate(str(other)).build([t])
    assert_refused(str(other), tmp_path, "没有一个表格有主动公开目录的表头", "原始")
    damaged = tmp_path / "cut.pdf"
    damaged.write_bytes(plain.read_bytes()[:300])
    assert_refused(str(damaged), tmp_path, "PDF")


def test_pdf_decompression_bomb(tmp_path):
    import zlib

    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(b"\0" * (1024 * 1024)) for _ in range(300)) + comp.flush()
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(b"%PDF-1.4\n1 0 obj\n<</Length " + str(len(body)).encode() + b"/Filter/FlateDecode>>\nstream\n" + body
                     + b"\nendstream\nendobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    assert bomb.stat().st_size < 2 * 1024 * 1024
    started = time.monotonic()
    assert_refused(str(bomb), tmp_path, "解压后过大")
    assert time.monotonic() - started < 60
    # an ordinary PDF passes the check
    ok = tmp_path / "ok.pdf"
    _pdf_table(ok, 3)
    assert len(import_catalog(ok).entries) == 3


# ---------------------------------------------------------------- legacy Office


def test_xls_with_merged_cells():
    src = read_source(CORPUS / "18_yiliao_e5_legacy.xls")
    assert src.kind == "xls"
    rows = src.tables[0].rows
    assert rows[2].cells[:3] == ["序号", "公开事项", ""] and rows[3].cells[:3] == ["序号", "一级事项", "二级事项"]
    assert rows[5].cells[1] == "医疗机构" and 1 in rows[5].merged  # vertical merge carried down
    catalog = import_catalog(CORPUS / "18_yiliao_e5_legacy.xls")
    assert [e.path for e in catalog.entries][:2] == [["医疗机构", "机构执业信息"], ["医疗机构", "不良执业行为"]]


def _ole(*streams: str) -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500 + b"".join(s.encode("utf-16-le") + b"\0\0" for s in streams) + b"\0" * 500


def test_legacy_office_messages(tmp_path, monkeypatch):
    doc = tmp_path / "ml.doc"
    doc.write_bytes(_ole("Root Entry", "WordDocument", "1Table"))
    monkeypatch.setattr("orchestrator.catalog.formats.legacy.shutil.which", lambda name: None)
    assert_refused(str(doc), tmp_path, "LibreOffice", "apt-get install libreoffice-writer", ".docx")
    wps = tmp_path / "ml.wps"
    wps.write_bytes(_ole("Root Entry", "WordDocument"))
    assert_refused(str(wps), tmp_path, "apt-get install libreoffice-writer")
    xls = tmp_path / "damaged.xls"
    xls.write_bytes(_ole("Root Entry", "Workbook"))
    assert_refused(str(xls), tmp_path, ".xls", "损坏")
    locked = tmp_path / "locked.xlsx"
    locked.write_bytes(_ole("Root Entry", "EncryptionInfo", "EncryptedPackage"))
    assert_refused(str(locked), tmp_path, "密码")


def test_doc_converted_by_libreoffice_or_what_to_install(tmp_path):
    """With LibreOffice (scripts/ensure-services.sh installs it) a .doc imports like the .docx it converts to; without
    it the message names the package to install."""
    from orchestrator.catalog.formats.legacy import soffice

    doc = CORPUS / "21_shichangjianguan_legacy.doc"
    if soffice() is None:
        assert_refused(str(doc), tmp_path, "apt-get install libreoffice-writer")
        return
    src = read_source(doc)
    assert src.kind == "doc"
    catalog = import_catalog(doc)
    assert catalog.publisher == "青石县市场监督管理局"
    assert [e.path[-1] for e in catalog.entries] == ["食品经营许可", "许可结果", "处罚决定", "双随机抽查", "抽检信息"]
    assert catalog.entries[1].offices == ["行政审批科"]  # merged 责任科室 carried down
    assert catalog.entries[0].channels == ["website", "service_center"]  # ☑/☐ marks


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path, encoding):
    text = (f"{PUB}主动公开目录,,,,,\r\n序号,一级事项,二级事项,公开内容,公开时限,公开渠道和载体\r\n"
            '1,救助信息,低保标准,"城乡低保标准、\r\n救助程序",信息形成之日起10个工作日内,■政府网站 □政府公报\r\n'
            '2,机构信息,机构职能,"本机关职能，含""三定""规定",即时公开,■政府网站 ■两微一端\r\n')
    f = tmp_path / "ml.csv"
    f.write_bytes(text.encode(encoding))
    catalog = import_catalog(f)
    assert catalog.publisher == PUB
    assert [(e.path, e.channels, e.time_limit.kind.value) for e in catalog.entries] == [
        (["救助信息", "低保标准"], ["website"], "working_days"), (["机构信息", "机构职能"], ["website", "wechat"], "immediate")]
    assert catalog.entries[1].content == "本机关职能，含\"三定\"规定"


def test_csv_semicolons_and_corpus_files(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text(f"序号;一级事项;二级事项;公开内容;公开时限;公开主体\n1;救助信息;低保标准;城乡低保标准;即时公开;{PUB}\n", encoding="utf-8")
    assert [e.path for e in import_catalog(f).entries] == [["救助信息", "低保标准"]]
    assert import_catalog(CORPUS / "16_caizheng_gbk.csv").entries[0].path == ["预算公开", "部门预算"]
    assert import_catalog(CORPUS / "17_jiuye_utf8bom.csv").publisher == "青石县人力资源和社会保障局"


# ---------------------------------------------------------------- hostile containers


@pytest.mark.parametrize("suffix, member", [(".xlsx", "xl/worksheets/sheet1.xml"), (".docx", "word/document.xml")])
def test_zip_bomb(tmp_path, suffix, member):
    bomb = tmp_path / f"bomb{suffix}"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml" if suffix == ".xlsx" else "word/styles.xml", "<x/>")
        with zf.open(member, "w", force_zip64=True) as fh:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(260):
                fh.write(chunk)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    assert_refused(str(bomb), tmp_path, "解压后过大")


def test_wrong_magic_and_oversized(tmp_path):
    ofd = tmp_path / "ml.ofd"
    with zipfile.ZipFile(ofd, "w") as zf:
        zf.writestr("OFD.xml", "<ofd:OFD/>")
        zf.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    assert_refused(str(ofd), tmp_path, "OFD 版式文件", "原始 Word/Excel")
    fake_pdf = tmp_path / "ml.pdf"
    fake_pdf.write_text("序号\t公开事项\n", encoding="utf-8")
    assert_refused(str(fake_pdf), tmp_path, "扩展名是 .pdf")
    fake_docx = tmp_path / "ml.docx"
    fake_docx.write_bytes(b"\x00\x01garbage" * 100)
    assert_refused(str(fake_docx), tmp_path, "扩展名是 .docx")
    huge = tmp_path / "huge.html"
    with huge.open("wb") as fh:
        fh.write(b"<html><body><table>")
        fh.write(b"<tr><td>x</td></tr>" * 500_000)
    assert_refused(str(huge), tmp_path, "文件过大")


@pytest.mark.parametrize("kind", ["fake_pdf", "span_bomb_html"])
def test_bad_reader_input_in_a_real_process(tmp_path, kind):
    f = tmp_path / ("ml.pdf" if kind == "fake_pdf" else "spans.html")
    if kind == "fake_pdf":
        f.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    else:
        f.write_text(page("<table>" + '<tr><td colspan="500" rowspan="500">x</td></tr>' * 1000 + "</table>"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "catalog", "import", str(f), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("错误：") and "Traceback" not in proc.stderr and proc.stdout == ""


def test_xlsx_renamed_html_export_is_read_as_html(tmp_path):
    """Many systems export "Excel" files that are HTML tables or tab-separated text: read by content, not by name."""
    f = tmp_path / "export.xls"
    f.write_bytes(io.BytesIO(page(f"<h1>{PUB}主动公开目录</h1><table>{HEAD}{BODY}</table>").encode("utf-8")).getvalue())
    expect_sample(import_catalog(f))
    tsv = tmp_path / "export2.xls"
    tsv.write_bytes((f"{PUB}主动公开目录\n序号\t一级事项\t二级事项\t公开内容\t公开时限\t公开渠道和载体\n"
                     "1\t救助信息\t低保标准\t城乡低保标准\t即时公开\t■政府网站\n").encode("gbk"))
    catalog = import_catalog(tsv)
    assert catalog.publisher == PUB and [e.path for e in catalog.entries] == [["救助信息", "低保标准"]]
