"""What the dashboard shows, read from the provenance stores under one output folder.

:class:`ReelReader` finds the stores, turns a reel id (a store's path relative to the root) into an
open :class:`ProvenanceStore` and builds the JSON the API answers: a reel's summary and detail
(cached until its event log changes), one frame's record and its images. It reads through
``ProvenanceStore`` only and knows nothing of HTTP; a refused reel id is a :class:`ReelRefused`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from flows.dashboard.images import FrameCache, frame_png
from restoration.errors import StoreError
from restoration.io.timecode import frame_timecode
from restoration.store.provenance import SCORE_NAMES, STATUS, STATUS_NAMES, ProvenanceStore
from restoration.store.runs import active_run

# Event kinds whose ``reason`` / ``note`` explain why a frame is flagged.
REASON_EVENTS = ("frame_flagged", "frames_flagged")
SHORT_EVENT_FIELDS = ("time", "kind", "user", "by", "frame", "reason", "note", "backend", "error", "flow_run_id")


class ReelRefused(Exception):
    """A reel id that names no store under the root: ``status`` 400 (not a valid id) or 404 (no such store)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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


def resolve_reel(root: Path, rid: str) -> Path:
    """The store folder of reel id ``rid`` (a path relative to ``root``), refusing anything else.

    Refused with status 400: empty, absolute, backslashes, NUL, ``..`` or ``.`` parts, not
    ``*.zarr``, a part over 255 bytes. With 404: a path whose real location (symlinks resolved) is
    outside ``root``, or that is not a provenance store.
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
        raise ReelRefused(400, "invalid reel id")
    if any(len(part.encode()) > 255 for part in rid.split("/")):
        raise ReelRefused(400, "invalid reel id: a path part is longer than 255 bytes")
    try:
        path = (root / pure).resolve()
        if not path.is_relative_to(root) or path == root or not (path / "zarr.json").is_file():
            raise ReelRefused(404, "no such reel")
    except OSError as exc:  # a path too long, a loop of links, a folder it may not read
        raise ReelRefused(404, "no such reel") from exc
    return path


def events_version(store_path: Path) -> tuple[int, str]:
    """``(number of events, newest event file)``: changes whenever an event is logged."""
    try:
        names = [n for n in os.listdir(store_path / "events") if n.endswith(".json")]
    except FileNotFoundError:
        return (0, "")
    return (len(names), max(names, default=""))


def event_frames(event: dict) -> list[int]:
    """The frame numbers an event names (``frame`` and ``frames``), sorted, without repeats."""
    frames = []
    if isinstance(event.get("frame"), int):
        frames.append(event["frame"])
    if isinstance(event.get("frames"), list):
        frames.extend(f for f in event["frames"] if isinstance(f, int))
    return sorted(set(frames))


def frame_reasons(events: list[dict]) -> dict[int, list[dict]]:
    """``{frame: [{time, user, by, reason, source}, ...]}``: why frames were flagged.

    From ``frame_flagged`` events (the consistency check's, ``by`` naming it, and operators') and
    from ``frame_reprocessed`` events that left a frame flagged, with the check's new reason.
    """
    out: dict[int, list[dict]] = {}
    for e in events:
        kind = e.get("kind")
        if kind in REASON_EVENTS or (kind == "frame_reprocessed" and e.get("reason")):
            reason = e.get("reason") or e.get("note") or ""
            source = e.get("source") or e.get("by") or ("reprocessing" if kind == "frame_reprocessed" else "check")
            for f in event_frames(e):
                out.setdefault(f, []).append(
                    {"time": e.get("time"), "user": e.get("user"), "by": e.get("by"), "reason": str(reason), "source": source}
                )
    return out


def short_event(e: dict) -> dict:
    """The fields of event ``e`` the page shows; a long frame list is cut to 20 with its total."""
    out = {k: e[k] for k in SHORT_EVENT_FIELDS if k in e}
    if isinstance(e.get("frames"), list):
        frames = e["frames"]
        out["frames"] = frames[:20]
        out["frame_total"] = len(frames)
    return out


def rounded(x) -> float | None:
    """``x`` to 5 significant digits for JSON; NaN (not yet scored) is None."""
    x = float(x)
    return None if math.isnan(x) else float(f"{x:.5g}")


@dataclass
class _Cached:
    key: tuple
    at: float
    running: bool
    value: dict


class ReelReader:
    """Reads the reels under ``root`` for the API.

    Summaries and details are cached until the store's event log changes (or ``ttl`` seconds while
    a run is going), since a status array of a long reel is thousands of one-frame chunks; decoded
    source frames are cached for the images (:class:`FrameCache`).
    """

    def __init__(self, root: Path, ttl: float = 2.0, frames: FrameCache | None = None):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"{root}: not a folder")
        self.root = root.resolve()
        self.ttl = ttl
        self.frames = frames or FrameCache()
        self._cache: dict[tuple[str, Path], _Cached] = {}
        self._lock = threading.Lock()

    def reel_id(self, store_path: Path) -> str:
        return store_path.relative_to(self.root).as_posix()

    def open(self, rid: str, mode: str = "r") -> ProvenanceStore:
        """The store of reel id ``rid`` (see :func:`resolve_reel`), opened with ``mode``."""
        return ProvenanceStore(resolve_reel(self.root, rid), mode=mode)

    def reels(self) -> list[dict]:
        """Every store's summary; a store that cannot be read is ``{id, error}``."""
        out = []
        for path in find_stores(self.root):
            try:
                out.append(self.summary(path))
            except (StoreError, OSError, ValueError, KeyError) as exc:
                out.append({"id": self.reel_id(path), "error": str(exc)})
        return out

    def invalidate(self, store_path: Path) -> None:
        """Forget the cached answers of ``store_path`` (an action changed it without an event yet)."""
        with self._lock:
            for k in [k for k in self._cache if k[1] == store_path]:
                del self._cache[k]

    def summary(self, store_path: Path) -> dict:
        return self._cached("summary", store_path, lambda s: self._summary(s, s.events(), s.status()))

    def detail(self, rid: str) -> dict:
        """The summary, scores and status of every frame, flagged frames and why, the latest events."""
        return self._cached("detail", resolve_reel(self.root, rid), self._detail)

    def _cached(self, what: str, store_path: Path, build: Callable[[ProvenanceStore], dict]) -> dict:
        key = events_version(store_path)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((what, store_path))
        if hit and hit.key == key and not (hit.running and now - hit.at > self.ttl):
            return hit.value
        value = build(ProvenanceStore(store_path, mode="r"))
        with self._lock:
            self._cache[(what, store_path)] = _Cached(key, now, value["state"] == "running", value)
        return value

    def _summary(self, store: ProvenanceStore, events: list[dict], status: np.ndarray) -> dict:
        info = store.info
        counts = {name: int((status == code).sum()) for name, code in STATUS.items()}
        total = max(info.frame_count, 1)
        if counts["pending"] and active_run(events) is not None:
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
            "id": self.reel_id(store.path),
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
            "created": store.created,
        }

    def _detail(self, store: ProvenanceStore) -> dict:
        events = store.events()
        status = store.status()
        scores = store.scores()
        out = self._summary(store, events, status)
        out["score_names"] = list(SCORE_NAMES)
        out["scores"] = {name: [rounded(x) for x in scores[:, i]] for i, name in enumerate(SCORE_NAMES)}
        out["status"] = status.astype(int).tolist()
        out["status_names"] = {str(code): name for code, name in STATUS_NAMES.items()}
        reasons = frame_reasons(events)
        listed = np.flatnonzero(np.isin(status, [STATUS["flagged"], STATUS["reprocess"]]) | np.isin(np.arange(len(status)), list(reasons)))
        out["flagged"] = [
            {
                "frame": int(i),
                "status": STATUS_NAMES.get(int(status[i]), "?"),
                "damage_fraction": rounded(scores[i, 0]),
                "consistency": rounded(scores[i, 1]),
                "reasons": reasons.get(int(i), []),
            }
            for i in listed
        ]
        out["events"] = [short_event(e) for e in events[-100:]]
        return out

    def frame(self, store: ProvenanceStore, n: int) -> dict:
        """Frame ``n``'s status, scores, masked pixels, timecode, reasons and events, and the reel's
        flagged frames (for next / previous flagged)."""
        mask, _, _ = store.read_diff(n, n + 1)
        scores = store.scores(n, n + 1)[0]
        status = store.status()
        events = store.events()
        info = store.info
        return {
            "frame": n,
            "frames": store.frame_count,
            "status": STATUS_NAMES.get(int(status[n]), "?"),
            "scores": {name: rounded(scores[i]) for i, name in enumerate(SCORE_NAMES)},
            "masked_pixels": int(mask.sum()),
            "width": info.width,
            "height": info.height,
            "bit_depth": info.bit_depth,
            "reasons": frame_reasons(events).get(n, []),
            "events": [short_event(e) for e in events if n in event_frames(e)],
            "version": events_version(store.path)[0],
            "timecode": frame_timecode(info.timecode, info.fps, n),
            "fps": str(info.fps),
            "flagged_frames": [int(f) for f in np.flatnonzero(status == STATUS["flagged"])],
            "pending_frames": int((status == STATUS["pending"]).sum()),
        }

    def image(self, store: ProvenanceStore, n: int, kind: str) -> bytes:
        """PNG bytes of frame ``n``'s ``kind`` image (:func:`flows.dashboard.images.render`)."""
        return frame_png(store, n, kind, self.frames)
