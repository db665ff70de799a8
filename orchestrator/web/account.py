"""我的账户: the signed-in person changes their own password (and must, after an admin reset)."""

from __future__ import annotations

from fastapi import Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from orchestrator import audit, auth, passwords
from orchestrator.web.core import ALL_ROLES, PASSWORD_PAGE, client_ip, ctx_of, page, redirect, render


def _page(request: Request, status_code: int = 200, error: str = "") -> Response:
    ctx = ctx_of(request)
    return render(request, "account_password.html", ctx, status_code=status_code, title="修改密码", error=error,
                  forced=ctx.must_change_password, min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)


@page("GET", PASSWORD_PAGE, ALL_ROLES)
def password_form(request: Request) -> Response:
    return _page(request)


@page("POST", PASSWORD_PAGE, ALL_ROLES)
async def password_change(request: Request, current: str = Form("", max_length=1000), new: str = Form("", max_length=1000),
                          repeat: str = Form("", max_length=1000)) -> Response:
    ctx = ctx_of(request)
    if not current or not new or not repeat:
        return _page(request, 422, "请填写当前密码，并输入两次新密码")
    ip = client_ip(request)
    try:
        await run_in_threadpool(auth.change_own_password, ctx.user.username, current, new, repeat, ip)
    except auth.Throttled as exc:
        resp = _page(request, 429, str(exc))
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except auth.AuthError as exc:
        return _page(request, 422, str(exc))
    await run_in_threadpool(audit.record_now, ctx.user.username, "account.password_change", f"用户 {ctx.user.username}",
                            {"管理员重置后首次修改": ctx.must_change_password}, ip)
    return redirect("/", "密码已修改，下次登录请使用新密码")
