"""The two group pages of the navigation bar: 合规监测 (the compliance watch) and 系统管理 (administration).

Each lists the pages of its group that the person may open, with a line on what each is for, so the navigation bar
stays one line however many tools the product grows (``orchestrator.web.core.HUB_PAGES``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from orchestrator.auth import Role
from orchestrator.web.core import ctx_of, hub_pages, page, render


@page("GET", "/compliance", (Role.ops,))
def compliance_hub(request: Request) -> Response:
    ctx = ctx_of(request)
    return render(request, "hub.html", ctx, title="合规监测", pages=hub_pages("/compliance", ctx.user),
                  intro="对照《政府信息公开条例》和政府网站与政务新媒体检查指标，由系统根据自身记录自查。")


@page("GET", "/admin", (Role.admin,))
def admin_hub(request: Request) -> Response:
    ctx = ctx_of(request)
    return render(request, "hub.html", ctx, title="系统管理", pages=hub_pages("/admin", ctx.user),
                  intro="以下管理操作均记入审计日志。")
