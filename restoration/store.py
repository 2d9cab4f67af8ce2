"""The provenance store: one zarr 3 group per reel, the single source of truth for what changed.

Layout (documented in ``docs/store.md``)::

    <reel>.zarr/
      zarr.json            attributes: schema, source ReelInfo and SHA-256, software, chunking
      mask      (T, H, W)     bool    True where a pixel was replaced
      original  (T, H, W, C)  dtype   source values under the mask, 0 elsewhere
      restored  (T, H, W, C)  dtype   restored values under the mask, 0 elsewhere
      scores    (T, S)        float32 per-frame scores, named by ``SCORE_NAMES``
      status    (T,)          uint8   per-frame status, codes in ``STATUS``
      events/   one JSON file per event, append-only, named by time so a listing is the log
      runs/     one JSON record per chunk task, merged by the orchestrator

Every array is chunked one frame at a time, so any frame range owns whole chunks and writers of
different ranges never touch the same file; attributes are written once, at creation, by one
writer. Output = source where ``mask`` is False, ``restored`` where it is True; revert puts
``original`` back, bit-exactly.
"""

from __future__ import annotations

import getpass
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import zarr

from restoration import __version__
from restoration.consistency import SCORE_NAMES
from restoration.errors import StoreError
from restoration.reel import ReelInfo

SCHEMA = "film-restoration-store/1"
STATUS = {"pending": 0, "done": 1, "flagged": 2, "approved": 3, "reprocess": 4}
STATUS_NAMES = {v: k for k, v in STATUS.items()}


@dataclass
class FrameResults:
    """What one stage run produced for frames ``[start, start + T)``.

    ``mask`` is ``(T, H, W)`` bool; ``original`` and ``restored`` are ``(T, H, W, C)`` full frames
    of the reel's dtype (only values under the mask are kept); ``scores`` is ``(T, S)`` float32;
    ``status`` is ``(T,)`` uint8 codes of ``STATUS``.
    """

    start: int
    mask: np.ndarray
    original: np.ndarray
    restored: np.ndarray
    scores: np.ndarray
    status: np.ndarray


class ProvenanceStore:
    """Read and write one reel's store. Open an existing one with ``ProvenanceStore(path)``."""

    def __init__(self, path: str | Path, mode: str = "r+"):
        self.path = Path(path)
        if not (self.path / "zarr.json").is_file():
            raise StoreError(f"{self.path}: not a provenance store (no zarr.json)")
        self.group = zarr.open_group(str(self.path), mode=mode)
        if self.group.attrs.get("schema") != SCHEMA:
            raise StoreError(f"{self.path}: unknown store schema {self.group.attrs.get('schema')!r}")
        self.info = ReelInfo.from_dict(self.group.attrs["source"])

    @classmethod
    def create(cls, path: str | Path, info: ReelInfo, attributes: dict | None = None) -> ProvenanceStore:
        """Create a store with every array at the reel's full length, before any writer starts."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: a store already exists here")
        group = zarr.open_group(str(path), mode="w-")
        t, (h, w, c) = info.frame_count, info.frame_shape
        group.create_array("mask", shape=(t, h, w), chunks=(1, h, w), dtype=bool, fill_value=False)
        for name in ("original", "restored"):
            group.create_array(name, shape=(t, h, w, c), chunks=(1, h, w, c), dtype=info.dtype, fill_value=0)
        group.create_array(
            "scores", shape=(t, len(SCORE_NAMES)), chunks=(1, len(SCORE_NAMES)),
            dtype=np.float32, fill_value=np.nan,
        )
        group.create_array("status", shape=(t,), chunks=(1,), dtype=np.uint8, fill_value=STATUS["pending"])
        group.attrs.update(
            {
                "schema": SCHEMA,
                "created": _now(),
                "source": info.to_dict(),
                "software": {"film-restoration": __version__, **_library_versions()},
                "score_names": list(SCORE_NAMES),
                "status_codes": STATUS,
                **(attributes or {}),
            }
        )
        (path / "events").mkdir()
        (path / "runs").mkdir()
        return cls(path)

    @property
    def frame_count(self) -> int:
        return self.info.frame_count

    def write(self, results: FrameResults) -> None:
        """Write a frame range's results. Idempotent: rewriting the same range gives the same store."""
        start, stop = results.start, results.start + len(results.mask)
        mask = results.mask.astype(bool)
        keep = mask[..., None]
        self.group["mask"][start:stop] = mask
        self.group["original"][start:stop] = np.where(keep, results.original, 0)
        self.group["restored"][start:stop] = np.where(keep, results.restored, 0)
        self.group["scores"][start:stop] = results.scores
        # Status last: a frame marked done has all its data on disk.
        self.group["status"][start:stop] = results.status

    def read_diff(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mask (T,H,W) bool, original (T,H,W,C), restored (T,H,W,C))`` for ``[start, stop)``."""
        return (
            self.group["mask"][start:stop],
            self.group["original"][start:stop],
            self.group["restored"][start:stop],
        )

    def apply(self, frames: np.ndarray, start: int) -> np.ndarray:
        """Source frames ``(T, H, W, C)`` starting at ``start`` -> restored frames."""
        mask, _, restored = self.read_diff(start, start + len(frames))
        return np.where(mask[..., None], restored, frames)

    def revert(self, frames: np.ndarray, start: int) -> np.ndarray:
        """Restored frames ``(T, H, W, C)`` starting at ``start`` -> the source frames, bit-exactly."""
        mask, original, _ = self.read_diff(start, start + len(frames))
        return np.where(mask[..., None], original, frames)

    def status(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``(T,)`` uint8 status codes of frames ``[start, stop)``."""
        return self.group["status"][start : self.frame_count if stop is None else stop]

    def set_status(self, frames: list[int], status: str) -> None:
        codes = self.group["status"]
        for i in frames:
            codes[i] = STATUS[status]

    def scores(self) -> np.ndarray:
        """``(T, S)`` float32 scores; NaN for frames not yet processed."""
        return self.group["scores"][:]

    def log_event(self, kind: str, **fields) -> dict:
        """Append one event. Each event is its own file, so concurrent writers never collide."""
        event = {"time": _now(), "kind": kind, "user": fields.pop("user", None) or _user(), **fields}
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        write_json_atomic(self.path / "events" / name, event)
        return event

    def events(self) -> list[dict]:
        """The event log, oldest first."""
        return [json.loads(p.read_text()) for p in sorted((self.path / "events").glob("*.json"))]

    def write_run_record(self, name: str, record: dict) -> None:
        write_json_atomic(self.path / "runs" / f"{name}.json", record)

    def run_records(self) -> dict[str, dict]:
        return {p.stem: json.loads(p.read_text()) for p in sorted((self.path / "runs").glob("*.json"))}

    def summary(self) -> dict:
        """Counts of frames per status and totals, for ``restoration status``."""
        codes = self.status()
        counts = {name: int((codes == code).sum()) for name, code in STATUS.items()}
        scores = self.scores()
        done = ~np.isnan(scores[:, 0])
        return {
            "reel": self.info.path,
            "frames": self.frame_count,
            "status": counts,
            "mean_damage_fraction": float(scores[done, 0].mean()) if done.any() else 0.0,
            "events": len(list((self.path / "events").glob("*.json"))),
        }


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary sibling and a rename: readers see the
    old file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _library_versions() -> dict[str, str]:
    import av
    import cv2

    return {"numpy": np.__version__, "zarr": zarr.__version__, "av": av.__version__, "opencv": cv2.__version__}
