"""Subscriber groups for targeted push (精准推送), read from ``config/subscribers.yaml``.

Per publishing body: groups (企业, 律师, 社区办公室 …) of members, each member with one or more contact routes written as
Apprise URLs (``mailto://``, ``json://``/``form://`` webhooks, ``dingtalk://``, ``wecombot://`` …), and push rules saying
which catalog entries (by code or by path, a path also covering the entries below it) go to which groups.

Everything is checked when the file is loaded, with Apprise's own URL parser, so a typo surfaces as one clear Chinese
message naming the publisher, group, member and field to fix — before any document is pushed, not halfway through.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import apprise
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from channels.base import Action, DocumentPayload
from orchestrator.settings import PROJECT_ROOT, get_settings

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")
_USERINFO = re.compile(r"//([^/@:]*):([^/@]*)@")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MEMBER_ID = r"^[^\s/]{1,100}$"


class SubscribersConfigError(Exception):
    """The subscribers file cannot be used. ``problems`` lists every problem found, each naming what to fix."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"订阅配置（{source}）有误：" + "；".join(problems))


def _expand_env(value: str) -> str:
    return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)


def mask_url(url: str) -> str:
    """The URL with any password hidden, safe to show in an error message or a log."""
    return _USERINFO.sub(lambda m: f"//{m.group(1)}:***@", url)


def route_kind(plugin: Any) -> str:
    protocols = {str(p) for p in _as_tuple(getattr(plugin, "protocol", ())) + _as_tuple(getattr(plugin, "secure_protocol", ()))}
    if protocols & {"mailto", "mailtos"}:
        return "email"
    if protocols & {"json", "jsons", "form", "forms", "xml", "xmls"}:
        return "webhook"
    return "chat"


def _as_tuple(v: Any) -> tuple[Any, ...]:
    if v is None:
        return ()
    if isinstance(v, (list, tuple, set, frozenset)):
        return tuple(v)
    return (v,)


def instantiate_route(url: str) -> Any | None:
    """A fresh Apprise plugin for the URL, or None when Apprise cannot parse it."""
    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def route_identity(url: str, plugin: Any) -> str:
    """What makes a route "the same recipient": the address for email, the URL without password otherwise.

    Hashing the identity rather than the raw URL keeps an already-reached recipient recognised across a credential
    rotation or a reordered query string.
    """
    if route_kind(plugin) == "email":
        targets = sorted(addr.lower() for _name, addr in getattr(plugin, "targets", []))
        return "mailto:" + ",".join(targets)
    return _USERINFO.sub(lambda m: f"//{m.group(1)}@", url.strip())


def route_hash(url: str, plugin: Any) -> str:
    return hashlib.sha256(route_identity(url, plugin).encode("utf-8")).hexdigest()


# --- the file's shape ------------------------------------------------------------------------------


class PushMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_MEMBER_ID)  # stable key: the ledger and unsubscriptions refer to it
    name: str = ""
    # Shorthand: addresses sent through the publisher's ``mail_server``.
    email: list[str] = Field(default_factory=list)
    # Any Apprise URL (https://github.com/caronc/apprise/wiki).
    routes: list[str] = Field(default_factory=list)

    @field_validator("email", "routes", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("email")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for addr in v:
            if not _EMAIL.match(addr.strip()):
                raise ValueError(f"“{addr}”不是有效的电子邮箱地址")
        return [a.strip() for a in v]

    @model_validator(mode="after")
    def _has_a_route(self) -> PushMember:
        if not self.email and not self.routes:
            raise ValueError("至少需要一个联系方式（email 或 routes）")
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.id


class PushGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    # Whether this group also gets a "更正" notice when a pushed document changes, and a "撤回" notice when it is withdrawn.
    notify_update: bool = True
    notify_withdraw: bool = True
    members: list[PushMember] = Field(default_factory=list)


class PushRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Catalog entry codes, or paths written 一级/二级[/三级]; a path also covers the entries below it.
    entries: list[str] = Field(min_length=1)
    groups: list[str] = Field(min_length=1)

    @field_validator("entries", "groups", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def matches(self, doc: DocumentPayload) -> bool:
        for ref in self.entries:
            ref = ref.strip().strip("/")
            if ref == doc.entry_code:
                return True
            parts = tuple(p.strip() for p in ref.split("/"))
            if parts and tuple(doc.entry_path[: len(parts)]) == parts:
                return True
        return False


class PublisherSubscribers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publisher: str = Field(min_length=1)
    # An Apprise mailto:// URL without recipient (server, credentials, from=); members' ``email`` go through it.
    mail_server: str = ""
    groups: list[PushGroup] = Field(default_factory=list)
    pushes: list[PushRule] = Field(default_factory=list)

    def group(self, name: str) -> PushGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def member_name(self, member_id: str) -> str:
        for g in self.groups:
            for m in g.members:
                if m.id == member_id:
                    return m.display_name
        return member_id

    def groups_for(self, doc: DocumentPayload, action: Action) -> list[PushGroup]:
        """Groups this document's entry pushes to, keeping only those that want this kind of notice, in file order."""
        names: list[str] = []
        for rule in self.pushes:
            if rule.matches(doc):
                names.extend(n for n in rule.groups if n not in names)
        groups = [g for n in names if (g := self.group(n)) is not None]
        if action is Action.update:
            groups = [g for g in groups if g.notify_update]
        elif action is Action.withdraw:
            groups = [g for g in groups if g.notify_withdraw]
        return groups

    def has_rule_for(self, doc: DocumentPayload) -> bool:
        return any(rule.matches(doc) for rule in self.pushes)


class SubscribersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publishers: list[PublisherSubscribers] = Field(default_factory=list)

    def for_publisher(self, name: str) -> PublisherSubscribers | None:
        return next((p for p in self.publishers if p.publisher == name), None)


@dataclass(frozen=True)
class Route:
    """One resolved contact route of one member: what the adapter sends to and records."""

    group: str
    member: str
    member_name: str
    url: str  # with ${ENV} expanded; may hold secrets, never stored or logged
    kind: str  # email / webhook / chat
    hash: str
    display: str  # privacy-masked, for ops


def member_routes(pub: PublisherSubscribers, group: PushGroup, member: PushMember) -> list[Route]:
    out: list[Route] = []
    for url in member_urls(pub, member):
        plugin = instantiate_route(url)
        if plugin is None:  # validated at load; only reachable if the environment changed since
            continue
        out.append(
            Route(
                group=group.name,
                member=member.id,
                member_name=member.display_name,
                url=url,
                kind=route_kind(plugin),
                hash=route_hash(url, plugin),
                display=plugin.url(privacy=True)[:500],
            )
        )
    return out


def member_urls(pub: PublisherSubscribers, member: PushMember) -> list[str]:
    urls = [_expand_env(u).strip() for u in member.routes]
    server = _expand_env(pub.mail_server).strip()
    for addr in member.email:
        sep = "&" if "?" in server else "?"
        urls.append(f"{server}{sep}to={quote(addr, safe='@')}")
    return urls


# --- loading and checking ------------------------------------------------------------------------

_ERROR_TEXT = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的字段（请检查拼写）",
    "string_type": "应为文本",
    "list_type": "应为列表",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "string_too_short": "不能为空",
    "too_short": "不能为空",
    "string_pattern_mismatch": "格式不正确（不能为空、不能含空格或“/”，最长 100 个字符）",
    "dict_type": "应为键值对",
    "model_type": "应为键值对",
}

_FIELD_TEXT = {
    "publishers": "发布机构列表",
    "publisher": "发布机构名称（publisher）",
    "mail_server": "邮件服务器（mail_server）",
    "groups": "订阅组（groups）",
    "pushes": "推送规则（pushes）",
    "members": "成员（members）",
    "name": "名称（name）",
    "id": "成员编号（id）",
    "email": "电子邮箱（email）",
    "routes": "推送路由（routes）",
    "entries": "目录事项（entries）",
    "notify_update": "更正通知开关（notify_update）",
    "notify_withdraw": "撤回通知开关（notify_withdraw）",
}


def _where(raw: Any, loc: Iterable[Any]) -> str:
    """A Chinese path to the problem, naming publishers, groups and members by name rather than by index."""
    parts: list[str] = []
    node = raw
    loc = list(loc)
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        child = node.get(key) if isinstance(node, dict) else None
        if key in ("publishers", "groups", "members", "pushes") and isinstance(nxt, int) and isinstance(child, list):
            item = child[nxt] if nxt < len(child) else None
            label = item if isinstance(item, dict) else {}
            if key == "publishers":
                parts.append(f"发布机构“{label.get('publisher') or f'第{nxt + 1}个'}”")
            elif key == "groups":
                parts.append(f"订阅组“{label.get('name') or f'第{nxt + 1}个'}”")
            elif key == "members":
                parts.append(f"成员“{label.get('id') or label.get('name') or f'第{nxt + 1}个'}”")
            else:
                parts.append(f"第{nxt + 1}条推送规则")
            node = item
            i += 2
            continue
        if isinstance(key, int):
            parts.append(f"第{key + 1}项")
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            parts.append(_FIELD_TEXT.get(str(key), f"字段 {key}"))
            node = child
        i += 1
    return " › ".join(parts) or "文件顶层"


def _pydantic_problems(raw: Any, err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = [x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-"))]
        if e["type"] == "value_error":
            text = str(e.get("ctx", {}).get("error", e["msg"]))
        else:
            text = _ERROR_TEXT.get(e["type"], e["msg"])
        problems.append(f"{_where(raw, loc)}：{text}")
    return problems


def _semantic_problems(cfg: SubscribersConfig) -> list[str]:
    problems: list[str] = []
    seen_pub: set[str] = set()
    for pub in cfg.publishers:
        p = f"发布机构“{pub.publisher}”"
        if pub.publisher in seen_pub:
            problems.append(f"{p}重复出现，请合并为一段")
        seen_pub.add(pub.publisher)

        server = _expand_env(pub.mail_server).strip()
        if server:
            plugin = instantiate_route(server)
            if plugin is None or route_kind(plugin) != "email":
                problems.append(
                    f"{p} › 邮件服务器（mail_server）“{mask_url(server)}”无法识别："
                    "应为 mailto:// 或 mailtos:// 形式的 Apprise 地址，例如 mailtos://用户:密码@smtp.example.cn?from=noreply@example.cn"
                )
                server = ""

        group_names: set[str] = set()
        member_ids: dict[str, str] = {}
        for g in pub.groups:
            gp = f"{p} › 订阅组“{g.name}”"
            if g.name in group_names:
                problems.append(f"{gp}重复定义，请合并为一个组")
            group_names.add(g.name)
            for m in g.members:
                mp = f"{gp} › 成员“{m.id}”"
                if m.id in member_ids:
                    problems.append(
                        f"{mp}：成员编号已在订阅组“{member_ids[m.id]}”中使用；同一发布机构内成员编号须唯一"
                        "（同一单位订阅多个组时请使用不同编号，或只放在一个组内）"
                    )
                member_ids.setdefault(m.id, g.name)
                if m.email and not pub.mail_server.strip():
                    problems.append(f"{mp} › 电子邮箱（email）：该发布机构未配置邮件服务器（mail_server），无法发送邮件")
                for n, url in enumerate(_expand_env(u).strip() for u in m.routes):
                    problems.extend(_route_problems(f"{mp} › 推送路由（routes）第{n + 1}条", url))
                if server:
                    for addr in m.email:
                        sep = "&" if "?" in server else "?"
                        problems.extend(
                            _route_problems(f"{mp} › 电子邮箱“{addr}”", f"{server}{sep}to={quote(addr, safe='@')}")
                        )

        for n, rule in enumerate(pub.pushes):
            rp = f"{p} › 第{n + 1}条推送规则"
            for name in rule.groups:
                if name not in group_names:
                    known = "、".join(f"“{x}”" for x in sorted(group_names)) or "（无）"
                    problems.append(f"{rp}：订阅组“{name}”不存在；已定义的订阅组：{known}")
    return problems


def _route_problems(where: str, url: str) -> list[str]:
    if not url:
        return [f"{where}：地址为空（如使用了 ${{环境变量}}，请确认该变量已设置）"]
    plugin = instantiate_route(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        known = scheme.lower() in _known_schemes()
        hint = "地址格式不正确" if known else f"不支持的协议“{scheme or '（缺少 ://）'}”"
        return [
            f"{where}“{mask_url(url)}”无法识别：{hint}。请按 Apprise 的写法填写，例如 "
            "mailtos://用户:密码@smtp.example.cn?from=noreply@example.cn&to=收件人@example.cn、"
            "json://主机:端口/路径、form://主机/路径"
        ]
    if route_kind(plugin) == "email":
        targets = getattr(plugin, "targets", [])
        split = urlsplit(url)
        explicit = bool(split.path.strip("/")) or "to" in parse_qs(split.query)
        if not explicit or len(targets) != 1:
            return [
                f"{where}“{mask_url(url)}”：每条邮件路由须且只能有一个有效的收件地址（to=…），"
                "以便逐个记录送达情况；多个地址请分别写成多条路由"
            ]
    return []


_schemes: frozenset[str] | None = None


def _known_schemes() -> frozenset[str]:
    global _schemes
    if _schemes is None:
        names: set[str] = set()
        for schema in apprise.Apprise().details().get("schemas", []):
            for key in ("protocols", "secure_protocols"):
                names.update(str(x).lower() for x in _as_tuple(schema.get(key)))
        _schemes = frozenset(names)
    return _schemes


def parse_subscribers(raw: Any, *, source: str = "config/subscribers.yaml") -> SubscribersConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SubscribersConfigError(source, ["文件顶层应为键值对，以 publishers: 开头"])
    try:
        cfg = SubscribersConfig.model_validate(raw)
    except ValidationError as e:
        raise SubscribersConfigError(source, _pydantic_problems(raw, e)) from None
    problems = _semantic_problems(cfg)
    if problems:
        raise SubscribersConfigError(source, problems)
    return cfg


def subscribers_path(destination_config: dict[str, Any] | None = None) -> Path:
    """The subscribers file a push destination uses: its ``subscribers_file``, relative to the project root."""
    configured = str((destination_config or {}).get("subscribers_file") or "").strip()
    if not configured:
        return get_settings().config_dir / "subscribers.yaml"
    p = Path(configured)
    return p if p.is_absolute() else PROJECT_ROOT / p


_cache: dict[Path, tuple[tuple[int, int], SubscribersConfig]] = {}
_cache_lock = threading.Lock()


def load_subscribers(path: Path) -> SubscribersConfig:
    """Load and check the file; cached until the file changes, so an edit takes effect without a restart."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SubscribersConfigError(str(path), ["文件不存在，请创建订阅配置文件"]) from None
    stamp = (st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _cache.get(path)
        if hit and hit[0] == stamp:
            return hit[1]
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"第{mark.line + 1}行第{mark.column + 1}列" if mark else "某处"
        raise SubscribersConfigError(str(path), [f"YAML 格式错误（{where}），请检查缩进和冒号"]) from None
    cfg = parse_subscribers(raw, source=str(path))
    with _cache_lock:
        _cache[path] = (stamp, cfg)
    return cfg
