"""A reel's audit trail for export: every event of its store as CSV, or as PREMIS-style JSON events.

PREMIS (the Library of Congress preservation metadata dictionary) names an event by identifier,
type, date-time, detail and outcome, with the agent who did it and the object it concerned; the
JSON here uses those semantic units' names (``eventIdentifier``, ``eventType``, ``eventDateTime``,
``eventDetailInformation``, ``eventOutcomeInformation``, ``linkingAgentIdentifier``,
``linkingObjectIdentifier``) and keeps the store's own event under ``extension``.
"""

from __future__ import annotations

import csv
import io
import json

from restoration.io.reel import ReelInfo

CSV_COLUMNS = ("time", "kind", "user", "by", "frames", "reason", "note", "details")
_SHOWN = {"time", "kind", "user", "by", "frame", "frames", "reason", "note"}


def _frames(event: dict) -> list[int]:
    if isinstance(event.get("frames"), list):
        return [int(f) for f in event["frames"]]
    return [int(event["frame"])] if isinstance(event.get("frame"), int) else []


def audit_csv(events: list[dict]) -> str:
    """One row per event: time, kind, user, the automatic check (``by``), frames, reason, note, and
    every other field as JSON in ``details``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        details = {k: v for k, v in e.items() if k not in _SHOWN}
        writer.writerow(
            [
                e.get("time", ""),
                e.get("kind", ""),
                e.get("user", ""),
                e.get("by", ""),
                " ".join(str(f) for f in _frames(e)),
                e.get("reason", ""),
                e.get("note", ""),
                json.dumps(details, sort_keys=True, default=str) if details else "",
            ]
        )
    return out.getvalue()


def audit_premis(info: ReelInfo, events: list[dict]) -> dict:
    """``{"object": ..., "events": [...]}``: the reel (by SHA-256) and each event PREMIS-style."""
    reel = {"objectIdentifierType": "SHA-256", "objectIdentifierValue": info.sha256}
    out = []
    for i, e in enumerate(events):
        agents = []
        if e.get("user"):
            agents.append(
                {
                    "linkingAgentIdentifierType": "user",
                    "linkingAgentIdentifierValue": e["user"],
                    "linkingAgentRole": "executing program's user" if e.get("by") else "operator",
                }
            )
        if e.get("by"):
            agents.append(
                {"linkingAgentIdentifierType": "software", "linkingAgentIdentifierValue": e["by"], "linkingAgentRole": "automatic check"}
            )
        detail = "; ".join(f"{k}: {e[k]}" for k in ("reason", "note") if e.get(k))
        out.append(
            {
                "eventIdentifier": {"eventIdentifierType": "store event", "eventIdentifierValue": f"{info.sha256[:12]}-{i}"},
                "eventType": e.get("kind", ""),
                "eventDateTime": e.get("time", ""),
                "eventDetailInformation": {"eventDetail": detail},
                "eventOutcomeInformation": {"eventOutcome": e.get("status") or ("failed" if "error" in e else "")},
                "linkingAgentIdentifier": agents,
                "linkingObjectIdentifier": [{**reel, "linkingObjectRole": "source", "frames": _frames(e)}],
                "extension": e,
            }
        )
    return {"object": {**reel, "originalName": info.path}, "events": out}
