"""Shared set-up for the review-chain tests: a catalog of its own publisher, the four-step chain, reviewers."""

from __future__ import annotations

from pathlib import Path

CHAIN_PUBLISHER = "测试审核链局"
CHAIN_CATALOG = f"""
publisher: {CHAIN_PUBLISHER}
index_prefix: "CHAIN01"
entries:
  - code: "GZ-01"
    path: [规范性文件, 本机关规范性文件]
    time_limit: {{text: 信息形成之日起20个工作日内公开, kind: working_days, days: 20, from: formed}}
    channels: [website, reading_room]
    offices: [办公室]
  - code: "GZ-02"
    path: [工作动态, 机关动态]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [website]
    offices: [办公室]
  - code: "GZ-03"
    path: [其他, 通知公告]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [website]
    offices: [办公室]
"""
OFFICE = "办公室"
OTHER_OFFICE = "行政执法协调监督办公室"
SECRECY_OFFICE = "保密办"


def write_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN_CATALOG, encoding="utf-8")
    return path


def four_steps(leader: str) -> list[dict]:
    return [
        {"name": "初审", "role": "reviewer", "own_office": True},
        {"name": "复审", "role": "reviewer", "skippable": True},
        {"name": "保密审查", "role": "reviewer", "office": SECRECY_OFFICE},
        {"name": "终审", "users": [leader]},
    ]


def chain_form(name: str, steps: list[dict], restart: str = "from_start", csrf: str = "", blanks: int = 2) -> dict:
    """The admin form's fields for a chain: one value per step row (blank rows as the page sends them)."""
    rows = [*steps, *({} for _ in range(blanks))]
    return {
        "csrf_token": csrf, "name": name, "restart": restart, "description": "",
        "step_name": [r.get("name", "") for r in rows],
        "step_role": [r.get("role", "") for r in rows],
        "step_office": [r.get("office", "") for r in rows],
        "step_own_office": ["yes" if r.get("own_office") else "no" for r in rows],
        "step_users": [", ".join(r.get("users", [])) for r in rows],
        "step_skippable": ["yes" if r.get("skippable") else "no" for r in rows],
    }


def setup_chains(leader: str, *, restart: str = "from_start", skip_on_gz03: bool = True) -> None:
    """The four-step chain for the publisher, a one-step chain for 工作动态 (GZ-02), and GZ-03 skipping 复审."""
    from orchestrator.db import session_scope
    from orchestrator.review import chains
    from orchestrator.review.config import parse_binding, parse_chain

    with session_scope() as s:
        chains.save_chain(s, parse_chain({"name": "规范性文件四审", "restart": restart, "steps": four_steps(leader)}),
                          "test")
        chains.save_chain(s, parse_chain({"name": "工作动态一审", "steps": [{"name": "保密审查", "role": "reviewer"}]}),
                          "test")
        chains.set_binding(s, parse_binding({"publisher": CHAIN_PUBLISHER, "chain": "规范性文件四审"}), "test")
        chains.set_binding(s, parse_binding({"publisher": CHAIN_PUBLISHER, "entry": "GZ-02", "chain": "工作动态一审"}),
                           "test")
        if skip_on_gz03:
            chains.set_binding(s, parse_binding({"publisher": CHAIN_PUBLISHER, "entry": "GZ-03",
                                                 "chain": "规范性文件四审", "skip": ["复审"]}), "test")
