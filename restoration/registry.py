"""A folder of registered model weights: each entry names the file, its SHA-256 and where it came from.

``<models_dir>/registry.json`` is ``{"models": [entry, ...]}``, oldest first, rewritten atomically;
each registered file is copied into the folder under a name carrying its digest, so an entry keeps
pointing at the exact bytes it describes even when training writes new weights to the same path.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from restoration.reel import sha256_file
from restoration.store import write_json_atomic

REGISTRY = "registry.json"


def registered(models_dir: str | Path) -> list[dict]:
    """The registry's entries, oldest first (empty when there is none)."""
    path = Path(models_dir) / REGISTRY
    return json.loads(path.read_text())["models"] if path.is_file() else []


def register_weights(
    models_dir: str | Path,
    name: str,
    kind: str,
    weights: str | Path,
    base: str | Path | None = None,
    data: list[str] | None = None,
    facts: dict | None = None,
) -> dict:
    """Copy ``weights`` into ``models_dir`` and append an entry; returns the entry.

    ``kind``: ``detector`` or ``inpainter``; ``base``: the weights fine-tuning started from (their
    SHA-256 is recorded too); ``data``: what it was trained on; ``facts``: anything else (settings).
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    weights = Path(weights)
    sha = sha256_file(weights)
    dest = models_dir / f"{kind}-{name}-{sha[:12]}{weights.suffix}"
    if not dest.exists():
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
        shutil.copyfile(weights, tmp)
        os.replace(tmp, dest)
    base_path = Path(base) if base else None
    entry = {
        "name": name,
        "kind": kind,
        "path": str(dest),
        "sha256": sha,
        "trained_at": str(weights),
        "base": {"path": str(base_path), "sha256": sha256_file(base_path)} if base_path and base_path.is_file() else None,
        "data": list(data or []),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **({"facts": facts} if facts else {}),
    }
    entries = registered(models_dir) + [entry]
    write_json_atomic(models_dir / REGISTRY, {"models": entries})
    return entry
