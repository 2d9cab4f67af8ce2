"""Restore chosen frames of a reel again (new seed or settings) and re-encode its outputs.

Frames flagged by the consistency check (status ``flagged``) or sent back by an operator (status
``reprocess``) are restored again from the *source* reel, with context frames either side, and
their diff in the store is rewritten; the master is then re-encoded from source ⊕ diff and replaced
atomically (written under a temporary name, then renamed over the old one), so a crash leaves either
the old master or the new one. The store's ``original`` values come from the source, never from a
previous output, so reprocessing can be repeated any number of times and revert stays exact.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from restoration.encode import write_access_copy, write_master
from restoration.core import RestoreConfig, load_models, method_description, restore_window
from restoration.operator_masks import operator_mask, refill_frame
from restoration.outputs import ReelOutputs
from restoration.pipeline import chunk_ranges
from restoration.reel import iter_frames, probe, read_frames
from restoration.store import STATUS, STATUS_NAMES, FrameResults, ProvenanceStore

REPROCESS_STATUSES = ("flagged", "reprocess")


def config_from_dict(cls, data: dict):
    """Rebuild a (nested, frozen) config dataclass from ``dataclasses.asdict`` output or JSON.

    Keys the class does not know are refused; missing keys take the class defaults; lists become
    tuples where the default is a tuple (JSON has no tuples).
    """
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
    defaults = cls()
    kwargs = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def next_config(store: ProvenanceStore) -> RestoreConfig:
    """The settings of the store's latest run or reprocessing, with a seed not used on it before."""
    configs = [e["config"] for e in store.events() if e.get("kind") in ("run_started", "reprocessed") and "config" in e]
    if not configs:
        return RestoreConfig(seed=1)
    seed = max(int(c.get("seed", 0)) for c in configs) + 1
    return replace(config_from_dict(RestoreConfig, configs[-1]), seed=seed)


def frames_to_reprocess(store: ProvenanceStore, statuses: tuple[str, ...] = REPROCESS_STATUSES) -> list[int]:
    """Frame numbers whose status is one of ``statuses`` (default: flagged or sent back)."""
    codes = store.status()
    return [int(i) for i in np.flatnonzero(np.isin(codes, [STATUS[s] for s in statuses]))]


def _runs(frames: list[int]) -> list[list[int]]:
    """Sorted frame numbers grouped into runs of consecutive frames (one read per run)."""
    runs: list[list[int]] = []
    for f in sorted(set(frames)):
        if runs and f == runs[-1][-1] + 1:
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


def reprocess_frames(
    store: ProvenanceStore,
    frames: list[int],
    config: RestoreConfig | None = None,
    models=None,
    on_frame: Callable[[int, dict], None] | None = None,
    user: str | None = None,
) -> list[dict]:
    """Restore ``frames`` (reel frame numbers) again with ``config`` and rewrite their diff.

    ``config`` None: :func:`next_config` (the latest settings with a fresh seed).

    Each frame is read with ``config.context_frames`` neighbours either side from the source reel;
    a frame with an operator's mask (:mod:`restoration.operator_masks`) is filled from that mask.
    Returns one record per frame: ``frame``, ``previous`` and ``status`` (status names),
    ``reason`` (why it is still flagged, or None), ``damage_fraction`` before and after. Appends a
    ``frame_reprocessed`` event per frame and a ``reprocessed`` event with the configuration.
    """
    info = store.info
    bad = [f for f in frames if not 0 <= int(f) < info.frame_count]
    if bad:
        raise ValueError(f"frames {bad} outside the reel's 0..{info.frame_count - 1}")
    if not frames:
        return []
    config = config or next_config(store)
    models = models or load_models(config)
    previous_status = store.status()
    previous_scores = store.scores()
    results = []
    def keep(f: int, source: np.ndarray, mask: np.ndarray, restored: np.ndarray, scores, reason: str | None, **extra) -> None:
        status = STATUS["flagged"] if reason else STATUS["done"]
        store.write(
            FrameResults(
                start=f,
                mask=mask[None],
                original=source[None],
                restored=restored[None],
                scores=np.asarray(scores, np.float32)[None],
                status=np.array([status], np.uint8),
            )
        )
        record = {
            "frame": f,
            "previous": STATUS_NAMES[int(previous_status[f])],
            "status": STATUS_NAMES[status],
            "reason": reason,
            "damage_fraction_before": None if np.isnan(previous_scores[f, 0]) else float(previous_scores[f, 0]),
            "damage_fraction": float(scores[0]),
        }
        store.log_event("frame_reprocessed", seed=config.seed, user=user, **record, **extra)
        results.append(record)
        if on_frame:
            on_frame(f, record)

    # A frame whose mask an operator corrected is filled from that mask, not detected again.
    corrected = {f: m for f in sorted({int(f) for f in frames}) if (m := operator_mask(store, f)) is not None}
    for f, mask in corrected.items():
        source, restored, scores, reason = refill_frame(store, f, mask, config, models)
        keep(f, source, mask, restored, scores, reason, mask_source="operator")
    for run in _runs([int(f) for f in frames if int(f) not in corrected]):
        window = restore_window(info, run[0], run[-1] + 1, config, models)
        for k, f in enumerate(run):
            keep(f, window.original[k], window.mask[k], window.restored[k], window.scores[k], window.reasons.get(f))
    results.sort(key=lambda r: r["frame"])
    store.log_event(
        "reprocessed",
        frames=[r["frame"] for r in results],
        still_flagged=[r["frame"] for r in results if r["status"] == "flagged"],
        config=asdict(config),
        methods=method_description(config, models),
        user=user,
    )
    return results


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Write a new version of ``path`` beside it, then rename it over the old one (atomic)."""
    tmp = path.with_name(f".{path.stem}.new{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def reencode_outputs(
    store: ProvenanceStore,
    config: RestoreConfig,
    outputs: ReelOutputs | None = None,
    on_frame: Callable[[], None] | None = None,
) -> ReelOutputs:
    """Re-encode the master (and access copy) from source ⊕ the store's diff, replacing them atomically.

    ``outputs`` default to the files beside the store (``<name>.master.mkv``, ``<name>.access.mp4``).
    """
    info = store.info
    outputs = outputs or ReelOutputs.in_folder(store.path.parent, info)

    def restored_frames():
        for a, b in chunk_ranges(info.frame_count, config.chunk_frames):
            yield from store.apply(read_frames(info, a, b), a)

    _replace(outputs.master, lambda tmp: write_master(tmp, info, restored_frames(), config.encode, on_frame=on_frame))
    if config.encode.access_copy:
        _replace(outputs.access, lambda tmp: write_access_copy(tmp, info, iter_frames(probe(outputs.master)), config.encode))
    store.log_event("reencoded", master=str(outputs.master), access=str(outputs.access) if config.encode.access_copy else None)
    return outputs
