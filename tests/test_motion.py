"""Motion compensation on synthetic textures shifted by known integer offsets."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from restoration.motion.flow import (
    MotionConfig,
    compensate,
    estimate_flow,
    is_scene_cut,
    occlusion_mask,
    select_neighbours,
    to_8bit_luma,
    warp_to,
)

H, W = 64, 80


def texture(seed: int = 0, size: tuple[int, int] = (H + 40, W + 40)) -> np.ndarray:
    """Smooth random texture in [0, 1], large enough to crop shifted windows from."""
    t = ndi.gaussian_filter(np.random.default_rng(seed).random(size), 2.0)
    return (t - t.min()) / (t.max() - t.min())


def crop(tex: np.ndarray, dx: int, dy: int, dtype=np.uint8, channels: int = 1) -> np.ndarray:
    """``(H, W, C)`` window of ``tex`` whose content moves by (dx, dy) as the offsets grow."""
    top = np.iinfo(dtype).max
    win = tex[20 - dy : 20 - dy + H, 20 - dx : 20 - dx + W]
    img = np.clip(np.rint((0.1 + 0.8 * win) * top), 0, top).astype(dtype)
    return np.repeat(img[..., None], channels, axis=2)


def test_to_8bit_luma_scales_and_weights():
    rgb16 = np.zeros((2, 2, 3), np.uint16)
    rgb16[..., 1] = 65535
    assert to_8bit_luma(rgb16).dtype == np.uint8
    assert to_8bit_luma(rgb16)[0, 0] == round(0.7152 * 255)
    gray = np.arange(4, dtype=np.uint8).reshape(2, 2, 1)
    assert np.array_equal(to_8bit_luma(gray), gray[..., 0])
    with pytest.raises(ValueError):
        to_8bit_luma(np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("dtype,channels", [(np.uint8, 1), (np.uint16, 3)])
def test_flow_recovers_shift_and_warp_aligns(dtype, channels):
    tex = texture()
    frame, neighbour = crop(tex, 0, 0, dtype, channels), crop(tex, 3, -2, dtype, channels)
    flow = estimate_flow(frame, neighbour)
    assert flow.dtype == np.float32 and flow.shape == (H, W, 2)
    inner = (slice(10, -10), slice(10, -10))
    # Content moved by (+3, -2): frame[y, x] is found at neighbour[y - 2, x + 3].
    assert np.allclose(np.median(flow[inner], axis=(0, 1)), [3, -2], atol=0.2)
    warped = warp_to(neighbour, flow)
    assert warped.dtype == np.float32 and warped.shape == frame.shape
    err = np.abs(warped[inner] - frame[inner]).mean() / np.iinfo(dtype).max
    assert err < 0.01


def test_flow_on_a_shrunk_view_is_in_full_size_pixels():
    tex = texture()
    frame, neighbour = crop(tex, 0, 0), crop(tex, 4, -2)
    flow = estimate_flow(frame, neighbour, max_side=W // 2)
    assert flow.dtype == np.float32 and flow.shape == (H, W, 2)
    inner = (slice(10, -10), slice(10, -10))
    assert np.allclose(np.median(flow[inner], axis=(0, 1)), [4, -2], atol=0.3)
    # A frame no larger than max_side gets the full-size flow, bit for bit.
    assert np.array_equal(estimate_flow(frame, neighbour, max_side=W), estimate_flow(frame, neighbour))
    with pytest.raises(ValueError, match="max_side"):
        estimate_flow(frame, neighbour, max_side=-1)
    with pytest.raises(ValueError, match="flow_max_side"):
        MotionConfig(flow_max_side=-1)


def test_warp_to_exact_for_integer_flow_and_keeps_native_scale():
    img = np.arange(5 * 6, dtype=np.uint16).reshape(5, 6, 1) * 1000
    flow = np.zeros((5, 6, 2), np.float32)
    flow[..., 0] = 1
    out = warp_to(img, flow)
    assert np.array_equal(out[:, :-1], img[:, 1:].astype(np.float32))
    assert np.array_equal(out[:, -1], img[:, -1].astype(np.float32))  # border replicated


def test_occlusion_mask_flags_out_of_frame_and_inconsistent():
    fw = np.zeros((8, 10, 2), np.float32)
    fw[..., 0] = 2
    bw = -fw
    occ = occlusion_mask(fw, bw)
    assert occ[:, -2:].all() and not occ[:, :-2].any()  # x + 2 leaves the frame
    bw_bad = bw.copy()
    bw_bad[4, 5] = (5, 5)  # the pixel (4, 3) lands on a backward vector that disagrees
    assert occlusion_mask(fw, bw_bad)[4, 3]


def test_compensate_aligns_neighbours_and_out_of_range():
    tex = texture()
    frames = np.stack([crop(tex, 2 * t, t) for t in range(3)])
    out = compensate(frames, 0, offsets=(-1, 1), config=MotionConfig(mirror_ends=False))
    warped, valid = out[0]
    assert not valid.any() and warped.shape == frames[0].shape
    warped, valid = out[1]
    assert valid.mean() > 0.8
    assert np.abs(warped[valid] - frames[0][valid]).mean() < 3
    for warped, valid in compensate(frames, 0, offsets=(-1, 1)):  # the missing previous frame: frame 2
        assert valid.mean() > 0.8
        assert np.abs(warped[valid] - frames[0][valid]).mean() < 3


def test_a_neighbours_own_damage_is_invalid():
    tex = texture()
    frames = np.stack([crop(tex, 2 * t, t) for t in range(3)])
    damage = np.zeros(frames.shape[:3], bool)
    damage[0, 10:14, 20:23] = True  # a speck on the previous frame
    damage[1, 30:40, 30:40] = True  # the frame's own damage does not matter here
    plain = compensate(frames, 1)
    aware = compensate(frames, 1, damage=damage)
    # frame 1 at (y, x) shows frame 0 at (y - 1, x - 2): the speck lands on rows 11-14, cols 22-24
    assert plain[0][1][11:15, 22:25].all() and not aware[0][1][11:15, 22:25].any()
    removed = plain[0][1] & ~aware[0][1]
    near = np.zeros((H, W), bool)
    near[10:16, 21:26] = True  # with bilinear sampling, at most a one-pixel rim more
    assert not (removed & ~near).any() and not (aware[0][1] & ~plain[0][1]).any()
    assert np.array_equal(aware[1][1], plain[1][1])  # the next frame is undamaged
    assert all(np.array_equal(a[0], p[0]) for a, p in zip(aware, plain))  # values are not touched


def test_a_second_call_reuses_the_cached_motion(monkeypatch):
    import restoration.motion.flow as motion

    tex = texture()
    frames = np.stack([crop(tex, 2 * t, t) for t in range(3)])
    damage = np.zeros(frames.shape[:3], bool)
    damage[0, 10:14, 20:23] = True
    calls, views = [], []
    real, real_luma = motion.estimate_flow, motion.to_8bit_luma
    monkeypatch.setattr(motion, "estimate_flow", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(motion, "to_8bit_luma", lambda f: views.append(1) or real_luma(f))
    cache = motion.MotionCache()
    first = compensate(frames, 1, cache=cache)
    assert len(calls) == 4 and set(cache.pairs) == {(1, 0), (1, 2)}  # two neighbours, both directions
    assert len(views) == 3 and set(cache.lumas) == {0, 1, 2}
    again = compensate(frames, 1, damage=damage, cache=cache)
    assert len(calls) == 4 and len(views) == 3  # nothing estimated or viewed again
    fresh = compensate(frames, 1, damage=damage)
    for a, b, c in zip(first, again, fresh):
        assert np.array_equal(a[0], b[0]) and np.array_equal(b[0], c[0]) and np.array_equal(b[1], c[1])
    assert not np.array_equal(first[0][1], again[0][1])  # the cached validity was not overwritten
    # Frame 2's pair with frame 1 is in the cache, swapped: nothing is estimated, and the result is
    # bit for bit what estimating gives.
    before = len(calls)
    after = compensate(frames, 2, (-1,), cache=cache)
    assert len(calls) == before
    alone = compensate(frames, 2, (-1,))
    assert np.array_equal(after[0][0], alone[0][0]) and np.array_equal(after[0][1], alone[0][1])
    # Done with frame 1: its pairs go, and the view of frame 0, which frame 2 no longer reads.
    cache.forget(1)
    assert set(cache.pairs) == {(2, 1)} and set(cache.lumas) == {1, 2}


def test_scene_cut_invalidates_neighbour():
    frames = np.stack([crop(texture(0), 0, 0), crop(texture(0), 1, 0), crop(texture(7), 0, 0)])
    assert compensate(frames, 1, (-1,))[0][1].mean() > 0.8
    assert not compensate(frames, 1, (1,))[0][1].any()
    frame = frames[0]
    assert is_scene_cut(frame, frames[2].astype(np.float32), np.ones((H, W), bool))
    assert not is_scene_cut(frame, frame.astype(np.float32), np.ones((H, W), bool))


def test_duplicates_are_skipped_when_possible():
    tex = texture()
    a, b, c = crop(tex, 0, 0), crop(tex, 2, 0), crop(tex, 4, 0)
    lumas = [to_8bit_luma(f) for f in (a, b, b, c)]  # frame 2 repeats frame 1
    assert select_neighbours(lumas, 1, (-1, 1)) == [0, 3]
    assert select_neighbours(lumas, 2, (-1, 1)) == [0, 3]
    assert select_neighbours(lumas[:3], 1, (-1, 1)) == [0, 2]  # nothing further: keep the repeat
    assert select_neighbours(lumas, 1, (-1, 1), MotionConfig(max_duplicate_skip=0)) == [0, 2]
    assert select_neighbours(lumas, 0, (-1, 1), MotionConfig(mirror_ends=False)) == [None, 1]


def test_offsets_past_the_clip_take_the_next_frames_on_the_other_side():
    lumas = [to_8bit_luma(crop(texture(), 2 * k, 0)) for k in range(6)]
    assert select_neighbours(lumas, 0, (-1, 1)) == [2, 1]
    assert select_neighbours(lumas, 5, (-1, 1)) == [4, 3]
    assert select_neighbours(lumas, 0, (-2, -1, 1, 2)) == [4, 3, 1, 2]
    assert select_neighbours(lumas, 1, (-2, -1, 1, 2)) == [4, 0, 2, 3]
    assert select_neighbours(lumas[:2], 0, (-1, 1)) == [None, 1]  # nothing further: one neighbour
    assert select_neighbours(lumas[:1], 0, (-1, 1)) == [None, None]
    repeated = [lumas[0], lumas[0], lumas[1], lumas[2]]  # frame 1 repeats frame 0
    assert select_neighbours(repeated, 0, (-1, 1)) == [3, 2]  # the repeat is passed over on both


def test_flat_regions_trust_flat_film_but_not_edges():
    from restoration.motion.flow import flat_regions

    luma = np.full((40, 40), 100, np.uint8)
    luma[:, 20:] = 160
    flat = flat_regions(luma, 0.02)
    assert flat[:, :15].all() and flat[:, 25:].all()
    assert not flat[:, 18:22].any()
