"""Starting the reprocessing of frames an operator sent back: the ``reprocess-flagged`` flow.

The frames' status is already ``reprocess`` when :meth:`ReprocessService.start` is called; it starts
``flows.reprocess_flagged.reprocess_flagged`` on them, as a Prefect deployment run or in a
background thread, or only leaves them marked for another process to pick up.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from restoration.store.provenance import ProvenanceStore

log = logging.getLogger(__name__)

DEFAULT_DEPLOYMENT = "reprocess-flagged/reprocess-flagged"
REPROCESS_MODES = ("auto", "deployment", "local", "mark")


def flow_parameters(store_path: Path, frames: list[int], user: str) -> dict:
    """The ``reprocess_flagged`` flow's parameters (JSON, as a deployment run takes them) for
    reprocessing ``frames`` of the store at ``store_path`` on behalf of ``user``."""
    return {"store": str(store_path), "frames": list(frames), "user": user}


def prefect_api_configured() -> bool:
    if os.environ.get("PREFECT_API_URL"):
        return True
    try:
        from prefect.settings import get_current_settings

        return bool(get_current_settings().api.url)
    except Exception:  # noqa: BLE001 - no Prefect or a broken profile: run locally
        return False


class ReprocessService:
    """Starts the ``reprocess_flagged`` flow on frames of a reel.

    mode: ``deployment`` (a run of the Prefect deployment named ``deployment``, ``flow/deployment``),
        ``local`` (the flow in a background thread of this process), ``mark`` (nothing started:
        another process picks the frames up) or ``auto`` (``deployment`` when a Prefect API is
        configured, else ``local``).
    """

    def __init__(self, mode: str = "auto", deployment: str = DEFAULT_DEPLOYMENT):
        if mode not in REPROCESS_MODES:
            raise ValueError(f"unknown reprocess mode {mode!r}; choose from {REPROCESS_MODES}")
        self.mode = mode
        self.deployment = deployment
        self.threads: list[threading.Thread] = []

    def backend(self) -> str:
        if self.mode != "auto":
            return self.mode
        return "deployment" if prefect_api_configured() else "local"

    def start(self, store_path: Path, frames: list[int], user: str) -> dict:
        """Start reprocessing ``frames`` of the store at ``store_path`` for ``user``; returns what was
        started (the backend, and the deployment and flow run id, or the function), which the
        caller logs as a ``reprocess_started`` event."""
        backend = self.backend()
        parameters = flow_parameters(store_path, frames, user)
        if backend == "deployment":
            from prefect.deployments import run_deployment

            run = run_deployment(name=self.deployment, parameters=parameters, timeout=0)
            return {"backend": "deployment", "deployment": self.deployment, "flow_run_id": str(run.id)}
        if backend == "local":
            thread = threading.Thread(target=self._run_flow, args=(parameters,), name="reprocess", daemon=True)
            self.threads.append(thread)
            thread.start()
            return {"backend": "local", "function": "flows.reprocess_flagged.reprocess_flagged"}
        return {"backend": "mark"}

    @staticmethod
    def _run_flow(parameters: dict) -> None:
        try:
            # Imported here, not at the top: the flow brings Prefect and torch, seconds to import,
            # which a dashboard that only marks frames or starts deployments never needs.
            from flows.reprocess_flagged import reprocess_flagged

            reprocess_flagged(**parameters)
        except Exception as exc:  # noqa: BLE001 - recorded in the store for the operators to see
            log.exception("local reprocess failed")
            ProvenanceStore(parameters["store"]).log_event(
                "reprocess_failed", user=parameters["user"], frames=parameters["frames"], error=f"{type(exc).__name__}: {exc}"
            )
