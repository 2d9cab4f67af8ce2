"""Flow parameters (simple, JSON-able) -> the library's frozen ``RestoreConfig``, and small helpers."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

from restoration.core.methods import DEFAULT_DETECTOR, DEFAULT_INPAINTER
from restoration.core.restore import RestoreConfig
from restoration.io.encode import EncodeConfig
from restoration.pipeline.reprocess import config_from_dict, merge_settings


def build_config(
    chunk_frames: int = 16,
    seed: int = 0,
    detector: str = DEFAULT_DETECTOR,
    inpainter: str = DEFAULT_INPAINTER,
    detector_weights: str | None = None,
    inpainter_weights: str | None = None,
    context_frames: int = 2,
    device: str = "auto",
    access_copy: bool = True,
    settings: dict | None = None,
    latent_weights: str | None = None,
    precision: str = "auto",
) -> RestoreConfig:
    """A ``RestoreConfig`` from flow parameters; ``settings`` overrides any nested field by name,
    e.g. ``{"palette": {"steps": 10}, "consistency": {"max_warp_ratio": 2.0}}``."""
    base = asdict(
        RestoreConfig(
            detector=detector,
            inpainter=inpainter,
            detector_weights=detector_weights,
            inpainter_weights=inpainter_weights,
            latent_weights=latent_weights,
            chunk_frames=chunk_frames,
            context_frames=context_frames,
            seed=seed,
            device=device,
            precision=precision,
            encode=EncodeConfig(access_copy=access_copy),
        )
    )
    return config_from_dict(RestoreConfig, merge_settings(base, settings or {}))


def artifact_key(*parts: str) -> str:
    """An artifact key from free text: lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")
    return key or "reel"


def reel_artifact_key(info, *suffix: str) -> str:
    """``reel-<name>-<first 12 hex of the SHA-256>[-suffix]``: two reels of the same name (other
    content) never share an artifact; the name is cut to 40 characters to keep keys readable."""
    return artifact_key("reel", Path(info.path).stem[:40], info.sha256[:12], *suffix)
