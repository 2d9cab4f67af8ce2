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
import types
import typing
from collections.abc import Callable
from dataclasses import asdict, replace

import numpy as np

from restoration.core.restore import RestoreConfig, load_models, method_description, restore_window
from restoration.io.outputs import ReelOutputs
from restoration.pipeline.chunks import encode_outputs
from restoration.pipeline.operator_masks import operator_mask, refill_frame
from restoration.store.provenance import STATUS, STATUS_NAMES, FrameResults, ProvenanceStore

REPROCESS_STATUSES = ("flagged", "reprocess")


def config_from_dict(cls, data: dict, _where: str = ""):
    """Rebuild a (nested, frozen) config dataclass from ``dataclasses.asdict`` output or JSON.

    Keys the class does not know and values of the wrong type are refused with a ``ValueError``
    naming the setting (``palette.steps: expected int, got 'x'``); missing keys take the class
    defaults; an int is accepted where a float is wanted.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{_where.rstrip('.') or cls.__name__}: expected a JSON object of settings, got {data!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown settings {sorted(_where + k for k in unknown)}; {cls.__name__} has {sorted(names)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[name] = value if isinstance(value, hint) else config_from_dict(hint, value, f"{_where}{name}.")
        else:
            kwargs[name] = _typed(value, hint, _where + name)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{_where.rstrip('.')}: {err}" if _where else str(err)) from None


def _typed(value, hint, where: str):
    """``value`` if it is of type ``hint`` (bool, int, float, str, None, a union of them, or a tuple
    of them, which JSON gives as a list)."""
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if args and args[-1] is not Ellipsis and len(args) != len(value):
            raise ValueError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        items = args[:1] * len(value) if args and args[-1] is Ellipsis else args
        return tuple(_typed(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, items)))
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for t in allowed:
        if t is type(None) and value is None:
            return value
        if t is bool and isinstance(value, bool):
            return value
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is str and isinstance(value, str):
            return value
    wanted = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
    raise ValueError(f"{where}: expected {wanted}, got {value!r}")


def merge_settings(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merge_settings(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def next_config(store: ProvenanceStore) -> RestoreConfig:
    """The settings of the store's latest run or reprocessing, with a seed not used on it before."""
    configs = [e["config"] for e in store.events() if e.get("kind") in ("run_started", "reprocessed") and "config" in e]
    if not configs:
        return RestoreConfig(seed=1)
    seed = max(int(c.get("seed", 0)) for c in configs) + 1
    return replace(config_from_dict(RestoreConfig, configs[-1]), seed=seed)


def frames_to_reprocess(store: ProvenanceStore, statuses: tuple[str, ...] = REPROCESS_STATUSES) -> list[int]:
    """Frame numbers whose status is one of ``statuses`` (default: flagged or sent back), and those
    whose last rewrite was cut short (:meth:`ProvenanceStore.todo`): a rerun finishes them."""
    codes = store.status()
    unfinished = store.todo() & (codes != STATUS["pending"])
    return [int(i) for i in np.flatnonzero(np.isin(codes, [STATUS[s] for s in statuses]) | unfinished)]


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
    a frame with an operator's mask (:mod:`restoration.pipeline.operator_masks`) is filled from that mask.
    The store must pass its check (:meth:`ProvenanceStore.verify`) but for the frames being redone:
    reprocessing a frame whose chunks were lost rebuilds it from the source.
    A frame whose status changes while it is being restored again (an operator's decision) is
    left as the operator set it and logged as ``frame_reprocess_skipped``.
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
    store.verify(unfinished_ok=True, redoing=frames)
    config = config or next_config(store)
    models = models or load_models(config)
    previous_status = store.status()
    previous_scores = store.scores()
    results: list[dict[str, typing.Any]] = []  # the frame_reprocessed events' payloads

    def keep(f: int, source: np.ndarray, mask: np.ndarray, restored: np.ndarray, scores, reason: str | None, **extra) -> None:
        now = int(store.status(f, f + 1)[0])
        if now != previous_status[f]:
            # An operator decided on the frame meanwhile: their decision stands.
            store.log_event(
                "frame_reprocess_skipped", frame=f, user=user, reason=f"status changed to {STATUS_NAMES[now]} during reprocessing"
            )
            return
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


def reencode_outputs(
    store: ProvenanceStore,
    config: RestoreConfig,
    outputs: ReelOutputs | None = None,
    on_frame: Callable[[], None] | None = None,
) -> ReelOutputs:
    """Re-encode the master (and access copy) from source ⊕ the store's diff where they are out of
    date, replacing them atomically (:func:`restoration.pipeline.chunks.encode_outputs`).

    ``outputs`` default to the files beside the store (``<name>.master.mkv``, ``<name>.access.mp4``).
    """
    outputs = outputs or ReelOutputs.in_folder(store.path.parent, store.info)
    made = encode_outputs(store, outputs, config, on_frame=on_frame)
    if made:
        store.log_event(
            "reencoded", outputs=made, master=str(outputs.master), access=str(outputs.access) if config.encode.access_copy else None
        )
    return outputs
