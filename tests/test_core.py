"""One per-frame core: the pipeline, the benchmark and the speed scripts restore a frame identically."""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration.core.methods import DETECTORS, INPAINTERS, LATENT_METHODS
from restoration.core.restore import Models, RestoreConfig, detect, fill, restore_frames
from restoration.detect.diffedit import PROPOSAL_TILES
from restoration.evaluate.benchmark import method_runners, withheld
from restoration.inpaint.palette import PaletteConfig
from restoration.inpaint.palette import make_scheduler as palette_scheduler
from restoration.models.detector import build_detector, make_scheduler, tiny_detector_config
from restoration.models.inpainter import build_inpainter, tiny_inpainter_config
from restoration.motion.flow import compensate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(scope="module")
def tiny_models() -> Models:
    torch.manual_seed(0)
    detector = build_detector(tiny_detector_config()).eval()
    inpainter = build_inpainter(tiny_inpainter_config()).eval()
    return Models(detector=(detector, make_scheduler()), inpainter=(inpainter, palette_scheduler()))


def damaged_clip() -> np.ndarray:
    """``(5, 40, 56, 1)`` uint8: a drifting gradient with grain and a speck on every frame."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[:40, :56]
    frames = []
    for t in range(5):
        img = 70 + 1.5 * (x + t) + y + rng.normal(0, 2, (40, 56))
        img[8 + 5 * t : 11 + 5 * t, 20 + 4 * t : 23 + 4 * t] = 245
        frames.append(np.clip(img, 0, 255).astype(np.uint8)[..., None])
    return np.stack(frames)


# Small tiles and steps so that the tiny models run in a second; DiffEdit around the spike proposals
# (the first detector's mode), which finds the clip's specks even with random weights.
CONFIG = RestoreConfig(
    diffedit=replace(PROPOSAL_TILES, tile=16, margin=4, n_draws=2, floor=0.0),
    palette=PaletteConfig(steps=2, tile=16, context=4, samples=2),
    device="cpu",
    precision="float32",
)


def test_every_registered_method_runs_through_the_core(tiny_models):
    frames = damaged_clip()
    neighbours = compensate(frames, 2)
    for name in set(DETECTORS) - set(LATENT_METHODS):  # the latent ones need a folder: tests/test_latent.py
        mask = detect(frames[2], neighbours, 2, replace(CONFIG, detector=name), tiny_models)
        assert mask.shape == (40, 56) and mask.dtype == bool
    mask = np.zeros((40, 56), bool)
    mask[18:21, 28:31] = True
    for name in set(INPAINTERS) - set(LATENT_METHODS):
        # With the neighbours and without (a reel's end, a cut: black, nothing valid), as the benchmark withholds them.
        for given in (neighbours, withheld(neighbours)):
            restored, _ = fill(frames[2], mask, given, 2, replace(CONFIG, inpainter=name), tiny_models)
            assert restored.dtype == frames.dtype and np.array_equal(restored[~mask], frames[2][~mask])


def test_benchmark_and_speed_script_restore_a_frame_as_restore_does(tiny_models):
    from speed_device import restore as speed_restore

    frames = damaged_clip()
    [(mask, restored, _, _)] = restore_frames(frames, [2], 0, CONFIG, tiny_models)
    assert mask.any()

    # The benchmark: neighbours for every frame first, then each method's runner with the frame index.
    detectors, inpainters = method_runners(CONFIG, tiny_models)
    masks = np.stack([detectors["diffedit"](f, compensate(frames, i), i) for i, f in enumerate(frames)])
    assert np.array_equal(masks[2], mask)
    aware = compensate(frames, 2, damage=masks)
    assert np.array_equal(inpainters["palette"](frames[2], masks[2], aware, 2), restored)

    # The accelerator speed script, given the neighbours' masks as the pipeline finds them.
    speed_mask, speed_fill, _, _ = speed_restore(frames, 2, masks, CONFIG, tiny_models)
    assert np.array_equal(speed_mask, mask) and np.array_equal(speed_fill, restored)
