"""Chinese messages for FastAPI/pydantic validation errors, shared by the REST API and the web app.

(Its own module so that the web app's error pages need not import the API's routes, which import the web's
review views: that would be an import cycle.)"""

from __future__ import annotations

from typing import Any

FIELD_LABELS = {
    "entry": "目录事项", "title": "标题", "body": "正文", "formed_on": "生成日期", "doc_number": "文号",
    "publish_at": "定时发布时间", "display_from": "展示开始", "display_until": "展示结束", "limit": "每页条数",
    "offset": "起始位置", "document_id": "文件编号", "delivery_id": "投递编号", "created_from": "起始日期",
    "created_to": "截止日期", "reason": "原因", "cursor": "游标",
}


def translate_validation(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """FastAPI/pydantic validation errors (path and query parameters) as Chinese field messages."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("path", "query", "body", "header")]
        name = loc[-1] if loc else ""
        kind = str(e.get("type", ""))
        ctx = e.get("ctx") or {}
        if kind == "missing":
            msg = "必填"
        elif kind.startswith("int"):
            msg = "应为整数"
        elif kind in {"greater_than_equal", "greater_than"}:
            msg = f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
        elif kind in {"less_than_equal", "less_than"}:
            msg = f"不能大于 {ctx.get('le', ctx.get('lt'))}"
        elif kind.startswith("date"):
            msg = "日期格式不正确（应为 YYYY-MM-DD）"
        elif kind.startswith("bool"):
            msg = "应为 true 或 false"
        elif kind == "string_too_long":
            msg = f"过长（上限 {ctx.get('max_length')} 字）"
        else:
            msg = "取值不正确"
        out.append({"field": FIELD_LABELS.get(name, name), "message": msg})
    return out
