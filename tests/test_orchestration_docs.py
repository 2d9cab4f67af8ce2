"""docs/orchestration.md's walk from a fresh clone to a deployment run on a worker, run exactly as
written (in a `git clone` of this repository's committed HEAD, with the installed environment on PATH)."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from restoration.store.provenance import ProvenanceStore

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow

# After the documented commands: what the server holds, then the worker (the last job started) is
# sent SIGTERM and must be gone within 30 s.
CHECKS = """
curl -fs -X POST "$PREFECT_API_URL/deployments/filter" -H 'Content-Type: application/json' -d '{}' > deployments.json
curl -fs -X POST "$PREFECT_API_URL/flow_runs/filter" -H 'Content-Type: application/json' -d '{}' > flow_runs.json
worker=$!
kill -TERM "$worker"
for i in $(seq 60); do kill -0 "$worker" 2> /dev/null || break; sleep 0.5; done
if kill -0 "$worker" 2> /dev/null; then echo "the worker still runs 30 s after SIGTERM" >&2; exit 3; fi
"""


def documented_commands() -> str:
    text = (ROOT / "docs" / "orchestration.md").read_text()
    block = text.split("<!-- commands: fresh clone to deployment run -->")[1].split("<!-- end commands -->")[0]
    return block.split("```sh\n")[1].split("```")[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_documented_commands_deploy_and_run_on_a_worker_that_stops_on_sigterm(tmp_path):
    clone = tmp_path / "film-restoration"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    script = "set -euo pipefail\n" + documented_commands().replace("4200", str(free_port())) + CHECKS
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RESTORATION_"))}
    env.update(
        PATH=f"{BIN}:{env['PATH']}",  # `make venv && . .venv/bin/activate`, done once
        PYTHONPATH=str(clone),  # the clone's code, as `pip install -e .` in it would give
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        COLUMNS="200",
    )
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=clone, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = proc.communicate(timeout=900)[0]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the server, and anything left
    logs = "".join((clone / name).read_text()[-3000:] for name in ("prefect-worker.log",) if (clone / name).exists())
    assert proc.returncode == 0, f"{output[-4000:]}\n{logs}"

    store = ProvenanceStore(clone / "out" / "deployed" / "bbb_damaged.zarr")
    assert [e["kind"] for e in store.events() if e["kind"].startswith("run_")] == ["run_started", "run_finished"]
    assert (clone / "out" / "deployed" / "bbb_damaged.master.mkv").is_file()
    deployments = {d["name"]: d for d in json.loads((clone / "deployments.json").read_text())}
    assert set(deployments) == {"restore-inbox", "restore-reel", "reprocess-flagged", "finetune"}
    assert [s["active"] for s in deployments["restore-inbox"]["schedules"]] == [False]  # shipped paused
    runs = json.loads((clone / "flow_runs.json").read_text())
    assert (
        sorted(r["name"] for r in runs if r.get("deployment_id"))
        == sorted(r["name"] for r in runs if r.get("deployment_id") == deployments["restore-reel"]["id"])
        and len([r for r in runs if r.get("deployment_id")]) == 1
    )  # no inbox run was queued
