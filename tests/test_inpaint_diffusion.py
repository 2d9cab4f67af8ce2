"""Palette inpainting: only masked pixels change, determinism, tiling at borders, shipped weights."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from restoration.inpaint.palette import (
    PaletteConfig,
    _tiles_for,
    baseline_fill,
    inpaint_palette,
    inpaint_palette_many,
    load_inpainter,
    make_scheduler,
    rim,
    shrink_to_baseline,
)
from restoration.models.inpainter import build_inpainter, tiny_inpainter_config
from restoration.models.weights import shipped

CFG = PaletteConfig(steps=3, tile=16, context=4, samples=2)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_inpainter(tiny_inpainter_config()), make_scheduler()


def _case(dtype, channels, h=37, w=45, seed=0):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    frame = rng.integers(0, top + 1, (h, w, channels), dtype=np.int64).astype(dtype)
    mask = np.zeros((h, w), bool)
    mask[10:13, 20:24] = True
    mask[30:32, 5:6] = True
    nb = [(frame.astype(np.float32), np.ones((h, w), bool)), (frame.astype(np.float32) * 0.9, rng.random((h, w)) > 0.5)]
    return frame, mask, nb


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_only_masked_pixels_change(tiny, dtype, channels):
    frame, mask, nb = _case(dtype, channels)
    out, spread = inpaint_palette(frame, mask, nb, *tiny, CFG, torch.Generator().manual_seed(0))
    assert out.dtype == frame.dtype and out.shape == frame.shape
    assert np.array_equal(out[~mask], frame[~mask])
    assert spread.dtype == np.float32 and spread.shape == mask.shape
    assert np.all(spread[~mask] == 0)


def test_deterministic_for_a_seed(tiny):
    frame, mask, nb = _case(np.uint8, 3)
    a = inpaint_palette(frame, mask, nb, *tiny, CFG, torch.Generator().manual_seed(7))
    b = inpaint_palette(frame, mask, nb, *tiny, CFG, torch.Generator().manual_seed(7))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_tiles_fill_does_not_depend_on_the_other_tiles_or_the_batching(tiny):
    frame, mask, nb = _case(np.uint16, 1, h=40, w=64)
    mask[:] = False
    mask[5:8, 5:7] = True  # speck A
    mask[30:33, 50:55] = True  # speck B, far from A: its own tile
    both, _ = inpaint_palette(frame, mask, nb, *tiny, CFG, torch.Generator().manual_seed(3))
    only_a = mask.copy()
    only_a[30:33, 50:55] = False
    alone, _ = inpaint_palette(frame, only_a, nb, *tiny, replace(CFG, max_batch=1), torch.Generator().manual_seed(3))
    assert np.array_equal(both[only_a], alone[only_a])


def test_speck_in_corner_and_small_frame(tiny):
    frame, _, nb = _case(np.uint16, 1)
    mask = np.zeros(frame.shape[:2], bool)
    mask[0:2, 0:3] = True  # touches the corner
    mask[-1, -1] = True
    out, _ = inpaint_palette(frame, mask, nb, *tiny, CFG, torch.Generator().manual_seed(0))
    assert np.array_equal(out[~mask], frame[~mask])
    # a frame smaller than a tile
    small = frame[:9, :11]
    m = np.zeros((9, 11), bool)
    m[4, 5] = True
    out, _ = inpaint_palette(small, m, [], *tiny, CFG, torch.Generator().manual_seed(0))
    assert out.shape == small.shape and np.array_equal(out[~m], small[~m])


def test_tiles_cover_every_hole_pixel_once_and_follow_the_damaged_area():
    cfg = PaletteConfig(tile=32, context=8, speck_tile=0)
    mask = np.zeros((240, 320), bool)
    mask[100:103, 50:54] = True  # isolated speck
    mask[0:2, 318:320] = True  # speck in a corner
    mask[:, 200:202] = True  # vertical line scratch, frame high
    mask[150:153, 60:62] = True  # two specks 6 px apart: one cluster, one tile
    mask[150:153, 68:70] = True
    tiles = _tiles_for(mask, cfg, 0)
    covered = np.zeros(mask.shape, int)
    for t in tiles:
        np.add.at(covered, (t.ys, t.xs), 1)
        assert 0 <= t.oy <= 240 - t.height and 0 <= t.ox <= 320 - t.width
        inside = (t.ys >= t.oy + 8) & (t.ys < t.oy + t.height - 8) & (t.xs >= t.ox + 8) & (t.xs < t.ox + t.width - 8)
        assert inside.all() or t.oy in (0, 240 - t.height) or t.ox in (0, 320 - t.width)  # context, but at a border
    assert np.array_equal(covered, mask.astype(int))
    shapes = sorted((t.height, t.width) for t in tiles)
    # three 32 px squares for the specks; the 240 px scratch in 48 px cells, each tile long along the
    # line (48 + 2 x 8 context) and one small tile across (2 + 2 x 8 fits in 32): half a square's cost
    assert shapes == [(32, 32)] * 3 + [(64, 32)] * 5
    blob = np.zeros((240, 320), bool)
    blob[100:130, 100:140] = True  # 30 x 40 px stain: one 48 x 64 tile (context 8 each side)
    assert [(t.height, t.width) for t in _tiles_for(blob, cfg, 0)] == [(48, 64)]


def test_a_speck_gets_the_small_tile_and_anything_wider_the_full_one():
    cfg = PaletteConfig(tile=32, context=8, speck_tile=16)
    mask = np.zeros((120, 160), bool)
    mask[40:44, 30:34] = True  # 4 x 4 speck: at most 16 // 4 px across
    mask[40:45, 100:101] = True  # 5 px hair: too long for the small tile
    mask[0, 159] = True  # one pixel in a corner: the tile is shifted inside the frame
    tiles = sorted(_tiles_for(mask, cfg, 0), key=lambda t: t.ox)
    assert [(t.oy, t.ox, t.height, t.width) for t in tiles] == [(34, 24, 16, 16), (26, 84, 32, 32), (0, 144, 16, 16)]
    speck = tiles[0]  # 6 px of context on every side
    assert (speck.ys.min() - speck.oy, speck.oy + speck.height - 1 - speck.ys.max()) == (6, 6)
    assert [(t.height, t.width) for t in _tiles_for(mask, replace(cfg, speck_tile=0), 0)] == [(32, 32)] * 3


@pytest.mark.parametrize("speck_tile", [6, 18, 48])
def test_speck_tile_must_be_a_multiple_of_4_between_8_and_the_tile(speck_tile):
    with pytest.raises(ValueError, match="speck_tile"):
        PaletteConfig(tile=32, context=8, speck_tile=speck_tile)


def test_baseline_takes_the_valid_neighbours_and_telea_where_none_is():
    known = np.full((16, 16), 0.5, np.float32)
    mask = np.zeros((16, 16), bool)
    mask[:, 7:9] = True
    known[mask] = 0
    prev = np.full((16, 16), 0.47, np.float32)
    nxt = np.full((16, 16), 0.53, np.float32)
    valid = np.ones((16, 16), bool)
    base = baseline_fill(known, mask, prev, valid, nxt, valid)
    assert np.allclose(base[mask], 0.5) and np.array_equal(base[~mask], known[~mask])
    # the previous frame's own damage (a persistent scratch) is invalid there: the next frame alone
    prev_valid = ~mask
    assert np.allclose(baseline_fill(known, mask, np.where(mask, 0.95, prev), prev_valid, nxt, valid)[mask], 0.53)
    # neither neighbour valid: Telea from the surroundings
    none = baseline_fill(known, mask, prev, prev_valid, nxt, prev_valid)
    assert np.allclose(none[mask], 0.5, atol=2e-3)


def test_empty_mask_never_calls_the_model():
    class Boom(torch.nn.Module):
        def forward(self, *a, **k):
            raise AssertionError("model called")

    frame, _, nb = _case(np.uint8, 3)
    out, spread = inpaint_palette(frame, np.zeros(frame.shape[:2], bool), nb, Boom(), make_scheduler(), CFG)
    assert np.array_equal(out, frame) and not spread.any()


def test_batched_frames_and_repaint(tiny):
    f1, m1, nb1 = _case(np.uint8, 1, seed=1)
    f2, m2, nb2 = _case(np.uint8, 1, seed=2)
    cfg = PaletteConfig(steps=4, tile=16, context=4, samples=1, repaint_jump=2, repaint_resample=2)
    assert cfg.evaluations() == 4  # 6 DDIM steps, 2 of them at the top of the schedule (no network call)
    res = inpaint_palette_many([f1, f2], [m1, m2], [nb1, nb2], *tiny, cfg, torch.Generator().manual_seed(0))
    for (out, _), f, m in zip(res, (f1, f2), (m1, m2)):
        assert np.array_equal(out[~m], f[~m])


def test_the_top_of_the_schedule_takes_no_network_call(tiny):
    frame, mask, nb = _case(np.uint8, 1)
    model = build_inpainter(tiny_inpainter_config())
    calls: list[int] = []
    model.register_forward_hook(lambda module, args, output: calls.append(int(args[1][0])))
    inpaint_palette(frame, mask, nb, model, make_scheduler(), CFG, torch.Generator().manual_seed(0))
    assert calls == [666, 332] and CFG.evaluations() == 2  # trailing spacing of 3 steps: 999 (free), 666, 332

    class Boom(torch.nn.Module):
        device = torch.device("cpu")

        def forward(self, *a, **k):
            raise AssertionError("model called")

    # One step is the step from pure noise to x0 = 0: the baseline itself (neighbours' mean, Telea where none).
    out, spread = inpaint_palette(frame, mask, nb, Boom(), make_scheduler(), PaletteConfig(steps=1, tile=16, context=4, samples=2))
    prev, nxt = nb[0][0][..., 0] / 255, nb[1][0][..., 0] / 255
    base = baseline_fill(frame[..., 0] / 255, mask, prev, nb[0][1], nxt, nb[1][1])
    assert np.array_equal(out[..., 0][mask], np.clip(np.rint(base[mask] * 255), 0, 255).astype(np.uint8)) and not spread.any()


def test_shipped_weights_fill_a_speck():
    if not shipped("inpainter").exists():
        pytest.fail("restoration/weights/inpainter.safetensors is missing")
    model, scheduler = load_inpainter()
    rng = np.random.default_rng(0)
    # a smooth gradient with grain, a dark speck, static neighbours showing the clean picture
    yy, xx = np.mgrid[:40, :40]
    clean = np.clip(80 + 2 * xx + rng.normal(0, 3, (40, 40)), 0, 255).astype(np.uint8)[..., None]
    frame = clean.copy()
    mask = np.zeros((40, 40), bool)
    mask[18:22, 18:22] = True
    frame[mask] = 5
    nb = [(clean.astype(np.float32), np.ones((40, 40), bool))] * 2
    out, spread = inpaint_palette(frame, mask, nb, model, scheduler, PaletteConfig(), torch.Generator().manual_seed(0))
    assert np.array_equal(out[~mask], frame[~mask])
    err = np.abs(out[mask].astype(float) - clean[mask].astype(float)).mean()
    assert err < 12, err


def test_a_margin_hides_the_rim_from_the_model_but_writes_only_the_mask(tiny):
    frame, mask, nb = _case(np.uint8, 1)
    cfg = PaletteConfig(steps=3, tile=16, context=4, samples=2, margin=1, rim_tol=0.0)  # the whole ring
    ring = np.zeros_like(mask)
    ring[9:14, 19:25] = True
    ring &= ~mask
    rimmed = frame.copy()
    rimmed[ring] = 255 - rimmed[ring]  # a soft rim the mask left outside
    a, spread = inpaint_palette(frame, mask, nb, *tiny, cfg, torch.Generator().manual_seed(3))
    b, _ = inpaint_palette(rimmed, mask, nb, *tiny, cfg, torch.Generator().manual_seed(3))
    assert np.array_equal(a[~mask], frame[~mask]) and np.array_equal(b[~mask], rimmed[~mask])
    assert np.array_equal(a[mask], b[mask])  # the rim's values never reach the fill
    assert np.all(spread[~mask] == 0)
    c, _ = inpaint_palette(rimmed, mask, nb, *tiny, replace(cfg, margin=0), torch.Generator().manual_seed(3))
    assert not np.array_equal(b[mask], c[mask])  # without the margin they do
    with pytest.raises(ValueError, match="margin"):
        PaletteConfig(tile=16, context=4, margin=4)


def test_the_rim_is_the_ring_that_departs_towards_the_damage():
    frame = np.full((24, 24, 1), 100, np.uint8)
    mask = np.zeros((24, 24), bool)
    mask[10:13, 10:13] = True
    frame[mask] = 240  # a bright speck with hard edges
    assert not rim(frame, mask, 1, 0.02).any()  # clean surroundings are not a rim
    assert np.array_equal(rim(frame, mask, 1, 0.0), ndi.binary_dilation(mask, np.ones((3, 3), bool)) & ~mask)
    frame[9, 10:13] = 150  # brighter above: the speck's soft rim
    frame[13, 10:13] = 60  # darker below: picture, not this speck's rim
    found = rim(frame, mask, 1, 0.02)
    assert found[9, 10:13].all() and found.sum() == 3
    dark = 255 - frame  # a dark speck: its rim is darker than the picture
    assert np.array_equal(rim(dark, mask, 1, 0.02), found)
    with pytest.raises(ValueError, match="rim_tol"):
        PaletteConfig(rim_tol=-0.1)
    with pytest.raises(ValueError, match="rim_tol_hard >= rim_tol"):
        PaletteConfig(rim_tol=0.04, rim_tol_hard=0.02)


def test_a_ring_that_does_not_follow_the_damage_on_average_is_a_hard_edge():
    """Grain moves single ring pixels either way; only a ring that follows the damage as a whole is a
    rim, and around a hard edge only a pixel departing by more than rim_tol_hard (a halo) counts."""
    frame = np.full((24, 24, 1), 100, np.uint8)
    mask = np.zeros((24, 24), bool)
    mask[10:13, 10:13] = True
    frame[mask] = 200  # change 100: rim_follow 0.12 asks the ring to move 12 on average
    ring = ndi.binary_dilation(mask, np.ones((3, 3), bool)) & ~mask
    grain = np.where(np.arange(ring.sum()) % 2 == 0, 15, -15)  # +-15: each beyond rim_tol 0.04 (10), mean 0
    frame[ring, 0] = 100 + grain
    assert rim(frame, mask, 1, 0.04).sum() == (grain > 0).sum()  # per pixel, as before
    assert not rim(frame, mask, 1, 0.04, follow=0.12, hard_tol=0.16).any()
    frame[9, 11] = 150  # one pixel departs by 50 > 0.16 of 255: a halo, whatever the rest does
    assert np.argwhere(rim(frame, mask, 1, 0.04, follow=0.12, hard_tol=0.16)).tolist() == [[9, 11]]
    frame[ring, 0] = 100 + 20 + grain // 3  # the whole ring follows by 20 (0.2 of the change): a soft rim
    assert np.array_equal(rim(frame, mask, 1, 0.04, follow=0.12, hard_tol=0.16), rim(frame, mask, 1, 0.04))
    assert rim(frame, mask, 1, 0.04).sum() == ring.sum()


def test_a_tile_without_any_valid_neighbour_takes_samples_alone_draws(tiny):
    frame, mask, nb = _case(np.uint8, 1)
    alone = [(n, np.zeros_like(v)) for n, v in nb]
    two, four = (PaletteConfig(steps=3, tile=16, context=4, samples=2, samples_alone=k, margin=0) for k in (2, 4))

    def run(neighbours, cfg):
        return inpaint_palette(frame, mask, neighbours, *tiny, cfg, torch.Generator().manual_seed(5))

    # With a valid neighbour the alone count is never used; without, the fill averages 4 draws.
    assert all(np.array_equal(a, b) for a, b in zip(run(nb, two), run(nb, four)))
    (a, spread_a), (b, spread_b) = run(alone, two), run(alone, four)
    assert np.array_equal(a[~mask], frame[~mask]) and np.array_equal(b[~mask], frame[~mask])
    assert not np.array_equal(a[mask], b[mask]) and not np.array_equal(spread_a[mask], spread_b[mask])
    with pytest.raises(ValueError):
        PaletteConfig(samples_alone=0)


def test_a_picture_line_that_runs_on_past_the_ring_is_not_a_halo():
    """Around a hard edge a ring pixel departing by more than rim_tol_hard is a halo, unless the
    picture past the ring departs as much: then it is a line of the picture the damage touches."""
    frame = np.full((24, 24, 1), 100, np.uint8)
    mask = np.zeros((24, 24), bool)
    mask[10:13, 10:13] = True
    frame[mask] = 10  # a dark speck with hard edges
    frame[0:10, 9] = 20  # a dark line of the picture that ends at the ring's corner
    frame[13, 11] = 40  # a dark halo pixel below the speck, alone
    hard = {"tol": 0.04, "follow": 0.12, "hard_tol": 0.16}
    assert np.argwhere(rim(frame, mask, 1, **hard)).tolist() == [[9, 9], [13, 11]]
    assert np.argwhere(rim(frame, mask, 1, **hard, beyond=0.8)).tolist() == [[13, 11]]
    with pytest.raises(ValueError, match="rim_beyond"):
        PaletteConfig(rim_beyond=-1)


def test_a_ring_pixel_darker_than_the_damage_itself_is_picture_not_a_halo():
    frame = np.full((24, 24, 1), 100, np.uint8)
    mask = np.zeros((24, 24), bool)
    mask[10:13, 10:13] = True
    frame[mask] = 60  # a faint dark speck with hard edges: departs by 40
    frame[13, 11] = 55  # departs by about 45, towards the speck: as dark as the damage
    frame[9, 11] = 75  # departs by about 25: fainter than the damage
    hard = {"tol": 0.04, "follow": 0.12, "hard_tol": 0.08}
    assert np.argwhere(rim(frame, mask, 1, **hard)).tolist() == [[9, 11], [13, 11]]
    assert np.argwhere(rim(frame, mask, 1, **hard, halo_cap=1.0)).tolist() == [[9, 11]]


def test_the_mean_of_the_draws_is_pulled_to_the_baseline_where_it_is_noise():
    rng = np.random.default_rng(0)
    base = np.full((8, 8), 0.5, np.float32)
    sure = np.stack([base + 0.2] * 4)  # the draws agree: the mean stands
    assert np.allclose(shrink_to_baseline(sure.mean(0), sure, base, 8.0), base + 0.2)
    noisy = base + rng.normal(0, 0.1, (4, 8, 8)).astype(np.float32)  # texture about the baseline
    mean = noisy.mean(0)
    shrunk = shrink_to_baseline(mean, noisy, base, 8.0)
    assert np.abs(shrunk - base).max() < np.abs(mean - base).max()
    assert np.array_equal(shrink_to_baseline(mean, noisy, base, 0.0), mean)


def test_only_a_tile_without_any_valid_neighbour_pixel_is_shrunk(tiny):
    frame, mask, nb = _case(np.uint8, 1)
    alone = [(n, np.zeros_like(v)) for n, v in nb]
    on, off = (PaletteConfig(steps=3, tile=16, context=4, samples=2, margin=0, shrink_alone=f) for f in (8.0, 0.0))

    def run(neighbours, cfg):
        return inpaint_palette(frame, mask, neighbours, *tiny, cfg, torch.Generator().manual_seed(5))

    assert all(np.array_equal(a, b) for a, b in zip(run(nb, on), run(nb, off)))
    # Motion failed on the damage only: the tile's other pixels still have their neighbours.
    local = [(n, ~ndi.binary_dilation(mask, iterations=2)) for n, _ in nb]
    assert all(np.array_equal(a, b) for a, b in zip(run(local, on), run(local, off)))
    (a, spread_a), (b, spread_b) = run(alone, on), run(alone, off)
    assert np.array_equal(a[~mask], frame[~mask]) and not np.array_equal(a[mask], b[mask])
    assert np.array_equal(spread_a, spread_b)  # the spread is the draws', whatever the fill
