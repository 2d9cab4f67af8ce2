"""The provenance store: one zarr 3 group per reel, the single source of truth for what changed.

Layout (documented in ``docs/store.md``)::

    <reel>.zarr/
      zarr.json            attributes: schema, source ReelInfo and SHA-256, software, chunking
      mask      (T, H, W)     bool    True where a pixel was replaced
      original  (T, H, W, C)  dtype   source values under the mask, 0 elsewhere
      restored  (T, H, W, C)  dtype   restored values under the mask, 0 elsewhere
      scores    (T, S)        float32 per-frame scores, named by ``SCORE_NAMES``
      status    (T,)          uint8   per-frame status, codes in ``STATUS``
      fixity    (T,)          int64   CRC-32 of each finished frame's diff and scores, -1 while unwritten
      events/   one JSON file per event, append-only, named by time so a listing is the log
      runs/     one JSON record per chunk task, merged by the orchestrator

Every array is chunked one frame at a time, so any frame range owns whole chunks and writers of
different ranges never touch the same file; attributes are written once, at creation, by one
writer. Output = source where ``mask`` is False, ``restored`` where it is True; revert puts
``original`` back, bit-exactly.

A chunk equal to its fill value is not stored, so a lost chunk file reads back as "no change" or
"pending" without an error. The store therefore verifies itself (:meth:`ProvenanceStore.problems`):
each frame's write ends with its CRC-32 in ``fixity``, a finished frame must have its status,
scores, fixity and (when it has damage) mask chunks, and its diff must match the CRC.
"""

from __future__ import annotations

import getpass
import json
import time
import uuid
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import zarr

from restoration import __version__
from restoration.check.consistency import SCORE_NAMES
from restoration.errors import StoreError
from restoration.io.atomic import write_json_atomic
from restoration.io.reel import ReelInfo

SCHEMA = "film-restoration-store/1"
STATUS = {"pending": 0, "done": 1, "flagged": 2, "approved": 3, "reprocess": 4}
STATUS_NAMES = {v: k for k, v in STATUS.items()}
ARRAYS = ("mask", "original", "restored", "scores", "status")
NO_FIXITY = -1  # fixity of a frame whose write has not finished


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
        try:
            self.group = zarr.open_group(str(self.path), mode=mode)
            attrs = dict(self.group.attrs)
        except (ValueError, KeyError, TypeError) as err:
            raise StoreError(f"{self.path / 'zarr.json'}: damaged, cannot be read ({err})") from None
        if attrs.get("schema") != SCHEMA:
            raise StoreError(f"{self.path}: unknown store schema {attrs.get('schema')!r}")
        try:
            self.info = ReelInfo.from_dict(attrs["source"])
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(f"{self.path / 'zarr.json'}: damaged, its source record is unreadable ({err!r})") from None
        # Stores made before the fixity array verify without CRCs (chunk presence and counts only).
        self.has_fixity = "fixity" in attrs.get("arrays", ())
        self._arrays = {name: self._array(name) for name in ((*ARRAYS, "fixity") if self.has_fixity else ARRAYS)}

    def _array(self, name: str) -> zarr.Array:
        try:
            array = self.group[name]
        except (KeyError, ValueError, TypeError) as err:
            raise StoreError(f"{self.path / name / 'zarr.json'}: array {name!r} missing or damaged ({err!r})") from None
        if array.shape[0] != self.info.frame_count:
            raise StoreError(f"{self.path / name}: {array.shape[0]} frames, the reel has {self.info.frame_count}")
        return array

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
            "scores",
            shape=(t, len(SCORE_NAMES)),
            chunks=(1, len(SCORE_NAMES)),
            dtype=np.float32,
            fill_value=np.nan,
        )
        group.create_array("status", shape=(t,), chunks=(1,), dtype=np.uint8, fill_value=STATUS["pending"])
        group.create_array("fixity", shape=(t,), chunks=(1,), dtype=np.int64, fill_value=NO_FIXITY)
        group.attrs.update(
            {
                "schema": SCHEMA,
                "created": _now(),
                "source": info.to_dict(),
                "software": {"film-restoration": __version__, **_library_versions()},
                "score_names": list(SCORE_NAMES),
                "status_codes": STATUS,
                "arrays": [*ARRAYS, "fixity"],
                "fixity": "CRC-32 (zlib) of packbits(mask), original[mask], restored[mask], scores",
                **(attributes or {}),
            }
        )
        (path / "events").mkdir()
        (path / "runs").mkdir()
        return cls(path)

    @property
    def frame_count(self) -> int:
        return self.info.frame_count

    @property
    def created(self) -> str | None:
        """When the store was created (ISO 8601, UTC), from its attributes."""
        return self.group.attrs.get("created")

    def write(self, results: FrameResults) -> None:
        """Write a frame range's results. Idempotent: rewriting the same range gives the same store.

        The fixity is cleared first and written last, so a write cut short at any point leaves
        its frames unfinished (:meth:`todo`), never finished with a diff that does not match.
        """
        start, stop = results.start, results.start + len(results.mask)
        mask = results.mask.astype(bool)
        keep = mask[..., None]
        original = np.where(keep, results.original, 0)
        restored = np.where(keep, results.restored, 0)
        scores = np.asarray(results.scores, np.float32)
        if self.has_fixity:
            self.group["fixity"][start:stop] = NO_FIXITY
        self.group["mask"][start:stop] = mask
        self.group["original"][start:stop] = original
        self.group["restored"][start:stop] = restored
        self.group["scores"][start:stop] = scores
        self.group["status"][start:stop] = results.status
        if self.has_fixity:
            self.group["fixity"][start:stop] = [frame_crc(mask[k], original[k], restored[k], scores[k]) for k in range(stop - start)]

    def read_diff(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mask (T,H,W) bool, original (T,H,W,C), restored (T,H,W,C))`` for ``[start, stop)``.

        A chunk that cannot be decoded (a truncated file) is a :class:`StoreError`.
        """
        return self._read("mask", start, stop), self._read("original", start, stop), self._read("restored", start, stop)

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        try:
            return self.group[name][start:stop]
        except (RuntimeError, ValueError, OSError) as err:
            raise StoreError(f"{self.path / name}: frames {start}..{stop - 1} unreadable, a chunk file is damaged ({err})") from None

    def read_checked_diff(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`read_diff`, raising :class:`StoreError` for a frame whose diff does not match its CRC."""
        diff = self.read_diff(start, stop)
        bad = self._crc_mismatches(start, stop, diff)
        if bad:
            raise StoreError(f"{self.path}: {bad[0]}")
        return diff

    def apply(self, frames: np.ndarray, start: int) -> np.ndarray:
        """Source frames ``(T, H, W, C)`` starting at ``start`` -> restored frames. A diff that does
        not match its CRC is a :class:`StoreError`: a master is never made from a damaged store."""
        mask, _, restored = self.read_checked_diff(start, start + len(frames))
        return np.where(mask[..., None], restored, frames)

    def revert(self, frames: np.ndarray, start: int) -> np.ndarray:
        """Restored frames ``(T, H, W, C)`` starting at ``start`` -> the source frames, bit-exactly.
        A diff that does not match its CRC is a :class:`StoreError`: it could not be undone exactly."""
        mask, original, _ = self.read_checked_diff(start, start + len(frames))
        return np.where(mask[..., None], original, frames)

    def status(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``(T,)`` uint8 status codes of frames ``[start, stop)``."""
        return self._read("status", start, self.frame_count if stop is None else stop)

    def set_status(self, frames: list[int], status: str) -> None:
        """An operator's decision on ``frames``. Holds the run lock while writing, so it never
        races a restore or reprocessing (:class:`restoration.store.lock.ReelLockedError` while one runs)."""
        from restoration.store.lock import RunLock

        with RunLock(self.path, f"operator action ({status})"):
            codes = self.group["status"]
            for i in frames:
                codes[i] = STATUS[status]

    def todo(self) -> np.ndarray:
        """``(T,)`` bool: frames a run must (re)do: pending, or whose write did not finish."""
        pending = self.status() == STATUS["pending"]
        if not self.has_fixity:
            return pending
        return pending | (self._read("fixity", 0, self.frame_count) == NO_FIXITY)

    def scores(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``(T, S)`` float32 scores of frames ``[start, stop)``; NaN for frames not yet processed."""
        return self._read("scores", start, self.frame_count if stop is None else stop)

    def log_event(self, kind: str, **fields) -> dict:
        """Append one event. Each event is its own file, so concurrent writers never collide."""
        event = {"time": _now(), "kind": kind, "user": fields.pop("user", None) or _user(), **fields}
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        write_json_atomic(self.path / "events" / name, event)
        return event

    def events(self) -> list[dict]:
        """The event log, oldest first. A malformed event file is a :class:`StoreError`."""
        return [_read_json(p, "event") for p in sorted((self.path / "events").glob("*.json"))]

    def write_run_record(self, name: str, record: dict) -> None:
        write_json_atomic(self.path / "runs" / f"{name}.json", record)

    def run_records(self) -> dict[str, dict]:
        return {p.stem: _read_json(p, "run record") for p in sorted((self.path / "runs").glob("*.json"))}

    def chunk_file(self, name: str, frame: int) -> Path:
        """The file holding frame ``frame`` of array ``name``."""
        array = self._arrays[name]
        return self.path / name / array.metadata.encode_chunk_key((frame,) + (0,) * (array.ndim - 1))

    def problems(self, full: bool = False, unfinished_ok: bool = False, redoing: Collection[int] = ()) -> list[str]:
        """What is wrong with the store, one line per kind of fault naming the frames and files; [] if sound.

        Always checked: the event log parses; every finished frame (status other than pending)
        has its status, scores and fixity, and its mask chunk when its damage fraction is not 0; a
        frame with a fixity is not pending. ``full``: also each finished frame's diff and scores
        against its CRC (reads every chunk). Frames whose write did not finish (:meth:`todo`) are
        reported as such (unless ``unfinished_ok``: the caller is about to redo them). Frames in
        ``redoing`` are not checked: they are about to be rebuilt from the source.
        """
        found: dict[str, list[int]] = {}
        try:
            self.events()
        except StoreError as err:
            return [str(err)]
        status = self.status()
        scores = self.scores()
        fixity = self._read("fixity", 0, self.frame_count) if self.has_fixity else None
        finished = status != STATUS["pending"]
        for i in np.flatnonzero(finished):
            if np.isnan(scores[i, 0]):
                found.setdefault("scores", []).append(int(i))
            elif scores[i, 0] > 0 and not self.chunk_file("mask", int(i)).is_file():
                found.setdefault("mask", []).append(int(i))
        if fixity is not None:
            for i in np.flatnonzero(~finished & (fixity != NO_FIXITY)):
                found.setdefault("status", []).append(int(i))
            if not unfinished_ok:
                for i in np.flatnonzero(finished & (fixity == NO_FIXITY)):
                    found.setdefault("unfinished", []).append(int(i))
        skip = set(redoing)
        found = {kind: [f for f in frames if f not in skip] for kind, frames in found.items()}
        lines = []
        for kind, frames in ((k, v) for k, v in found.items() if v):
            files = ", ".join(
                str(self.chunk_file(kind if kind != "unfinished" else "fixity", f).relative_to(self.path)) for f in frames[:3]
            )
            lines.append(_PROBLEMS[kind].format(frames=_frames(frames), files=files))
        if full and fixity is not None:
            checked = np.flatnonzero(finished & (fixity != NO_FIXITY))
            for a, b in _runs_of(checked):
                lines.extend(self._crc_mismatches(a, b))
        return lines

    def _crc_mismatches(self, start: int, stop: int, diff: tuple | None = None) -> list[str]:
        if not self.has_fixity:
            return []
        try:
            fixity = self._read("fixity", start, stop)
            mask, original, restored = diff or self.read_diff(start, stop)
            scores = self._read("scores", start, stop)
        except StoreError as err:
            return [str(err)]
        out = []
        for k in range(stop - start):
            if fixity[k] != NO_FIXITY and frame_crc(mask[k], original[k], restored[k], scores[k]) != fixity[k]:
                f = start + k
                missing = [
                    str(self.chunk_file(n, f).relative_to(self.path))
                    for n in ("mask", "original", "restored")
                    if not self.chunk_file(n, f).is_file()
                ]
                where = f"; chunk files missing: {', '.join(missing)}" if missing else ""
                out.append(f"frame {f}: its diff does not match the CRC recorded when it was written{where}")
        return out

    def verify(self, full: bool = False, unfinished_ok: bool = False, redoing: Collection[int] = ()) -> None:
        """Raise :class:`StoreError` naming what is wrong (:meth:`problems`), if anything."""
        found = self.problems(full, unfinished_ok, redoing)
        if found:
            more = f" (and {len(found) - 2} more; `restoration verify` lists all)" if len(found) > 2 else ""
            raise StoreError(
                f"{self.path}: fails verification: {'; '.join(found[:2])}{more}; "
                "`restoration reprocess STORE --frames N` rebuilds a frame from the source"
            )

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


_PROBLEMS = {
    "scores": "{frames} finished but its scores are missing ({files})",
    "mask": "{frames} has damage recorded but its mask chunk is missing ({files})",
    "status": "{frames} was written in full but reads as pending: its status chunk is missing ({files})",
    "unfinished": "{frames} marked finished but its write did not complete or its fixity chunk is "
    "missing ({files}); rerun the restore or reprocessing to redo it",
}


def frame_crc(mask: np.ndarray, original: np.ndarray, restored: np.ndarray, scores: np.ndarray) -> int:
    """CRC-32 of one frame's diff: mask ``(H, W)`` bool, original and restored ``(H, W, C)`` (only the
    values under the mask count), scores ``(S,)`` float32."""
    crc = zlib.crc32(np.packbits(mask).tobytes())
    crc = zlib.crc32(np.ascontiguousarray(original[mask]).tobytes(), crc)
    crc = zlib.crc32(np.ascontiguousarray(restored[mask]).tobytes(), crc)
    return zlib.crc32(np.asarray(scores, np.float32).tobytes(), crc)


def _frames(frames: list[int]) -> str:
    shown = ", ".join(str(f) for f in frames[:8]) + (", ..." if len(frames) > 8 else "")
    return f"frame {shown}" if len(frames) == 1 else f"{len(frames)} frames ({shown})"


def _runs_of(frames: np.ndarray, longest: int = 16) -> list[tuple[int, int]]:
    """Consecutive frame numbers as ``[a, b)`` ranges of at most ``longest`` frames."""
    ranges: list[tuple[int, int]] = []
    for f in (int(x) for x in frames):
        if ranges and ranges[-1][1] == f and f - ranges[-1][0] < longest:
            ranges[-1] = (ranges[-1][0], f + 1)
        else:
            ranges.append((f, f + 1))
    return ranges


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise StoreError(f"{path}: {what} file is damaged and cannot be read ({err})") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _library_versions() -> dict[str, str]:
    import av
    import cv2

    return {"numpy": np.__version__, "zarr": zarr.__version__, "av": av.__version__, "opencv": cv2.__version__}
