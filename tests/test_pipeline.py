"""The per-frame library steps of a restore: detection, then a fill that never copies a neighbour's damage."""

import numpy as np
import pytest
from clips import write_clip

from restoration.core.restore import NOT_EXAMINED, Models, RestoreConfig, fill_frame, restore_frames, restore_window
from restoration.io.reel import probe
from restoration.motion.flow import MotionConfig

CLASSICAL = {"detector": "temporal", "inpainter": "temporal_median"}


def still_frames(count: int = 4) -> np.ndarray:
    """A static, smooth gray clip ``(T, 48, 64, 1)`` uint8: every neighbour lines up exactly."""
    y, x = np.mgrid[:48, :64]
    img = (60 + x + y // 2).astype(np.uint8)
    return np.repeat(img[None, ..., None], count, axis=0)


def test_fill_never_copies_a_neighbours_own_damage():
    frames = still_frames()
    frames[1, 20:23, 30:33] = 250  # a speck on frame 1 ...
    frames[2, 20:23, 30:33] = 5  # ... and a different one on frame 2 at the same place
    masks = np.zeros(frames.shape[:3], bool)
    masks[1:3, 20:23, 30:33] = True
    config = RestoreConfig(**CLASSICAL)
    restored, scores, _ = fill_frame(frames, masks, 2, 2, config, Models())
    # frame 1 is damaged there: only frame 3 counts, and it shows the truth
    assert np.array_equal(restored[20:23, 30:33], frames[3, 20:23, 30:33])
    assert np.array_equal(restored[~masks[2]], frames[2][~masks[2]])
    assert scores[0] == masks[2].mean()
    unknown = masks.copy()
    unknown[1] = False  # frame 1's damage not known: the fill averages its speck in
    unaware, _, _ = fill_frame(frames, unknown, 2, 2, config, Models())
    assert not np.array_equal(unaware[20:23, 30:33], frames[3, 20:23, 30:33])


def test_restore_frames_fills_only_what_it_detects():
    frames = still_frames(5)
    frames[1, 10:13, 10:13] = 250
    frames[2, 30:33, 40:43] = 250
    [(mask, restored, _, _)] = restore_frames(frames, [2], 0, RestoreConfig(**CLASSICAL), Models())
    assert mask[30:33, 40:43].all() and mask.sum() == 9
    assert np.array_equal(restored, frames[3])  # a static clip: the speck is gone, nothing else moved


def test_context_must_reach_past_the_frames_next_to_a_chunk():
    with pytest.raises(ValueError, match="context_frames"):
        RestoreConfig(context_frames=1, **CLASSICAL)


def test_a_frame_the_detector_cannot_examine_is_flagged_not_done():
    """The spike detector needs two neighbours: with the far side's frames standing in at a reel's
    ends, only a reel too short for two is flagged with the reason."""
    frames = still_frames(4)
    out = restore_frames(frames, range(4), 0, RestoreConfig(**CLASSICAL), Models())
    assert [reason for _, _, _, reason in out] == [None, None, None, None]
    out = restore_frames(frames[:2], range(2), 0, RestoreConfig(**CLASSICAL), Models())
    assert [reason for _, _, _, reason in out] == [NOT_EXAMINED, NOT_EXAMINED]
    config = RestoreConfig(**CLASSICAL, motion=MotionConfig(mirror_ends=False))
    out = restore_frames(frames, range(4), 0, config, Models())
    assert [reason for _, _, _, reason in out] == [NOT_EXAMINED, None, None, NOT_EXAMINED]


def test_a_reels_end_frames_are_detected_and_filled_from_one_side():
    frames = still_frames(5)
    frames[0, 10:13, 10:13] = 250
    frames[4, 30:33, 40:43] = 250
    frames[2, 10:13, 10:13] = 5  # damage on the far neighbour of frame 0: never copied into it
    out = restore_frames(frames, [0, 4], 0, RestoreConfig(**CLASSICAL), Models())
    (mask0, restored0, _, _), (mask4, restored4, _, _) = out
    assert mask0[10:13, 10:13].all() and mask0.sum() == 9
    assert mask4[30:33, 40:43].all() and mask4.sum() == 9
    assert np.array_equal(restored0, frames[1]) and np.array_equal(restored4, frames[3])


@pytest.mark.parametrize("mirror_ends", [True, False])
def test_a_frame_restores_the_same_whichever_chunk_holds_it(tmp_path, mirror_ends):
    """One frame per window (as a reprocessing reads them) against the whole reel in one window:
    masks, fills and reasons agree, the reel's ends included."""
    frames = still_frames(8)
    frames[[0, 3, 7], 10:13, 10:13] = 250
    frames[[2, 5], 10:13, 10:13] = 200  # the ends' far neighbours, damaged too: hidden from a window ending there
    info = probe(write_clip(tmp_path / "reel.mkv", frames, "gray", audio=False))
    config = RestoreConfig(**CLASSICAL, motion=MotionConfig(mirror_ends=mirror_ends))
    whole = restore_window(info, 0, 8, config, Models())
    for f in range(8):
        one = restore_window(info, f, f + 1, config, Models())
        assert np.array_equal(one.mask[0], whole.mask[f]) and np.array_equal(one.restored[0], whole.restored[f])
        assert one.reasons.get(f) == whole.reasons.get(f)
    assert whole.mask[[0, 7]].any(axis=(1, 2)).tolist() == [mirror_ends, mirror_ends]
