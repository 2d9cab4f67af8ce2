"""Model weights on disk: safetensors only (never pickle), with the model's config inside the file.

A weights file carries its ``UNet2DModel`` config and training facts as safetensors metadata (string
to string), so one file is enough to rebuild the model. Shipped weights live in
``restoration/weights/`` beside a model card (``<name>.md``) that gives data, steps, figures and the
file's SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors import safe_open
from safetensors.torch import save_file

from restoration.errors import RestorationError
from restoration.io.atomic import atomic_path
from restoration.io.reel import sha256_file

SHIPPED = Path(__file__).parents[1] / "weights"


def save_unet(model: UNet2DModel, path: str | Path, facts: dict | None = None) -> str:
    """Write ``model`` to ``path`` (safetensors, written to a temporary name then renamed).

    ``facts`` (JSON-able: data, steps, losses) go into the metadata. Returns the file's SHA-256.
    """
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"unet_config": json.dumps(dict(model.config)), "facts": json.dumps(facts or {})}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return sha256_file(path)


def load_unet(path: str | Path, device: str | torch.device = "cpu") -> tuple[UNet2DModel, dict]:
    """Rebuild a ``UNet2DModel`` from a weights file; returns ``(model in eval mode, facts)``."""
    path = Path(path)
    if not path.is_file():
        raise RestorationError(f"{path}: no such weights file")
    with safe_open(str(path), framework="pt", device="cpu") as f:
        metadata = f.metadata() or {}
        if "unet_config" not in metadata:
            raise RestorationError(f"{path}: weights file carries no model config")
        state = {k: f.get_tensor(k) for k in f.keys()}
    config = {k: v for k, v in json.loads(metadata["unet_config"]).items() if not k.startswith("_")}
    model = UNet2DModel(**config)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), json.loads(metadata.get("facts", "{}"))


def shipped(name: str) -> Path:
    """Path of a weights file that ships with the package (``detector``, ``inpainter``)."""
    return SHIPPED / f"{name}.safetensors"
