"""The session API: sign in, sign out, who is signed in::

    POST /api/login     {name, password} -> {user, role, can_act, csrf, poll_seconds} + session cookie
    POST /api/logout
    GET  /api/me        -> {user, role, can_act, csrf, poll_seconds}

Cookies, password checks and CSRF tokens are ``auth.py``'s.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from flows.dashboard.api import COOKIE, Auth, DashboardSettings, Settings, SignedIn, check_csrf
from flows.dashboard.auth import Authenticator, Session

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api")


class LoginBody(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


def _me(s: Session, auth: Authenticator, settings: DashboardSettings) -> dict:
    return {
        "user": s.user,
        "role": s.role,
        "can_act": s.can_act,
        "csrf": auth.csrf_token(s),
        "poll_seconds": settings.poll_seconds,
    }


@router.post("/login")
def login(body: LoginBody, request: Request, response: Response, auth: Auth, settings: Settings):
    client = request.client.host if request.client else "?"
    if auth.throttled(f"user:{body.name}") or auth.throttled(f"addr:{client}", limit=20):
        raise HTTPException(429, "too many failed sign-ins; wait a few minutes")
    role = auth.check_password(body.name, body.password)
    if role is None:
        auth.record_failure(f"user:{body.name}", f"addr:{client}")
        log.warning("failed sign-in for %r from %s", body.name, client)
        raise HTTPException(401, "wrong name or password")
    cookie = auth.issue(body.name)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=auth.session_seconds,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )
    s = auth.session(cookie)
    return _me(s, auth, settings)


@router.post("/logout")
def logout(request: Request, response: Response, auth: Auth, settings: Settings, s: SignedIn):
    check_csrf(request, auth, s)
    try:
        auth.revoke(s)
    except (ValueError, OSError) as exc:
        raise HTTPException(503, f"could not end the session on the server: {exc}") from exc
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=settings.secure_cookies)
    return {"ok": True}


@router.get("/me")
def me(auth: Auth, settings: Settings, s: SignedIn):
    return _me(s, auth, settings)
