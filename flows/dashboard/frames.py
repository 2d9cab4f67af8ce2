"""The frames API: one frame's record and images, and the operator's corrected mask::

    GET  /api/reels/{id}/frames/{n}             -> status, scores, masked pixels, events of the frame
    GET  /api/reels/{id}/frames/{n}/{kind}.png  kind: before | after | mask | overlay
    POST /api/reels/{id}/frames/{n}/mask        {png} -> the mask kept, the frame sent for reprocessing

The images are rendered from the source reel and the store's diff (``images.py``).
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from flows.dashboard.api import Acting, Reader, Reprocessing, SignedIn, readable_store
from flows.dashboard.images import KINDS
from flows.dashboard.reels import ActionBody, act, check_fixity
from restoration.errors import ReelError, RestorationError
from restoration.store.provenance import STATUS, ProvenanceStore

router = APIRouter(prefix="/api/reels")


class MaskBody(BaseModel):
    png: str = Field(max_length=64_000_000)  # a data URL or base64: the operator's mask as a PNG


def check_frame(store: ProvenanceStore, n: int) -> None:
    if not 0 <= n < store.frame_count:
        raise HTTPException(404, f"frame {n} is outside the reel (0..{store.frame_count - 1})")


@router.get("/{rid:path}/frames/{n}/{kind}.png")
def frame_image(rid: str, n: int, kind: str, reader: Reader, s: SignedIn):
    if kind not in KINDS:
        raise HTTPException(404, "no such image")
    with readable_store(rid):
        store = reader.open(rid)
        check_frame(store, n)
        try:
            png = reader.image(store, n, kind)
        except (ReelError, OSError) as exc:
            raise HTTPException(404, f"source reel unreadable: {exc}") from exc
        # The diff of a processed frame changes only by reprocessing, which logs events: the page asks
        # for after / mask with the store's event count in the URL, so a cached copy is never stale.
        if kind == "before":
            cache = "private, max-age=3600"
        elif store.status(n, n + 1)[0] != STATUS["pending"]:
            cache = "private, max-age=600"
        else:
            cache = "no-store"
        return Response(png, media_type="image/png", headers={"Cache-Control": cache})


@router.get("/{rid:path}/frames/{n}")
def frame(rid: str, n: int, reader: Reader, s: SignedIn):
    with readable_store(rid):
        store = reader.open(rid)
        check_frame(store, n)
        return {"reel": rid, **reader.frame(store, n)}


@router.post("/{rid:path}/frames/{n}/mask")
def correct_mask(rid: str, n: int, body: MaskBody, reader: Reader, reprocessing: Reprocessing, s: Acting):
    """The operator's corrected mask of frame ``n`` (PNG, alpha > 0 or non-zero = damage): kept
    beside the detected one with a ``mask_corrected`` event, then the frame is sent for
    reprocessing, which fills it from this mask."""
    # Imported here: it brings torch (seconds to import), which serving pages never needs.
    from restoration.pipeline.operator_masks import mask_from_image, save_operator_mask

    with readable_store(rid):
        store = reader.open(rid, mode="r+")
        check_fixity(store)
        check_frame(store, n)
        if store.status(n, n + 1)[0] == STATUS["pending"]:
            raise HTTPException(409, f"frame {n} is still pending (a run is processing it)")
        try:
            data = base64.b64decode(body.png.split(",", 1)[-1], validate=True)
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise ValueError("not a PNG image")
            mask = mask_from_image(image, (store.info.height, store.info.width))
        except (ValueError, RestorationError) as exc:
            raise HTTPException(422, f"mask: {exc}") from exc
        event = save_operator_mask(store, n, mask, user=s.user)
    result = act(rid, ActionBody(action="reprocess", frames=[n], note="mask corrected by the operator"), s, reader, reprocessing)
    return {"mask": event, **result}
