"""The Prefect flows under ``prefect_test_harness``, and the library parts they stand on (lock, reprocess).

Classical methods (temporal detector, temporal median) on small synthetic clips keep this fast.
"""

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from clips import damaged_frames, random_frames, write_clip

import flows  # noqa: F401 - offline Prefect defaults before Prefect is imported
from flows.config import RunSettings, restore_config
from restoration.core.compute import usable_cores
from restoration.io.reel import probe, read_frames
from restoration.store.lock import ReelLockedError, RunLock
from restoration.store.provenance import STATUS, ProvenanceStore

ROOT = Path(__file__).resolve().parents[1]
CLASSICAL = {"detector": "temporal", "inpainter": "temporal_median"}
SETTINGS = RunSettings(chunk_frames=4, access_copy=False, **CLASSICAL)


@pytest.fixture(scope="session")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=None):
        yield


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "reel.mkv", damaged_frames(), "gray")


@pytest.fixture(scope="module")
def restored(harness, clip, tmp_path_factory):
    from flows.restore_reel import restore_reel

    out = tmp_path_factory.mktemp("restored")
    result = restore_reel(str(clip), str(out), settings=SETTINGS)
    return out, result


def master_frames(path):
    return read_frames(probe(path))


# --------------------------------------------------------------------------- restore_reel


def test_restore_reel_writes_outputs_records_and_artifacts(restored, clip):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    out, result = restored
    store = ProvenanceStore(out / "reel.zarr")
    assert (store.status() != STATUS["pending"]).all()
    assert Path(result["master"]).is_file() and result["access"] is None
    assert sorted(store.run_records()) == ["chunk-00000000-00000004", "chunk-00000004-00000008", "chunk-00000008-00000012"]
    kinds = [e["kind"] for e in store.events() if e["kind"] != "frame_flagged"]
    assert kinds == ["run_started", "output_written", "run_finished"]
    mask = store.read_diff(0, 12)[0]
    assert mask.any()
    source, master = master_frames(clip), master_frames(result["master"])
    assert np.array_equal(master[~mask], source[~mask])
    assert not (out / "reel.zarr" / "run.lock").exists()
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="reel-reel")))}
    sha = store.info.sha256[:12]
    assert {f"reel-reel-{sha}-progress", f"reel-reel-{sha}-flagged", f"reel-reel-{sha}-summary"} <= keys


def test_artifact_keys_of_two_reels_of_one_name_differ(tmp_path):
    from flows.config import reel_artifact_key

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    a = write_clip(tmp_path / "a" / "Reel 1.mkv", random_frames(2, 16, 16, 1, np.uint8, seed=1), "gray", audio=False)
    b = write_clip(tmp_path / "b" / "Reel 1.mkv", random_frames(2, 16, 16, 1, np.uint8, seed=2), "gray", audio=False)
    ka, kb = reel_artifact_key(probe(a)), reel_artifact_key(probe(b), "reprocessed")
    assert ka == f"reel-reel-1-{probe(a).sha256[:12]}" and kb == f"reel-reel-1-{probe(b).sha256[:12]}-reprocessed"


def test_interrupted_run_resumes_and_says_so(harness, restored, clip, tmp_path):
    """A run that died after its first chunk (simulated: a run_started with no run_finished) resumes."""
    from flows.restore_reel import restore_reel
    from restoration.core.restore import RestoreConfig
    from restoration.pipeline.chunks import open_or_create_store, restore_range

    config = RestoreConfig(chunk_frames=4, **CLASSICAL)
    store, _ = open_or_create_store(probe(clip), tmp_path, config)
    store.log_event("run_started", run_id="dead-run", config={})
    restore_range(store, 0, 4, config)
    restore_range(store, 4, 6, config)  # a chunk cut short: frames 6, 7 still pending
    result = restore_reel(str(clip), str(tmp_path), settings=SETTINGS)
    events = store.events()
    resumed = [e for e in events if e["kind"] == "run_resumed"]
    assert len(resumed) == 1
    assert resumed[0]["interrupted_run"] == "dead-run" and resumed[0]["chunks_done"] == [[0, 4]]
    assert resumed[0]["chunks_pending"] == [[4, 8], [8, 12]]
    assert store.run_records()["chunk-00000004-00000008"]["frames_restored"] == 2
    reference = restored[1]["master"]
    assert np.array_equal(master_frames(result["master"]), master_frames(reference))


def test_the_library_and_the_flow_log_the_same_run_events(harness, clip, tmp_path):
    """Both restore paths log a run's life through ``restoration.store.runs``: the same kinds, the same fields."""
    from flows.restore_reel import restore_reel
    from restoration.pipeline import chunks
    from restoration.pipeline.chunks import open_or_create_store

    config = restore_config(SETTINGS)

    def run_events(out: Path, restore) -> list[tuple[str, list[str]]]:
        store, _ = open_or_create_store(probe(clip), out, config)
        store.log_event("run_started", run_id="dead-run", config={})  # a run that died: this one resumes it
        restore()
        return [(e["kind"], sorted(e)) for e in store.events()[1:] if e["kind"].startswith("run_")]

    library = run_events(tmp_path / "library", lambda: chunks.restore_reel(probe(clip), tmp_path / "library", config))
    flow = run_events(tmp_path / "flow", lambda: restore_reel(str(clip), str(tmp_path / "flow"), settings=SETTINGS))
    assert flow == library
    assert flow == [
        ("run_started", ["chunks_pending", "config", "kind", "methods", "orchestrator", "run_id", "time", "user"]),
        ("run_resumed", ["chunks_done", "chunks_pending", "interrupted_run", "interrupted_started", "kind", "run_id", "time", "user"]),
        ("run_finished", ["chunks", "kind", "master", "run_id", "seconds", "summary", "time", "user"]),
    ]


def test_run_settings_map_onto_the_restore_config():
    from restoration.core.restore import RestoreConfig

    base = RestoreConfig(seed=5, device="cpu", chunk_frames=8)
    config = restore_config(RunSettings(seed=7, access_copy=False, overrides={"palette": {"steps": 3}, "device": "auto"}), base)
    encode, palette = replace(base.encode, access_copy=False), replace(base.palette, steps=3)
    assert config == replace(base, seed=7, device="auto", encode=encode, palette=palette)
    assert restore_config(RunSettings()) == RestoreConfig()
    with pytest.raises(ValueError, match="palette.steps: expected int"):
        restore_config(RunSettings(overrides={"palette": {"steps": "x"}}))


def test_a_running_restore_refuses_a_second_and_a_stale_lock_is_recovered(harness, clip, tmp_path):
    from flows.restore_reel import restore_reel
    from restoration.core.restore import RestoreConfig
    from restoration.pipeline.chunks import open_or_create_store

    store, _ = open_or_create_store(probe(clip), tmp_path, RestoreConfig(**CLASSICAL))
    with RunLock(store.path, "restore"):  # this (live) process holds it
        with pytest.raises(ReelLockedError, match="already being processed"):
            restore_reel(str(clip), str(tmp_path), settings=SETTINGS)
    lock_file = store.path / "run.lock"
    import socket
    import time

    dead = {"token": "x", "host": socket.gethostname(), "pid": 2**22 + 7, "heartbeat": time.time(), "purpose": "restore"}
    lock_file.write_text(json.dumps(dead))
    restore_reel(str(clip), str(tmp_path), settings=SETTINGS)
    recovered = [e for e in store.events() if e["kind"] == "lock_recovered"]
    assert len(recovered) == 1 and "is gone" in recovered[0]["stale_lock"]["stale_reason"]
    assert not lock_file.exists()


# --------------------------------------------------------------------------- the lock alone


def test_lock_states(tmp_path):
    first = RunLock(tmp_path, "restore")
    assert first.acquire() is None
    with pytest.raises(ReelLockedError, match=f"process {os.getpid()}"):
        RunLock(tmp_path, "restore").acquire()
    first.refresh()
    first.release()
    assert not (tmp_path / "run.lock").exists()
    # Too old a heartbeat (a run on another host that died): taken over.
    (tmp_path / "run.lock").write_text(json.dumps({"token": "t", "host": "elsewhere", "pid": 1, "heartbeat": 0}))
    lock = RunLock(tmp_path, "restore", max_age_s=60)
    assert "no heartbeat" in lock.acquire()["stale_reason"]
    lock.release()
    # A live run on another host within its heartbeat: refused.
    import time

    (tmp_path / "run.lock").write_text(json.dumps({"token": "t", "host": "elsewhere", "pid": 1, "heartbeat": time.time()}))
    with pytest.raises(ReelLockedError, match="elsewhere"):
        RunLock(tmp_path).acquire()


# --------------------------------------------------------------------------- reprocess


def test_reprocess_flagged_rewrites_frames_and_replaces_master(harness, restored, clip, tmp_path):
    from flows.reprocess_flagged import reprocess_flagged

    out = tmp_path / "out"
    shutil.copytree(restored[0], out)
    store = ProvenanceStore(out / "reel.zarr")
    store.set_status([2, 3, 9], "reprocess")
    before = (out / "reel.master.mkv").stat().st_ino
    result = reprocess_flagged(str(store.path), user="ada")
    assert result["frames"] == [2, 3, 9] and result["seed"] == 1
    assert (out / "reel.master.mkv").stat().st_ino != before  # replaced, not rewritten in place
    assert set(store.status()[[2, 3, 9]]) <= {STATUS["done"], STATUS["flagged"]}
    events = [e for e in store.events() if e["kind"] in ("frame_reprocessed", "reprocessed", "reencoded")]
    assert [e["kind"] for e in events] == ["frame_reprocessed"] * 3 + ["reprocessed", "reencoded"]
    by_frame = {e["frame"]: e for e in events if e["kind"] == "frame_reprocessed"}
    assert by_frame[2]["user"] == "ada" and by_frame[2]["previous"] == "reprocess"
    mask, original, values = store.read_diff(0, 12)
    source, master = master_frames(clip), master_frames(out / "reel.master.mkv")
    assert np.array_equal(master, np.where(mask[..., None], values, source))
    assert np.array_equal(original[mask], source[mask])
    assert not list(out.glob(".*"))  # no temporary left behind
    # The reel's ends were examined like the rest: nothing left flagged, nothing to do.
    assert set(store.status()[[0, 11]]) == {STATUS["done"]}
    assert reprocess_flagged(str(store.path))["frames"] == []


# --------------------------------------------------------------------------- inbox


def test_inbox_restores_each_new_reel_once_and_records_failures(harness, clip, tmp_path):
    from flows.inbox import LEDGER, restore_inbox

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(clip, inbox / "a.mkv")
    shutil.copy(clip, inbox / "a-copy.mkv")  # same SHA-256: restored once
    write_clip(inbox / "b.mkv", damaged_frames(6, seed=5), "gray")
    (inbox / "broken.mkv").write_text("not a video")
    (inbox / "notes.txt").write_text("ignored")
    params = dict(max_concurrent=2, settings=SETTINGS)
    first = restore_inbox(str(inbox), str(out), **params)["reels"]
    ledger = json.loads((out / LEDGER).read_text())["reels"]
    assert sorted(e["status"] for e in ledger.values()) == ["done", "done", "failed"]
    failed = next(e for e in ledger.values() if e["status"] == "failed")
    assert Path(failed["reel"]).name == "broken.mkv" and "not a video file" in failed["reason"]
    assert len(first) == 3
    masters = sorted(p.name for p in out.glob("*/*.master.mkv"))
    assert len(masters) == 2
    # Three reels, two at once: each restore took its share of the cores (parallel_chunks 0).
    cores = usable_cores()
    for path in out.glob("*/*.zarr"):
        store = ProvenanceStore(path)
        parallel = max(1, min(cores // 2, -(-store.frame_count // 4)))
        started = next(e for e in store.events() if e["kind"] == "run_started")
        assert started["orchestrator"]["parallel_chunks"] == parallel
        assert started["orchestrator"]["threads"] == max(1, cores // (2 * parallel))
    assert restore_inbox(str(inbox), str(out), **params)["reels"] == {}  # nothing new the second time


# --------------------------------------------------------------------------- finetune


def test_finetune_registers_weights_with_their_digest(harness, clip, tmp_path, monkeypatch):
    from restoration.io.reel import sha256_file
    from restoration.models.registry import register_weights, registered

    fake = tmp_path / "w.safetensors"
    fake.write_bytes(b"weights")
    entry = register_weights(tmp_path / "models", "demo", "inpainter", fake, data=[str(clip)])
    assert entry["sha256"] == sha256_file(fake) and Path(entry["path"]).read_bytes() == b"weights"
    assert registered(tmp_path / "models") == [entry]

    # The flow's wiring with the trainers replaced by stand-ins (real training is too slow for CI);
    # the stand-ins check the settings the flow builds from its parameters.
    import restoration.train.detector as train_detector
    import restoration.train.inpainter as train_inpainter
    from flows.finetune import finetune

    seen = {}

    def fake_train(kind):
        def train(config, log=None):
            seen[kind] = config
            out = Path(config.out_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{kind}.safetensors").write_bytes(f"{kind} after {config.steps} steps".encode())
            return out / f"{kind}.safetensors"

        return train

    monkeypatch.setattr(train_inpainter, "train", fake_train("inpainter"))
    monkeypatch.setattr(train_detector, "train", fake_train("detector"))
    from dataclasses import asdict

    from restoration.models.detector import DetectorModelConfig
    from restoration.models.inpainter import build_inpainter, tiny_inpainter_config
    from restoration.models.weights import load_unet, save_unet, shipped

    base = tmp_path / "base.safetensors"
    save_unet(build_inpainter(tiny_inpainter_config()), base, {"train_config": {"model": asdict(tiny_inpainter_config())}})
    entries = finetune(
        [str(clip)],
        str(tmp_path / "models"),
        name="tiny",
        steps=3,
        inpainter_init=str(base),
        settings={"inpainter": {"batch": 4}},
    )
    assert [e["kind"] for e in entries] == ["inpainter", "detector"]
    assert seen["inpainter"].init == str(base) and seen["inpainter"].batch == 4 and seen["inpainter"].steps == 3
    assert seen["inpainter"].data == (str(clip),)
    # A fine-tune's model shape is its base weights' (as on the trainers' command lines).
    assert seen["inpainter"].model == tiny_inpainter_config()
    shipped_shape = load_unet(shipped("detector"))[1]["train_config"]["model"]
    # Weights saved before a shape setting existed were built with its default (attention_middle).
    expected = {**asdict(DetectorModelConfig()), **shipped_shape, "block_out_channels": tuple(shipped_shape["block_out_channels"])}
    assert asdict(seen["detector"].model) == expected
    assert entries[0]["base"]["sha256"] == sha256_file(base)
    for e in entries:
        assert e["sha256"] == sha256_file(e["path"]) and e["data"] == [str(clip)]
    assert [e["name"] for e in registered(tmp_path / "models")] == ["demo", "tiny", "tiny"]


# --------------------------------------------------------------------------- deployments


def test_every_deployment_entrypoint_imports_as_a_flow():
    from prefect import Flow
    from prefect.flows import load_flow_from_entrypoint

    spec = yaml.safe_load((ROOT / "deploy" / "prefect.yaml").read_text())
    names = set()
    for deployment in spec["deployments"]:
        path, _ = deployment["entrypoint"].split(":")
        assert (ROOT / path).is_file(), deployment["entrypoint"]
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        assert isinstance(flow, Flow)
        names.add(deployment["name"])
    assert {"restore-inbox", "restore-reel", "reprocess-flagged", "finetune"} <= names
    inbox = next(d for d in spec["deployments"] if d["name"] == "restore-inbox")
    assert inbox["schedules"][0]["cron"] and inbox["schedules"][0]["active"] is False  # shipped paused
    assert spec["pull"] == [{"flows.steps.enter_app_dir": {}}]
    for other in ("docker-compose.yml", "kubernetes/base-job-template.yaml"):
        yaml.safe_load((ROOT / "deploy" / other).read_text())


def test_pull_step_finds_the_app_dir_or_says_what_to_set(tmp_path, monkeypatch):
    from flows.steps import enter_app_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESTORATION_APP_DIR", raising=False)
    assert enter_app_dir() == {"directory": str(ROOT)} and Path.cwd() == ROOT  # the installed package's folder
    monkeypatch.setenv("RESTORATION_APP_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="holds no flows/restore_reel.py: set RESTORATION_APP_DIR on the worker"):
        enter_app_dir()


def test_a_chunk_task_pickles_for_a_dask_worker_while_the_cli_holds_progress_callbacks():
    import threading

    import cloudpickle

    from flows.restore_reel import HOOKS, Hooks, restore_chunk

    lock = threading.RLock()  # what the CLI's progress bar holds: it cannot be pickled
    saved = dict(vars(HOOKS))
    HOOKS.on_restored = lambda: lock.acquire(False)
    try:
        # distributed pickles the task's function by value (the module attribute is the Task), with
        # the globals it reads: HOOKS among them.
        fn = cloudpickle.loads(cloudpickle.dumps(restore_chunk.fn))
        assert fn.__globals__["HOOKS"] == Hooks()  # the copy carries no callbacks
        assert cloudpickle.loads(cloudpickle.dumps(restore_chunk)).name == "restore-chunk"
    finally:
        for name, value in saved.items():
            setattr(HOOKS, name, value)
