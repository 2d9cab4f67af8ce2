"""The operator review dashboard: a FastAPI app over the provenance stores under one output folder.

Pages are static (``static/``: one HTML page, JavaScript modules, CSS; no build step, no CDN); the
JavaScript talks to the JSON API of three routers: ``session.py`` (sign-in), ``reels.py`` (reels,
a reel's detail, audit trail and actions) and ``frames.py`` (a frame's record, images and mask
correction). They read the stores through a :class:`ReelReader` and start reprocessing through a
:class:`ReprocessService`, both given to :func:`create_app`; :func:`default_app` builds the ones
``restoration dashboard`` serves.

Every route but ``/``, ``/static`` and ``/api/login`` needs a session. A reel's ``{id}`` is its
store's path relative to the root (``sub/reel.zarr``). Every POST needs the ``X-CSRF-Token`` header
and a same-origin ``Origin`` (or ``Referer``) header.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from flows.dashboard import frames, reels, session
from flows.dashboard.api import DashboardSettings
from flows.dashboard.auth import Authenticator
from flows.dashboard.reader import ReelReader, ReelRefused
from flows.dashboard.reprocessing import DEFAULT_DEPLOYMENT, ReprocessService

STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def create_app(reader: ReelReader, reprocessing: ReprocessService, settings: DashboardSettings) -> FastAPI:
    """The dashboard app showing what ``reader`` reads, starting reprocessing with ``reprocessing``."""
    app = FastAPI(title="Film restoration review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.reader = reader
    app.state.reprocessing = reprocessing
    app.state.auth = Authenticator(settings.users_file, settings.secret)
    app.state.settings = settings
    allowed_origins = tuple(o.rstrip("/") for o in settings.allowed_origins)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.method not in _SAFE_METHODS and not _same_origin(request, allowed_origins):
            response = JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
        else:
            response = await call_next(request)
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith("/api/") and not request.url.path.endswith(".png"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(ReelRefused)
    async def refused(request: Request, exc: ReelRefused):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(session.router)
    # Frames first: the reels router's detail route takes any path under /api/reels/.
    app.include_router(frames.router)
    app.include_router(reels.router)
    return app


def default_app(root: Path, settings: DashboardSettings, reprocess: str = "auto", deployment: str | None = None) -> FastAPI:
    """The dashboard for the stores under ``root`` as ``restoration dashboard`` serves it.

    ``reprocess`` is the :class:`ReprocessService` mode; ``deployment`` defaults to
    ``$RESTORATION_REPROCESS_DEPLOYMENT`` or ``reprocess-flagged/reprocess-flagged``.
    """
    deployment = deployment or os.environ.get("RESTORATION_REPROCESS_DEPLOYMENT") or DEFAULT_DEPLOYMENT
    return create_app(ReelReader(root), ReprocessService(reprocess, deployment), settings)


def _same_origin(request: Request, allowed: tuple[str, ...]) -> bool:
    """True when the request's ``Origin`` (or, lacking it, ``Referer``) is this server or an allowed one.

    Origins compare as (scheme, host, port), a missing port being the scheme's default: an
    ``https://`` page is not the ``http://`` server on the same host, nor another port.
    """
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        origin = request.headers.get("referer")
        if not origin:
            return False
    origin_key = _origin_tuple(origin)
    if origin_key is None:
        return False
    if origin_key in {_origin_tuple(a) for a in allowed}:
        return True
    host = request.headers.get("host")
    return bool(host) and origin_key == _origin_tuple(f"{request.url.scheme}://{host}")


def _origin_tuple(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of ``url``, or None when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is no number or out of range
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port


def default_users_file() -> Path:
    env = os.environ.get("RESTORATION_DASHBOARD_USERS")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "restoration" / "dashboard-users.json"


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    users_file: Path | None = None,
    secret: str | None = None,
    deployment: str | None = None,
    reprocess: str = "auto",
    secure_cookies: bool = False,
    allowed_origins: tuple[str, ...] = (),
) -> None:
    """Serve the dashboard for the stores under ``root`` with uvicorn until interrupted.

    ``users_file`` defaults to ``$RESTORATION_DASHBOARD_USERS`` or
    ``~/.config/restoration/dashboard-users.json``; ``secret`` to ``$RESTORATION_DASHBOARD_SECRET``
    (or a random one: sessions then end when the server stops).
    """
    import uvicorn

    from flows.dashboard.auth import load_users

    users_file = Path(users_file) if users_file else default_users_file()
    if not load_users(users_file):
        raise SystemExit(f"{users_file}: no dashboard users; add one with `restoration dashboard-user add NAME --role operator`")
    settings = DashboardSettings(
        users_file=users_file,
        secret=secret or os.environ.get("RESTORATION_DASHBOARD_SECRET"),
        secure_cookies=secure_cookies,
        allowed_origins=allowed_origins,
    )
    app = default_app(Path(root), settings, reprocess=reprocess, deployment=deployment)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False)
