"""Provenance store: layout, idempotent writes, bit-exact apply/revert, append-only events."""

import numpy as np
import pytest
from clips import random_frames, write_clip

from restoration.errors import StoreError
from restoration.reel import probe
from restoration.store import STATUS, FrameResults, ProvenanceStore


@pytest.fixture
def reel(tmp_path):
    return probe(write_clip(tmp_path / "clip.mkv", random_frames(6, 12, 16, 3, np.uint16), "rgb48le"))


def results_for(frames, start, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random(frames.shape[:3]) < 0.1
    restored = np.where(mask[..., None], rng.integers(0, 65535, frames.shape, dtype=np.uint16), frames)
    return FrameResults(
        start=start, mask=mask, original=frames, restored=restored,
        scores=np.full((len(frames), 3), 0.5, np.float32),
        status=np.full(len(frames), STATUS["done"], np.uint8),
    )


def test_create_records_source_and_starts_pending(tmp_path, reel):
    store = ProvenanceStore.create(tmp_path / "r.zarr", reel, {"methods": {"detector": "x"}})
    reopened = ProvenanceStore(tmp_path / "r.zarr")
    assert reopened.info == reel
    assert reopened.group.attrs["methods"] == {"detector": "x"}
    assert reopened.group["restored"].chunks == (1, 12, 16, 3)
    assert reopened.status().tolist() == [STATUS["pending"]] * 6
    with pytest.raises(StoreError, match="already exists"):
        ProvenanceStore.create(tmp_path / "r.zarr", reel)
    assert store.summary()["status"]["pending"] == 6


def test_apply_then_revert_is_bit_exact(tmp_path, reel):
    from restoration.reel import read_frames

    source = read_frames(reel)
    store = ProvenanceStore.create(tmp_path / "r.zarr", reel)
    res = results_for(source[2:5], 2)
    store.write(res)
    store.write(res)  # idempotent
    out = store.apply(source[2:5], 2)
    assert np.array_equal(out[res.mask], res.restored[res.mask])
    assert np.array_equal(out[~res.mask], source[2:5][~res.mask])
    assert np.array_equal(store.revert(out, 2), source[2:5])
    assert store.status().tolist() == [0, 0, 1, 1, 1, 0]
    # Frames never written read back as "no change".
    assert np.array_equal(store.apply(source[:2], 0), source[:2])


def test_events_are_append_only_and_ordered(tmp_path, reel):
    store = ProvenanceStore.create(tmp_path / "r.zarr", reel)
    store.log_event("run_started", config={"seed": 1})
    store.log_event("frame_approved", frame=3, user="ada")
    kinds = [(e["kind"], e["user"]) for e in store.events()]
    assert kinds[0][0] == "run_started" and kinds[1] == ("frame_approved", "ada")
    assert all("time" in e for e in store.events())


def test_not_a_store_is_refused(tmp_path):
    with pytest.raises(StoreError, match="not a provenance store"):
        ProvenanceStore(tmp_path)
