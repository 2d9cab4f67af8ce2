"""The reels API: the reels under the root, one reel's detail and audit trail, operators' actions::

    GET  /api/reels                 -> {root, reels: [summary, ...]}
    GET  /api/reels/{id}/audit.csv  every event as CSV; audit.json: PREMIS-style events
    GET  /api/reels/{id}            -> summary + scores, status per frame, flagged frames and reasons
    POST /api/reels/{id}/actions    {action: approve|flag|reprocess, frames: [...], note}

The detail route's ``{id}`` takes any path, so the routes under a reel (``audit``, and the frames
router's) are matched before it: ``create_app`` includes the frames router first.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from flows.dashboard.api import Acting, Reader, Reprocessing, SignedIn, readable_store
from flows.dashboard.audit import audit_csv, audit_premis
from flows.dashboard.auth import Session
from flows.dashboard.reader import ReelReader
from flows.dashboard.reprocessing import ReprocessService
from restoration.errors import StoreError
from restoration.store.provenance import STATUS, ProvenanceStore

log = logging.getLogger(__name__)

ACTION_STATUS = {"approve": "approved", "flag": "flagged", "reprocess": "reprocess"}
ACTION_EVENT = {"approve": "frame_approved", "flag": "frame_flagged", "reprocess": "frame_reprocess_requested"}
MAX_FRAMES_PER_ACTION = 100_000

router = APIRouter(prefix="/api/reels")


class ActionBody(BaseModel):
    action: Literal["approve", "flag", "reprocess"]
    frames: list[int] = Field(min_length=1, max_length=MAX_FRAMES_PER_ACTION)
    note: str = Field(default="", max_length=2000)


@router.get("")
def reels(reader: Reader, s: SignedIn):
    return {"root": str(reader.root), "reels": reader.reels()}


@router.get("/{rid:path}/audit.{fmt}")
def audit(rid: str, fmt: str, reader: Reader, s: SignedIn):
    if fmt not in ("csv", "json"):
        raise HTTPException(404, "audit formats: audit.csv, audit.json (PREMIS-style events)")
    with readable_store(rid):
        store = reader.open(rid)
        events = store.events()
        name = Path(store.info.path).stem
        if fmt == "csv":
            body, media = audit_csv(events), "text/csv; charset=utf-8"
        else:
            body, media = json.dumps(audit_premis(store.info, events), indent=1), "application/json"
    disposition = f'attachment; filename="{_safe_filename(name)}-audit.{fmt}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/{rid:path}")
def reel(rid: str, reader: Reader, s: SignedIn):
    with readable_store(rid):
        return reader.detail(rid)


@router.post("/{rid:path}/actions")
def action(rid: str, body: ActionBody, reader: Reader, reprocessing: Reprocessing, s: Acting):
    return act(rid, body, s, reader, reprocessing)


def act(rid: str, body: ActionBody, s: Session, reader: ReelReader, reprocessing: ReprocessService) -> dict:
    """Operator ``s``'s action on frames of reel ``rid``: their status set, an event logged, and for
    ``reprocess`` the work started (logged as ``reprocess_started``, with why when it could not be)."""
    with readable_store(rid):
        store = reader.open(rid, mode="r+")
        check_fixity(store)
        frames = sorted(set(body.frames))
        if frames[0] < 0 or frames[-1] >= store.frame_count:
            raise HTTPException(422, f"frames must lie in [0, {store.frame_count})")
        status = store.status()
        pending = [f for f in frames if status[f] == STATUS["pending"]]
        if pending:
            # A run owns pending frames: changing their status would race with its writes.
            raise HTTPException(409, f"frames {pending[:10]} are still pending (a run is processing them)")
        note = body.note.strip()
        if body.action == "flag" and not note:
            raise HTTPException(422, "flagging needs a note saying what is wrong")
        store.set_status(frames, ACTION_STATUS[body.action])
        fields: dict = {"frames": frames, "source": "operator"}
        if len(frames) == 1:
            fields["frame"] = frames[0]
        if note:
            fields["reason" if body.action == "flag" else "note"] = note
        event = store.log_event(ACTION_EVENT[body.action], user=s.user, **fields)
        result = {"action": body.action, "frames": frames, "status": ACTION_STATUS[body.action], "event": event}
        if body.action == "reprocess":
            try:
                started = reprocessing.start(store.path, frames, s.user)
            except Exception as exc:  # noqa: BLE001 - the frames stay marked; the operator sees why
                log.exception("could not start reprocessing")
                started = {"backend": "failed", "error": f"{type(exc).__name__}: {exc}"}
            store.log_event("reprocess_started", user=s.user, frames=frames, **started)
            result["reprocess"] = started
        reader.invalidate(store.path)
        return result


def check_fixity(store: ProvenanceStore) -> None:
    """An operator acts only on a store that passes its check (:meth:`ProvenanceStore.verify`;
    frames a run is still writing are allowed): 409 naming what is missing otherwise."""
    try:
        store.verify(unfinished_ok=True)
    except StoreError as exc:
        raise HTTPException(409, str(exc)) from exc


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80] or "reel"
