"""Loading and checking config/subscribers.yaml: every mistake is one Chinese message naming what to fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from channels.base import Action, DocumentPayload
from channels.push.config import (
    SubscribersConfigError,
    load_subscribers,
    member_routes,
    member_urls,
    parse_subscribers,
)

ROOT = Path(__file__).resolve().parent.parent


def shipped() -> dict:
    return yaml.safe_load((ROOT / "config" / "subscribers.yaml").read_text(encoding="utf-8"))


def problems(raw: dict) -> list[str]:
    with pytest.raises(SubscribersConfigError) as err:
        parse_subscribers(raw)
    return err.value.problems


def doc(path: tuple[str, ...], code: str = "X") -> DocumentPayload:
    return DocumentPayload(
        document_id=1, version=1, index_no="i", title="t", body_html="", doc_number="", formed_on=dt.date(2025, 1, 1),
        publisher="根河市司法局", entry_code=code, entry_path=path,
    )


def test_shipped_file_loads_with_the_three_groups():
    cfg = load_subscribers(ROOT / "config" / "subscribers.yaml")
    pub = cfg.for_publisher("根河市司法局")
    assert pub is not None
    assert [g.name for g in pub.groups] == ["企业", "律师", "社区办公室"]
    groups = pub.groups_for(doc(("履职依据", "规范性文件")), Action.publish)
    assert [g.name for g in groups] == ["企业", "律师", "社区办公室"]
    assert pub.groups_for(doc(("部门会议",)), Action.publish) == []
    routes = [r for g in groups for m in g.members for r in member_routes(pub, g, m)]
    assert {r.kind for r in routes} == {"email", "webhook"}
    assert len({r.hash for r in routes}) == len(routes) == 6


def test_rules_match_codes_paths_and_path_prefixes():
    raw = shipped()
    raw["publishers"][0]["pushes"] = [
        {"entries": ["履职依据"], "groups": ["律师"]},
        {"entries": ["ZDLY-01"], "groups": "企业"},
    ]
    pub = parse_subscribers(raw).publishers[0]
    assert [g.name for g in pub.groups_for(doc(("履职依据", "意见征集及反馈")), Action.publish)] == ["律师"]
    assert [g.name for g in pub.groups_for(doc(("重点领域",), code="ZDLY-01"), Action.publish)] == ["企业"]
    assert pub.groups_for(doc(("履职依据规范",)), Action.publish) == []  # a prefix is whole path segments


def test_update_and_withdraw_respect_group_switches():
    raw = shipped()
    raw["publishers"][0]["groups"][0]["notify_update"] = False
    raw["publishers"][0]["groups"][2]["notify_withdraw"] = False
    pub = parse_subscribers(raw).publishers[0]
    d = doc(("履职依据", "规范性文件"))
    assert [g.name for g in pub.groups_for(d, Action.update)] == ["律师", "社区办公室"]
    assert [g.name for g in pub.groups_for(d, Action.withdraw)] == ["企业", "律师"]


def test_malformed_apprise_url_names_group_member_and_field_and_hides_password():
    raw = shipped()
    raw["publishers"][0]["groups"][1]["members"][0]["routes"] = ["json//127.0.0.1/x", "mailtos://u:hunter2@smtp.x.cn"]
    found = problems(raw)
    assert len(found) == 2
    assert found[0].startswith("发布机构“根河市司法局” › 订阅组“律师” › 成员“law-beiji” › 推送路由（routes）第1条")
    assert "无法识别" in found[0] and "缺少 ://" in found[0]
    assert "推送路由（routes）第2条" in found[1] and "只能有一个有效的收件地址" in found[1]
    assert "hunter2" not in " ".join(found) and "u:***@" in found[1]


def test_unknown_scheme_and_bad_mail_server():
    raw = shipped()
    raw["publishers"][0]["mail_server"] = "smtp://mail.example.cn"
    raw["publishers"][0]["groups"][2]["members"][1]["routes"] = ["weixin://abc"]
    found = problems(raw)
    assert any("邮件服务器（mail_server）" in p and "mailto://" in p for p in found)
    assert any("成员“community-hexi”" in p and "不支持的协议“weixin”" in p for p in found)


def test_unknown_group_names_it_and_lists_the_defined_ones():
    raw = shipped()
    raw["publishers"][0]["pushes"][0]["groups"] = ["企业", "记者"]
    assert problems(raw) == [
        "发布机构“根河市司法局” › 第1条推送规则：订阅组“记者”不存在；已定义的订阅组：“企业”、“律师”、“社区办公室”"
    ]


def test_field_level_mistakes_are_named():
    raw = shipped()
    members = raw["publishers"][0]["groups"][0]["members"]
    members[0]["emial"] = "x@y.cn"
    members[1]["email"] = "不是邮箱"
    members.append({"id": "ent-empty", "name": "无联系方式单位"})
    members.append({"id": "ent-genhe-dairy", "email": "a@b.cn"})  # duplicate id is checked after the shape
    found = problems(raw)
    assert "订阅组“企业” › 成员“ent-genhe-forestry” › 字段 emial：不认识的字段（请检查拼写）" in found[0]
    assert any("成员“ent-genhe-dairy” › 电子邮箱（email）：“不是邮箱”不是有效的电子邮箱地址" in p for p in found)
    assert any("成员“ent-empty”" in p and "至少需要一个联系方式" in p for p in found)

    raw = shipped()
    raw["publishers"][0]["groups"][1]["members"].append({"id": "ent-genhe-dairy", "email": "a@b.cn"})
    found = problems(raw)
    assert found == [
        "发布机构“根河市司法局” › 订阅组“律师” › 成员“ent-genhe-dairy”：成员编号已在订阅组“企业”中使用；"
        "同一发布机构内成员编号须唯一（同一单位订阅多个组时请使用不同编号，或只放在一个组内）"
    ]


def test_email_shorthand_needs_a_mail_server():
    raw = shipped()
    raw["publishers"][0]["mail_server"] = ""
    found = problems(raw)
    assert any("成员“ent-genhe-forestry” › 电子邮箱（email）：该发布机构未配置邮件服务器" in p for p in found)


def test_env_references_are_expanded_and_an_empty_one_is_reported(monkeypatch):
    raw = shipped()
    raw["publishers"][0]["groups"][1]["members"][0]["routes"] = ["${PUSH_TEST_HOOK}"]
    monkeypatch.delenv("PUSH_TEST_HOOK", raising=False)
    assert any("地址为空" in p and "环境变量" in p for p in problems(raw))
    monkeypatch.setenv("PUSH_TEST_HOOK", "json://127.0.0.1:9/hook")
    cfg = parse_subscribers(raw)
    pub = cfg.publishers[0]
    group = pub.groups[1]
    member = group.members[0]
    # The member's route is the expanded environment value, not the ${...} reference.
    assert member_urls(pub, member)[0] == "json://127.0.0.1:9/hook"
    assert member_routes(pub, group, member)[0].url == "json://127.0.0.1:9/hook"


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "subscribers.yaml"
    path.write_text("publishers:\n  - publisher: 甲\n    groups: [\n", encoding="utf-8")
    with pytest.raises(SubscribersConfigError) as err:
        load_subscribers(path)
    assert "YAML 格式错误（第" in str(err.value)
    with pytest.raises(SubscribersConfigError) as err:
        load_subscribers(tmp_path / "missing.yaml")
    assert "文件不存在" in str(err.value)


def test_reload_after_edit(tmp_path):
    path = tmp_path / "subscribers.yaml"
    raw = shipped()
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert len(load_subscribers(path).publishers[0].groups) == 3
    raw["publishers"][0]["groups"].pop()
    raw["publishers"][0]["pushes"] = [{"entries": ["履职依据"], "groups": ["企业"]}]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True) + "\n# edited\n", encoding="utf-8")
    assert len(load_subscribers(path).publishers[0].groups) == 2
