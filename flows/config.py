"""The run settings the flows and the command share (one JSON-able object) -> the library's frozen
``RestoreConfig``, and small helpers."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from restoration.core.restore import RestoreConfig
from restoration.pipeline.reprocess import config_from_dict, merge_settings


@dataclass(frozen=True)
class RunSettings:
    """What a restore or a reprocessing runs with: one parameter of the flows (Prefect validates it
    from JSON, ``{"detector": "temporal", "overrides": {"palette": {"steps": 10}}}``).

    A field left None takes the value of the configuration it is laid over (:func:`restore_config`):
    the library's defaults for a restore, the store's latest run for a reprocessing (whose ``seed``
    is then one not used on the store before). ``overrides`` sets any nested ``RestoreConfig``
    field by name (``{"consistency": {"max_warp_ratio": 2.0}}``) and wins over the fields above.
    ``latent_weights`` is the local Stable Diffusion folder of ``sd-inpaint`` / ``sd-diffedit``.
    """

    chunk_frames: int | None = None
    context_frames: int | None = None
    seed: int | None = None
    detector: str | None = None
    inpainter: str | None = None
    detector_weights: str | None = None
    inpainter_weights: str | None = None
    latent_weights: str | None = None
    device: str | None = None
    precision: str | None = None
    runtime: str | None = None
    access_copy: bool | None = None
    overrides: dict | None = None


def restore_config(settings: RunSettings, base: RestoreConfig | None = None) -> RestoreConfig:
    """``base`` (default: ``RestoreConfig()``) with the fields ``settings`` gives laid over it, then
    its ``overrides``; a wrong or unknown setting is a ``ValueError`` naming it."""
    given = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in ("access_copy", "overrides") and getattr(settings, f.name) is not None
    }
    if settings.access_copy is not None:
        given["encode"] = {"access_copy": settings.access_copy}
    merged = merge_settings(merge_settings(asdict(base or RestoreConfig()), given), settings.overrides or {})
    return config_from_dict(RestoreConfig, merged)


def artifact_key(*parts: str) -> str:
    """An artifact key from free text: lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")
    return key or "reel"


def reel_artifact_key(info, *suffix: str) -> str:
    """``reel-<name>-<first 12 hex of the SHA-256>[-suffix]``: two reels of the same name (other
    content) never share an artifact; the name is cut to 40 characters to keep keys readable."""
    return artifact_key("reel", Path(info.path).stem[:40], info.sha256[:12], *suffix)
