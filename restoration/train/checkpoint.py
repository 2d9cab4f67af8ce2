"""Training checkpoints: model, EMA and optimiser state in one safetensors file (no pickle).

Shared by both training scripts so that either resumes exactly where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from restoration.io.atomic import atomic_path


def save_checkpoint(path: Path, model, ema, opt, step: int, extra: dict) -> None:
    """Write the state after ``step`` optimiser steps; ``extra`` (JSON-able) rides in the metadata.

    Written to a temporary name and renamed, so a kill mid-write keeps the previous checkpoint.
    """
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().contiguous() for k, v in ema.state_dict().items()})
    osd = opt.state_dict()
    for pid, st in osd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().contiguous()
    meta = {"step": str(step), "param_groups": json.dumps(osd["param_groups"]), "extra": json.dumps(extra)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, model, ema, opt) -> tuple[int, dict]:
    """Restore ``model``, ``ema`` and ``opt`` in place; returns ``(step, extra)``."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return int(meta["step"]), json.loads(meta.get("extra", "{}"))
