"""The shipped configuration agrees with the shipped seed catalog: every seed entry that marks 公示栏 or 精准推送
has a screen that shows it and a push rule that sends it, so nothing is 渠道未配置 out of the box."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from channels.push.config import load_subscribers
from channels.screens.config import load_screens_config

ROOT = Path(__file__).resolve().parent.parent
SEED = yaml.safe_load((ROOT / "config" / "catalogs" / "genhe-sfj.yaml").read_text(encoding="utf-8"))


def entries_marking(channel: str) -> list[dict]:
    return [e for e in SEED["entries"] if channel in (e.get("channels") or [])]


def test_seed_marks_both_channels():
    # Guards the two tests below against passing on an empty selection.
    assert len(entries_marking("bulletin_board")) >= 10
    assert len(entries_marking("targeted_push")) >= 6


def test_every_seed_bulletin_board_entry_is_shown_on_a_shipped_screen():
    cfg = load_screens_config(ROOT / "config" / "screens.yaml")
    missing = [
        e["code"]
        for e in entries_marking("bulletin_board")
        if not cfg.screens_for(publisher=e["publisher"], entry_code=e["code"], entry_path=tuple(e["path"]))
    ]
    assert missing == []


def test_every_seed_targeted_push_entry_has_a_shipped_push_rule():
    cfg = load_subscribers(ROOT / "config" / "subscribers.yaml")
    missing = []
    for e in entries_marking("targeted_push"):
        pub = cfg.for_publisher(e["publisher"])
        doc = SimpleNamespace(entry_code=e["code"], entry_path=tuple(e["path"]), publisher=e["publisher"])
        if pub is None or not pub.has_rule_for(doc):
            missing.append(e["code"])
    assert missing == []
