"""A run lock per reel: one restoration (or reprocessing) of a store at a time.

The lock is a small JSON file ``<store>/run.lock`` naming the host, process id, process start time
and the time of the holder's last heartbeat. It is created atomically (written under a temporary
name, then hard-linked onto ``run.lock``, which fails if a lock exists), so two runs starting at the
same moment cannot both win. A lock left behind by a run that died (kill -9, reboot) is *stale* and is
taken over: its process is gone from this host, or its heartbeat is older than ``max_age_s`` (a run on
another host cannot be checked otherwise; the holder refreshes its heartbeat after each chunk).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from restoration.errors import RestorationError

LOCK_NAME = "run.lock"
DEFAULT_MAX_AGE_S = 6 * 3600.0


class ReelLockedError(RestorationError):
    """Another run holds the reel's lock."""


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused PID apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so count from its closing bracket.
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Hold ``<store>/run.lock`` for the duration of a run: ``with RunLock(store_path, "restore"):``.

    ``purpose`` and ``details`` (JSON-able) are written into the lock for the message a refused run
    prints. ``acquire`` raises :class:`ReelLockedError` when a live run holds the lock and returns
    the stale lock it recovered (or None).
    """

    def __init__(self, store_path: str | Path, purpose: str = "restore", max_age_s: float = DEFAULT_MAX_AGE_S, **details):
        self.path = Path(store_path) / LOCK_NAME
        self.purpose = purpose
        self.max_age_s = max_age_s
        self.details = details
        self.token = uuid.uuid4().hex
        self.held = False
        self.recovered: dict | None = None

    def _record(self) -> dict:
        pid = os.getpid()
        return {
            "token": self.token,
            "purpose": self.purpose,
            "host": socket.gethostname(),
            "pid": pid,
            "process_start": _process_start(pid),
            "started": getattr(self, "_started", None) or datetime.now(UTC).isoformat(timespec="seconds"),
            "heartbeat": time.time(),
            **self.details,
        }

    def _write_tmp(self) -> Path:
        record = self._record()
        self._started = record["started"]
        tmp = self.path.with_name(f".{LOCK_NAME}.{self.token}.{uuid.uuid4().hex[:6]}")
        tmp.write_text(json.dumps(record, indent=1))
        return tmp

    def read(self) -> dict | None:
        """The current lock's record, None when there is no lock; ``{}`` when it cannot be parsed."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def stale_reason(self, record: dict) -> str | None:
        """Why ``record`` belongs to a dead run, or None when its holder may still be running."""
        if not record:
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return "lock vanished"
            # A lock is written complete before it appears; an unreadable one is damaged.
            return "unreadable lock" if age > 60 else None
        age = time.time() - float(record.get("heartbeat", 0))
        if age > self.max_age_s:
            return f"no heartbeat for {age:.0f} s (limit {self.max_age_s:.0f} s)"
        if record.get("host") == socket.gethostname():
            pid = int(record.get("pid", -1))
            if pid <= 0 or not _pid_alive(pid):
                return f"process {pid} on {record.get('host')} is gone"
            start = record.get("process_start")
            if start is not None and _process_start(pid) not in (None, start):
                return f"process {pid} on {record.get('host')} is gone (its PID was reused)"
        return None

    def check(self) -> None:
        """Raise :class:`ReelLockedError` if a live run holds the lock (without taking it)."""
        record = self.read()
        if record is not None and self.stale_reason(record) is None:
            raise ReelLockedError(self.refusal(record))

    def acquire(self) -> dict | None:
        if self.held:
            raise ValueError("lock already held by this RunLock")
        if not self.path.parent.is_dir():
            raise RestorationError(f"{self.path.parent}: no such store folder to lock")
        for _ in range(5):
            tmp = self._write_tmp()
            try:
                os.link(tmp, self.path)
                self.held = True
                return self.recovered
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            record = self.read()
            if record is None:
                continue  # released meanwhile: try again
            reason = self.stale_reason(record)
            if reason is None:
                raise ReelLockedError(self.refusal(record))
            self._break(record, reason)
        raise ReelLockedError(f"{self.path}: could not take the lock (other runs keep taking it)")

    def refusal(self, record: dict) -> str:
        who = f"process {record.get('pid', '?')} on {record.get('host', '?')}" if record else "an unknown run"
        return (
            f"{self.path.parent}: already being processed ({record.get('purpose', 'run')} by {who}, "
            f"since {record.get('started', '?')}); wait for it to finish, or remove {self.path} if that run is dead"
        )

    def _break(self, record: dict, reason: str) -> None:
        """Take a stale lock away, checking it is still the one judged stale (another run may have won)."""
        aside = self.path.with_name(f".{LOCK_NAME}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = {}
        if moved.get("token") != record.get("token"):
            # A fresh lock slipped in between reading and renaming: put it back.
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        else:
            self.recovered = {**record, "stale_reason": reason}
        aside.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Renew the heartbeat (call after each unit of work on long runs)."""
        if not self.held:
            return
        if (self.read() or {}).get("token") != self.token:
            raise ReelLockedError(f"{self.path}: this run's lock was taken over by another run")
        tmp = self._write_tmp()
        os.replace(tmp, self.path)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if (self.read() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
