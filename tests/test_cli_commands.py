"""The `restoration` command as scripts and operators use it: version, help, accounts, JSON output,
--overwrite, AAC in the access copy, and a clean stop on Ctrl-C / SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from clips import random_frames, write_clip

import restoration

CLI = [str(Path(sys.executable).with_name("restoration"))]
CLASSICAL = ["--detector", "temporal", "--inpainter", "temporal_median"]


def run(*args, stdin: str = "", timeout: float = 600):
    env = {**os.environ, "COLUMNS": "200"}
    # A new session has no controlling terminal, so a hidden prompt reads the password from stdin.
    return subprocess.run(
        CLI + [str(a) for a in args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        start_new_session=True,
        timeout=timeout,
    )


def one_line_error(result) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_version():
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"restoration {restoration.__version__}\n")


@pytest.mark.parametrize(
    "command, usage",
    [
        ((), "Usage: restoration [OPTIONS] COMMAND [ARGS]..."),
        (("restore",), "Usage: restoration restore [OPTIONS] REEL"),
        (("revert",), "Usage: restoration revert [OPTIONS] MASTER"),
        (("status",), "Usage: restoration status [OPTIONS] STORE"),
        (("reprocess",), "Usage: restoration reprocess [OPTIONS] STORE"),
        (("dashboard-user", "add"), "Usage: restoration dashboard-user add [OPTIONS] NAME"),
    ],
)
def test_help_names_arguments_plainly_and_shows_no_type_beside_flags(command, usage):
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert usage in result.stdout
    assert "<bool>" not in result.stdout and "{" not in result.stdout.split("Usage:")[1].splitlines()[0]


def test_dashboard_user_add_refuses_an_unknown_role_before_asking_for_a_password(tmp_path):
    users = tmp_path / "users.json"
    result = run("dashboard-user", "add", "x", "--role", "admin", "--users", users)
    assert one_line_error(result) == "error: unknown role 'admin': choose from operator, viewer"
    assert "Password" not in result.stdout + result.stderr
    assert not users.exists()


def test_dashboard_user_add_refuses_a_short_password(tmp_path):
    users = tmp_path / "users.json"
    for how, stdin in (("--password-stdin", "short\n"), ("--role=operator", "short\nshort\n")):  # piped, asked
        result = run("dashboard-user", "add", "ada", "--users", users, how, stdin=stdin)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == "error: password too short: at least 8 characters; nothing saved"
        assert not users.exists()


def test_dashboard_user_add_list_remove(tmp_path):
    users = tmp_path / "users.json"
    for name, role in (("ada", "operator"), ("vic", "viewer")):
        added = run("dashboard-user", "add", name, "--role", role, "--users", users, "--password-stdin", stdin="long enough\n")
        assert added.returncode == 0, added.stderr
    listed = run("dashboard-user", "list", "--users", users, "--json")
    assert json.loads(listed.stdout) == {"ada": "operator", "vic": "viewer"}
    assert "scrypt" not in run("dashboard-user", "list", "--users", users).stdout
    assert run("dashboard-user", "remove", "vic", "--users", users).returncode == 0
    assert json.loads(run("dashboard-user", "list", "--users", users, "--json").stdout) == {"ada": "operator"}
    assert one_line_error(run("dashboard-user", "remove", "vic", "--users", users)) == f"error: {users}: no user 'vic'"


def test_status_json(tmp_path):
    from restoration.io.reel import probe
    from restoration.store.provenance import ProvenanceStore

    reel = write_clip(tmp_path / "reel.mkv", random_frames(5, 16, 16, 1, np.uint8), "gray", audio=False)
    ProvenanceStore.create(tmp_path / "reel.zarr", probe(reel))
    result = run("status", tmp_path / "reel.zarr", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["frames"], data["status"]["pending"], data["last_events"]) == (5, 5, [])


def test_existing_output_is_refused_before_models_or_prefect_load(tmp_path):
    """Refusing takes no model and no Prefect import (25 s before): the modules are never loaded."""
    reel = write_clip(tmp_path / "reel.mkv", random_frames(3, 16, 16, 1, np.uint8), "gray")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "reel.master.mkv").write_bytes(b"earlier")
    code = (
        "import sys; from typer.testing import CliRunner; from flows.cli import app; "
        f"r = CliRunner().invoke(app, ['restore', {str(reel)!r}, '--out', {str(tmp_path / 'out')!r}]); "
        "print(r.exit_code, 'torch' in sys.modules, 'prefect.flows' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["1", "False", "False"], result.stderr
    assert (tmp_path / "out" / "reel.master.mkv").read_bytes() == b"earlier"


@pytest.mark.slow
def test_restore_and_reprocess_json_overwrite_and_aac_access_copy(tmp_path):
    reel = write_clip(tmp_path / "reel.mkv", random_frames(12, 32, 48, 3, np.uint8), "rgb24")
    out = tmp_path / "out"
    result = run("restore", reel, "--out", out, *CLASSICAL, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["master"] == str(out / "reel.master.mkv") and data["summary"]["frames"] == 12
    assert data["summary"]["status"]["done"] + data["summary"]["status"]["flagged"] == 12
    with av.open(data["access"]) as access:
        assert [s.codec_context.name for s in access.streams.audio] == ["aac"]

    again = run("restore", reel, "--out", out, *CLASSICAL)
    assert "--overwrite replaces it" in one_line_error(again)

    result = run("reprocess", out / "reel.zarr", "--frames", "2,5", "--seed", "7", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["frames"], data["seed"], data["master"]) == ([2, 5], 7, str(out / "reel.master.mkv"))

    result = run("restore", reel, "--out", out, *CLASSICAL, "--overwrite", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(p.read_text()) for p in sorted((out / "reel.zarr" / "events").glob("*.json"))]
    # A new store: the reprocess events went with the old one. Nothing is flagged: the end frames
    # are examined too, with their second neighbour from the other side.
    assert [e["kind"] for e in events if e["kind"] != "frame_flagged"] == [
        "run_started",
        "output_written",
        "output_written",
        "run_finished",
    ]
    assert sorted(e["frame"] for e in events if e["kind"] == "frame_flagged") == []


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _interrupt(reel: Path, out: Path, sig: int) -> subprocess.CompletedProcess:
    """Start a restore, send ``sig`` once a chunk is in the store, return the finished process."""
    runs = out / "reel.zarr" / "runs"
    before = len(list(runs.glob("chunk-*"))) if runs.exists() else 0
    proc = subprocess.Popen(
        CLI + ["restore", str(reel), "--out", str(out), *CLASSICAL, "--chunk-frames", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (runs.exists() and len(list(runs.glob("chunk-*"))) > before):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    children = _children(proc.pid)  # the temporary Prefect server
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)  # SIGTERM went unanswered before
    for child in children:
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_interrupt_stops_at_once_and_the_next_run_resumes(tmp_path):
    reel = write_clip(tmp_path / "reel.mkv", random_frames(160, 48, 64, 1, np.uint8), "gray")
    out = tmp_path / "out"
    for sig in (signal.SIGTERM, signal.SIGINT):
        stopped = _interrupt(reel, out, sig)
        assert stopped.returncode == 128 + sig
        assert stopped.stderr.strip().splitlines()[-1] == f"interrupted ({sig.name}), run again to resume"
        assert sorted(p.name for p in out.iterdir()) == ["reel.zarr"]  # no encode started
        assert not (out / "reel.zarr" / "run.lock").exists()
    resumed = run("restore", reel, "--out", out, *CLASSICAL, "--chunk-frames", "4", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["summary"]["status"]["pending"] == 0
    kinds = [json.loads(p.read_text())["kind"] for p in sorted((out / "reel.zarr" / "events").glob("*.json"))]
    assert kinds.count("run_interrupted") == 2 and kinds.count("run_resumed") == 2 and kinds[-1] == "run_finished"
