"""A trainer's frozen config from settings: the one path from command-line flags (each trainer's
``main``) and from the finetune flow's settings (``flows/finetune.py``) to the config a run uses."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

from restoration.core.compute import PRECISIONS
from restoration.models.weights import load_unet
from restoration.pipeline.reprocess import config_from_dict, merge_settings

C = TypeVar("C")


def training_parser(prog: str, description: str, model: str) -> argparse.ArgumentParser:
    """The command line of a patch-model trainer (``model``: "detector" or "inpainter") with the flags
    both take; a trainer adds its own. No flag has a default: the config's fields have them."""
    ap = argparse.ArgumentParser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    ap.add_argument("--data", nargs="*", help="reels or folders, each optionally path@a:b (frame fractions); default: the training split")
    ap.add_argument("--init", help=f"weights to fine-tune from (e.g. the shipped restoration/weights/{model}.safetensors)")
    ap.add_argument("--out-dir")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--patch", type=int)
    ap.add_argument("--triplets", type=int)
    ap.add_argument("--max-side", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--max-minutes", type=float)
    ap.add_argument("--checkpoint-minutes", type=float)
    ap.add_argument("--no-resume", dest="resume", action="store_false", help="start over (ignore an existing checkpoint and bank)")
    ap.add_argument("--precision", choices=PRECISIONS, help="auto: bfloat16 only where the CPU computes it natively")
    return ap


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on a :func:`training_parser` command line (only those: no flag has a default)
    as settings; a dotted destination (``model.norm_groups``) is a field of a nested config."""
    settings: dict[str, Any] = {}
    for dest, value in vars(args).items():
        *outer, name = dest.split(".")
        target = settings
        for key in outer:
            target = target.setdefault(key, {})
        target[name] = value
    return settings


def training_config(cls: type[C], settings: dict[str, Any]) -> C:
    """``cls``'s defaults with ``settings`` laid over them (nested dicts merged; an unknown name or a
    wrong type is a ``ValueError``), then, for a trainer of a patch model (a ``model`` field), the
    model's shape: a fine-tune's (``init``) is the one stored in its weights' facts, and a fresh
    model is shaped for the training ``patch``."""
    config: Any = config_from_dict(cls, merge_settings(dataclasses.asdict(cls()), settings))  # type: ignore[call-overload]
    if "model" not in {f.name for f in dataclasses.fields(config)}:
        return config
    shape_cls = type(config.model)
    if config.init:
        saved = load_unet(config.init)[1].get("train_config", {}).get("model")
        return dataclasses.replace(config, model=config_from_dict(shape_cls, saved)) if saved else config
    return dataclasses.replace(config, model=dataclasses.replace(config.model, patch=config.patch))
