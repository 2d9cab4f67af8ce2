"""Training checkpoints: everything a run needs to go on exactly where it stopped, in one safetensors
file (no pickle).

Tensors: ``model.<name>`` (the model's state), ``ema.<name>`` (the EMA's shadow of each parameter,
named as the model's), ``opt.<param index>.<key>`` (the optimiser's per-parameter state) and
``rng.torch`` (the noise generator's state). Metadata (JSON strings): ``step``, ``param_groups``,
``ema`` (the EMA's settings and step count), ``lr_scheduler``, ``rng.numpy`` (the data generator's
bit-generator state) and ``extra``. Only the parts of its :class:`TrainingState` a trainer has are
written, and each of them must be in the file it resumes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch.optim.lr_scheduler import LRScheduler

from restoration.io.atomic import atomic_path


@dataclass
class TrainingState:
    """The live objects a checkpoint saves and restores in place (a part that is None is not kept)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    ema: EMAModel | None = None
    lr_scheduler: LRScheduler | None = None
    rng: np.random.Generator | None = None
    generator: torch.Generator | None = None


def save_checkpoint(path: Path, step: int, state: TrainingState, extra: dict | None = None) -> None:
    """Write ``state`` after ``step`` optimiser steps; ``extra`` (JSON-able) rides in the metadata.

    Written to a temporary name and renamed, so a kill mid-write keeps the previous checkpoint.
    """
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in state.model.state_dict().items()}
    osd = state.optimizer.state_dict()
    for pid, st in osd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().contiguous()
    meta = {"step": str(step), "param_groups": json.dumps(osd["param_groups"]), "extra": json.dumps(extra or {})}
    if state.ema is not None:
        names = [name for name, _ in state.model.named_parameters()]
        tensors.update({f"ema.{name}": p.detach().contiguous() for name, p in zip(names, state.ema.shadow_params, strict=True)})
        meta["ema"] = json.dumps({k: v for k, v in state.ema.state_dict().items() if k != "shadow_params"})
    if state.lr_scheduler is not None:
        meta["lr_scheduler"] = json.dumps(state.lr_scheduler.state_dict())
    if state.rng is not None:
        meta["rng.numpy"] = json.dumps(state.rng.bit_generator.state)
    if state.generator is not None:
        tensors["rng.torch"] = state.generator.get_state()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, state: TrainingState) -> tuple[int, dict]:
    """Restore ``state`` in place from a :func:`save_checkpoint` file; returns ``(step, extra)``."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    parts = {"ema": state.ema, "lr_scheduler": state.lr_scheduler, "rng.numpy": state.rng, "rng.torch": state.generator}
    missing = [name for name, part in parts.items() if part is not None and name not in meta and name not in tensors]
    if missing:
        raise ValueError(f"{path}: the checkpoint holds no {', '.join(missing)} state")
    state.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = v
    state.optimizer.load_state_dict({"state": opt_state, "param_groups": json.loads(meta["param_groups"])})
    if state.ema is not None:
        shadow = [tensors[f"ema.{name}"] for name, _ in state.model.named_parameters()]
        state.ema.load_state_dict({**json.loads(meta["ema"]), "shadow_params": shadow})
    if state.lr_scheduler is not None:
        state.lr_scheduler.load_state_dict(json.loads(meta["lr_scheduler"]))
    if state.rng is not None:
        state.rng.bit_generator.state = json.loads(meta["rng.numpy"])
    if state.generator is not None:
        state.generator.set_state(tensors["rng.torch"])
    return int(meta["step"]), json.loads(meta.get("extra", "{}"))
