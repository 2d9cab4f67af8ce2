"""The ``finetune`` flow: adapt the inpainter (and the detector) to a collection, register the weights.

Training is the library's (``restoration.train.inpainter`` / ``restoration.train.detector`` /
``restoration.train.latent``, imported inside the tasks: they pull in the training stack only
where training runs). Each trained file (a folder for the ``latent`` kind, a Stable Diffusion model)
is registered in ``models_dir`` (``registry.json``: name, path, SHA-256, base weights, data, time).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

import flows  # noqa: F401 - offline Prefect defaults
from flows.config import artifact_key
from restoration.models.registry import register_weights

KINDS = ("inpainter", "detector", "latent")


def _base_weights(kind: str, init: str | None) -> str | None:
    if init:
        return init
    if kind == "latent":
        raise ValueError("the latent kind fine-tunes a local Stable Diffusion folder: give latent_init")
    from restoration.models.weights import shipped

    path = shipped(kind)
    return str(path) if path.is_file() else None


@task(name="train", task_run_name="train-{kind}", cache_policy=NO_CACHE, persist_result=False)
def train_task(kind: str, overrides: dict) -> dict:
    """Train one model with the library's trainer; returns the weights path and the settings used.

    ``overrides`` are config fields, resolved as the trainers' command lines resolve their flags."""
    from restoration.train.config import training_config

    if kind == "inpainter":
        from restoration.train.inpainter import TrainInpainterConfig as Config
        from restoration.train.inpainter import train
    elif kind == "detector":
        from restoration.train.detector import TrainDetectorConfig as Config
        from restoration.train.detector import train
    elif kind == "latent":
        from restoration.train.latent import TrainLatentConfig as Config
        from restoration.train.latent import train
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose from {KINDS}")
    config = training_config(Config, overrides)
    path = train(config)
    return {"path": str(path), "config": asdict(config)}


@task(name="register", task_run_name="register-{kind}", cache_policy=NO_CACHE, persist_result=False)
def register_task(models_dir: str, name: str, kind: str, weights: str, base: str | None, data: list[str], facts: dict) -> dict:
    return register_weights(models_dir, name, kind, weights, base=base, data=data, facts=facts)


@flow(name="finetune", log_prints=False)
def finetune(
    data: list[str],
    models_dir: str,
    name: str = "collection",
    kinds: list[str] = ["inpainter", "detector"],  # noqa: B006 - a JSON parameter's default
    steps: int = 1000,
    work_dir: str | None = None,
    inpainter_init: str | None = None,
    detector_init: str | None = None,
    settings: dict | None = None,
    latent_init: str | None = None,
) -> list[dict]:
    """Fine-tune each of ``kinds`` on ``data`` (reels, ``path@a:b`` for a part) and register the weights.

    Training starts from ``<kind>_init`` or the shipped weights (fresh when there are none) and writes
    to ``work_dir/<name>/<kind>`` (default: ``models_dir/training``); ``settings`` overrides the
    trainers' config fields per kind: ``{"inpainter": {"batch": 16}, "detector": {...}}``. The
    ``latent`` kind fine-tunes the U-Net of the Stable Diffusion folder ``latent_init`` (LoRA by
    default, ``{"latent": {"lora_rank": 0}}`` for the whole U-Net; a GPU job) into a new folder.
    """
    log = get_run_logger()
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown model kinds {sorted(unknown)}; choose from {KINDS}")
    root = Path(work_dir) if work_dir else Path(models_dir) / "training"
    entries = []
    for kind in kinds:
        base = _base_weights(kind, {"inpainter": inpainter_init, "detector": detector_init, "latent": latent_init}[kind])
        overrides = {
            "data": list(data),
            "init": base,
            "steps": steps,
            "out_dir": str(root / name / kind),
            **(settings or {}).get(kind, {}),
        }
        trained = train_task(kind, overrides)
        entry = register_task(models_dir, name, kind, trained["path"], base, list(data), {"train_config": trained["config"]})
        log.info("registered %s %s (sha256 %s)", kind, entry["path"], entry["sha256"][:12])
        entries.append(entry)
    create_markdown_artifact(
        "\n".join(
            [f"# Fine-tuned models: {name}", "", "| kind | file | SHA-256 | base |", "|---|---|---|---|"]
            + [f"| {e['kind']} | `{e['path']}` | `{e['sha256']}` | {(e['base'] or {}).get('sha256', 'fresh')[:12]} |" for e in entries]
        ),
        key=artifact_key("finetune", name),
        description="weights registered by this run",
    )
    return entries
