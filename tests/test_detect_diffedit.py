"""DiffEdit detector: shapes, determinism, batching of the two conditions, tiling, fusion, weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention
from scipy import ndimage as ndi

from restoration.detect.diffedit import (
    PROPOSAL_TILES,
    DiffEditConfig,
    confirm_faint,
    detect_damage,
    diffedit_map,
    hysteresis,
    load_detector,
    mask_from_map,
    mask_from_score,
    pixel_levels,
    tile_scores,
    whole_frame_origins,
)
from restoration.detect.temporal import SpikeDetectorConfig, detect_spikes
from restoration.models.detector import CHANNELS, LABELS, DetectorModelConfig, build_detector, make_scheduler, tiny_detector_config
from restoration.models.weights import shipped

# The first detector's mode (DiffEdit around the proposals), small tiles for the tiny model.
CFG = replace(PROPOSAL_TILES, tile=16, margin=3, n_draws=2, batch=8, floor=0.0)


@pytest.fixture(scope="module")
def tiny():
    # One thread: on a loaded 2-core machine multi-threaded small convolutions spin (7 ms vs 100+).
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return build_detector(tiny_detector_config()).eval(), make_scheduler()


class Recorder:
    """Wraps a model's forward to record each call's batch size and class labels."""

    def __init__(self, model):
        self.model, self.calls = model, []
        self.orig = model.forward

    def __enter__(self):
        def forward(sample, timestep, class_labels=None, **kw):
            self.calls.append(class_labels.tolist())
            return self.orig(sample, timestep, class_labels=class_labels, **kw)

        self.model.forward = forward
        return self

    def __exit__(self, *exc):
        del self.model.forward


def scene(h=40, w=52, c=1, dtype=np.uint8, speck=(20, 26)):
    """A frame with a dark speck and two clean, fully valid neighbours."""
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[:h, :w]
    base = (0.5 + 0.2 * np.sin(xx / 5.0) * np.cos(yy / 7.0)) * top
    frame = np.repeat(base[..., None], c, axis=2)
    nb = [(frame.astype(np.float32), np.ones((h, w), bool)) for _ in range(2)]
    frame = frame.copy()
    y, x = speck
    frame[y - 2 : y + 2, x - 2 : x + 2] = 0.05 * top
    return np.rint(frame).astype(dtype), nb


def test_diffedit_map_shape_and_determinism(tiny):
    model, sched = tiny
    x = torch.rand(5, len(CHANNELS), 16, 16) * 2 - 1
    a = diffedit_map(model, sched, x, CFG, generator=3)
    b = diffedit_map(model, sched, x, CFG, generator=torch.Generator().manual_seed(3))
    c = diffedit_map(model, sched, x, CFG, generator=4)
    assert a.shape == (5, 16, 16) and a.dtype == np.float32 and (a >= 0).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    s = mask_from_map(a, CFG)
    assert s.shape == a.shape
    with pytest.raises(ValueError):
        diffedit_map(model, sched, x[:, :2], CFG)


def test_both_conditions_in_one_batch(tiny):
    model, sched = tiny
    x = torch.rand(5, len(CHANNELS), 16, 16) * 2 - 1
    with Recorder(model) as rec:
        diffedit_map(model, sched, x, CFG, generator=0)
    assert len(rec.calls) == CFG.n_draws  # one call per draw (5 tiles fit one chunk)
    for labels in rec.calls:
        assert labels == [LABELS["damaged"]] * 5 + [LABELS["clean"]] * 5
    with Recorder(model) as rec:  # chunked: every chunk still carries both conditions
        diffedit_map(model, sched, torch.cat([x, x]), replace(CFG, n_draws=1, batch=4), generator=0)
    assert [len(c) for c in rec.calls] == [8, 8, 4]
    assert all(c.count(LABELS["damaged"]) == c.count(LABELS["clean"]) for c in rec.calls)


def test_clean_condition_against_the_drawn_noise(tiny):
    """``conditions`` "clean": one evaluation a patch, all under "clean", and the map is exactly
    ``|noise - eps(x_t, clean)|`` for the noise drawn from the seed."""
    model, sched = tiny
    config = replace(WHOLE, conditions="clean", n_draws=1, batch=4)
    x = torch.rand(5, len(CHANNELS), 16, 16) * 2 - 1
    with Recorder(model) as rec:
        got = diffedit_map(model, sched, x, config, generator=3)
    assert rec.calls == [[LABELS["clean"]] * 5]  # 2 * batch patches a call: as many items as "both"
    t = round(config.strength * sched.config.num_train_timesteps)
    a = sched.alphas_cumprod[t]
    noise = torch.randn((5, 1, 16, 16), generator=torch.Generator().manual_seed(3))
    x_t = torch.cat([a.sqrt() * x[:, :1] + (1 - a).sqrt() * noise, x[:, 1:]], 1)
    with torch.no_grad():
        eps = model(x_t, torch.full((5,), t), class_labels=torch.full((5,), LABELS["clean"])).sample
    np.testing.assert_array_equal(got, (noise - eps).abs().mean(1).numpy())
    with pytest.raises(ValueError, match="picture_threshold"):
        replace(config, picture_threshold=0.0)
    with pytest.raises(ValueError, match="conditions"):
        replace(config, conditions="damaged")


def test_the_cascade_asks_the_damaged_condition_only_where_the_clean_one_nears_the_level(tiny):
    """``conditions`` "cascade": "clean" on every patch, then "damaged" on the patches whose clean
    map reaches their level somewhere; those get "both"'s map, the others keep "clean"'s."""
    model, sched = tiny
    x = torch.rand(5, len(CHANNELS), 16, 16) * 2 - 1
    base = replace(WHOLE, n_draws=1, batch=4)
    cascade = replace(base, conditions="cascade")
    clean = diffedit_map(model, sched, x, replace(base, conditions="clean"), generator=3)
    both = diffedit_map(model, sched, x, base, generator=3)
    level = torch.full((5, 16, 16), np.inf)
    for i in (1, 3):  # patches 1 and 3 reach their level at one pixel each
        level[i] = float(clean[i].max())
    with Recorder(model) as rec:
        got = diffedit_map(model, sched, x, cascade, generator=3, level=level)
    assert rec.calls == [[LABELS["clean"]] * 5, [LABELS["damaged"]] * 2]
    np.testing.assert_array_equal(got[[0, 2, 4]], clean[[0, 2, 4]])
    np.testing.assert_allclose(got[[1, 3]], both[[1, 3]], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="level"):
        diffedit_map(model, sched, x, cascade, generator=3)
    with pytest.raises(ValueError, match="cascade"):
        replace(cascade, cascade=0.0)
    with pytest.raises(ValueError, match="whole_frame"):
        replace(cascade, whole_frame=False)
    frame, nb = scene()
    # A cascade level every tile reaches sends every tile on: the mask is "both"'s.
    everything = replace(WHOLE, conditions="cascade", cascade=1e-9)
    assert np.array_equal(detect_damage(frame, nb, model, sched, everything), detect_damage(frame, nb, model, sched, WHOLE))


def test_detect_damage_shapes_and_seed(tiny):
    model, sched = tiny
    frame, nb = scene()
    prop = np.zeros(frame.shape[:2], bool)
    prop[19:22, 25:28] = True
    a = detect_damage(frame, nb, model, sched, CFG, generator=1, proposals=prop)
    b = detect_damage(frame, nb, model, sched, CFG, generator=1, proposals=prop)
    assert a.shape == frame.shape[:2] and a.dtype == bool
    np.testing.assert_array_equal(a, b)
    m, score = detect_damage(frame, nb, model, sched, CFG, generator=1, proposals=prop, return_score=True)
    assert score.shape == frame.shape[:2] and score.dtype == np.float32
    assert not m[:, :8].any()  # fusion keeps the result near the proposal (dilated)


def test_tiles_at_borders_and_small_frames(tiny):
    model, sched = tiny
    frame, nb = scene(37, 45)
    prop = np.zeros((37, 45), bool)
    prop[0, 0] = prop[36, 44] = prop[0, 44] = True
    with Recorder(model) as rec:
        m = detect_damage(frame, nb, model, sched, CFG, generator=0, proposals=prop)
    assert m.shape == (37, 45)
    assert len(rec.calls[0]) == 2 * 3  # three clipped tiles, both conditions
    small, nbs = scene(9, 12, speck=(4, 6))  # smaller than a tile: padded
    prop = np.zeros((9, 12), bool)
    prop[3:6, 5:8] = True
    assert detect_damage(small, nbs, model, sched, CFG, generator=0, proposals=prop).shape == (9, 12)


def test_proposals_none_empty_and_thorough(tiny):
    model, sched = tiny
    frame, nb = scene()
    empty = np.zeros(frame.shape[:2], bool)
    with Recorder(model) as rec:
        m = detect_damage(frame, nb, model, sched, CFG, generator=0, proposals=empty)
    assert not m.any() and rec.calls == []  # nothing proposed: nothing to check, no network call
    with Recorder(model) as rec:
        m = detect_damage(frame, nb, model, sched, CFG, generator=0, proposals=None)  # spike detector
    assert m.shape == frame.shape[:2] and len(rec.calls) == CFG.n_draws  # it proposes the speck
    cfg = replace(CFG, n_draws=1, batch=64, thorough=True)
    with Recorder(model) as rec:
        m = detect_damage(frame, nb, model, sched, cfg, generator=0, proposals=empty)
    assert m.shape == frame.shape[:2] and len(rec.calls[0]) == 2 * 3 * 4  # every tile: 3 x 4 grid
    m = detect_damage(frame, [], model, sched, CFG, generator=0, proposals=None)  # no neighbours
    assert not m.any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_colour_frames(tiny, dtype):
    model, sched = tiny
    frame, nb = scene(c=3, dtype=dtype)
    prop = np.zeros(frame.shape[:2], bool)
    prop[19:22, 25:28] = True
    m = detect_damage(frame, nb, model, sched, CFG, generator=0, proposals=prop)
    assert m.shape == frame.shape[:2] and m.dtype == bool
    with pytest.raises(ValueError):
        detect_damage(frame[..., :2], nb, model, sched, CFG, proposals=prop)


def test_shipped_weights_find_a_speck_and_nothing_else():
    """The shipped detector with the default settings (whole frame): the speck is found where it is,
    with no proposal pointing at it and without neighbours too; the clean picture stays unflagged."""
    path = shipped("detector")
    assert path.is_file(), "restoration/weights/detector.safetensors must ship"
    model, sched = load_detector()
    assert model.config.num_class_embeds == len(LABELS)
    frame, nb = scene(96, 128, speck=(40, 60))
    empty = np.zeros((96, 128), bool)
    for neighbours in (nb, []):
        m, score = detect_damage(frame, neighbours, model, sched, DiffEditConfig(), generator=0, proposals=empty, return_score=True)
        assert m.shape == (96, 128) and m.dtype == bool
        assert m[39:41, 59:61].all()  # the speck's core
        speck = np.zeros((96, 128), bool)
        speck[36:44, 56:64] = True
        assert not m[~speck].any() and score[~speck].max() < 1  # nothing of the clean picture


WHOLE = DiffEditConfig(
    whole_frame=True, tile=16, margin=2, n_draws=2, batch=64, picture_threshold=0.04, conditions="both", edge_width=0, confirm=0.0
)


@pytest.mark.parametrize("conditions", ["both", "clean"])
def test_whole_frame_examines_every_pixel_once(tiny, conditions):
    """Every pixel is owned by one tile, every tile runs in one call (under both conditions, or
    under "clean" alone), and the result does not depend on proposals being there (they are
    evidence, not the gate)."""
    model, sched = tiny
    config = replace(WHOLE, conditions=conditions)
    names = ["damaged", "clean"] if conditions == "both" else ["clean"]
    frame, nb = scene(37, 45)
    empty = np.zeros((37, 45), bool)
    with Recorder(model) as rec:
        m, score = detect_damage(frame, nb, model, sched, config, generator=4, proposals=empty, return_score=True)
    tiles = whole_frame_origins((37, 45), 16, 2)
    owned = np.zeros((37, 45), int)
    for y, x, oy0, oy1, ox0, ox1 in tiles:
        owned[y + oy0 : y + oy1, x + ox0 : x + ox1] += 1
    assert (owned == 1).all()
    assert rec.calls == [[LABELS[name] for name in names for _ in tiles]] * WHOLE.n_draws
    assert m.shape == score.shape == (37, 45) and m.dtype == bool and (score > 0).all()
    again = detect_damage(frame, nb, model, sched, config, generator=4, proposals=empty)
    np.testing.assert_array_equal(m, again)


def test_whole_frame_in_one_pass_for_a_fully_convolutional_model():
    """``tile`` 0: the frame (reflected out to the U-Net's stride) is one tile, both conditions in
    one call; same seed, same score. A tile that is not a multiple of the stride is refused."""
    torch.manual_seed(0)
    shape = DetectorModelConfig(patch=16, block_out_channels=(8, 16, 16, 16), attention_lowest=False, attention_middle=False, norm_groups=4)
    model, sched = build_detector(shape).eval(), make_scheduler()
    assert not any(isinstance(m, Attention) for m in model.modules())
    frame, nb = scene(37, 45)
    one = replace(WHOLE, tile=0, margin=0)
    with Recorder(model) as rec:
        m, score = detect_damage(frame, nb, model, sched, one, generator=4, proposals=None, return_score=True)
    assert rec.calls == [[LABELS["damaged"], LABELS["clean"]]] * one.n_draws
    assert m.shape == score.shape == (37, 45) and m.dtype == bool and (score > 0).all()
    again = detect_damage(frame, nb, model, sched, one, generator=4, proposals=None, return_score=True)[1]
    np.testing.assert_array_equal(score, again)
    with pytest.raises(ValueError, match="multiple of 8"):
        detect_damage(frame, nb, model, sched, replace(WHOLE, tile=20), generator=4)
    with pytest.raises(ValueError, match="tile"):
        DiffEditConfig(whole_frame=False, tile=0)


def test_whole_frame_without_neighbours_and_relief(tiny):
    """A frame with no neighbour (a reel's only frame, a still) is examined from its own picture;
    inside a proposal the level is ``proposal_relief`` times the usual one."""
    model, sched = tiny
    frame, _ = scene(20, 24, speck=(10, 12))
    m, score = detect_damage(frame, [], model, sched, WHOLE, generator=0, proposals=None, return_score=True)
    assert score.shape == (20, 24) and (score > 0).all()
    prop = np.ones((20, 24), bool)
    relieved = replace(WHOLE, proposal_relief=0.5, min_area=1, close=0, grow_relief=1.0)
    a = detect_damage(frame, [], model, sched, relieved, generator=0, proposals=prop)
    b = detect_damage(frame, [], model, sched, replace(relieved, proposal_relief=1.0), generator=0, proposals=prop)
    np.testing.assert_array_equal(a, score > 0.5)
    np.testing.assert_array_equal(b, score > 1.0)


def test_picture_rule_reads_the_difference_in_picture_units(tiny):
    """With the picture rule a raw map M becomes ``M sqrt((1 - a) / a) / 2 / picture_threshold``."""
    _, sched = tiny
    raw = np.full((1, 4, 4), 2.0, np.float32)
    a = float(sched.alphas_cumprod[round(WHOLE.strength * 1000)])
    np.testing.assert_allclose(tile_scores(raw, sched, WHOLE), 2.0 * np.sqrt((1 - a) / a) / 2 / 0.04, rtol=1e-6)


def test_hysteresis_grows_found_damage_through_faint_pixels_only():
    score = np.zeros((6, 9), np.float32)
    score[1, 1:5] = [1.5, 0.8, 0.8, 0.6]  # a strong pixel with a faint tail: the tail joins down to 0.7
    score[4, 6:8] = 0.9  # faint alone: stays out
    level = np.ones_like(score)
    expected = np.zeros(score.shape, bool)
    expected[1, 1:4] = True
    assert np.array_equal(hysteresis(score, level, 0.7), expected)
    assert np.array_equal(hysteresis(score, level, 1.0), score > 1)
    level[4, 6] = 0.5  # a proposal lowers the level: its faint neighbour comes with it
    grown = hysteresis(score, level, 0.7)
    assert grown[4, 6] and grown[4, 7] and np.array_equal(grown[:3], expected[:3])


def test_faint_pixels_stay_only_where_the_neighbours_see_them_changed():
    """A pixel the hysteresis added stays where the frame departs from both valid neighbours, in its
    artefact's direction, by the departure or more; the clean ring into which the score spills goes,
    and where a neighbour is invalid a faint pixel stays."""
    frame = np.full((8, 12, 1), 100, np.uint8)
    frame[4, 3:8, 0] = [102, 200, 140, 60, 110]  # ring, strong speck, faint rim, wrong way, fainter rim (0.039)
    neighbours = [(np.full((8, 12, 1), 100, np.float32), np.ones((8, 12), bool)) for _ in range(2)]
    grown = np.zeros((8, 12), bool)
    grown[4, 3:8] = True
    strong = np.zeros((8, 12), bool)
    strong[4, 4] = True
    kept = confirm_faint(grown, strong, frame, neighbours, 0.03)
    np.testing.assert_array_equal(kept[4, 3:8], [False, True, True, False, True])
    assert not kept[:4].any() and not kept[5:].any()
    assert np.array_equal(confirm_faint(grown, strong, frame, neighbours, 0.05), grown & (np.arange(12) >= 4) & (np.arange(12) <= 5))
    neighbours[1][1][4, 3] = False  # no temporal evidence at the ring: it stays
    assert confirm_faint(grown, strong, frame, neighbours, 0.03)[4, 3]
    no_strong = confirm_faint(grown, np.zeros_like(grown), frame, neighbours, 0.03)
    np.testing.assert_array_equal(no_strong[4, 3:8], [True, False, False, False, False])


def test_confirm_keeps_strong_pixels_and_applies_only_with_two_neighbours(tiny):
    """``confirm`` removes only pixels under their level, and a frame without neighbours is as
    without it."""
    model, sched = tiny
    frame, nb = scene(20, 24, speck=(10, 12))
    config = replace(WHOLE, close=0, min_area=1, single_level=0.0, grow_relief=0.3, picture_threshold=0.012)
    none = np.zeros((20, 24), bool)
    off, score = detect_damage(frame, nb, model, sched, config, generator=0, proposals=none, return_score=True)
    on = detect_damage(frame, nb, model, sched, replace(config, confirm=0.03), generator=0, proposals=none)
    assert not (on & ~off).any() and (on | ~(score > 1)).all()
    alone = [detect_damage(frame, [], model, sched, replace(config, confirm=c), generator=0, proposals=none) for c in (0.0, 0.03)]
    np.testing.assert_array_equal(*alone)


def test_spikes_both_neighbours_see_are_damage_where_the_score_allows(tiny):
    """With ``spike_level`` a pixel beyond both neighbours' 3x3 range (the spike detector, single
    pixels kept) is damage when its score reaches ``spike_score`` of its level; without two
    neighbours nothing is added."""
    model, sched = tiny
    frame, nb = scene(20, 24, speck=(10, 12))
    blind = replace(WHOLE, picture_threshold=100.0)  # the network alone finds nothing
    none = np.zeros((20, 24), bool)
    assert not detect_damage(frame, nb, model, sched, blind, generator=0, proposals=none).any()
    spikes = detect_spikes(frame, nb, SpikeDetectorConfig(threshold=0.1, min_area=1))
    assert spikes[9:11, 11:13].all()
    loose = replace(blind, spike_level=0.1, spike_score=0.0)
    found, score = detect_damage(frame, nb, model, sched, loose, generator=0, proposals=none, return_score=True)
    np.testing.assert_array_equal(found, spikes)
    k = float(np.median(score[spikes]))
    gated = detect_damage(frame, nb, model, sched, replace(blind, spike_level=0.1, spike_score=k), generator=0, proposals=none)
    np.testing.assert_array_equal(gated, spikes & (score >= k))
    alone = detect_damage(frame, [], model, sched, loose, generator=0, proposals=none)
    assert not alone.any()


def test_the_mask_rule_on_a_stored_score_is_detect_damages(tiny):
    """``mask_from_score`` with ``pixel_levels`` applied to the score ``detect_damage`` returns gives
    ``detect_damage``'s own mask bit for bit (what ``benchmarks/mask_rule.py`` relies on), with the
    relief inside proposals, the border band, the confirmation and the spike rule all acting."""
    model, sched = tiny
    frame, nb = scene(40, 52, speck=(20, 26))
    proposals = np.zeros((40, 52), bool)
    proposals[18:23, 24:29] = True
    config = replace(WHOLE, picture_threshold=0.012, edge_width=4, edge_level=1.5, confirm=0.01, spike_level=0.1, spike_score=0.5)
    found, score = detect_damage(frame, nb, model, sched, config, generator=0, proposals=proposals, return_score=True)
    level = pixel_levels(proposals, config)
    assert level[20, 26] == config.proposal_relief and level[0, 0] == config.edge_level and level[10, 10] == 1.0
    np.testing.assert_array_equal(mask_from_score(score, level, frame, nb, config), found)
    assert found.any() and not found.all()
    with pytest.raises(ValueError, match="nearest pair"):
        mask_from_score(score, level, frame, nb[:1], config)
    with pytest.raises(ValueError, match="nearest pair"):
        mask_from_score(score[:-1], level, frame, nb, config)


def test_the_level_is_raised_near_the_frame_border(tiny):
    """Within ``edge_width`` px of the border the level is ``edge_level`` times the usual one."""
    model, sched = tiny
    frame, _ = scene(20, 24, speck=(10, 12))
    config = replace(WHOLE, close=0, min_area=1, single_level=0.0, grow_relief=1.0, picture_threshold=0.012)
    none = np.zeros((20, 24), bool)
    plain, score = detect_damage(frame, [], model, sched, config, generator=0, proposals=none, return_score=True)
    edged = detect_damage(frame, [], model, sched, replace(config, edge_width=3, edge_level=2.0), generator=0, proposals=none)
    level = np.full((20, 24), 2.0)
    level[3:17, 3:21] = 1.0
    np.testing.assert_array_equal(plain, score > 1.0)
    np.testing.assert_array_equal(edged, score > level)
    assert (plain & ~edged).any()
    with pytest.raises(ValueError, match="edge_level"):
        DiffEditConfig(edge_level=0.5)


def test_specks_under_min_area_are_kept_only_well_above_their_level(tiny):
    """A one-pixel component joins the mask only where its score clears ``single_level`` times the
    level: a speck stands out more than grain does."""
    model, sched = tiny
    frame, _ = scene(20, 24, speck=(10, 12))
    off = replace(WHOLE, close=0, grow_relief=1.0, min_area=2, single_level=0.0, picture_threshold=0.012)
    none = np.zeros((20, 24), bool)
    dropped, score = detect_damage(frame, [], model, sched, off, generator=0, proposals=none, return_score=True)
    above = score > 1.0
    labels, _ = ndi.label(above, structure=np.ones((3, 3), bool))
    single = above & (np.bincount(labels.ravel())[labels] == 1)
    assert single.sum() >= 2 and not (dropped & single).any()
    k = float(np.median(score[single]))  # half the single pixels clear it
    kept = detect_damage(frame, [], model, sched, replace(off, single_level=k), generator=0, proposals=none)
    np.testing.assert_array_equal(kept, dropped | (single & (score > k)))
    assert (kept & single).any() and (single & ~kept).any()


def test_the_default_mask_is_not_closed():
    """Closing filled the notches in the edges of damage with clean pixels (the 1 px ring outside
    it), so the whole-frame default keeps the found pixels as they are; the first detector's
    settings still close."""
    from restoration.detect.diffedit import _tidy

    found = np.zeros((9, 9), bool)
    found[2:7, 2:7] = True
    found[2, 4] = False  # a notch in its edge
    assert DiffEditConfig().close == 0 and PROPOSAL_TILES.close == 1
    np.testing.assert_array_equal(_tidy(found, DiffEditConfig()), found)
    closed = _tidy(found, PROPOSAL_TILES)
    assert closed[found].all() and (closed & ~found).sum() == 1 and closed[2, 4]


def test_temporal_growth_takes_the_faint_part_both_neighbours_see():
    """A found artefact grows through connected pixels that depart from both neighbours in its own
    direction by the tolerance; not through clean pixels, the other direction, or where a neighbour
    is invalid."""
    from restoration.detect.diffedit import grow_temporally

    clean = np.full((12, 12, 1), 100, np.uint8)
    frame = clean.copy()
    frame[4:7, 4:7] = 30  # the found core, dark
    frame[4:7, 7] = 75  # its faint edge: 25 codes (0.098) darker than the neighbours
    frame[4:7, 3] = 125  # brighter: the other direction
    frame[7, 4:7] = 75  # faint, but a neighbour is invalid there
    found = np.zeros((12, 12), bool)
    found[4:7, 4:7] = True
    valid = np.ones((12, 12), bool)
    invalid = valid.copy()
    invalid[7] = False
    neighbours = [(clean.astype(np.float32), valid), (clean.astype(np.float32), invalid)]
    everywhere = np.ones((12, 12), bool)
    assert DiffEditConfig().temporal_grow == 0  # off by default: see its docstring
    grown = grow_temporally(found, frame, neighbours, everywhere, 0.07)
    expected = found.copy()
    expected[4:7, 7] = True
    np.testing.assert_array_equal(grown, expected)
    np.testing.assert_array_equal(grow_temporally(found, frame, neighbours, everywhere, 0.1), found)  # 0.098 < 0.1
    np.testing.assert_array_equal(grow_temporally(found, frame, neighbours, ~expected | found, 0.07), found)  # not a candidate
