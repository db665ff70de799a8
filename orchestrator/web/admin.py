"""The catalog (as imported, entries needing review highlighted; import with a diff before applying) and users."""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from orchestrator import audit, auth, passwords, throttle
from orchestrator.auth import Role
from orchestrator.catalog.channel_map import add_confirmed_wordings, load_channel_map
from orchestrator.catalog.errors import CatalogError
from orchestrator.catalog.importer import UNKNOWN_PUBLISHER, ImportResult, import_catalogs
from orchestrator.catalog.loader import check_catalog, load_catalog, load_catalogs, write_catalog
from orchestrator.catalog.schema import Catalog, CatalogEntry
from orchestrator.catalog.timelimit import parse_time_limit
from orchestrator.catalog_sync import sync_catalog
from orchestrator.db import session_scope
from orchestrator.documents import inputs, profile
from orchestrator.documents.review import set_entry_review
from orchestrator.models import CatalogEntryRow, Publisher, User
from orchestrator.settings import get_settings
from orchestrator.web.core import (
    ALL_ROLES,
    WebError,
    channel_label,
    client_ip,
    ctx_of,
    end_user_sessions,
    page,
    redirect,
    render,
)
from orchestrator.web.models import WebSession

log = logging.getLogger(__name__)

IMPORT_TYPES = {".txt", ".docx", ".xlsx", ".xls", ".doc", ".wps", ".csv", ".html", ".htm", ".shtml", ".pdf", ".tsv", ".md"}
MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_PASTE_CHARS = 2 * 1024 * 1024
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
DIFF_FIELDS = {"path": "事项路径", "content": "公开内容", "time_limit": "公开时限", "keep_public": "长期公开",
               "channels": "公开渠道", "offices": "责任科室", "audience": "公开对象", "warnings": "待复核问题",
               "options": "选项（保密审查等）"}


# --- catalog -------------------------------------------------------------------------------------

@page("GET", "/catalog", ALL_ROLES)
def catalog_page(request: Request, q: str = "", review_only: bool = False) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        rows = list(s.scalars(select(CatalogEntryRow).join(Publisher).where(CatalogEntryRow.active.is_(True))
                              .options(selectinload(CatalogEntryRow.publisher)).order_by(Publisher.name, CatalogEntryRow.id)))
        needle = q.strip()[:100]
        total = len(rows)
        review_count = sum(1 for r in rows if r.warnings)
        if needle:
            rows = [r for r in rows if needle in r.code or needle in r.path_text or needle in (r.content or "")
                    or any(needle in o for o in r.offices or [])]
        if review_only:
            rows = [r for r in rows if r.warnings]
        entries = [{"e": r, "channels": [channel_label(c) for c in r.channels or []]} for r in rows]
        return render(request, "catalog.html", ctx, title="公开目录", entries=entries, q=needle, review_only=review_only,
                      total=total, review_count=review_count)


REVIEW_CHOICES = {"on": True, "off": False, "catalog": None}


@page("POST", "/catalog/{entry_id}/review", (Role.admin,))
def set_review(request: Request, entry_id: int, review: str = Form(..., max_length=10)) -> Response:
    """Switch 保密审查 on or off for one entry (stored in the database; catalog syncs and re-imports keep it)."""
    if review not in REVIEW_CHOICES:
        raise WebError(422, "保密审查设置应为“需要”“不需要”或“按目录文件”")
    with session_scope() as s:
        before = s.get(CatalogEntryRow, entry_id)
        before_value = _review_text(before.review_override) if before is not None else ""
    try:
        e = set_entry_review(entry_id, REVIEW_CHOICES[review])
    except inputs.ServiceError as exc:
        raise WebError(exc.status, str(exc)) from exc
    state = "需要保密审查" if e.needs_review else "不需要保密审查"
    source = "按目录文件" if e.review_override is None else "管理员设置"
    audit.record_now(ctx_of(request).user.username, "catalog.review_flag", f"{e.publisher.name} {e.code} {e.path_text}",
                     {"before": {"保密审查": before_value}, "after": {"保密审查": _review_text(e.review_override)},
                      "生效": state}, client_ip(request))
    return redirect(f"/catalog?q={quote(e.code)}", f"已保存：{e.publisher.name} {e.code} {e.path_text} {state}（{source}），"
                                             "对此后登记的文件生效")


def _review_text(value: bool | None) -> str:
    return {True: "需要", False: "不需要", None: "按目录文件"}[value]


@page("GET", "/catalog/import", (Role.admin,))
def import_form(request: Request) -> Response:
    return render(request, "catalog_import.html", ctx_of(request), title="导入目录")


def _pending_dir() -> Path:
    d = get_settings().var_dir / "catalog-imports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _current_catalogs() -> list[tuple[Path, Catalog]]:
    directory = get_settings().catalogs_dir
    out = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        try:
            out.append((path, load_catalog(path)))
        except CatalogError:
            continue  # a broken file is reported by `catalog validate`; it cannot be the base of a diff
    return out


def _entry_fields(e: CatalogEntry) -> dict[str, Any]:
    return {"path": " / ".join(e.path), "content": e.content, "time_limit": e.time_limit.text or e.time_limit.kind.value,
            "keep_public": "是" if e.keep_public else "否", "channels": "、".join(channel_label(c) for c in e.channels),
            "offices": "、".join(e.offices), "audience": e.audience, "warnings": "；".join(e.warnings),
            "options": ", ".join(f"{k}={v}" for k, v in sorted(e.options.items()))}


def catalog_diff(old: Catalog | None, new: Catalog) -> dict[str, list[dict[str, Any]]]:
    before = {e.code: e for e in (old.entries if old else [])}
    after = {e.code: e for e in new.entries}
    added = [{"code": c, "fields": _entry_fields(e)} for c, e in after.items() if c not in before]
    removed = [{"code": c, "fields": _entry_fields(e)} for c, e in before.items() if c not in after]
    changed = []
    for code, e in after.items():
        if code in before:
            a, b = _entry_fields(before[code]), _entry_fields(e)
            diffs = [{"field": DIFF_FIELDS[k], "old": a[k], "new": b[k]} for k in DIFF_FIELDS if a[k] != b[k]]
            if diffs:
                changed.append({"code": code, "path": b["path"], "diffs": diffs})
    return {"added": added, "removed": removed, "changed": changed}


def _save_source(token: str, data: bytes, meta: dict[str, Any]) -> None:
    d = _pending_dir()
    (d / f"{token}.src").write_bytes(data)
    (d / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _load_meta(token: str) -> dict[str, Any]:
    if not _TOKEN.match(token or ""):
        raise WebError(422, "导入编号无效")
    path = _pending_dir() / f"{token}.json"
    if not path.is_file():
        raise WebError(404, "这次导入已应用或已过期，请重新上传目录文件")
    return json.loads(path.read_text(encoding="utf-8"))


def _run_import(token: str, meta: dict[str, Any]) -> ImportResult:
    """Import the saved source again (after a confirmed channel mapping or to take another catalog of the page)."""
    data = (_pending_dir() / f"{token}.src").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        # The importer reads by path; the temporary name keeps only the suffix, never the uploaded name.
        path = Path(tmp) / f"upload{meta['suffix']}"
        path.write_bytes(data)
        try:
            result = import_catalogs(path, meta.get("publisher") or None, load_channel_map(), name=meta["name"])
        except CatalogError as exc:
            raise WebError(422, f"无法导入：{exc}") from exc
    for c in result.catalogs:
        c.source = meta["name"]
    return result


def _pick(result: ImportResult, part: int) -> Catalog:
    if not 1 <= part <= len(result.catalogs):
        raise WebError(422, f"这份文件只有 {len(result.catalogs)} 个目录")
    catalog = result.catalogs[part - 1]
    if catalog.publisher == UNKNOWN_PUBLISHER:
        raise WebError(422, "无法从文件中确定发布机构（标题中没有机构名称，表格也没有“公开主体”列）：请在“发布机构”一栏填写后重新导入")
    return catalog


def _review_page(request: Request, token: str, meta: dict[str, Any], result: ImportResult, catalog: Catalog) -> Response:
    """The parsed entries beside the source rows they came from, proposals to confirm, the catalogs to choose from,
    and the diff against the current catalog; nothing changes until 应用."""
    ctx = ctx_of(request)
    current = {c.publisher: (p, c) for p, c in _current_catalogs()}
    target, old = current.get(catalog.publisher, (None, None))
    if old is not None:
        # A re-import comes from the agency's table, which knows nothing of what people added after the last import:
        # keep the index prefix and each surviving entry's options (the 保密审查 switch, display periods...).
        catalog.index_prefix = catalog.index_prefix or old.index_prefix
        old_opts = {e.code: e.options for e in old.entries}
        old_fresh = {e.code: e.freshness for e in old.entries}
        for e in catalog.entries:
            if not e.options and old_opts.get(e.code):
                e.options = dict(old_opts[e.code])
            if e.freshness is None and old_fresh.get(e.code) is not None:
                e.freshness = old_fresh[e.code].model_copy()
    problems = check_catalog(catalog)
    write_catalog(catalog, _pending_dir() / f"{token}.yaml")
    rows = result.source_rows
    entries = [{"e": e, "source": [(n, rows.get(n, "")) for n in (e.source_lines or [])][:12],
                "channels": "、".join(channel_label(c) for c in e.channels)} for e in catalog.entries]
    cmap = load_channel_map()
    return render(request, "catalog_diff.html", ctx, title="导入目录：核对", catalog=catalog, token=token,
                  diff=catalog_diff(old, catalog), problems=problems, target=target.name if target else None,
                  needs_review=sum(1 for e in catalog.entries if e.warnings), entries=entries,
                  catalogs=result.catalogs, part=meta.get("part", 1), proposals=result.proposals,
                  review_notes=result.review, reading=result.reading,
                  channel_choices=sorted(cmap.labels.items()))


@page("POST", "/catalog/import", (Role.admin,))
def import_upload(request: Request, file: UploadFile | None = File(None), text: str = Form("", max_length=MAX_PASTE_CHARS),
                  url: str = Form("", max_length=2000), publisher: str = Form("", max_length=200)) -> Response:
    """Upload a file, paste text or give a URL; the import is shown for review and changes nothing yet."""
    name = Path((file.filename if file else "") or "").name
    if file is not None and name:
        suffix = Path(name).suffix.lower()
        if suffix not in IMPORT_TYPES:
            raise WebError(422, f"目录文件应为 {'、'.join(sorted(IMPORT_TYPES))} 格式（收到“{name}”）")
        data = file.file.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise WebError(413, f"目录文件过大（上限 {MAX_IMPORT_BYTES // (1024 * 1024)} MB）")
        meta = {"name": name, "suffix": suffix, "kind": "file"}
    elif text.strip():
        data = text.encode("utf-8")
        meta = {"name": "粘贴的文本", "suffix": ".txt", "kind": "text"}
    elif url.strip():
        # lazy: only the import page fetches URLs / rebuilds channel pages
        from orchestrator.catalog.formats.fetch import fetch_to_file, is_url

        if not is_url(url):
            raise WebError(422, f"“{url.strip()[:100]}”不是有效的网址（应以 http:// 或 https:// 开头）")
        try:
            downloaded = fetch_to_file(url.strip())
        except CatalogError as exc:
            raise WebError(422, f"无法导入：{exc}") from exc
        try:
            data = downloaded.read_bytes()
        finally:
            downloaded.unlink(missing_ok=True)
        meta = {"name": url.strip(), "suffix": downloaded.suffix, "kind": "url"}
    else:
        raise WebError(422, "请上传目录文件、粘贴目录文字，或填写目录网页的网址（三者选一）")
    meta.update(publisher=publisher.strip(), part=1)
    token = secrets.token_hex(16)
    _save_source(token, data, meta)
    result = _run_import(token, meta)
    return _review_page(request, token, meta, result, _pick(result, 1))


@page("POST", "/catalog/import/choose", (Role.admin,))
def import_choose(request: Request, token: str = Form(..., max_length=32), part: int = Form(1)) -> Response:
    """Take another of the catalogs found on the page."""
    meta = _load_meta(token)
    result = _run_import(token, meta)
    catalog = _pick(result, part)
    meta["part"] = part
    _save_meta(token, meta)
    return _review_page(request, token, meta, result, catalog)


@page("POST", "/catalog/import/mapping", (Role.admin,))
async def import_confirm_mapping(request: Request) -> Response:
    """Confirm proposed channel mappings: each is added to the user-extendable channel map, then the import reruns."""
    form = await request.form()
    token = str(form.get("token") or "")
    meta = _load_meta(token)
    codes = load_channel_map().codes
    confirmed: dict[str, str] = {}
    for wording in form.getlist("wording"):
        wording = str(wording).strip()[:100]
        code = str(form.get(f"code-{wording}") or "")
        if not wording:
            continue
        if code not in codes:
            raise WebError(422, f"“{wording}”要映射的渠道代码“{code}”不存在")
        confirmed[wording] = code
    if not confirmed:
        raise WebError(422, "没有勾选要确认的渠道映射")
    try:
        add_confirmed_wordings(confirmed)
    except (OSError, CatalogError) as exc:
        raise WebError(422, f"无法写入渠道映射表：{exc}") from exc
    audit.record_now(ctx_of(request).user.username, "catalog.channel_map", "渠道映射表（channel_map.yaml）",
                     {"after": confirmed, "导入文件": meta.get("name", "")}, client_ip(request))
    result = _run_import(token, meta)
    return _review_page(request, token, meta, result, _pick(result, meta.get("part", 1)))


_FIX_FIELDS = ("path", "channels", "time", "offices", "content")


@page("POST", "/catalog/import/fix", (Role.admin,))
async def import_fix(request: Request) -> Response:
    """Cells corrected inline on the review page. An entry a person corrected loses its import warnings (it has
    been reviewed); the time limit is typed again from the corrected wording."""
    form = await request.form()
    token = str(form.get("token") or "")
    meta = _load_meta(token)
    pending = _pending_dir() / f"{token}.yaml"
    try:
        catalog = load_catalog(pending)
    except CatalogError as exc:
        raise WebError(422, f"目录有问题：{exc}") from exc
    codes = load_channel_map().codes
    errors: list[str] = []
    for e in catalog.entries:
        changed = False
        for f in _FIX_FIELDS:
            key = f"{f}-{e.code}"
            if key not in form:
                continue
            value = str(form.get(key) or "").replace("\r\n", "\n").strip()[:2000]
            if f == "path":
                parts = [p.strip() for p in value.split("/") if p.strip()]
                if not parts:
                    errors.append(f"条目 {e.code}：事项路径不能为空")
                elif parts != e.path:
                    e.path, changed = parts, True
            elif f == "channels":
                new = [c.strip() for c in re.split(r"[,，、\s]+", value) if c.strip()]
                bad = [c for c in new if c not in codes]
                if bad:
                    errors.append(f"条目 {e.code}：未知渠道代码 {'、'.join(bad)}（可用：{'、'.join(sorted(codes))}）")
                elif new != e.channels:
                    e.channels, e.channel_labels, changed = new, [], True
            elif f == "time" and value != e.time_limit.text:
                rule, keep, _ = parse_time_limit(value)
                e.time_limit, e.keep_public, changed = rule, keep or e.keep_public, True
            elif f == "offices":
                new = [o for o in re.split(r"[、,，;；\s]+", value) if o]
                if new != e.offices:
                    e.offices, changed = new, True
            elif f == "content" and value != e.content:
                e.content, changed = value, True
        if changed or form.get(f"reviewed-{e.code}"):
            e.warnings = []
    if errors:
        raise WebError(422, "；".join(errors[:20]))
    result = _run_import(token, meta)
    return _review_page(request, token, meta, result, catalog)


def _save_meta(token: str, meta: dict[str, Any]) -> None:
    (_pending_dir() / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


@page("POST", "/catalog/apply", (Role.admin,))
def import_apply(request: Request, token: str = Form(..., max_length=32)) -> Response:
    if not _TOKEN.match(token):
        raise WebError(422, "导入编号无效")
    pending = _pending_dir() / f"{token}.yaml"
    if not pending.is_file():
        raise WebError(404, "这次导入已应用或已过期，请重新上传目录文件")
    try:
        catalog = load_catalog(pending)
    except CatalogError as exc:
        raise WebError(422, f"目录有问题，未应用：{exc}") from exc
    currents = _current_catalogs()
    current = {c.publisher: p for p, c in currents}
    old = next((c for _, c in currents if c.publisher == catalog.publisher), None)
    diff = catalog_diff(old, catalog)
    target = current.get(catalog.publisher) or get_settings().catalogs_dir / f"catalog-{secrets.token_hex(4)}.yaml"
    # All catalogs must still load together (one file per publisher) before anything is replaced.
    write_catalog(catalog, target)
    try:
        load_catalogs()
        with session_scope() as s:
            sync_catalog(s, catalog)
            audit.record(s, ctx_of(request).user.username, "catalog.import_apply", f"{catalog.publisher}（{target.name}）",
                         {"来源": catalog.source, "事项数": len(catalog.entries),
                          "新增": [d["code"] for d in diff["added"]], "删除": [d["code"] for d in diff["removed"]],
                          "修改": [d["code"] for d in diff["changed"]]}, ip=client_ip(request))
    except (CatalogError, ValueError) as exc:
        raise WebError(422, f"目录已写入 {target.name}，但同步到数据库失败：{exc}") from exc
    pending.unlink(missing_ok=True)
    for leftover in (f"{token}.src", f"{token}.json"):
        (_pending_dir() / leftover).unlink(missing_ok=True)
    return redirect("/catalog", f"目录已更新：{catalog.publisher}，{len(catalog.entries)} 个事项（文件 {target.name}）")


# --- users ---------------------------------------------------------------------------------------

def _offices() -> list[str]:
    with session_scope() as s:
        seen: set[str] = set()
        for offices in s.scalars(select(CatalogEntryRow.offices).where(CatalogEntryRow.active.is_(True))):
            seen.update(offices or [])
        return sorted(seen)


def _users_page(request: Request, status_code: int = 200, error: str = "", form: dict[str, str] | None = None,
                confirm: dict[str, Any] | None = None) -> Response:
    with session_scope() as s:
        sessions = dict(s.execute(select(WebSession.user_id, func.count()).group_by(WebSession.user_id)).all())
        users = list(s.scalars(select(User).order_by(User.role, User.username)))
        lockouts = throttle.active_lockouts()
        locked_accounts = {lk.key for lk in lockouts if lk.scope == throttle.ACCOUNT}
        return render(request, "users.html", ctx_of(request), status_code=status_code, title="用户管理", users=users,
                      sessions=sessions, offices=_offices(), roles=list(Role), error=error, form=form or {},
                      confirm=confirm, lockouts=lockouts, locked_accounts=locked_accounts,
                      account_key=throttle.account_key, scope_labels=throttle.SCOPE_LABELS)


def _unknown_office(office: str) -> str:
    """A warning when no active catalog entry names this office (its clerks could register nothing)."""
    office = office.strip()
    if not office or office in _offices():
        return ""
    return (f"科室“{office}”不是目录中任何事项的责任科室：该科室的经办人将看不到可登记的事项。"
            "请核对科室名称（可从输入框的下拉列表中选择），或确认后仍然保存")


@page("GET", "/users", (Role.admin,))
def users_page(request: Request) -> Response:
    return _users_page(request)


@page("POST", "/users", (Role.admin,))
def create_user(request: Request, username: str = Form("", max_length=80), display_name: str = Form("", max_length=100),
                role: str = Form("clerk", max_length=20), office: str = Form("", max_length=200),
                password: str = Form("", max_length=200), confirm_office: bool = Form(False)) -> Response:
    form = {"username": username, "display_name": display_name, "role": role, "office": office}
    if not password:
        return _users_page(request, 422, f"请为新用户设置初始密码（至少 {passwords.MIN_LENGTH} 个字符）", form)
    if role == Role.clerk and not office.strip():
        return _users_page(request, 422, "经办人必须指定所属科室", form)
    warning = _unknown_office(office)
    if warning and not confirm_office:
        return _users_page(request, 422, warning + "（请重新输入初始密码并勾选“确认使用该科室”）",
                           {**form, "confirm_office": "1"})
    try:
        u = auth.create_user(username, role, office=office, password=password, display_name=display_name)
    except auth.AuthError as exc:
        return _users_page(request, 422, str(exc), form)
    audit.record_now(ctx_of(request).user.username, "user.create", f"用户 {u.username}",
                     {"after": {"姓名": u.display_name, "角色": auth.ROLE_LABELS[u.role], "科室": u.office}}, client_ip(request))
    return redirect("/users", f"已创建用户 {u.username}（{auth.ROLE_LABELS[u.role]}）")


@page("POST", "/users/{user_id}", (Role.admin,))
def update_user(request: Request, user_id: int, role: str = Form(..., max_length=20), office: str = Form("", max_length=200),
                display_name: str = Form("", max_length=100), active: bool = Form(False),
                password: str = Form("", max_length=200), confirm_office: bool = Form(False)) -> Response:
    ctx = ctx_of(request)
    try:
        r = auth.parse_role(role)
        if r == Role.clerk and not office.strip():
            raise auth.AuthError("经办人必须指定所属科室")
        if password:
            with session_scope() as s:
                target = s.get(User, user_id)
                if target is None:
                    raise WebError(404, "用户不存在")
                auth.check_password(password, target.username, target.password_hash)
    except auth.AuthError as exc:
        return redirect("/users", f"未保存：{exc}", "err")
    warning = _unknown_office(office)
    if warning and not confirm_office:
        with session_scope() as s:
            user = s.get(User, user_id)
            if user is None:
                raise WebError(404, "用户不存在")
            unchanged = user.office == office.strip()
            name = user.username
        if not unchanged:  # only a newly typed office needs the confirmation
            fields = {"role": r.value, "office": office.strip(), "display_name": display_name,
                      "active": "true" if active else "", "confirm_office": "true"}
            return _users_page(request, 422, f"未保存用户 {name}：{warning}"
                               + ("（新密码未保存，确认后请重新设置）" if password else ""),
                               confirm={"action": f"/users/{user_id}", "fields": fields})
    if user_id == ctx.user.id and (r != Role.admin or not active):
        return redirect("/users", "不能取消自己的管理员角色或停用自己（避免无人能管理系统）", "err")
    ip = client_ip(request)
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise WebError(404, "用户不存在")
        # A change of role, office or status takes effect now: end the user's open sessions.
        revoke = user.role != r.value or user.office != office.strip() or user.active != active or bool(password)
        before = {"role": user.role, "office": user.office, "display_name": user.display_name, "active": user.active}
        user.role, user.office, user.active = r.value, office.strip(), active
        user.display_name = display_name.strip()
        name = user.username
        if password:
            try:
                # Someone else's password: they must choose their own at the next log-in.
                auth.reset_password(s, user, password, ctx.user.username, force_change=user_id != ctx.user.id)
            except auth.AuthError as exc:
                s.rollback()
                return redirect("/users", f"未保存：{exc}", "err")
        _audit_user_change(s, ctx.user.username, ip, name, before, user, bool(password))
    if revoke and user_id != ctx.user.id:
        end_user_sessions(user_id)
    return redirect("/users", f"已保存用户 {name}")


def _audit_user_change(s, actor: str, ip: str, name: str, before: dict[str, Any], user: User, reset: bool) -> None:
    """One audit row per kind of change: role, disable/enable, password reset, other fields."""
    target = f"用户 {name}"
    if before["role"] != user.role:
        audit.record(s, actor, "user.role", target, {"before": {"角色": auth.ROLE_LABELS[Role(before["role"])]},
                                                     "after": {"角色": auth.ROLE_LABELS[Role(user.role)]}}, ip=ip)
    if before["active"] != user.active:
        audit.record(s, actor, "user.enable" if user.active else "user.disable", target,
                     {"before": {"状态": "启用" if before["active"] else "停用"},
                      "after": {"状态": "启用" if user.active else "停用"}}, ip=ip)
    if reset:
        audit.record(s, actor, "user.password_reset", target, {"下次登录须修改密码": user.username != actor}, ip=ip)
    other = audit.changes({"科室": before["office"], "姓名": before["display_name"]},
                          {"科室": user.office, "姓名": user.display_name})
    if other["after"]:
        audit.record(s, actor, "user.update", target, other, ip=ip)


@page("POST", "/users/lockouts/lift", (Role.admin,))
def lift_lockout(request: Request, scope: str = Form(..., max_length=16), key: str = Form(..., max_length=200)) -> Response:
    """Lift a log-in (or API token) lock-out before it runs out, e.g. after the person called the admin."""
    if scope not in throttle.SCOPE_LABELS:
        raise WebError(422, "锁定类型不正确")
    label = throttle.SCOPE_LABELS[scope]
    if not throttle.lift(scope, key):
        return redirect("/users", f"{label}“{key}”当前没有被锁定", "err")
    audit.record_now(ctx_of(request).user.username, "user.lockout_lift", f"{label} {key}", {"类型": label},
                     client_ip(request))
    return redirect("/users", f"已解除{label}“{key}”的登录锁定")


# --- agency profile ------------------------------------------------------------------------------

def _publishers() -> list[str]:
    with session_scope() as s:
        return list(s.scalars(select(Publisher.name).order_by(Publisher.name)))


def _profile_page(request: Request, values: dict[str, str], errors: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    return render(request, "profile.html", ctx_of(request), status_code=status_code, title="机关信息",
                  values=values, errors=errors or {}, fields=profile.FIELDS, limits=profile.LIMITS,
                  publishers=_publishers())


@page("GET", "/profile", (Role.admin,))
def profile_form(request: Request) -> Response:
    return _profile_page(request, profile.get().as_dict())


def _refresh_profile_pages() -> None:
    """Let every configured destination regenerate the pages that show the profile (the site's guide and footer)."""
    # lazy: only the import page fetches URLs / rebuilds channel pages
    from channels.registry import ChannelRegistry

    try:
        registry = ChannelRegistry.load(get_settings().channels_path)
    except Exception:  # noqa: BLE001  (the profile is saved; the pages follow with the next publication)
        log.warning("机关信息已保存，但读取渠道配置失败，页面未重新生成", exc_info=True)
        return
    for dests in registry.channels.values():
        for dest in dests:
            if not dest.enabled:
                continue
            try:
                registry.adapter_for(dest).profile_changed()
            except Exception:  # noqa: BLE001  (one broken destination must not hide the save or stop the others)
                log.warning("机关信息已保存，但渠道 %s/%s 未能重新生成页面", dest.channel, dest.name, exc_info=True)


@page("POST", "/profile", (Role.admin,))
def profile_save(request: Request, name: str = Form("", max_length=400), uscc: str = Form("", max_length=100),
                 address: str = Form("", max_length=600), hours: str = Form("", max_length=400),
                 phone: str = Form("", max_length=200), email: str = Form("", max_length=400)) -> Response:
    typed = {"name": name, "uscc": uscc, "address": address, "hours": hours, "phone": phone, "email": email}
    cleaned, errors = profile.clean(typed)
    if errors:
        return _profile_page(request, typed, errors, 422)
    before = profile.get().as_dict()
    publisher = profile.save(cleaned, ctx_of(request).user.username)
    labels = dict(profile.FIELDS)
    change = audit.changes({labels[k]: v for k, v in before.items() if k in labels},
                           {labels[k]: v for k, v in cleaned.as_dict().items() if k in labels})
    audit.record_now(ctx_of(request).user.username, "profile.save", f"机关信息 {cleaned.name}", change, client_ip(request))
    _refresh_profile_pages()
    msg = "机关信息已保存，公开专栏首页和指南已更新；网站、公报和电子屏此后生成的页面也将使用新信息"
    if cleaned.uscc:
        msg += (f"；此后登记的“{publisher}”文件索引号以 {cleaned.uscc} 开头" if publisher else
                f"；注意：目录中没有名为“{cleaned.name}”的发布机构，统一社会信用代码暂不用于索引号"
                "（机关名称须与目录的发布机构名称一致）")
    return redirect("/profile", msg, "ok" if publisher or not cleaned.uscc else "err")
