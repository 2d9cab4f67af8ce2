"""The operator review dashboard: a FastAPI app over the provenance stores under one output folder.

Pages are static (``static/``: one HTML page, plain JavaScript, CSS; no build step, no CDN); the
JavaScript talks to the JSON API below. Reads go straight to the stores (``ProvenanceStore``) and the
source reels they record; operators' actions change frame status and append events to the store's
log with the operator's name. A reprocess request starts the ``reprocess-flagged`` deployment
through the Prefect API when one is configured, otherwise the flow (or library function) locally
in a background thread.

API (all JSON unless noted; every route but ``/``, ``/static`` and ``/api/login`` needs a session)::

    POST /api/login                 {name, password} -> {user, role, can_act, csrf} + session cookie
    POST /api/logout
    GET  /api/me                    -> {user, role, can_act, csrf, poll_seconds}
    GET  /api/reels                 -> {reels: [summary, ...]}
    GET  /api/reels/{id}            -> summary + scores, status per frame, flagged frames and reasons
    GET  /api/reels/{id}/frames/{n}           -> status, scores, masked pixels, events of the frame
    GET  /api/reels/{id}/frames/{n}/{kind}.png  kind: before | after | mask
    POST /api/reels/{id}/actions    {action: approve|flag|reprocess, frames: [...], note}

``{id}`` is the store's path relative to the root (``sub/reel.zarr``). Every POST needs the
``X-CSRF-Token`` header and a same-origin ``Origin`` (or ``Referer``) header.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import logging
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

import cv2
import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from flows.dashboard.audit import audit_csv, audit_premis
from flows.dashboard.auth import Authenticator, Session
from flows.dashboard.images import KINDS, FrameCache, frame_png
from restoration.errors import ReelError, RestorationError, StoreError
from restoration.io.timecode import frame_timecode
from restoration.store.lock import ReelLockedError
from restoration.store.provenance import SCORE_NAMES, STATUS, STATUS_NAMES, ProvenanceStore

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
COOKIE = "restoration_session"
DEFAULT_DEPLOYMENT = "reprocess-flagged/reprocess-flagged"
REPROCESS_MODES = ("auto", "deployment", "local", "mark")
ACTION_STATUS = {"approve": "approved", "flag": "flagged", "reprocess": "reprocess"}
ACTION_EVENT = {"approve": "frame_approved", "flag": "frame_flagged", "reprocess": "frame_reprocess_requested"}
# Event kinds whose ``reason`` / ``note`` explain why a frame is flagged.
REASON_EVENTS = ("frame_flagged", "frames_flagged")
MAX_FRAMES_PER_ACTION = 100_000


@dataclass
class DashboardSettings:
    """How the dashboard runs.

    root: the output folder; every ``*.zarr`` store below it (recursively) is shown, nothing else.
    users_file: the JSON users file (see ``auth.py``).
    secret: signs session cookies; None draws a random one (sessions end when the server stops).
    deployment: the Prefect deployment a reprocess request starts, ``flow-name/deployment-name``.
    reprocess: ``auto`` (deployment when ``PREFECT_API_URL`` is set, else the local flow or library
        function in a thread, else only mark), ``deployment``, ``local`` or ``mark`` (status and
        event only: another process picks the frames up).
    secure_cookies: set the cookie's ``Secure`` flag (serve over HTTPS, e.g. behind a proxy).
    allowed_origins: extra origins (``https://review.example.org``) accepted on POSTs besides the
        request's own host, for a reverse proxy that rewrites ``Host``.
    """

    root: Path
    users_file: Path
    secret: str | None = None
    deployment: str = DEFAULT_DEPLOYMENT
    reprocess: str = "auto"
    secure_cookies: bool = False
    allowed_origins: tuple[str, ...] = ()
    poll_seconds: float = 3.0


# -- reels ---------------------------------------------------------------------------------------


def find_stores(root: Path) -> list[Path]:
    """Every provenance store (a ``*.zarr`` folder with a ``zarr.json``) under ``root``, sorted.

    Symbolic links are not followed into, and a store whose real path lies outside ``root`` is left
    out.
    """
    root = root.resolve()
    found = []
    for folder, dirs, _ in os.walk(root, followlinks=False):
        keep = []
        for d in sorted(dirs):
            path = Path(folder) / d
            if d.endswith(".zarr") and (path / "zarr.json").is_file():
                if path.resolve().is_relative_to(root):
                    found.append(path)
            elif not d.startswith("."):
                keep.append(d)
        dirs[:] = keep
    return sorted(found)


def reel_id(root: Path, store_path: Path) -> str:
    return store_path.relative_to(root.resolve()).as_posix()


def resolve_reel(root: Path, rid: str) -> Path:
    """The store folder of reel id ``rid`` (a path relative to ``root``), refusing anything else.

    Refused (HTTP 400): empty, absolute, backslashes, NUL, ``..`` or ``.`` parts, not ``*.zarr``.
    Refused (HTTP 404): a path whose real location (symlinks resolved) is outside ``root``, or that
    is not a provenance store.
    """
    root = root.resolve()
    pure = PurePosixPath(rid)
    if (
        not rid
        or "\\" in rid
        or "\x00" in rid
        or rid.startswith("/")
        or pure.is_absolute()
        or any(part in ("..", ".", "") for part in rid.split("/"))
        or not rid.endswith(".zarr")
    ):
        raise HTTPException(400, "invalid reel id")
    if any(len(part.encode()) > 255 for part in rid.split("/")):
        raise HTTPException(400, "invalid reel id: a path part is longer than 255 bytes")
    try:
        path = (root / pure).resolve()
        if not path.is_relative_to(root) or path == root or not (path / "zarr.json").is_file():
            raise HTTPException(404, "no such reel")
    except OSError as exc:  # a path too long, a loop of links, a folder it may not read
        raise HTTPException(404, "no such reel") from exc
    return path


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


def _events_key(store_path: Path) -> tuple[int, str]:
    try:
        names = [n for n in os.listdir(store_path / "events") if n.endswith(".json")]
    except FileNotFoundError:
        return (0, "")
    return (len(names), max(names, default=""))


@dataclass
class _Cached:
    key: tuple
    at: float
    running: bool
    value: dict


class ReelReader:
    """Reads reel summaries and details, cached until the event log changes (or a few seconds while
    a run is going), since a status array of a long reel is thousands of one-frame chunks."""

    def __init__(self, root: Path, ttl: float = 2.0):
        self.root = root.resolve()
        self.ttl = ttl
        self._cache: dict[tuple[str, Path], _Cached] = {}
        self._lock = threading.Lock()

    def invalidate(self, store_path: Path) -> None:
        with self._lock:
            for k in [k for k in self._cache if k[1] == store_path]:
                del self._cache[k]

    def _get(self, what: str, store_path: Path, build) -> dict:
        key = _events_key(store_path)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((what, store_path))
        if hit and hit.key == key and not (hit.running and now - hit.at > self.ttl):
            return hit.value
        value = build(ProvenanceStore(store_path, mode="r"))
        with self._lock:
            self._cache[(what, store_path)] = _Cached(key, now, value["state"] == "running", value)
        return value

    def summary(self, store_path: Path) -> dict:
        return self._get("summary", store_path, lambda s: self._summary(s, s.events(), s.status()))

    def detail(self, store_path: Path) -> dict:
        return self._get("detail", store_path, self._detail)

    def _summary(self, store: ProvenanceStore, events: list[dict], status: np.ndarray) -> dict:
        info = store.info
        counts = {name: int((status == code).sum()) for name, code in STATUS.items()}
        total = max(info.frame_count, 1)
        open_run = _unfinished_run(events)
        if counts["pending"] and open_run is not None:
            state = "running"
        elif counts["pending"] == info.frame_count:
            state = "not started"
        elif counts["pending"]:
            state = "incomplete"
        elif counts["reprocess"]:
            state = "reprocessing"
        elif counts["flagged"]:
            state = "needs review"
        else:
            state = "finished"
        return {
            "id": reel_id(self.root, store.path),
            "name": Path(info.path).name,
            "source": {
                "path": info.path,
                "codec": info.codec,
                "width": info.width,
                "height": info.height,
                "channels": info.channels,
                "bit_depth": info.bit_depth,
                "fps": f"{info.fps.numerator}/{info.fps.denominator}",
                "frame_count": info.frame_count,
                "timecode": info.timecode,
            },
            "frames": info.frame_count,
            "counts": counts,
            "progress": round(1.0 - counts["pending"] / total, 4),
            "state": state,
            "last_event": events[-1] if events else None,
            "created": store.group.attrs.get("created"),
        }

    def _detail(self, store: ProvenanceStore) -> dict:
        events = store.events()
        status = store.status()
        scores = store.scores()
        out = self._summary(store, events, status)
        out["score_names"] = list(SCORE_NAMES)
        out["scores"] = {name: _floats(scores[:, i]) for i, name in enumerate(SCORE_NAMES)}
        out["status"] = status.astype(int).tolist()
        out["status_names"] = {str(code): name for code, name in STATUS_NAMES.items()}
        reasons = frame_reasons(events)
        listed = np.flatnonzero(np.isin(status, [STATUS["flagged"], STATUS["reprocess"]]) | np.isin(np.arange(len(status)), list(reasons)))
        out["flagged"] = [
            {
                "frame": int(i),
                "status": STATUS_NAMES.get(int(status[i]), "?"),
                "damage_fraction": _float(scores[i, 0]),
                "consistency": _float(scores[i, 1]),
                "reasons": reasons.get(int(i), []),
            }
            for i in listed
        ]
        out["events"] = [_short_event(e) for e in events[-100:]]
        return out


def _unfinished_run(events: list[dict]) -> dict | None:
    """The last ``run_started`` event with no ``run_finished`` / ``run_failed`` after it, or None.

    The same rule as ``restoration.store.runs.unfinished_run`` (a closing event with a ``run_id`` closes
    the run of that id), kept here because importing ``restoration.store.runs`` imports torch.
    """
    open_runs: list[dict] = []
    for event in events:
        kind = event.get("kind")
        if kind == "run_started":
            open_runs.append(event)
        elif kind in ("run_finished", "run_failed") and open_runs:
            run_id = event.get("run_id")
            match = [e for e in open_runs if run_id is not None and e.get("run_id") == run_id]
            open_runs.remove(match[-1] if match else open_runs[-1])
    return open_runs[-1] if open_runs else None


def _event_frames(event: dict) -> list[int]:
    frames = []
    if isinstance(event.get("frame"), int):
        frames.append(event["frame"])
    if isinstance(event.get("frames"), list):
        frames.extend(f for f in event["frames"] if isinstance(f, int))
    return sorted(set(frames))


def frame_reasons(events: list[dict]) -> dict[int, list[dict]]:
    """``{frame: [{time, user, reason, source}, ...]}``: why frames were flagged.

    From ``frame_flagged`` events (the consistency check's, ``by`` naming it, and operators') and
    from ``frame_reprocessed`` events that left a frame flagged, with the check's new reason.
    """
    out: dict[int, list[dict]] = {}
    for e in events:
        kind = e.get("kind")
        if kind in REASON_EVENTS or (kind == "frame_reprocessed" and e.get("reason")):
            reason = e.get("reason") or e.get("note") or ""
            source = e.get("source") or e.get("by") or ("reprocessing" if kind == "frame_reprocessed" else "check")
            for f in _event_frames(e):
                out.setdefault(f, []).append(
                    {"time": e.get("time"), "user": e.get("user"), "by": e.get("by"), "reason": str(reason), "source": source}
                )
    return out


def _short_event(e: dict) -> dict:
    keep = ("time", "kind", "user", "by", "frame", "reason", "note", "backend", "error", "flow_run_id")
    out = {k: e[k] for k in keep if k in e}
    if isinstance(e.get("frames"), list):
        frames = e["frames"]
        out["frames"] = frames[:20]
        out["frame_total"] = len(frames)
    return out


def _float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else float(f"{x:.5g}")


def _floats(a: np.ndarray) -> list[float | None]:
    return [_float(x) for x in a]


# -- reprocessing --------------------------------------------------------------------------------


def find_local_reprocess():
    """The ``reprocess_flagged`` flow from ``flows`` if someone has written it, else the library's
    ``restoration.pipeline.reprocess.reprocess_frames``, else None. Imported lazily: importing Prefect is slow."""
    for module in ("flows.reprocess_flagged", "flows.restore_reel", "flows.flows", "flows"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        fn = getattr(mod, "reprocess_flagged", None)
        if fn is not None:
            return fn
    try:
        mod = importlib.import_module("restoration.pipeline.reprocess")
    except ImportError:
        return None
    return library_reprocess if hasattr(mod, "reprocess_frames") else None


def library_reprocess(store_path: str, frames: list[int], user: str) -> None:
    """Without the flow: ``restoration.pipeline.reprocess.reprocess_frames`` with the store's next settings
    (its latest configuration, a fresh seed), then re-encode the outputs beside the store if the
    master is there (``reencode_outputs``)."""
    from restoration.io.outputs import ReelOutputs
    from restoration.pipeline.reprocess import next_config, reencode_outputs, reprocess_frames

    store = ProvenanceStore(store_path)
    config = next_config(store)
    reprocess_frames(store, frames, config, user=user)
    if ReelOutputs.in_folder(store.path.parent, store.info).master.exists():
        reencode_outputs(store, config)


_STORE_PARAMS = ("store", "store_path", "store_dir", "path", "zarr")
_FRAME_PARAMS = ("frames", "frame_indices", "indices")
_USER_PARAMS = ("user", "operator")


def call_arguments(fn, store_path: Path, frames: list[int], user: str, store: ProvenanceStore | None = None) -> dict:
    """Keyword arguments for ``fn`` (a reprocess flow or function), matched by parameter name.

    A parameter named ``store`` gets an open ``ProvenanceStore`` when its annotation says so (the
    library function), otherwise the store's path as a string (a flow's JSON parameter).
    """
    target = getattr(fn, "fn", fn)  # a Prefect flow wraps the function
    kwargs: dict = {}
    for name, p in inspect.signature(target).parameters.items():
        if name in _STORE_PARAMS:
            wants_store = "ProvenanceStore" in str(p.annotation)
            kwargs[name] = (store or ProvenanceStore(store_path)) if wants_store else str(store_path)
        elif name in _FRAME_PARAMS:
            kwargs[name] = list(frames)
        elif name in _USER_PARAMS:
            kwargs[name] = user
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            if name == "config":
                continue  # the library function's config: left to its default below
            raise TypeError(f"{getattr(target, '__name__', fn)}: cannot fill required parameter {name!r}")
    return kwargs


def prefect_api_configured() -> bool:
    if os.environ.get("PREFECT_API_URL"):
        return True
    try:
        from prefect.settings import get_current_settings

        return bool(get_current_settings().api.url)
    except Exception:  # noqa: BLE001 - no Prefect or a broken profile: run locally
        return False


class Reprocessor:
    """Starts reprocessing of frames whose status the action already set to ``reprocess``."""

    def __init__(self, mode: str = "auto", deployment: str = DEFAULT_DEPLOYMENT):
        if mode not in REPROCESS_MODES:
            raise ValueError(f"unknown reprocess mode {mode!r}; choose from {REPROCESS_MODES}")
        self.mode = mode
        self.deployment = deployment
        self.threads: list[threading.Thread] = []

    def backend(self) -> str:
        if self.mode != "auto":
            return self.mode
        if prefect_api_configured():
            return "deployment"
        return "local" if find_local_reprocess() is not None else "mark"

    def start(self, store: ProvenanceStore, frames: list[int], user: str) -> dict:
        """Start the work; returns what was started (logged as a ``reprocess_started`` event)."""
        backend = self.backend()
        if backend == "deployment":
            from prefect.deployments import run_deployment

            fn = find_local_reprocess()
            params = (
                call_arguments(fn, store.path, frames, user)
                if fn is not None and hasattr(fn, "fn")
                else {"store": str(store.path), "frames": frames}
            )
            run = run_deployment(name=self.deployment, parameters=params, timeout=0)
            return {"backend": "deployment", "deployment": self.deployment, "flow_run_id": str(run.id)}
        if backend == "local":
            fn = find_local_reprocess()
            if fn is None:
                raise RuntimeError("no reprocess_flagged flow or restoration.pipeline.reprocess.reprocess_frames to run")
            try:
                kwargs = call_arguments(fn, store.path, frames, user)
            except TypeError:
                # A flow whose parameters we cannot fill: the library does the same work.
                log.warning("cannot call %r with a store and frames; using the library", fn)
                fn = library_reprocess
                kwargs = call_arguments(fn, store.path, frames, user)
            name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__name__', getattr(fn, 'name', '?'))}"
            thread = threading.Thread(target=self._run_local, args=(fn, kwargs, store.path, frames, user), name="reprocess", daemon=True)
            self.threads.append(thread)
            thread.start()
            return {"backend": "local", "function": name}
        return {"backend": "mark"}

    @staticmethod
    def _run_local(fn, kwargs: dict, store_path: Path, frames: list[int], user: str) -> None:
        try:
            fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - recorded in the store for the operators to see
            log.exception("local reprocess failed")
            ProvenanceStore(store_path).log_event("reprocess_failed", user=user, frames=frames, error=f"{type(exc).__name__}: {exc}")


# -- the app -------------------------------------------------------------------------------------


class LoginBody(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class MaskBody(BaseModel):
    png: str = Field(max_length=64_000_000)  # a data URL or base64: the operator's mask as a PNG


class ActionBody(BaseModel):
    action: Literal["approve", "flag", "reprocess"]
    frames: list[int] = Field(min_length=1, max_length=MAX_FRAMES_PER_ACTION)
    note: str = Field(default="", max_length=2000)


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


def create_app(
    root: Path,
    users_file: Path,
    secret: str | None = None,
    deployment: str | None = None,
    *,
    reprocess: str = "auto",
    secure_cookies: bool = False,
    allowed_origins: tuple[str, ...] = (),
    poll_seconds: float = 3.0,
) -> FastAPI:
    """The dashboard app for the stores under ``root``; see the module docstring for the API."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    settings = DashboardSettings(
        root=root.resolve(),
        users_file=Path(users_file),
        secret=secret,
        deployment=deployment or os.environ.get("RESTORATION_REPROCESS_DEPLOYMENT") or DEFAULT_DEPLOYMENT,
        reprocess=reprocess,
        secure_cookies=secure_cookies,
        allowed_origins=tuple(o.rstrip("/") for o in allowed_origins),
        poll_seconds=poll_seconds,
    )
    auth = Authenticator(settings.users_file, secret)
    reader = ReelReader(settings.root)
    frames_cache = FrameCache()
    reprocessor = Reprocessor(reprocess, settings.deployment)

    app = FastAPI(title="Film restoration review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.auth = auth
    app.state.reprocessor = reprocessor

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.method not in _SAFE_METHODS and not _same_origin(request, settings.allowed_origins):
            response = JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
        else:
            response = await call_next(request)
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith("/api/") and not request.url.path.endswith(".png"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def session(request: Request) -> Session:
        s = auth.session(request.cookies.get(COOKIE))
        if s is None:
            raise HTTPException(401, "sign in first")
        return s

    def acting(request: Request, s: Session = Depends(session)) -> Session:
        if not auth.check_csrf(s, request.headers.get("x-csrf-token")):
            raise HTTPException(403, "missing or wrong CSRF token")
        if not s.can_act:
            raise HTTPException(403, f"role {s.role!r} may not change reels")
        return s

    def open_store(rid: str, mode: str = "r") -> ProvenanceStore:
        path = resolve_reel(settings.root, rid)
        with readable_store(rid):
            return ProvenanceStore(path, mode=mode)

    # -- pages ---------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- session -------------------------------------------------------------------------------
    @app.post("/api/login")
    def login(body: LoginBody, request: Request, response: Response):
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

    @app.post("/api/logout")
    def logout(request: Request, response: Response, s: Session = Depends(session)):
        if not auth.check_csrf(s, request.headers.get("x-csrf-token")):
            raise HTTPException(403, "missing or wrong CSRF token")
        try:
            auth.revoke(s)
        except (ValueError, OSError) as exc:
            raise HTTPException(503, f"could not end the session on the server: {exc}") from exc
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=settings.secure_cookies)
        return {"ok": True}

    @app.get("/api/me")
    def me(s: Session = Depends(session)):
        return _me(s, auth, settings)

    # -- reels ---------------------------------------------------------------------------------
    @app.get("/api/reels")
    def reels(s: Session = Depends(session)):
        out = []
        for path in find_stores(settings.root):
            try:
                out.append(reader.summary(path))
            except (StoreError, OSError, ValueError, KeyError) as exc:
                out.append({"id": reel_id(settings.root, path), "error": str(exc)})
        return {"root": str(settings.root), "reels": out}

    @app.get("/api/reels/{rid:path}/frames/{n}/{kind}.png")
    def frame_image(rid: str, n: int, kind: str, s: Session = Depends(session)):
        if kind not in KINDS:
            raise HTTPException(404, "no such image")
        with readable_store(rid):
            store = open_store(rid)
            validate_frame(store, n)
            try:
                png = frame_png(store, n, kind, frames_cache)
            except (ReelError, OSError) as exc:
                raise HTTPException(404, f"source reel unreadable: {exc}") from exc
            # The diff of a processed frame changes only by reprocessing, which logs events: the page asks
            # for after / mask with the store's event count in the URL, so a cached copy is never stale.
            if kind == "before":
                cache = "private, max-age=3600"
            elif store.status(n, n + 1)[0] != STATUS["pending"]:
                cache = "private, max-age=600"
            else:
                cache = "no-store"
            return Response(png, media_type="image/png", headers={"Cache-Control": cache})

    @app.get("/api/reels/{rid:path}/frames/{n}")
    def frame(rid: str, n: int, s: Session = Depends(session)):
        with readable_store(rid):
            store = open_store(rid)
            validate_frame(store, n)
            mask, _, _ = store.read_diff(n, n + 1)
            scores = store.group["scores"][n]
            code = int(store.status(n, n + 1)[0])
            events = [_short_event(e) for e in store.events() if n in _event_frames(e)]
            return {
                "reel": rid,
                "frame": n,
                "frames": store.frame_count,
                "status": STATUS_NAMES.get(code, "?"),
                "scores": {name: _float(scores[i]) for i, name in enumerate(SCORE_NAMES)},
                "masked_pixels": int(mask.sum()),
                "width": store.info.width,
                "height": store.info.height,
                "bit_depth": store.info.bit_depth,
                "reasons": frame_reasons(store.events()).get(n, []),
                "events": events,
                "version": _events_key(store.path)[0],
                "timecode": frame_timecode(store.info.timecode, store.info.fps, n),
                "fps": str(store.info.fps),
                "flagged_frames": [int(f) for f in np.flatnonzero(store.status() == STATUS["flagged"])],
                "pending_frames": int((store.status() == STATUS["pending"]).sum()),
            }

    @app.get("/api/reels/{rid:path}/audit.{fmt}")
    def audit(rid: str, fmt: str, s: Session = Depends(session)):
        if fmt not in ("csv", "json"):
            raise HTTPException(404, "audit formats: audit.csv, audit.json (PREMIS-style events)")
        with readable_store(rid):
            store = open_store(rid)
            events = store.events()
            name = Path(store.info.path).stem
            if fmt == "csv":
                body, media = audit_csv(events), "text/csv; charset=utf-8"
            else:
                body, media = json.dumps(audit_premis(store.info, events), indent=1), "application/json"
        disposition = f'attachment; filename="{_safe_filename(name)}-audit.{fmt}"'
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    @app.get("/api/reels/{rid:path}")
    def reel(rid: str, s: Session = Depends(session)):
        path = resolve_reel(settings.root, rid)
        with readable_store(rid):
            return reader.detail(path)

    @app.post("/api/reels/{rid:path}/actions")
    def action(rid: str, body: ActionBody, s: Session = Depends(acting)):
        with readable_store(rid):
            store = open_store(rid, mode="r+")
            _check_fixity(store)
            frames = sorted(set(body.frames))
            if frames[0] < 0 or frames[-1] >= store.frame_count:
                raise HTTPException(422, f"frames must lie in [0, {store.frame_count})")
            status = store.status()
            pending = [f for f in frames if status[f] == STATUS["pending"]]
            if pending:
                # A run owns pending frames: changing their status would race with its writes.
                raise HTTPException(409, f"frames {pending[:10]} are still pending (a run is processing them)")
            note = body.note.strip()
            if body.action == "flag" and not note:
                raise HTTPException(422, "flagging needs a note saying what is wrong")
            store.set_status(frames, ACTION_STATUS[body.action])
            fields = {"frames": frames, "source": "operator"}
            if len(frames) == 1:
                fields["frame"] = frames[0]
            if note:
                fields["reason" if body.action == "flag" else "note"] = note
            event = store.log_event(ACTION_EVENT[body.action], user=s.user, **fields)
            result = {"action": body.action, "frames": frames, "status": ACTION_STATUS[body.action], "event": event}
            if body.action == "reprocess":
                try:
                    started = reprocessor.start(store, frames, s.user)
                except Exception as exc:  # noqa: BLE001 - the frames stay marked; the operator sees why
                    log.exception("could not start reprocessing")
                    started = {"backend": "failed", "error": f"{type(exc).__name__}: {exc}"}
                store.log_event("reprocess_started", user=s.user, frames=frames, **started)
                result["reprocess"] = started
            reader.invalidate(store.path)
            return result

    @app.post("/api/reels/{rid:path}/frames/{n}/mask")
    def correct_mask(rid: str, n: int, body: MaskBody, s: Session = Depends(acting)):
        """The operator's corrected mask of frame ``n`` (PNG, alpha > 0 or non-zero = damage): kept
        beside the detected one with a ``mask_corrected`` event, then the frame is sent for
        reprocessing, which fills it from this mask."""
        from restoration.pipeline.operator_masks import mask_from_image, save_operator_mask

        with readable_store(rid):
            store = open_store(rid, mode="r+")
            _check_fixity(store)
            validate_frame(store, n)
            if store.status(n, n + 1)[0] == STATUS["pending"]:
                raise HTTPException(409, f"frame {n} is still pending (a run is processing it)")
            try:
                data = base64.b64decode(body.png.split(",", 1)[-1], validate=True)
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                if image is None:
                    raise ValueError("not a PNG image")
                mask = mask_from_image(image, (store.info.height, store.info.width))
            except (ValueError, RestorationError) as exc:
                raise HTTPException(422, f"mask: {exc}") from exc
            event = save_operator_mask(store, n, mask, user=s.user)
        result = action(rid, ActionBody(action="reprocess", frames=[n], note="mask corrected by the operator"), s)
        return {"mask": event, **result}

    return app


def _check_fixity(store: ProvenanceStore) -> None:
    """An operator acts only on a store that passes its check (:meth:`ProvenanceStore.verify`;
    frames a run is still writing are allowed): 409 naming what is missing otherwise."""
    try:
        store.verify(unfinished_ok=True)
    except StoreError as exc:
        raise HTTPException(409, str(exc)) from exc


def _me(s: Session, auth: Authenticator, settings: DashboardSettings) -> dict:
    return {
        "user": s.user,
        "role": s.role,
        "can_act": s.can_act,
        "csrf": auth.csrf_token(s),
        "poll_seconds": settings.poll_seconds,
    }


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80] or "reel"


def validate_frame(store: ProvenanceStore, n: int) -> None:
    if not 0 <= n < store.frame_count:
        raise HTTPException(404, f"frame {n} is outside the reel (0..{store.frame_count - 1})")


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
    origin = _origin_tuple(origin)
    if origin is None:
        return False
    if origin in {_origin_tuple(a) for a in allowed}:
        return True
    host = request.headers.get("host")
    return bool(host) and origin == _origin_tuple(f"{request.url.scheme}://{host}")


_DEFAULT_PORTS = {"http": 80, "https": 443}


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


# -- running ---------------------------------------------------------------------------------------


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
    app = create_app(
        Path(root),
        users_file,
        secret or os.environ.get("RESTORATION_DASHBOARD_SECRET"),
        deployment,
        reprocess=reprocess,
        secure_cookies=secure_cookies,
        allowed_origins=allowed_origins,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False)
