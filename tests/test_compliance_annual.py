"""The annual report's section 二 for a seeded year, cell by cell (on the page, in the .docx and in the .xlsx), the
documents behind each number, hand-entered figures (and hostile input to them), and the self-inspection report."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from openpyxl import load_workbook

from tests.api_helpers import migrated_pg  # noqa: F401  (a private database for this module: exact counts)
from tests.web_support import csrf_of, login, make_web_user

CST = dt.timezone(dt.timedelta(hours=8))
YEAR = 2025
_n = itertools.count(1)

# (entry key, formed_on, validity, validity_date, status)
DOCS = {
    "r1": ("rule", "2025-03-01", "有效", None, "active"),
    "r2": ("rule", "2024-05-01", "已废止", "2025-06-30", "active"),
    "r3": ("rule", "2023-01-01", "有效", None, "active"),
    "r4": ("rule", "2025-07-01", "有效", None, "withdrawn"),
    "r5": ("rule", "2026-01-05", "有效", None, "active"),
    "r6": ("rule", "2022-01-01", "已废止", "2026-02-01", "active"),
    "n1": ("normative", "2025-02-02", "有效", None, "active"),
    "n2": ("normative", "2025-04-04", "已修订", None, "active"),
    "n3": ("normative", "2025-05-05", "已失效", "2025-11-11", "active"),
    "n4": ("normative", "2024-01-01", "已废止", None, "active"),
    "n5": ("normative", "2025-08-08", "有效", None, "pending_review"),
    "l1": ("license", "2025-01-20", "有效", None, "active"),
    "l2": ("license", "2025-12-31", "有效", None, "active"),
    "l3": ("license", "2024-12-31", "有效", None, "active"),
    "p1": ("penalty", "2025-06-01", "有效", None, "active"),
    "o1": ("other", "2025-06-01", "有效", None, "active"),
}
ENTRIES = {"rule": "政策文件/规章", "normative": "政策文件/行政规范性文件", "license": "执法信息/行政许可结果",
           "penalty": "执法信息/行政处罚结果", "coercion": "执法信息/行政强制", "other": "机构信息/机构职能",
           "never": "其他/从未发布的事项"}
# Expected section 二 for 2025 (see DOCS): every cell, 0 included.
EXPECTED = {("rule", "made"): 1, ("rule", "repealed"): 1, ("rule", "valid"): 3,
            ("normative", "made"): 3, ("normative", "repealed"): 1, ("normative", "valid"): 2}
EXPECTED_TRACE = {"rule.made": {"r1"}, "rule.repealed": {"r2"}, "rule.valid": {"r1", "r3", "r6"},
                  "normative.made": {"n1", "n2", "n3"}, "normative.repealed": {"n3"}, "normative.valid": {"n1", "n2"},
                  "license.decisions": {"l1", "l2"}, "penalty.decisions": {"p1"}, "coercion.decisions": set(),
                  "normative.undated": {"n4"}}


def _at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=CST)


@pytest.fixture
def seeded(orch_env):
    """A publisher, seven catalog entries and the documents above; a few publish deliveries for the timeliness table."""
    return seed()


def seed() -> tuple[dict[str, int], dict[str, int]]:
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow, Delivery, Document, DocumentVersion, Publisher

    ids: dict[str, int] = {}
    entries: dict[str, int] = {}
    with session_scope() as s:
        pub = Publisher(name=f"年报测试局{next(_n)}", index_prefix="AR")
        s.add(pub)
        s.flush()
        for key, path in ENTRIES.items():
            e = CatalogEntryRow(publisher_id=pub.id, code=f"AR-{key}", path=path.split("/"), path_text=path,
                                channels=["website", "wechat"], offices=["办公室"])
            s.add(e)
            s.flush()
            entries[key] = e.id
        for name, (entry, formed, validity, vdate, status) in DOCS.items():
            d = Document(publisher_id=pub.id, entry_id=entries[entry], index_no=f"AR/{pub.id}/{name}", status=status,
                         title=f"文件{name}", office="办公室", formed_on=dt.date.fromisoformat(formed), validity=validity,
                         validity_date=dt.date.fromisoformat(vdate) if vdate else None)
            s.add(d)
            s.flush()
            s.add(DocumentVersion(document_id=d.id, version=1, title=d.title, body_html="<p>正文</p>", content_hash="0" * 64))
            ids[name] = d.id
        s.flush()
        vid = {doc_id: v for doc_id, v in s.query(DocumentVersion.document_id, DocumentVersion.id)}

        def delivered(name: str, channel: str, due: str, when: dt.datetime, status: str = "delivered") -> None:
            doc = s.get(Document, ids[name])
            doc.due_date = dt.date.fromisoformat(due)
            s.add(Delivery(document_id=ids[name], version_id=vid[ids[name]], version=1, channel=channel,
                           destination=channel, action="publish", idempotency_key=f"ar-{ids[name]}-{channel}",
                           status=status, delivered_at=when))

        delivered("r1", "website", "2025-03-10", _at("2025-03-05"))  # on time
        delivered("r1", "wechat", "2025-03-10", _at("2025-03-14"), "verified")  # 4 working days late
        delivered("n1", "website", "2025-02-10", _at("2025-02-12"))  # 2 working days late
        # 23:30 on 31 December in Beijing is still 2024 (15:30 UTC): not this year's.
        delivered("l3", "website", "2025-01-10", dt.datetime(2024, 12, 31, 23, 30, tzinfo=CST))
    return ids, entries


def test_section_two_cell_by_cell_with_trace_and_exports(seeded) -> None:
    from orchestrator.app import create_app
    from orchestrator.compliance import annual, export
    from orchestrator.db import session_scope

    ids, entries = seeded
    name_of = {v: k for k, v in ids.items()}
    with session_scope() as s:
        r = annual.section_two(s, YEAR)
        for (kind, what), n in EXPECTED.items():
            assert r.rules[kind][what].value == n, (kind, what)
        assert {k: c.value for k, c in r.decisions.items()} == {"license": 2, "penalty": 1, "coercion": 0}
        assert r.fee.value == 0 and r.fee.text == "0"
        assert r.undated_repeals == 1
        # The documents behind every number are exactly the ones counted.
        for item, names in EXPECTED_TRACE.items():
            total, rows = annual.trace_query(s, YEAR, item)
            assert total == len(names) and {name_of[row.id] for row in rows} == names, item

        pub = r.publication
        assert pub["channels"]["website"] == {"published": 2, "on_time": 1, "late": 1, "no_due": 0, "late_median": 2.0,
                                              "late_max": 2}
        assert pub["channels"]["wechat"] == {"published": 1, "on_time": 0, "late": 1, "no_due": 0, "late_median": 4.0,
                                             "late_max": 4}
        assert (pub["late_median"], pub["late_max"]) == (3.0, 4)
        assert (pub["documents"], pub["lag_median"], pub["lag_max"]) == (2, 7.0, 10)  # 4 and 10 days
        assert annual.publication_stats(s, 2024)["totals"]["published"] == 1  # the 23:30 Beijing delivery

        # An admin's tag wins over the guess from the entry's name; "auto" goes back to the guess.
        annual.set_entry_kind(s, entries["other"], "penalty", "admin")
    with session_scope() as s:
        assert annual.section_two(s, YEAR, publication=False).decisions["penalty"].value == 2
        annual.set_entry_kind(s, entries["other"], "auto", "admin")
    with session_scope() as s:
        assert annual.section_two(s, YEAR, publication=False).decisions["penalty"].value == 1
        annual.save_figures(s, YEAR, {"penalty": "7", "fee": "12.5"}, "admin")
    with session_scope() as s:
        r = annual.section_two(s, YEAR)
    assert r.decisions["penalty"] == annual.Cell(7, "hand") and r.fee.value == Decimal("12.5")

    expected_rows = [["规章", "1", "1", "3"], ["行政规范性文件", "3", "1", "2"], ["行政许可", "2"], ["行政处罚", "7"],
                     ["行政强制", "0"], ["行政事业性收费", "12.5"]]
    headings = ["第二十条第（一）项", "第二十条第（五）项", "第二十条第（六）项", "第二十条第（八）项"]

    # .docx: four tables in the template's layout, read back cell by cell.
    doc = DocxDocument(io.BytesIO(export.annual_docx(r, "测试局")))
    assert len(doc.tables) == 4
    got_rows = []
    for table, heading in zip(doc.tables, headings, strict=True):
        cells = [[c.text for c in row.cells] for row in table.rows]
        assert cells[0][0] == heading and cells[1][0] == "信息内容"
        got_rows += cells[2:]
    assert got_rows == expected_rows
    assert doc.tables[0].rows[1].cells[1].text == "本年制发件数"
    assert doc.tables[3].rows[1].cells[1].text == "本年收费金额（单位：万元）"

    # .xlsx: same layout, numbers as numbers, no blank cell.
    wb = load_workbook(io.BytesIO(export.annual_xlsx(r, "测试局")))
    ws = wb["主动公开政府信息情况"]
    values = [[c for c in row if c is not None] for row in ws.iter_rows(values_only=True)]
    values = [v for v in values if v]
    assert [v[0] for v in values if str(v[0]).startswith("第二十条")] == headings
    data = [v for v in values if v[0] in {"规章", "行政规范性文件", "行政许可", "行政处罚", "行政强制", "行政事业性收费"}]
    assert [[v[0], *[str(x) for x in v[1:]]] for v in data] == expected_rows
    assert all(isinstance(x, int | float) for v in data for x in v[1:])
    assert "各渠道发布与及时性" in wb.sheetnames

    # Through the web app: the page shows the cells and the trace pages list the documents.
    client = _client(create_app(), "ops")
    page = client.get(f"/compliance/annual?year={YEAR}")
    assert page.status_code == 200
    assert 'id="cell-normative-made">3</a>' in page.text and 'id="cell-rule-valid">3</a>' in page.text
    assert "（人工填报）" in page.text and "12.5" in page.text
    trace = client.get(f"/compliance/annual/trace?year={YEAR}&item=rule.valid")
    assert '<span id="trace-total">3</span>' in trace.text
    for n in ("r1", "r3", "r6"):
        assert f"/documents/{ids[n]}" in trace.text
    assert f"/documents/{ids['r2']}" not in trace.text
    x = client.get(f"/compliance/annual.xlsx?year={YEAR}")
    assert x.status_code == 200 and x.content[:2] == b"PK"
    d = client.get(f"/compliance/annual.docx?year={YEAR}")
    assert DocxDocument(io.BytesIO(d.content)).tables[0].rows[2].cells[3].text == "3"
    assert client.post("/compliance/annual/figures", data={"year": YEAR, "csrf_token": csrf_of(page.text)}).status_code == 403


@pytest.mark.parametrize("both_databases", ["sqlite"], indirect=True)
def test_section_two_on_sqlite(both_databases) -> None:
    """The embedded default (SQLite): the same cells and the same Beijing-day arithmetic."""
    from orchestrator.compliance import annual
    from orchestrator.db import session_scope

    seed()
    with session_scope() as s:
        r = annual.section_two(s, YEAR)
    assert {(k, w): c.value for k, per in r.rules.items() for w, c in per.items()} == EXPECTED
    assert {k: c.value for k, c in r.decisions.items()} == {"license": 2, "penalty": 1, "coercion": 0}
    pub = r.publication
    assert pub["totals"] == {"published": 3, "on_time": 1, "late": 2, "no_due": 0}
    assert (pub["late_median"], pub["late_max"], pub["lag_median"], pub["lag_max"]) == (3.0, 4, 7.0, 10)


def _client(app, role: str):
    from fastapi.testclient import TestClient

    return login(TestClient(app), make_web_user(role))


@pytest.mark.parametrize("field, value, message", [
    ("license", "-1", "不能为负数"),
    ("penalty", "abc", "请填写数字"),
    ("coercion", "1.5", "件数应为整数"),
    ("license", "99999999999", "数值过大"),
    ("fee", "12.34567", "最多保留四位小数"),
    ("fee", "1e40", "数值过大"),
    ("fee", "NaN", "请填写数字"),
    ("penalty", "１２", None),  # full-width digits are digits: accepted as 12
])
def test_hand_entered_figures_refuse_hostile_input(orch_env, field: str, value: str, message: str | None) -> None:
    from orchestrator.app import create_app
    from orchestrator.compliance import annual
    from orchestrator.db import session_scope

    with session_scope() as s:
        annual.save_figures(s, 2024, {"license": "3", "fee": "1.25"}, "admin")
    client = _client(create_app(), "admin")
    token = csrf_of(client.get("/compliance/annual?year=2024").text)
    form = {"year": "2024", "license": "5", "penalty": "", "coercion": "", "fee": "2", "csrf_token": token, field: value}
    r = client.post("/compliance/annual/figures", data=form, follow_redirects=False)
    with session_scope() as s:
        saved = annual.hand_figures(s, 2024)
    if message is None:
        assert r.status_code == 303
        assert saved["penalty"] == 12
        return
    assert r.status_code == 422 and message in r.text and "未保存" in r.text
    assert saved == {"license": Decimal("3"), "fee": Decimal("1.25")}  # nothing of the bad form was written


@pytest.mark.parametrize("year", ["abcd", "99999", "1900", "2025'; DROP TABLE documents;--"])
def test_bad_years_are_refused_in_chinese(orch_env, year: str) -> None:
    from orchestrator.app import create_app

    client = _client(create_app(), "admin")
    for path in ("/compliance/annual", "/compliance/annual.xlsx", "/compliance/annual/trace"):
        r = client.get(path, params={"year": year, "item": "rule.made"})
        assert r.status_code == 422 and "年份" in r.text, path
    token = csrf_of(client.get("/compliance/annual").text)
    r = client.post("/compliance/annual/figures", data={"year": year, "license": "1", "csrf_token": token})
    assert r.status_code == 422 and "年份" in r.text
    assert client.get("/compliance/annual/trace", params={"year": "2025", "item": "nope"}).status_code == 422


def test_self_inspection_report_and_export(seeded) -> None:
    from orchestrator.app import create_app
    from orchestrator.compliance import inspection
    from orchestrator.compliance.models import LinkProblem
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, Document, DocumentVersion

    ids, _ = seeded
    with session_scope() as s:
        # An overdue document: due last month, its WeChat publication still pending.
        doc = s.get(Document, ids["p1"])
        doc.due_date = dt.date.today() - dt.timedelta(days=30)
        version = s.query(DocumentVersion).filter_by(document_id=doc.id).one()
        s.add(Delivery(document_id=doc.id, version_id=version.id, version=1, channel="wechat", destination="wechat",
                       action="publish", idempotency_key=f"overdue-{doc.id}", status="failed"))
        s.add(LinkProblem(key="x" * 64, kind="external_redirect", page_url="http://site.example/art/1.html",
                          link_url="http://old.example/", problem="外部链接已跳转到其他网站 casino.example（疑似暗链）"))

    calls = []

    @inspection.register("hook_demo", "示例：其他模块提供的检查", "示例依据")
    def _demo(session, today):
        calls.append(today)
        return inspection.Result(1, [{"what": "栏目“工作动态”超过 14 天未更新", "detail": "最后更新 2025-01-01", "link": ""}])

    @inspection.register("hook_broken", "示例：出错的检查", "示例依据")
    def _broken(session, today):
        raise RuntimeError("boom")

    try:
        client = _client(create_app(), "ops")
        page = client.get("/compliance/inspection")
        r = client.post("/compliance/inspection/run", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        report_page = client.get(r.headers["location"])
    finally:
        inspection.CHECKS[:] = [c for c in inspection.CHECKS if not c.code.startswith("hook_")]
    assert calls, "the registered check ran"
    text = report_page.text
    assert "超期未公开的文件" in text and "文件p1" in text and "已超期 30 天" in text
    assert "疑似暗链" in text and "其他/从未发布的事项" in text
    assert "栏目“工作动态”超过 14 天未更新" in text and "检查未能完成（RuntimeError）" in text

    rid = int(r.headers["location"].rsplit("=", 1)[1])
    wb = load_workbook(io.BytesIO(client.get(f"/compliance/inspection/{rid}.xlsx").content))
    summary = {row[0]: row[2] for row in wb["自查汇总"].iter_rows(min_row=3, values_only=True)}
    assert summary["超期未公开的文件"] == 1 and summary["失效链接、暗链与附件问题"] == 1
    assert summary["示例：出错的检查"] == 0
    items = list(wb["待整改事项"].iter_rows(min_row=2, values_only=True))
    assert any(row[0] == "超期未公开的文件" and "文件p1" in row[2] and row[4] == f"/documents/{ids['p1']}" for row in items)
    assert any(row[0] == "从未发布过信息的目录事项" and "从未发布的事项" in row[2] for row in items)
    docx = DocxDocument(io.BytesIO(client.get(f"/compliance/inspection/{rid}.docx").content))
    assert any("超期未公开的文件" in c.text for c in docx.tables[0].columns[0].cells)
    assert client.get("/compliance/inspection/999999.xlsx").status_code == 404


def test_monthly_self_inspection_is_on_the_beat_schedule() -> None:
    from orchestrator.delivery.celery_app import app

    entry = app.conf.beat_schedule["self-inspection-monthly"]
    assert entry["task"] == "orchestrator.self_inspection"
    assert entry["schedule"].day_of_month == {1}
    assert app.conf.beat_schedule["linkcheck"]["task"] == "orchestrator.linkcheck"
    assert app.conf.beat_schedule["fold-delivery-counts"]["task"] == "orchestrator.fold_delivery_counts"


_ = Path
