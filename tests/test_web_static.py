"""The web app's static scripts: times a person reads are Beijing time whatever the browser's own time zone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.api_helpers import ROOT

STATIC = ROOT / "templates" / "web" / "static"


def test_live_clock_on_the_document_page_is_beijing_time():
    js = (STATIC / "document.js").read_text(encoding="utf-8")
    # No formatting in the browser's own zone anywhere in the script …
    assert not re.search(r"toLocale(Time|Date)?String\(", js)
    # … and the 自动刷新中 clock uses a formatter pinned to Asia/Shanghai.
    m = re.search(r"var (\w+) = new Intl\.DateTimeFormat\(\"zh-CN\", \{([^}]*)\}\)", js)
    assert m and 'timeZone: "Asia/Shanghai"' in m.group(2)
    assert f'"自动刷新中 · " + {m.group(1)}.format(new Date())' in js


@pytest.mark.skipif(shutil.which("node") is None, reason="需要 Node.js 来运行浏览器端的时间格式化")
def test_clock_formatter_shows_beijing_time_in_a_new_york_browser():
    js = (STATIC / "document.js").read_text(encoding="utf-8")
    m = re.search(r"(new Intl\.DateTimeFormat\(\"zh-CN\", \{[^}]*\}\))", js)
    assert m
    # 2026-12-01 15:28:02 UTC is 23:28:02 in Beijing and 10:28:02 in New York.
    script = f"process.stdout.write({m.group(1)}.format(new Date(Date.UTC(2026, 11, 1, 15, 28, 2))))"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TZ": "America/New_York"}, check=True).stdout
    assert out == "23:28:02"
