"""What the dashboard's routers share: the app's parts as FastAPI dependencies, the signed-in and
acting sessions, and a store's read errors as HTTP answers.

``create_app`` puts the reader, the reprocess service, the authenticator and the settings on
``app.state``; a route asks for them by type (``reader: Reader``, ``s: Acting``, ...).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from flows.dashboard.auth import Authenticator, Session
from flows.dashboard.reader import ReelReader
from flows.dashboard.reprocessing import ReprocessService
from restoration.errors import StoreError
from restoration.store.lock import ReelLockedError

COOKIE = "restoration_session"


@dataclass(frozen=True)
class DashboardSettings:
    """How the dashboard serves its pages and sessions.

    users_file: the JSON users file (see ``auth.py``).
    secret: signs session cookies; None draws a random one (sessions end when the server stops).
    secure_cookies: set the cookie's ``Secure`` flag (serve over HTTPS, e.g. behind a proxy).
    allowed_origins: extra origins (``https://review.example.org``) accepted on POSTs besides the
        request's own host, for a reverse proxy that rewrites ``Host``.
    poll_seconds: how often the page refreshes a view.
    """

    users_file: Path
    secret: str | None = None
    secure_cookies: bool = False
    allowed_origins: tuple[str, ...] = ()
    poll_seconds: float = 3.0


def _reader(request: Request) -> ReelReader:
    return request.app.state.reader


def _reprocessing(request: Request) -> ReprocessService:
    return request.app.state.reprocessing


def _auth(request: Request) -> Authenticator:
    return request.app.state.auth


def _settings(request: Request) -> DashboardSettings:
    return request.app.state.settings


Reader = Annotated[ReelReader, Depends(_reader)]
Reprocessing = Annotated[ReprocessService, Depends(_reprocessing)]
Auth = Annotated[Authenticator, Depends(_auth)]
Settings = Annotated[DashboardSettings, Depends(_settings)]


def _signed_in(request: Request, auth: Auth) -> Session:
    s = auth.session(request.cookies.get(COOKIE))
    if s is None:
        raise HTTPException(401, "sign in first")
    return s


SignedIn = Annotated[Session, Depends(_signed_in)]


def check_csrf(request: Request, auth: Authenticator, s: Session) -> None:
    if not auth.check_csrf(s, request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong CSRF token")


def _acting(request: Request, auth: Auth, s: SignedIn) -> Session:
    check_csrf(request, auth, s)
    if not s.can_act:
        raise HTTPException(403, f"role {s.role!r} may not change reels")
    return s


Acting = Annotated[Session, Depends(_acting)]


@contextmanager
def readable_store(rid: str):
    """Turn a store that cannot be read (damaged metadata, arrays or events) into HTTP 404 with why,
    and one a run holds (an operator's change would race its writes) into 409."""
    try:
        yield
    except ReelLockedError as exc:
        raise HTTPException(409, f"{rid}: {exc}") from exc
    except (StoreError, OSError, ValueError, KeyError, TypeError) as exc:
        raise HTTPException(404, f"{rid}: store unreadable ({type(exc).__name__}: {exc})") from exc
