"""The ``reprocess-flagged`` flow: restore flagged or sent-back frames again and re-encode the outputs.

Thin over ``restoration.pipeline.reprocess``: frames with status ``flagged`` (the checks) or ``reprocess``
(an operator) — or the frames given — are restored again with a new seed or settings; their diff is
rewritten in the store, events are appended, and the master is replaced atomically.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

import flows  # noqa: F401 - offline Prefect defaults
from flows.config import RunSettings, reel_artifact_key, restore_config
from flows.restore_reel import HOOKS, cached_models
from restoration.core.restore import RestoreConfig
from restoration.io.outputs import ReelOutputs
from restoration.pipeline.reprocess import config_from_dict, frames_to_reprocess, next_config, reencode_outputs, reprocess_frames
from restoration.store.lock import DEFAULT_MAX_AGE_S, RunLock
from restoration.store.provenance import ProvenanceStore


@task(name="reprocess-frames", retries=1, cache_policy=NO_CACHE, persist_result=False)
def reprocess_task(store: str, frames: list[int], config: dict, user: str | None) -> list[dict]:
    cfg = config_from_dict(RestoreConfig, config)
    return reprocess_frames(ProvenanceStore(store), frames, cfg, models=cached_models(cfg), user=user)


@flow(name="reprocess-flagged", log_prints=False)
def reprocess_flagged(
    store: str,
    frames: list[int] | None = None,
    settings: RunSettings = RunSettings(),
    user: str | None = None,
    reencode: bool = True,
    lock_max_age_s: float = DEFAULT_MAX_AGE_S,
) -> dict:
    """Reprocess ``frames`` of the reel whose store is ``store`` (default: every flagged or sent-back frame).

    ``settings`` (:class:`flows.config.RunSettings`) are laid over the settings of the store's latest
    run; its ``seed`` left None is one not used on this store before.
    """
    log = get_run_logger()
    s = ProvenanceStore(store)
    config = restore_config(settings, next_config(s))
    with RunLock(s.path, "reprocess", max_age_s=lock_max_age_s):
        todo = sorted(set(frames)) if frames else frames_to_reprocess(s)
        results = reprocess_task(str(s.path), todo, asdict(config), user) if todo else []
        outputs = ReelOutputs.in_folder(s.path.parent, s.info)
        master = None
        if reencode and outputs.master.exists():
            # Only what is out of date: this also finishes a re-encode that a kill cut short.
            reencode_outputs(s, config, outputs, on_frame=HOOKS.on_frame)
            master = str(outputs.master)
        if not results:
            log.info("nothing to reprocess in %s", store)
            return {"frames": [], "still_flagged": [], "master": master}
    create_table_artifact(
        [{k: r[k] for k in ("frame", "previous", "status", "reason", "damage_fraction")} for r in results],
        key=reel_artifact_key(s.info, "reprocessed"),
        description=f"{Path(s.info.path).name}: frames reprocessed with seed {config.seed}",
    )
    return {
        "frames": [r["frame"] for r in results],
        "still_flagged": [r["frame"] for r in results if r["status"] == "flagged"],
        "seed": config.seed,
        "master": master,
    }
