"""Provenance store: layout, idempotent writes, bit-exact apply/revert, append-only events."""

import numpy as np
import pytest
from clips import random_frames, write_clip

from restoration.errors import StoreError
from restoration.io.reel import probe
from restoration.store.provenance import STATUS, FrameResults, ProvenanceStore


@pytest.fixture
def reel(tmp_path):
    return probe(write_clip(tmp_path / "clip.mkv", random_frames(6, 12, 16, 3, np.uint16), "rgb48le"))


def results_for(frames, start, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random(frames.shape[:3]) < 0.1
    restored = np.where(mask[..., None], rng.integers(0, 65535, frames.shape, dtype=np.uint16), frames)
    return FrameResults(
        start=start,
        mask=mask,
        original=frames,
        restored=restored,
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
    from restoration.io.reel import read_frames

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


# --------------------------------------------------------------------------- the store verifies itself


@pytest.fixture
def written(tmp_path, reel):
    """A store with frames 0..5 written (frames 1 and 4 damaged: the rest have an empty mask)."""
    from restoration.io.reel import read_frames

    source = read_frames(reel)
    store = ProvenanceStore.create(tmp_path / "r.zarr", reel)
    res = results_for(source, 0)
    res.mask[[0, 2, 3, 5]] = False
    res.scores[:, 0] = res.mask.mean(axis=(1, 2))
    store.write(res)
    return store, source


def test_a_sound_store_passes_and_records_a_crc_per_frame(written):
    import zlib

    store, _ = written
    assert store.problems(full=True) == []
    mask, original, restored = store.read_diff(0, 6)
    scores = store.scores()
    expected = []
    for m, o, r, s in zip(mask, original, restored, scores):  # the layout docs/store.md states
        crc = zlib.crc32(np.packbits(m).tobytes())
        crc = zlib.crc32(o[m].tobytes(), crc)
        crc = zlib.crc32(r[m].tobytes(), crc)
        expected.append(zlib.crc32(s.tobytes(), crc))
    assert store.group["fixity"][:].tolist() == expected


@pytest.mark.parametrize("array", ["mask", "original", "restored"])
def test_a_store_with_a_diff_chunk_missing_fails_its_check(written, array):
    store, source = written
    out = store.apply(source, 0)
    store.chunk_file(array, 4).unlink()
    with pytest.raises(StoreError, match=f"frame 4: its diff does not match the CRC.*missing: {array}/c/4/0/0"):
        store.read_checked_diff(0, 6)
    assert any(f"{array}/c/4/0/0" in line for line in store.problems(full=True))
    with pytest.raises(StoreError, match="frame 4: its diff does not match"):
        store.revert(out, 0) if array != "restored" else store.apply(source, 0)
    # What the check prevents: a revert (or, for "restored", a re-encode) that is silently wrong.
    mask, original, restored = store.read_diff(0, 6)
    if array == "restored":
        assert (np.where(mask[..., None], restored, source)[4] != out[4]).any()
    else:
        assert (np.where(mask[..., None], original, out)[4] != source[4]).any()


def test_a_lost_status_chunk_is_named_not_shown_as_pending(written):
    store, _ = written
    store.chunk_file("status", 2).unlink()
    with pytest.raises(StoreError, match=r"frame 2 was written in full but reads as pending: its status chunk is missing \(status/c/2\)"):
        store.verify()


def test_a_lost_scores_or_mask_chunk_is_named(written):
    store, _ = written
    store.chunk_file("scores", 3).unlink()
    store.chunk_file("mask", 1).unlink()
    found = store.problems()
    assert "frame 3 finished but its scores are missing (scores/c/3/0)" in found
    assert "frame 1 has damage recorded but its mask chunk is missing (mask/c/1/0/0)" in found


def test_a_truncated_chunk_is_a_store_error(written):
    store, _ = written
    chunk = store.chunk_file("original", 1)
    chunk.write_bytes(chunk.read_bytes()[:10])
    with pytest.raises(StoreError, match="original: frames 0..5 unreadable, a chunk file is damaged"):
        store.read_checked_diff(0, 6)
    assert any("unreadable" in line for line in store.problems(full=True))


def test_a_truncated_zarr_json_is_a_store_error(written):
    store, _ = written
    meta = store.path / "zarr.json"
    meta.write_text(meta.read_text()[:50])
    with pytest.raises(StoreError, match="zarr.json: damaged, cannot be read"):
        ProvenanceStore(store.path)
    meta.write_text("{}")
    with pytest.raises(StoreError, match="unknown store schema None"):
        ProvenanceStore(store.path)


def test_a_damaged_array_metadata_is_a_store_error(written):
    store, _ = written
    (store.path / "status" / "zarr.json").write_text('{"zarr_format": 3, "node_t')
    with pytest.raises(StoreError, match=r"status/zarr.json: array 'status' missing or damaged"):
        ProvenanceStore(store.path)


def test_a_malformed_event_file_is_a_store_error(written):
    store, _ = written
    store.log_event("run_started", config={})
    bad = max((store.path / "events").glob("*.json"))
    bad.write_text('{"time": "2026-')
    with pytest.raises(StoreError, match=f"{bad.name}: event file is damaged and cannot be read"):
        store.events()
    assert store.problems() == [
        f"{bad}: event file is damaged and cannot be read (Unterminated string starting at: line 1 column 10 (char 9))"
    ]


def test_a_write_cut_short_leaves_its_frames_to_do_not_finished(written):
    """The fixity is cleared first and written last: a write killed in between reads as unfinished."""
    store, _ = written
    assert not store.todo().any()
    store.group["fixity"][2:4] = -1  # as a write of frames 2..3 leaves it until its last step
    assert store.todo().tolist() == [False, False, True, True, False, False]
    assert store.problems() == [
        (
            "2 frames (2, 3) marked finished but its write did not complete or its fixity chunk is missing "
            "(fixity/c/2, fixity/c/3); rerun the restore or reprocessing to redo it"
        )
    ]
    assert store.problems(unfinished_ok=True) == []


def test_an_operator_action_waits_for_no_run_it_is_refused_while_one_holds_the_store(written):
    from restoration.store.lock import ReelLockedError, RunLock

    store, _ = written
    with RunLock(store.path, "reprocess"), pytest.raises(ReelLockedError, match="already being processed"):
        store.set_status([2], "approved")
    assert store.status()[2] == STATUS["done"]
    store.set_status([2], "approved")
    assert store.status()[2] == STATUS["approved"]
