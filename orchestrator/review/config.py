"""Review chains as data: the pydantic specs the web form and the deployment file (``config/review_chains.yaml``)
both go through, with Chinese messages for every refusal.

File format::

    restart 默认 from_start；from_sender = 退回后从退回的步骤重新开始
    chains:
      - name: 规范性文件四审
        restart: from_start
        steps:
          - {name: 初审, role: reviewer, own_office: true}
          - {name: 复审, role: reviewer, skippable: true}
          - {name: 保密审查, role: reviewer, office: 保密办}
          - {name: 终审, users: [leader]}
    bindings:
      - {publisher: 某某局, chain: 规范性文件四审}               # every entry of the publisher
      - {publisher: 某某局, entry: "GZDT-01", chain: 工作动态一审}  # a per-entry override
      - {publisher: 某某局, entry: "X-02", chain: null}            # 不审核
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.auth import ROLE_LABELS, Role

MAX_STEPS = 12
MAX_USERS = 50
MAX_COMMENT = 2000
RESTART_LABELS = {"from_start": "从第一步重新审核", "from_sender": "从退回的步骤重新审核"}
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,79}$")


class ChainConfigError(Exception):
    """A refused chain definition; ``messages`` are Chinese, one per problem."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("；".join(messages))


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=50)
    role: str = Field(default="", max_length=20)
    office: str = Field(default="", max_length=200)
    own_office: bool = False
    users: list[str] = Field(default_factory=list, max_length=MAX_USERS)
    skippable: bool = False

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v and v not in {r.value for r in Role}:
            choices = "、".join(f"{r.value}（{ROLE_LABELS[r]}）" for r in Role)
            raise ValueError(f"角色“{v[:20]}”不存在，可选：{choices}")
        return v

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        out = []
        for u in v:
            u = u.strip()
            if not _USERNAME.match(u):
                raise ValueError(f"指定人员“{u[:40]}”不是有效的用户名")
            if u not in out:
                out.append(u)
        return out

    @model_validator(mode="after")
    def _someone(self) -> StepSpec:
        if not (self.role or self.office or self.own_office or self.users):
            raise ValueError(f"步骤“{self.name}”未指定由谁审核（角色、科室、责任科室或指定人员至少填一项）")
        return self


class ChainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    restart: Literal["from_start", "from_sender"] = "from_start"
    description: str = Field(default="", max_length=500)
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _unique_steps(self) -> ChainSpec:
        seen: set[str] = set()
        for s in self.steps:
            if s.name in seen:
                raise ValueError(f"审核流程“{self.name}”中步骤名称“{s.name}”重复")
            seen.add(s.name)
        return self


class BindingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    publisher: str = Field(min_length=1, max_length=200)
    entry: str = Field(default="", max_length=64)
    chain: str | None = Field(default=None, max_length=100)
    skip: list[str] = Field(default_factory=list, max_length=MAX_STEPS)


class ChainsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chains: list[ChainSpec] = Field(default_factory=list, max_length=200)
    bindings: list[BindingSpec] = Field(default_factory=list, max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> ChainsFile:
        names = [c.name for c in self.chains]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"审核流程名称重复：{'、'.join(dup)}")
        seen: set[tuple[str, str]] = set()
        for b in self.bindings:
            key = (b.publisher, b.entry)
            if key in seen:
                raise ValueError(f"“{b.publisher}{' / ' + b.entry if b.entry else ''}”的审核流程设置重复")
            seen.add(key)
        return self


_LABELS = {"name": "名称", "role": "角色", "office": "科室", "users": "指定人员", "steps": "步骤", "restart": "退回后",
           "publisher": "发布机构", "entry": "目录事项", "chain": "审核流程", "skip": "跳过的步骤", "chains": "审核流程",
           "bindings": "适用范围", "description": "说明", "own_office": "责任科室", "skippable": "可跳过"}


def messages_of(exc: ValidationError) -> list[str]:
    """pydantic's errors in Chinese, each with where it is (审核流程 1 / 步骤 2 / 名称)."""
    out = []
    for e in exc.errors():
        where = []
        for part in e["loc"]:
            if isinstance(part, int):
                where.append(f"第 {part + 1} 项")
            else:
                where.append(_LABELS.get(str(part), str(part)))
        kind, ctx = e["type"], e.get("ctx") or {}
        if kind == "missing":
            msg = "必填"
        elif kind == "string_too_short":
            msg = "不能为空"
        elif kind == "string_too_long":
            msg = f"过长（上限 {ctx.get('max_length')} 字）"
        elif kind == "too_short":
            msg = "至少需要一项"
        elif kind == "too_long":
            msg = f"过多（上限 {ctx.get('max_length')} 项）"
        elif kind == "extra_forbidden":
            msg = "不认识的字段"
        elif kind == "literal_error":
            msg = "取值应为 from_start（从第一步）或 from_sender（从退回的步骤）"
        elif kind == "value_error":
            msg = str(e["msg"]).removeprefix("Value error, ")
        elif kind.startswith("bool"):
            msg = "应为 true 或 false"
        elif kind in ("string_type", "list_type", "model_type", "dict_type"):
            msg = "格式不正确"
        else:
            msg = f"取值不正确（{e['msg']}）"
        out.append(f"{' / '.join(where)}：{msg}" if where else msg)
    return out


def parse_chain(data: dict) -> ChainSpec:
    try:
        return ChainSpec.model_validate(data)
    except ValidationError as exc:
        raise ChainConfigError(messages_of(exc)) from exc


def parse_binding(data: dict) -> BindingSpec:
    try:
        return BindingSpec.model_validate(data)
    except ValidationError as exc:
        raise ChainConfigError(messages_of(exc)) from exc


def read_file(path: Path) -> ChainsFile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChainConfigError([f"找不到审核流程配置文件 {path}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ChainConfigError([f"无法读取审核流程配置文件 {path}：{exc}"]) from None
    return parse_file_text(text, str(path))


def parse_file_text(text: str, where: str = "配置文件") -> ChainsFile:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"第 {mark.line + 1} 行" if mark is not None else ""
        raise ChainConfigError([f"{where} {line}不是有效的 YAML"]) from None
    if not isinstance(data, dict):
        raise ChainConfigError([f"{where} 的顶层应为包含 chains 和 bindings 的映射"])
    try:
        return ChainsFile.model_validate(data)
    except ValidationError as exc:
        raise ChainConfigError(messages_of(exc)) from exc
