"""The CLI against a real PostgreSQL and Redis: happy paths, and bad input → Chinese message, non-zero exit, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api_helpers import PDF, PNG, PUBLISHER, ROOT, configure, counts
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)

CJK = __import__("re").compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def cli(orch_env, redis_server, tmp_path, monkeypatch):
    configure(monkeypatch, tmp_path, redis_server.url, {"reading_room": [{"name": "reading_room", "adapter": "manual"}],
                                                        "website": [{"name": "w", "adapter": "manual"}]})
    from orchestrator.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def body(tmp_path) -> Path:
    p = tmp_path / "正文.html"
    p.write_text("<p>各科室：现将有关事项通知如下。</p>", encoding="utf-8")
    return p


def refused(result, code: int, *needles: str) -> None:
    out = result.output
    assert result.exit_code == code, out
    assert "Traceback" not in out
    assert CJK.search(out), out
    for n in needles:
        assert n in out, f"{n!r} not in {out}"


def submit_args(body: Path, *extra: str) -> list[str]:
    return ["submit", "--entry", "03", "--publisher", PUBLISHER, "--title", "工作动态", "--body", str(body),
            "--formed-on", "2026-11-02", *extra]


def test_submit_status_deliveries(cli, body, tmp_path):
    pdf = tmp_path / "附件.pdf"
    pdf.write_bytes(PDF)
    r = cli(*submit_args(body, "--attach", str(pdf), "--doc-number", "测司发〔2026〕9号", "--json"))
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["index_no"].startswith("11150000TEST0001X/2026-") and len(res["delivery_ids"]) == 2

    r = cli("status", str(res["document_id"]), "--json")
    doc = json.loads(r.stdout)
    assert doc["versions"][0]["attachments"][0]["filename"] == "附件.pdf"
    assert doc["versions"][0]["doc_number"] == "测司发〔2026〕9号"
    r = cli("status", res["index_no"])  # by index number, as a table
    assert r.exit_code == 0 and "工作动态" in r.stdout and "reading_room" in r.stdout

    r = cli("deliveries", "--channel", "reading_room", "--document", str(res["document_id"]), "--json")
    rows = json.loads(r.stdout)
    assert rows["total"] == 1 and rows["items"][0]["channel"] == "reading_room"
    r = cli("deliveries", "--status", "pending,queued", "--limit", "5")
    assert r.exit_code == 0 and "共" in r.stdout

    md = tmp_path / "说明.md"
    md.write_text("# 标题\n\n正文", encoding="utf-8")
    r = cli("submit", "--entry", "03", "--publisher", PUBLISHER, "--title", "Markdown", "--body", str(md),
            "--formed-on", "2026-11-02")
    assert r.exit_code == 0 and "已登记" in r.stdout and "索引号" in r.stdout


def test_bad_submissions(cli, body, tmp_path):
    before = counts()
    exe = tmp_path / "a.exe"
    exe.write_bytes(b"MZ")
    fake = tmp_path / "伪装.pdf"
    fake.write_bytes(PNG)
    phone = tmp_path / "p.html"
    phone.write_text("<p>联系电话 13912345678</p>", encoding="utf-8")
    empty = tmp_path / "empty.html"
    empty.write_text("<script>x</script>", encoding="utf-8")
    gbk = tmp_path / "gbk.html"
    gbk.write_bytes("<p>中文正文</p>".encode("gb18030"))
    cases = [
        (["submit", "--entry", "不存在", "--title", "t", "--body", str(body), "--formed-on", "2026-11-02"], 1, "找不到目录事项"),
        (submit_args(body)[:-2] + ["--formed-on", "2026-02-30"], 1, "生成日期"),
        (submit_args(body, "--publish-at", "明天"), 1, "定时发布时间"),
        (submit_args(tmp_path / "nope.html"), 1, "正文文件不存在"),
        (submit_args(body, "--attach", str(exe)), 1, "类型不允许"),
        (submit_args(body, "--attach", str(fake)), 1, "内容与扩展名"),
        (submit_args(body, "--attach", str(tmp_path / "missing.pdf")), 1, "附件不存在"),
        (submit_args(phone), 1, "个人信息"),
        (submit_args(empty), 1, "正文为空"),
        (submit_args(body, "--format", "docx"), 1, "不支持"),
        (["submit", "--title", "t"], 2, "缺少必填选项"),
        (submit_args(body, "--bogus"), 2, "没有选项"),
    ]
    for args, code, needle in cases:
        refused(cli(*args), code, needle)
    assert counts() == before
    # Personal data passes once confirmed; GBK files are read.
    assert cli(*submit_args(phone, "--confirm-personal-data")).exit_code == 0
    assert cli(*submit_args(gbk)).exit_code == 0


def test_operations_on_deliveries(cli, body, tmp_path):
    from orchestrator.delivery.engine import run_delivery

    res = json.loads(cli(*submit_args(body, "--json")).stdout)
    rows = json.loads(cli("deliveries", "--document", str(res["document_id"]), "--json").stdout)["items"]
    manual = next(d for d in rows if d["channel"] == "reading_room")
    web = next(d for d in rows if d["channel"] == "website")
    mid = str(manual["id"])

    refused(cli("confirm", mid, "--by", "张三"), 4, "无需确认")
    assert run_delivery(manual["id"]) == "awaiting_confirmation"
    refused(cli("confirm", mid), 2, "缺少必填选项 --by")
    refused(cli("confirm", mid, "--by", "张三", "--url", "ftp://x"), 1, "链接")
    refused(cli("confirm", mid, "--by", "张三", "--evidence", str(tmp_path / "none.png")), 1, "凭证文件不存在")
    refused(cli("confirm", mid, "--by", "张三", "--when", "昨天"), 1, "完成时间")
    refused(cli("confirm", "abc", "--by", "张三"), 1, "投递编号应为数字")
    refused(cli("confirm", "99999999", "--by", "张三"), 3, "不存在")
    photo = tmp_path / "现场.png"
    photo.write_bytes(PNG)
    r = cli("confirm", mid, "--by", "张三", "--note", "已张贴", "--evidence", str(photo), "--url", "https://example.gov.cn/1")
    assert r.exit_code == 0 and "已确认送达" in r.stdout
    d = json.loads(cli("status", str(res["document_id"]), "--json").stdout)["deliveries"]
    m = next(x for x in d if x["id"] == manual["id"])
    assert m["status"] == "delivered" and m["evidence_filename"] == "现场.png" and m["confirmed_by"] == "张三"

    wid = str(web["id"])
    refused(cli("retry", wid), 4, "不能重试")
    assert cli("cancel", wid, "--reason", "不需要").exit_code == 0
    refused(cli("cancel", wid), 4, "不能取消")
    r = cli("retry", wid)
    assert r.exit_code == 0 and "重新排入" in r.stdout
    refused(cli("retry", "99999999"), 3, "不存在")


def test_version_and_withdraw(cli, body, tmp_path):
    res = json.loads(cli(*submit_args(body, "--json")).stdout)
    doc = str(res["document_id"])
    refused(cli("version", doc), 1, "至少提供一项更改")
    refused(cli("version", "99999999", "--title", "x"), 3, "不存在")
    refused(cli("version", "不存在的索引号", "--title", "x"), 3, "找不到文件")
    r = cli("version", doc, "--title", "更正后的标题", "--change-note", "更正标题", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["document_id"] == res["document_id"]
    refused(cli("withdraw", doc), 2, "缺少必填选项 --reason")
    refused(cli("withdraw", doc, "--reason", "  "), 1, "撤回原因")
    r = cli("withdraw", doc, "--reason", "文件已废止")
    assert r.exit_code == 0 and "已撤回" in r.stdout
    refused(cli("withdraw", doc, "--reason", "再次"), 4, "已撤回")
    refused(cli("version", doc, "--title", "x"), 4, "已撤回")


def test_users_tokens_catalog_and_db(cli, tmp_path):
    from orchestrator import auth

    r = cli("user", "add", "wang.wu", "--role", "clerk", "--office", "办公室", "--password-stdin", input="Correct horse 9\n")
    assert r.exit_code == 0 and "经办人" in r.stdout
    assert auth.authenticate_password("wang.wu", "Correct horse 9").office == "办公室"
    with pytest.raises(auth.AuthError):
        auth.authenticate_password("wang.wu", "wrong")
    refused(cli("user", "add", "wang.wu", "--role", "clerk", "--office", "办公室"), 1, "已存在")
    refused(cli("user", "add", "li", "--role", "boss"), 1, "角色")
    refused(cli("user", "add", "zhao", "--role", "clerk"), 1, "科室")
    refused(cli("user", "add", "中文名", "--role", "ops"), 1, "用户名")
    refused(cli("user", "add", "shortpw", "--role", "ops", "--password-stdin", input="123\n"), 1, "密码至少")
    r = cli("token", "create", "wang.wu", "--name", "OA 对接", "--json")
    token = json.loads(r.stdout)["token"]
    assert auth.authenticate_token(token).username == "wang.wu"
    refused(cli("token", "create", "nobody", "--name", "x"), 1, "不存在")
    refused(cli("token", "create", "wang.wu", "--name", " "), 1, "名称")

    assert cli("db", "upgrade").exit_code == 0
    d = tmp_path / "cats"
    d.mkdir()
    (d / "bad.yaml").write_text("publisher: 坏目录\nentries: [{code: '!!', path: []}]\n", encoding="utf-8")
    refused(cli("catalog", "sync", "--dir", str(d)), 1, "目录文件")
    refused(cli("catalog", "sync", "--dir", str(tmp_path / "none")), 1, "不存在")
    r = cli("catalog", "sync", "--dir", str(ROOT / "tests" / "data" / "catalogs"))
    assert r.exit_code == 0 and PUBLISHER in r.stdout


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_real_process_errors_have_no_traceback(cli, orch_env, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = _run(["status", "99999999"], env)
    assert r.returncode == 3 and "不存在" in r.stderr and "Traceback" not in r.stderr + r.stdout
    r = _run(["deliveries", "--limit", "abc"], env)
    assert r.returncode == 2 and "应为整数" in r.stderr and "Traceback" not in r.stderr
    # The database is unreachable: a clear message and exit code 5.
    bad = {**env, "ORCH_DATABASE_URL": "postgresql+psycopg://root@127.0.0.1:1/none"}
    r = _run(["deliveries"], bad)
    assert r.returncode == 5 and "数据库无法连接" in r.stderr and "Traceback" not in r.stderr


def test_submit_by_names_a_person_held_to_the_office_rule(cli, body):
    """``--by`` names a person of this system (not any string), and a clerk only submits for their office's entries,
    as on the web and the API; refused submissions store nothing."""
    from orchestrator.db import session_scope
    from orchestrator.models import Document
    from tests.web_support import OFFICE_A, OFFICE_B, make_web_user

    own = make_web_user("clerk", OFFICE_A)
    other = make_web_user("clerk", OFFICE_B)
    before = counts()
    refused(cli(*submit_args(body, "--by", "nobody")), 1, "不是本系统的在用账号", "未保存任何内容")
    r = cli(*submit_args(body, "--by", other))
    refused(r, 1)
    unwrapped = r.output.replace("\n", "")  # the console wraps long messages
    assert f"所在科室（{OFFICE_B}）不是该目录事项的责任科室" in unwrapped and "未保存任何内容" in unwrapped, r.output
    assert counts() == before
    r = cli(*submit_args(body, "--by", own, "--json"))
    assert r.exit_code == 0, r.output
    with session_scope() as s:
        assert s.get(Document, json.loads(r.stdout)["document_id"]).submitted_by == own
