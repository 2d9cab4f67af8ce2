"""A folder of registered model weights: each entry names the file, its SHA-256 and where it came from.

``<models_dir>/registry.json`` is ``{"models": [entry, ...]}``, oldest first, rewritten atomically;
each registered file is copied into the folder under a name carrying its digest, so an entry keeps
pointing at the exact bytes it describes even when training writes new weights to the same path.
Weights that are a folder (a latent model) are copied whole; their digest is :func:`sha256_tree`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from restoration.io.atomic import atomic_path, write_json_atomic
from restoration.io.reel import sha256_file

REGISTRY = "registry.json"


def sha256_tree(path: str | Path) -> str:
    """SHA-256 of a file, or of a folder: of its files' relative paths and SHA-256, sorted."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    lines = [f"{p.relative_to(path).as_posix()}\t{sha256_file(p)}\n" for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


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
    """Copy ``weights`` (a file, or a folder) into ``models_dir`` and append an entry; returns the entry.

    ``kind``: ``detector`` or ``inpainter``; ``base``: the weights fine-tuning started from (their
    SHA-256 is recorded too); ``data``: what it was trained on; ``facts``: anything else (settings).
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    weights = Path(weights)
    sha = sha256_tree(weights)
    dest = models_dir / f"{kind}-{name}-{sha[:12]}{weights.suffix if weights.is_file() else ''}"
    if not dest.exists():
        with atomic_path(dest, unique=True) as tmp:
            (shutil.copyfile if weights.is_file() else shutil.copytree)(weights, tmp)
    base_path = Path(base) if base else None
    entry = {
        "name": name,
        "kind": kind,
        "path": str(dest),
        "sha256": sha,
        "trained_at": str(weights),
        "base": {"path": str(base_path), "sha256": sha256_tree(base_path)} if base_path and base_path.exists() else None,
        "data": list(data or []),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        **({"facts": facts} if facts else {}),
    }
    entries = registered(models_dir) + [entry]
    write_json_atomic(models_dir / REGISTRY, {"models": entries})
    return entry
