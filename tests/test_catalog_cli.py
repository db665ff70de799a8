"""The catalog commands end to end through the CLI: bad input never leaves a traceback or touches a catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.catalog_fixtures import HEADER1, HEADER2, ROWS, tsv, write_docx, write_xlsx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "config" / "catalogs" / "sources" / "000_7b423e1979c7eb69.txt"
runner = CliRunner()
EXISTING = "publisher: 已审核的目录\nentries: []\n# reviewed by hand\n"


def run(*args: str):
    return runner.invoke(app, list(args))


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    (files.setdefault("empty", tmp / "empty.txt")).write_bytes(b"")
    (files.setdefault("blank", tmp / "blank.txt")).write_text("\n \n\t\n", encoding="utf-8")
    (files.setdefault("binary", tmp / "data.bin")).write_bytes(bytes(range(256)) * 64)
    (files.setdefault("non_catalog", tmp / "notes.txt")).write_text("会议纪要\n今天讨论了工作安排。\n下周继续。\n", encoding="utf-8")
    (files.setdefault("header_only", tmp / "header.txt")).write_text(tsv([HEADER1, HEADER2]), encoding="utf-8")
    good_docx = write_docx(tmp / "good.docx", [HEADER1, HEADER2], ROWS)
    good_xlsx = write_xlsx(tmp / "good.xlsx", [HEADER1, HEADER2], ROWS)
    (files.setdefault("truncated_docx", tmp / "cut.docx")).write_bytes(good_docx.read_bytes()[: good_docx.stat().st_size // 2])
    (files.setdefault("truncated_xlsx", tmp / "cut.xlsx")).write_bytes(good_xlsx.read_bytes()[: good_xlsx.stat().st_size // 2])
    big = tmp / "big.txt"
    with big.open("w", encoding="utf-8") as fh:  # 10 MB of catalog-looking text
        fh.write(tsv([HEADER1, HEADER2]))
        while fh.tell() < 10 * 1024 * 1024:
            fh.write(tsv(ROWS))
    files["10mb"] = big
    files["old_doc"] = tmp / "old.doc"
    files["old_doc"].write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000)
    files["pdf"] = tmp / "c.pdf"
    files["pdf"].write_bytes(b"%PDF-1.7\n" + b"x" * 100)
    # A spreadsheet full of merged cells that is not a catalog.
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2026年工作计划", "", ""])
    ws.append(["季度", "任务", "负责人"])
    ws.merge_cells("A1:C1")
    ws.merge_cells("A3:A6")
    wb.save(tmp / "merged.xlsx")
    files["merged_non_catalog_xlsx"] = tmp / "merged.xlsx"
    # A Word file whose only tables are nested, and none is a catalog.
    from docx import Document

    doc = Document()
    outer = doc.add_table(1, 2)
    outer.cell(0, 0).add_table(2, 2).cell(0, 0).text = "姓名"
    doc.save(str(tmp / "nested.docx"))
    files["nested_non_catalog_docx"] = tmp / "nested.docx"
    files["missing"] = tmp / "does-not-exist.txt"
    files["directory"] = tmp
    return files


BAD = [
    "empty", "blank", "binary", "non_catalog", "header_only", "truncated_docx", "truncated_xlsx", "10mb", "old_doc",
    "pdf", "merged_non_catalog_xlsx", "nested_non_catalog_docx", "missing", "directory",
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", BAD)
def test_bad_input_clear_message_and_catalog_untouched(bad_files, tmp_path, name):
    target = tmp_path / "catalog.yaml"
    target.write_text(EXISTING, encoding="utf-8")
    result = run("catalog", "import", str(bad_files[name]), "--out", str(target))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("错误：")
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert target.read_text(encoding="utf-8") == EXISTING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.yaml"]  # no temp file left behind


@pytest.mark.parametrize("name", ["10mb", "binary", "truncated_xlsx"])
def test_bad_input_in_a_real_process(bad_files, name):
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "catalog", "import", str(bad_files[name]), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("错误：") and "Traceback" not in proc.stderr and proc.stdout == ""


def test_import_writes_yaml_atomically_and_summarises(tmp_path):
    target = tmp_path / "out.yaml"
    target.write_text(EXISTING, encoding="utf-8")
    result = run("catalog", "import", str(SEED), "--out", str(target))
    assert result.exit_code == 0, result.output
    assert "28 个条目" in result.stdout and "需要人工核对的条目：11 个" in result.stdout and "05-01 新闻发布" in result.stdout
    assert target.read_text(encoding="utf-8") != EXISTING
    assert run("catalog", "validate", str(target)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]


def test_import_json(tmp_path):
    result = run("catalog", "import", str(SEED), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["publisher"] == "根河市司法局" and len(data["entries"]) == 28
    e = data["entries"][0]
    for key in ("code", "path", "content", "time_limit", "keep_public", "publisher", "channels", "channel_labels",
                "audience", "offices", "inherited", "warnings"):
        assert key in e
    assert e["time_limit"] == {"text": "信息产生或变更之日起20个工作日内公开", "kind": "working_days", "days": 20, "from": "formed"}
    assert "05-01" in data["review"] and data["warnings"]


def test_import_refuses_to_shadow_an_existing_catalog_of_the_same_publisher(tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    env = {**os.environ, "ORCH_CONFIG_DIR": str(config)}
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "catalog", "import", str(SEED)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 1 and "genhe-sfj.yaml" in proc.stderr
    assert sorted(p.name for p in (config / "catalogs").glob("*.yaml")) == ["genhe-sfj.yaml"]  # no second catalog


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_validate_names_entry_and_field(tmp_path):
    bad = """publisher: 某局
entries:
- code: 01-01
  path: [甲, 乙]
  channels: [website, fax]
  time_limit: {text: 20个工作日, kind: working_days}
- code: 01-01
  path: [甲, 丙]
  time_limit: {text: 看情况, kind: unknown}
- code: 01-02
  path: [甲, 丁]
  time_limit: {text: x, kind: sometimes}
"""
    result = run("catalog", "validate", str(_write(tmp_path, bad)))
    assert result.exit_code == 1
    err = result.stderr
    assert "Traceback" not in result.output
    assert "条目 01-02（甲/丁） 的字段 time_limit.kind" in err  # schema error names entry and field
    bad = bad.replace("kind: sometimes", "kind: immediate")
    err = run("catalog", "validate", str(_write(tmp_path, bad))).stderr
    assert "条目编码 01-01 重复" in err
    assert "条目 01-01（甲/乙） 的字段 channels：未知渠道代码“fax”" in err
    assert "条目 01-01（甲/乙） 的字段 time_limit.days" in err
    assert "条目 01-01（甲/丙） 的字段 time_limit.kind：规则未定型" in err


@pytest.mark.parametrize("text", ["", "[1, 2]", "publisher: [\n", "\x00\x01"])
def test_validate_garbage(tmp_path, text):
    result = run("catalog", "validate", str(_write(tmp_path, text)))
    assert result.exit_code == 1 and "Traceback" not in result.output and result.stderr


def test_show(tmp_path):
    result = run("catalog", "show", "--publisher", "根河市司法局")
    assert result.exit_code == 0, result.output
    assert "根河市司法局：28 个条目" in result.stdout and "部门会议" in result.stdout
    assert run("catalog", "show", "--publisher", "不存在的局").exit_code == 1
    assert run("catalog", "show", "--dir", str(tmp_path)).exit_code == 1


@pytest.mark.parametrize(
    ("entry", "start", "due"),
    [
        ("履职依据/规范性文件", "2026-02-13", "2026-03-19"),  # 20 working days across the Spring Festival
        ("01-01", "2026-09-25", "2026-10-29"),  # across Mid-Autumn + National Day with make-up days
        ("06-01", "2026-09-11", "2026-10-08"),  # 20 calendar days land on 10-01 → next working day
        ("人事信息", "2026-02-13", "2026-02-14"),  # immediate: next working day is the make-up Saturday
        ("01-04", "2026-09-07", "2026-10-08"),  # a month after the comment period is 10-07 (holiday) → 10-08
        ("01-06", "2026-10-01", "2026-10-01"),  # same day as the related document
    ],
)
def test_due_command(entry, start, due):
    result = run("due", "--entry", entry, "--from", start)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == due


def test_due_errors():
    for args, text in [
        (("--entry", "01-01", "--from", "2026-13-01"), "格式不对"),
        (("--entry", "99-99", "--from", "2026-01-05"), "找不到目录事项"),
        (("--entry", "履职依据/意见征集及反馈", "--from", "2026-01-05"), "对应多个条目"),
        (("--entry", "01-01", "--from", "2003-01-06"), "2004—2099"),
    ]:
        result = run("due", *args)
        assert result.exit_code == 1 and text in result.stderr and "Traceback" not in result.output


def test_due_command_marks_a_provisional_date(monkeypatch, tmp_path):
    from orchestrator.settings import get_settings

    # No official 2027 table, whatever chinesecalendar version is installed and whatever files the checkout has.
    monkeypatch.setenv("ORCH_CALENDAR_PACKAGE_UNTIL", "2026")
    monkeypatch.setenv("ORCH_HOLIDAYS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        # 20 working days from Mon 2027-01-25 on the statutory holidays (hand count in tests/test_calendar.py).
        result = run("due", "--entry", "履职依据/规范性文件", "--from", "2027-01-25")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "2027-02-26（暂估）"
    assert "尚未公布" in result.stdout
