"""Production shape: a real ``prefect server start`` on loopback, ``prefect deploy`` of deploy/prefect.yaml,
a process worker, deployment runs (thread pool and a two-process Dask cluster, bit-identical to the
library run), and the restore command against that server killed with SIGKILL mid-reel and resumed.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from clips import write_clip
from test_flows import CLASSICAL, damaged_frames

from restoration.io.reel import probe, read_frames
from restoration.store.provenance import STATUS, ProvenanceStore

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "sample_reels" / "bbb_damaged.mkv"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM, then SIGINT (a Prefect worker needs both), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "RESTORATION_APP_DIR": str(ROOT),
        "COLUMNS": "200",
    }
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home,
    )
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            stop(proc)
            pytest.fail(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield env
    stop(proc)
    log.close()


def prefect(env, *args, timeout=300):
    result = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def same_restoration(out_a: Path, out_b: Path, stem: str) -> None:
    """Masters decode to the same pixels and the stores hold the same diff, scores and status."""
    a, b = ProvenanceStore(out_a / f"{stem}.zarr"), ProvenanceStore(out_b / f"{stem}.zarr")
    for name in ("mask", "original", "restored", "status"):
        assert np.array_equal(a.group[name][:], b.group[name][:]), name
    assert np.array_equal(a.scores(), b.scores(), equal_nan=True)
    assert np.array_equal(read_frames(probe(out_a / f"{stem}.master.mkv")), read_frames(probe(out_b / f"{stem}.master.mkv")))


def library_run(reel: Path, out: Path, chunk_frames: int) -> None:
    """The reference: the library's own sequential restore, no Prefect."""
    from restoration.core.restore import RestoreConfig
    from restoration.io.encode import EncodeConfig
    from restoration.pipeline.chunks import restore_reel

    restore_reel(probe(reel), out, RestoreConfig(chunk_frames=chunk_frames, encode=EncodeConfig(access_copy=False), **CLASSICAL))


def test_deployment_runs_on_a_worker_with_threads_and_dask(server, tmp_path):
    reel = write_clip(tmp_path / "reel.mkv", damaged_frames(12, 48, 64, seed=11), "gray")
    prefect(server, "work-pool", "create", "restoration", "--type", "process")
    deployed = prefect(server, "--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml")
    for name in ("restore-inbox", "restore-reel", "reprocess-flagged", "finetune"):
        assert name in deployed
    worker_log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "restoration", "--type", "process"],
        env=server,
        cwd=tmp_path,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        runs = {}
        for label, extra in (("threads", {"parallel_chunks": 2}), ("dask", {"dask_workers": 2})):
            settings = {"chunk_frames": 4, "access_copy": False, **CLASSICAL}
            params = {"reel": str(reel), "out_dir": str(tmp_path / label), "settings": settings, **extra}
            runs[label] = subprocess.Popen(
                [
                    str(BIN / "prefect"),
                    "deployment",
                    "run",
                    "restore-reel/restore-reel",
                    "--params",
                    json.dumps(params),
                    "--watch",
                    "--watch-timeout",
                    "400",
                ],
                env=server,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        for label, proc in runs.items():
            output = proc.communicate(timeout=450)[0]
            assert proc.returncode == 0, f"{label}:\n{output[-3000:]}\n{(tmp_path / 'worker.log').read_text()[-5000:]}"
    finally:
        stop(worker)
        worker_log.close()
    library_run(reel, tmp_path / "library", 4)
    same_restoration(tmp_path / "threads", tmp_path / "library", "reel")
    same_restoration(tmp_path / "dask", tmp_path / "library", "reel")
    # Threads: every chunk in the flow run's own process; Dask: none there, in at most its two workers.
    for label, runner in (("threads", "ThreadPoolTaskRunner"), ("dask", "DaskTaskRunner")):
        store = ProvenanceStore(tmp_path / label / "reel.zarr")
        started = next(e for e in store.events() if e["kind"] == "run_started")
        assert started["orchestrator"]["task_runner"] == runner
        records = store.run_records()
        assert sorted(records) == ["chunk-00000000-00000004", "chunk-00000004-00000008", "chunk-00000008-00000012"]
        pids = {r["pid"] for r in records.values()}
        flow_pid = started["orchestrator"]["pid"]
        if label == "threads":
            assert pids == {flow_pid}
        else:
            assert flow_pid not in pids and len(pids) <= 2


def restore_cmd(env, reel, out, chunk_frames):
    return [
        str(BIN / "restoration"),
        "restore",
        str(reel),
        "--out",
        str(out),
        "--chunk-frames",
        str(chunk_frames),
        "--detector",
        "temporal",
        "--inpainter",
        "temporal_median",
        "--no-access-copy",
    ]


@pytest.mark.skipif(not SAMPLE.is_file(), reason="sample reel absent")
def test_sigkill_mid_reel_then_resume_is_bit_identical_and_a_second_run_is_refused(server, tmp_path):
    out, chunks = tmp_path / "out", 12
    store_path = out / "bbb_damaged.zarr"
    first = subprocess.Popen(restore_cmd(server, SAMPLE, out, 4), env=server, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (store_path / "runs").is_dir() or len(list((store_path / "runs").glob("*.json"))) < 2:
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.time() < deadline, "the restore never got going"
        time.sleep(0.05)
    # Freeze it mid-reel (alive, holding the lock): a second restore of the same reel is refused.
    first.send_signal(signal.SIGSTOP)
    second = subprocess.run(restore_cmd(server, SAMPLE, out, 4), env=server, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "already being processed" in lines[0], second.stderr
    assert first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    done_at_kill = int((ProvenanceStore(store_path).status() != STATUS["pending"]).sum())
    assert 0 < done_at_kill < 48
    assert (store_path / "run.lock").exists()  # left behind by the dead run

    again = subprocess.run(restore_cmd(server, SAMPLE, out, 4), env=server, capture_output=True, text=True, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    events = ProvenanceStore(store_path).events()
    kinds = [e["kind"] for e in events if e["kind"] != "frame_flagged"]
    assert kinds == ["run_started", "lock_recovered", "run_started", "run_resumed", "output_written", "run_finished"]
    resumed = next(e for e in events if e["kind"] == "run_resumed")
    assert resumed["interrupted_run"] == events[0]["run_id"]
    assert 0 < len(resumed["chunks_done"]) < chunks
    assert len(resumed["chunks_done"]) + len(resumed["chunks_pending"]) == chunks
    assert not (store_path / "run.lock").exists()

    library_run(SAMPLE, tmp_path / "reference", 4)
    same_restoration(out, tmp_path / "reference", "bbb_damaged")
