"""DiffEdit damage detection with the trained "damaged film photo" model, fused with spike proposals.

DiffEdit (Couairon et al. 2022; diffusers' mask step): noise a patch to strength ``r``, ask the
class-conditional model for its noise estimate under "damaged" and under "clean", and average
``|eps(x_t, damaged) - eps(x_t, clean)|`` over ``n`` noise draws. Where the patch looks like damage
the two estimates disagree (under "clean" the model explains the speck away as noise).

Differences from diffusers' normalisation (``M = clamp(M, 0, 3 mean) / (3 mean); mask = M > 0.5``):
a per-patch normalisation turns any clean patch into a "mask" too, so a pixel must also exceed an
absolute ``floor`` (in noise units, calibrated on clean grain/flicker patches): the effective
threshold per tile is ``max(threshold * clamp * mean(M), floor)``.

By default (``whole_frame``, the shipped detector v2, trained with the *disagreement* objective of
:mod:`restoration.train.detector`) every pixel of a frame is scored: the frame is cut into tiles
of the model's training size (64 px; fewer, larger tiles would cost less per pixel, but the model's
one self-attention layer, in its middle block, makes the score depend on the tile, and 64 px tiles
found more at the same precision than 128 or 256 px ones), one noise draw at a low strength, and
the mask rule is absolute, in picture units (``picture_threshold``); the spike proposals only lower
the level inside them. The first detector's
mode (``whole_frame=False``, the ``eps`` objective) ran DiffEdit only on tiles around the cheap spike
detector's proposals (:func:`restoration.detect.temporal.detect_spikes`), so its cost grew with the
damaged area and it saw nothing the proposals missed; ``thorough`` ran every tile and added
DiffEdit-only detections above a stronger ``strong`` level. See :func:`detect_damage` for the fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel
from scipy import ndimage as ndi

from restoration.detect.temporal import SpikeDetectorConfig, detect_spikes
from restoration.models.detector import LABELS, make_scheduler
from restoration.motion.flow import luma_float, validate_frame

_SQUARE = np.ones((3, 3), bool)
FUSIONS = ("verify", "grow", "intersect", "diffedit")
CONDITIONS = ("both", "clean", "cascade")


@dataclass(frozen=True)
class DiffEditConfig:
    """Settings for :func:`diffedit_map` and :func:`detect_damage`.

    The defaults are the shipped detector's (v2: whole frame, absolute rule); the first detector
    (``eps`` objective) ran with :data:`PROPOSAL_TILES`.

    strength: noise level r in (0, 1]: timestep ``round(r * T)`` of the T-step training schedule.
    n_draws: independent noise draws averaged.
    clamp, threshold: diffusers' normalisation: a pixel is damage above ``threshold * clamp *
        mean(M)`` of its tile ...
    floor: ... and above this absolute level of ``M`` (noise units), so clean tiles give nothing.
    tile: tile side in pixels (the model's training patch size is best: measured for v2, 64 px).
        With ``whole_frame``, 0 = the whole frame in one pass (reflected out at its bottom and right
        to a multiple of the U-Net's stride): for a fully convolutional model (no self-attention,
        :class:`restoration.models.detector.DetectorModelConfig`), no pixel is computed twice. Meant
        for a GPU: on a 2-core CPU it was slower, 3.6 s against 2.0 s for 64 px tiles at 720x576
        and 41.7 against 13.4 s at 2048x1556 (a 4-level model, 2026-12-07): small tiles stay in cache.
    margin: a proposal is kept at least this far from its tile's edge (context for the model). With
        ``whole_frame``, half the tiles' overlap: 4 (8 px of overlap) against 8 scored F1 within 0.003
        and per-object recall within 0.016 on imageio, intel_car and person (medium, 6 frames, step
        24,000), in 19-30 % less time; 2 lost up to 0.002 F1 more (2026-12-03, ad hoc).
    fusion: "intersect" = DiffEdit mask inside the proposals dilated by ``proposal_dilate``;
        "verify" = proposal components DiffEdit confirms (any DiffEdit pixel within their
        dilation), each with the DiffEdit pixels around it; "grow" = every proposal, grown by the
        DiffEdit pixels within ``proposal_dilate`` of it; "diffedit" = the DiffEdit mask alone.
    proposal_dilate: pixels the proposals grow by before fusing.
    thorough: run every tile of the frame; DiffEdit-only components whose peak ``M`` exceeds
        ``strong`` (and at least ``min_area`` px) are added to the fused mask.
    strong: absolute level for DiffEdit-only detections in thorough mode.
    min_area: DiffEdit components smaller than this are dropped (grain) unless ``single_level`` keeps them.
    close: binary closing iterations (3x3) of the DiffEdit mask (0 = none); dilate: final dilation in px.
        0 since 2026-12-07 (1 before, the first detector's setting): closing filled the notches in
        the edges of damage with clean pixels. With ``whole_frame`` 98 % of the pixels it added lay
        in the 1 px ring just outside the true damage, at 0.1 of their level in the median. Same
        score maps, 4 interior frames of each clip's last 6, medium (2026-12-07, ad hoc): precision
        0.936 / 0.917 / 0.931 / 0.886 -> 0.999 / 0.998 / 0.991 / 0.945 (person, bigbuckbunny,
        intel_car, imageio), recall 0.772 / 0.785 / 0.851 / 0.687 -> 0.762 / 0.773 / 0.839 / 0.682,
        F1 +0.018 to +0.025, false alarms on the undamaged window (6 frames) 0.0104 -> 0.0082 % on
        imageio, equal elsewhere. The benchmark (24-frame windows, every clip and level,
        RESULTS.md): precision 0.866-0.931 -> 0.936-0.999, recall -0.007 to -0.015, F1 +0.020 to
        +0.035, per-object recall -0.006 to -0.016; with the Palette fill (6 frames) the pixels
        changed outside the true damage fell from 118-4,621 to 0-280 a window, and the in-mask PSNR
        by 0.06-0.39 dB: the notches closing filled were damaged in part (their faintest pixels, at
        the simulator's contrast floor).
    batch: tiles per network call (each call holds 2 * batch items: both conditions).
    whole_frame: examine every pixel (detector v2): the frame is cut into ``tile`` squares that
        overlap by ``2 * margin`` and each tile keeps only its inner part (the whole frame in a few
        large tiles costs less per pixel than many small overlapping ones; the U-Net is fully
        convolutional). Proposals are evidence, not the gate: inside them the level is
        ``proposal_relief`` times the usual one. ``fusion``, ``thorough`` and ``strong`` are unused.
    picture_threshold: > 0 = the absolute rule of a model trained with the "disagreement" objective
        (:mod:`restoration.train.detector`): there ``eps(damaged) - eps(clean) = sqrt(a / (1 - a))
        (clean - damaged)``, so ``M sqrt((1 - a) / a) / 2`` estimates ``|damaged - clean|`` in
        fractions of the range, and a pixel is damage where it exceeds this fraction. 0 = the
        relative rule above (``threshold``, ``clamp``, ``floor``). 0.12 with ``grow_relief`` 0.7
        since 2026-12-07 (night), for the detector fine-tuned at low noise
        (``restoration/weights/detector.md``), which flags less of clean film than v2 at any level;
        chosen on its score maps (``benchmarks/mask_rule.py``, the quality tables' 24-frame
        windows; imageio, intel_car, person, bigbuckbunny): level 0.12 with growth 0.7 against 0.13
        with 0.8, medium F1 0.894 / 0.924 / 0.907 / 0.913 against 0.882 / 0.902 / 0.886 / 0.891,
        imageio's precision 0.954 against 0.964 and false alarms 0.0091 % against 0.0059 % (intel_car
        0.0067 % against 0.0058 %); level 0.11 took imageio to precision 0.950 and 0.0099 %, at the
        bars' edge.
    proposal_relief: with ``whole_frame``, the level inside the spike proposals, relative to the
        level elsewhere (1 = proposals change nothing).
    conditions: which noise estimates the map compares. "both" = DiffEdit's ``|eps(x_t, damaged) -
        eps(x_t, clean)|``, two network evaluations a tile. "clean" = ``|noise - eps(x_t, clean)|``,
        one: a model trained with the disagreement objective is taught to predict, under "damaged",
        the noise that made ``x_t``, and here that noise is known (it was drawn to make ``x_t``), so the
        truth stands in for its estimate. Needs ``picture_threshold`` > 0 (the disagreement rule).
        Measured against "both" at 0.16 (the default until 2026-12-07, evening; benchmarks/RESULTS.md, "Detector
        v2", and ad hoc sweeps of levels 0.16-0.19 on score maps computed once): on 6-frame medium
        windows "clean" at 0.175 scored F1 0.787 / 0.880 / 0.829 / 0.829 against 0.781 / 0.883 /
        0.831 / 0.831 (imageio, intel_car, person, BBB) at half the network's work, but on the
        24-frame windows of the quality tables it lost on intel_car at every level (0.175: P 0.912,
        R 0.755, F1 0.826 against 0.918 / 0.772 / 0.839) and flagged 0.0101-0.0106 % of its undamaged
        frames (both: 0.0093 %, the bar 0.01 %), and its precision was 0.003-0.011 lower in 11 of 12
        cells. The noise it reads carries what the network could not tell from the picture, which
        "both" cancels. So it is an option for speed, not the default. "cascade" = "both" where it
        matters: the clean evaluation on every tile, then the damaged one only on the tiles whose
        "clean" score reaches ``cascade`` of the pixel's level somewhere; a tile that stops there keeps
        its "clean" map, which is below the level everywhere (needs ``picture_threshold`` > 0).
        The default since 2026-12-07 (evening). Against "both" on the 4 interior frames of each
        clip's last 6 (one thread, bf16 OpenVINO, ad hoc): the same masks to the pixel on every clip
        at every level and on the undamaged film; detection time per frame at low / medium / high
        damage: imageio 0.24 / 0.20 / 0.24 s against 0.31 / 0.27 / 0.23, intel_car 0.72 / 0.74 / 0.81
        against 0.83 / 0.78 / 0.85, person 0.67 / 0.77 / 0.79 against 0.80 / 0.83 / 0.82,
        bigbuckbunny 1.61 / 2.01 / 2.25 against 2.27 / 2.30 / 2.23; on undamaged film 0.15 / 0.49 /
        0.47 / 1.20 against 0.20 / 0.75 / 0.86 / 2.24. It saves where the film is clean.
    cascade: with ``conditions`` "cascade", the fraction of a pixel's level (in the "clean" map)
        that sends its tile on to the damaged evaluation. At ``grow_relief`` or below, a tile that
        stops holds no pixel the hysteresis could grow through. 0.8 changed 2 pixels of intel_car's
        undamaged frames (of the windows above); 0.6 none, and saved as much.
    single_level: with ``whole_frame``, a component under ``min_area`` is kept where its score
        exceeds this multiple of its level (1-4 px specks are three quarters of the simulated
        artefacts, and dropping every one-pixel component lost most of them; grain rarely clears the
        level by much). On the 4 interior frames of 6-frame medium windows (2026-12-03, ad hoc), with
        ``proposal_relief`` 0.35 against 0.5 without it: F1 0.758 -> 0.776 (imageio_realshort) and
        0.880 -> 0.889 (intel_car), per-object recall 0.340 -> 0.444 and 0.457 -> 0.520, precision
        within 0.002, false alarms 0.0085 -> 0.0085 % and 0.0067 -> 0.0075 %; keeping every single
        pixel (``min_area`` 1) found a little more but raised imageio's false alarms to 0.0091 %
        (0.0115 % with the window's end frames, over the 0.01 % bar). 0 = off.
    grow_relief: with ``whole_frame``, hysteresis: a pixel above this fraction of its level joins
        the mask when it is connected (8-neighbours, through such pixels) to one above the full level,
        so a faint part of a found artefact (a soft rim, a translucent edge) comes with it while a
        faint pixel alone stays out (1 = off). The default pair (level 0.16, growth down to 0.8 of it)
        was measured against level 0.14 without growth on the same windows (benchmarks/RESULTS.md,
        "Detector v2"): precision equal or higher on every clip, F1 +0.006 to +0.012, fewer false
        alarms on imageio_realshort.
    temporal_grow: with ``whole_frame`` and two valid neighbours, a found artefact also grows through
        the 8-connected pixels that both motion-compensated neighbours say changed, in its own
        direction, by at least this fraction of the range (0 = off), and whose score reaches
        ``temporal_grow_score`` of their level. The faintest pixels of an artefact (three quarters of
        the pixels missed change the picture by less than the level; the simulator's contrast floor
        is 0.12) are found beside the rest; grain, clean edges and the 1 px ring next to damage differ
        from both neighbours by about 0.01, and a flow error rarely in the same direction from both
        and as the damage beside it. Off where the neighbours share the damage (a persistent line
        scratch), which the picture's own evidence still finds. Same score maps, 4 interior frames of
        each clip's last 6, medium (2026-12-07, ad hoc; person, bigbuckbunny, intel_car, imageio):
        0.07 with score 0.3 of the level: precision 0.999 / 0.998 / 0.991 / 0.945 -> 0.996 / 0.996 /
        0.989 / 0.940, recall 0.762 / 0.773 / 0.839 / 0.682 -> 0.786 / 0.814 / 0.853 / 0.713; 0.09:
        recall 0.780 / 0.806 / 0.849 / 0.707. Without the direction test imageio's precision fell to
        0.903 / 0.911 (0.07 / 0.09: flow errors in its texture), without it and the score test to
        0.825 / 0.857. The benchmark at 0.07 and 0.3 (24-frame windows, every clip and level,
        2026-12-07): recall +0.019 to +0.055, precision -0.000 to -0.014, F1 +0.005 to +0.034,
        per-object recall +0.021 to +0.048, in-mask PSNR end to end with the Palette fill +0.28 to
        +0.57 dB (the 8 cells measured). But on intel_car's undamaged frames it grew the few false
        alarms from 0.0093 % to 0.0125 % of the pixels, over issue 13's 0.01 %: they are small bright
        blobs (2-9 px) that move apart from the picture, 3-7 px a frame in varying directions, which
        the flow misses, so the spike detector proposes them and the network confirms them. Score
        0.5 / 0.7 kept 0.0109 / 0.0098 % there and gained a third / a tenth of the recall; dropping
        the components of at most 40 px that both neighbours show within 6 px kept 0.0057 %, but
        took real specks with it (imageio's recall -0.017 to -0.058). So it is off by default (0).
    temporal_grow_score: the least score, as a fraction of a pixel's level, of a pixel that
        ``temporal_grow`` adds.
    edge_width, edge_level: with ``whole_frame``, the level within ``edge_width`` px of the frame's
        border is ``edge_level`` times the usual one. There the picture entering the frame has no
        valid neighbour and the network sees less context: at level 0.13 three quarters of
        imageio_realshort's false alarms on undamaged film lay within 12 px of the border, half of
        them where a neighbour was invalid (0 = off).
    confirm: with ``whole_frame`` and two neighbours, a pixel the hysteresis added (under its
        level, above ``grow_relief`` of it) stays only where the frame departs from both
        motion-compensated neighbours by at least this fraction of the range, in the direction
        its artefact's pixels above the level depart in (:func:`confirm_faint`); where a neighbour
        is invalid it stays. The faint rim of real damage departs by the simulator's contrast floor
        (0.12); the clean ring next to damage, into which the network's score spills, by grain
        (0 = off).

    spike_level, spike_score: with ``whole_frame`` and two neighbours, a pixel is also damage where
        it lies beyond the range of both motion-compensated neighbours over 3x3 by at least
        ``spike_level`` of the range (or 4 robust standard deviations of that neighbour's residual,
        where grain is heavier), in the same direction (:func:`restoration.detect.temporal.detect_spikes`,
        single pixels kept), and its score reaches ``spike_score`` of its level (0 = off). The
        network reads a faint one- or two-pixel speck at about half its contrast, under any level
        clean film allows; the neighbours see it whole. 0.1 at 0.6 (the default since 2026-12-07,
        late, with relief 0.7 and the edge 12 px at 2.0, which keep the false alarms under 0.01 %)
        against off with relief 0.5 and the edge 10 px at 1.6, the detector curve's 24-frame
        windows in one run: per-object recall at medium 0.524 / 0.528 / 0.507 / 0.497 -> 0.569 /
        0.626 / 0.573 / 0.557 (imageio, intel_car, person, bigbuckbunny), sprinkles 0.36 / 0.28 /
        0.37 / 0.62 -> 0.50 / 0.41 / 0.47 / 0.62, spots +0.05 to +0.11, dirt +0.06 to +0.10, F1 +0.001
        to +0.007, precision equal or higher, false alarms 0.0093 / 0.0096 / 0.00003 / 0.0008 % ->
        0.0091 / 0.0096 / 0.00006 / 0.0008 %. On score maps, 0.3 of the level instead of 0.6 gave
        intel_car F1 0.924 and per-object 0.80, but 0.0139 % false alarms (imageio 0.0200 %); the
        plain pixel test (no 3x3 range) flagged flow errors along edges: 0.0243 / 0.0641 %. The
        benchmark rerun with it (RESULTS.md, every clip and level, against the settings before):
        per-object recall +0.045 to +0.112 (24 frames), F1 +0.000 to +0.011, precision equal or
        higher; end to end with the Palette fill (6 frames) -0.04 to +0.73 dB in the true damage.

    The level, ``confirm`` and the edge (first at relief 0.5, edge 10 px at 1.6; 2026-12-07, late) were
    chosen on score maps computed once for the benchmark's 24-frame windows (every clip, medium,
    high and undamaged) against level 0.16, relief 0.35 and neither rule: F1 at medium 0.846 /
    0.859 / 0.850 / 0.854 -> 0.858 / 0.882 / 0.863 / 0.870 (imageio, intel_car, person,
    bigbuckbunny), at high 0.843 / 0.848 / 0.819 / 0.842 -> 0.852 / 0.871 / 0.836 / 0.858,
    precision -0.001 to +0.003, per-object recall +0.03 to +0.06, false alarms 0.0082 / 0.0093 /
    0 / 0.0009 % -> 0.0093 / 0.0096 / 0 / 0.0008 %. Level 0.13 alone took imageio's false alarms to
    0.0162 % and its precision at medium to 0.903; relief 0.35 kept intel_car's at 0.0104 % (its
    moving lights are proposed); ``confirm`` brought imageio's precision back (0.917 -> 0.939) and
    cost the other clips 0.004-0.016 of recall. The benchmark rerun with them (RESULTS.md, every
    clip and level): F1 +0.007 to +0.023, precision -0.002 to +0.003, per-object recall +0.035 to
    +0.059; end to end with the Palette fill +0.27 to +1.11 dB in the true damage, pixels changed
    outside it 0-352 -> 0-489 a 6-frame window; FILM-R recall 0.442 / 0.567 -> 0.529 / 0.640 at
    precision 0.233 / 0.126 -> 0.206 / 0.114 (stills: no neighbours, so only the level acts).
    """

    strength: float = 0.03
    n_draws: int = 1
    clamp: float = 3.0
    threshold: float = 0.5
    floor: float = 0.45
    tile: int = 64
    margin: int = 4
    fusion: str = "grow"
    proposal_dilate: int = 4
    thorough: bool = False
    strong: float = 0.6
    min_area: int = 2
    close: int = 0
    dilate: int = 0
    batch: int = 8
    whole_frame: bool = True
    picture_threshold: float = 0.12
    proposal_relief: float = 0.7
    grow_relief: float = 0.7
    single_level: float = 1.25
    conditions: str = "cascade"
    cascade: float = 0.6
    temporal_grow: float = 0.0
    temporal_grow_score: float = 0.3
    edge_width: int = 12
    edge_level: float = 2.0
    confirm: float = 0.03
    spike_level: float = 0.1
    spike_score: float = 0.6

    def __post_init__(self) -> None:
        if not 0 < self.strength <= 1:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")
        if self.n_draws < 1 or self.tile < 8 and not (self.tile == 0 and self.whole_frame) or self.batch < 1:
            raise ValueError(
                f"n_draws >= 1, tile >= 8 (or 0 with whole_frame) and batch >= 1 required, got {self.n_draws}, {self.tile}, {self.batch}"
            )
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.tile and 2 * self.margin >= self.tile:
            raise ValueError(f"margin {self.margin} too large for tile {self.tile}")
        if self.picture_threshold < 0 or not 0 < self.proposal_relief <= 1 or not 0 < self.grow_relief <= 1 or self.single_level < 0:
            raise ValueError(
                "picture_threshold >= 0, proposal_relief and grow_relief in (0, 1], single_level >= 0 required, "
                f"got {self.picture_threshold}, {self.proposal_relief}, {self.grow_relief}, {self.single_level}"
            )
        if self.conditions not in CONDITIONS:
            raise ValueError(f"conditions must be one of {CONDITIONS}, got {self.conditions!r}")
        if self.conditions != "both" and self.picture_threshold <= 0:
            raise ValueError(f'conditions "{self.conditions}" reads a disagreement-trained model: it needs picture_threshold > 0')
        if self.temporal_grow < 0 or not 0 <= self.temporal_grow_score <= 1:
            raise ValueError(f"need temporal_grow >= 0, temporal_grow_score in [0, 1]: {self.temporal_grow}, {self.temporal_grow_score}")
        if self.spike_level < 0 or self.spike_score < 0:
            raise ValueError(f"need spike_level >= 0, spike_score >= 0: {self.spike_level}, {self.spike_score}")
        if self.edge_width < 0 or self.edge_level < 1 or self.confirm < 0:
            raise ValueError(f"need edge_width >= 0, edge_level >= 1, confirm >= 0: {self.edge_width}, {self.edge_level}, {self.confirm}")
        if not 0 < self.cascade <= 1:
            raise ValueError(f"cascade must be in (0, 1], got {self.cascade}")
        if self.conditions == "cascade" and not self.whole_frame:
            raise ValueError('conditions "cascade" reads each pixel\'s level: it needs whole_frame')
        if self.whole_frame and self.tile % 4:
            raise ValueError(f"whole_frame tiles must be a multiple of 4 (the U-Net halves them twice), got {self.tile}")


# The first detector's settings (weights trained with the ``eps`` objective): DiffEdit on 32 px tiles
# around the spike proposals, four draws, the relative rule, one 3x3 closing.
PROPOSAL_TILES = DiffEditConfig(
    strength=0.06,
    n_draws=4,
    tile=32,
    margin=6,
    batch=64,
    whole_frame=False,
    picture_threshold=0.0,
    proposal_relief=1.0,
    conditions="both",
    close=1,
)


def load_detector(path: str | Path | None = None) -> tuple[UNet2DModel, DDPMScheduler]:
    """Load detector weights (default: the shipped ``restoration/weights/detector.safetensors``).

    Returns ``(model in eval mode on CPU, scheduler)``; the scheduler config stored with the weights
    is used (only its ``alphas_cumprod`` matter here).
    """
    from restoration.models.weights import load_unet, shipped

    model, facts = load_unet(shipped("detector") if path is None else path)
    return model, make_scheduler(facts.get("scheduler"))


def _generator(generator: torch.Generator | int | None) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    return torch.Generator().manual_seed(0 if generator is None else int(generator))


def _timestep(scheduler: DDPMScheduler, config: DiffEditConfig) -> int:
    steps = scheduler.config.num_train_timesteps
    return min(max(int(round(config.strength * steps)), 0), steps - 1)


@torch.no_grad()
def diffedit_map(
    model: UNet2DModel,
    scheduler: DDPMScheduler,
    patches: torch.Tensor,
    config: DiffEditConfig = DiffEditConfig(),
    generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float32,
    level: torch.Tensor | None = None,
) -> np.ndarray:
    """Raw DiffEdit map ``M`` of a stack of patches.

    patches: float tensor ``(N, Cin, h, w)``, channels as
        :data:`restoration.models.detector.CHANNELS`: channel 0 the clean-looking patch x0 in
        [-1, 1] (2 * luma - 1), then (when the model takes them) the warped neighbours in [-1, 1]
        (0 where invalid) and their 0/1 validity. ``Cin`` must equal the model's ``in_channels``.
    Returns float32 numpy ``(N, h, w)``: ``mean over draws of |eps(x_t, damaged) - eps(x_t, clean)|``
    in noise units (not normalised: see :func:`mask_from_map`). Each draw is one network call per
    chunk of ``config.batch`` patches, with both conditions in that same batch. With
    ``config.conditions`` "clean", ``|noise - eps(x_t, clean)|`` instead: the drawn noise in place of
    the damaged condition's estimate, one evaluation a patch (chunks of ``2 * config.batch``, so that
    a call holds as many items either way). The network runs on
    the model's device; the noise is drawn on the CPU, so a seed gives the same draws on every device.
    ``dtype``: the network's precision (bfloat16 = autocast; see :mod:`restoration.core.compute`).
    With ``config.conditions`` "cascade", ``level`` float ``(N, h, w)`` in the map's units: the
    "clean" map of every patch first, then the damaged condition only for the patches whose "clean"
    map reaches ``level`` somewhere (the others keep their "clean" map); the noise is the same as
    under "both", so those patches' maps are "both"'s.
    """
    if patches.ndim != 4 or patches.shape[1] != model.config.in_channels:
        raise ValueError(f"patches must be (N, {model.config.in_channels}, h, w), got {tuple(patches.shape)}")
    gen = _generator(generator)
    device = model.device
    n, _, h, w = patches.shape
    patches = patches.float()
    t = _timestep(scheduler, config)
    ab = scheduler.alphas_cumprod[t].float()
    if config.conditions == "cascade" and (level is None or tuple(level.shape) != (n, h, w)):
        raise ValueError(f'conditions "cascade" needs a level of shape {(n, h, w)}')

    def estimate(x_t: torch.Tensor, rows: torch.Tensor, name: str) -> torch.Tensor:
        # eps(x_t, name) of the patches ``rows``, as many items a call as "both" makes (2 * batch);
        # (len(rows), 1, h, w) on the CPU.
        out = []
        for a in range(0, len(rows), 2 * config.batch):
            pick = rows[a : a + 2 * config.batch]
            inp = torch.cat([x_t[pick], patches[pick, 1:]], 1).to(device)
            labels = torch.full((len(pick),), LABELS[name], device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                out.append(model(inp, torch.full((len(pick),), t, device=device), class_labels=labels).sample.float().cpu())
        return torch.cat(out) if out else torch.zeros(0, 1, h, w)

    total = torch.zeros(n, h, w)
    for _ in range(config.n_draws):
        noise = torch.randn((n, 1, h, w), generator=gen)
        x_t = ab.sqrt() * patches[:, :1] + (1 - ab).sqrt() * noise
        if config.conditions != "both":
            clean = estimate(x_t, torch.arange(n), "clean")
            found = (noise - clean).abs().mean(1)
            if config.conditions == "cascade":
                assert level is not None  # checked above
                onward = torch.nonzero((found >= level).flatten(1).any(1)).flatten()
                found[onward] = (estimate(x_t, onward, "damaged") - clean[onward]).abs().mean(1)
            total += found
            continue
        for a in range(0, n, config.batch):
            b = min(a + config.batch, n)
            k = b - a
            inp = torch.cat([torch.cat([x_t[a:b], patches[a:b, 1:]], 1)] * 2).to(device)
            labels = torch.tensor([LABELS[name] for name in ("damaged", "clean") for _ in range(k)], device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                eps = model(inp, torch.full((len(inp),), t, device=device), class_labels=labels).sample.float().cpu()
            total[a:b] += (eps[:k] - eps[k:]).abs().mean(1)
    return (total / config.n_draws).numpy()


def mask_from_map(raw: np.ndarray, config: DiffEditConfig = DiffEditConfig()) -> np.ndarray:
    """Per-tile score ``(N, h, w)`` float32: ``M / max(threshold * clamp * mean(M), floor)``;
    a pixel is damage where the score exceeds 1 (diffusers' rule, with an absolute floor)."""
    level = np.maximum(config.threshold * config.clamp * raw.mean(axis=(1, 2)), config.floor)
    return (raw / level[:, None, None]).astype(np.float32)


def _tile_origins(extent: tuple[int, int], proposals: np.ndarray | None, config: DiffEditConfig) -> list[tuple[int, int]]:
    """Top-left corners of the tiles (frame of ``extent`` >= tile), around proposal components or,
    with ``proposals=None``, over the whole frame (overlapping by a quarter tile)."""
    H, W = extent
    P, m = config.tile, config.margin
    if proposals is None:
        stride = P - P // 4
        ys = sorted({min(y, H - P) for y in range(0, H, stride)})
        xs = sorted({min(x, W - P) for x in range(0, W, stride)})
        return [(y, x) for y in ys for x in xs]
    origins: set[tuple[int, int]] = set()
    labels, k = ndi.label(proposals, structure=_SQUARE)
    inner = P - 2 * m
    for sl in ndi.find_objects(labels):
        (y0, y1), (x0, x1) = (sl[0].start, sl[0].stop), (sl[1].start, sl[1].stop)
        # Centre one tile on a small component; cover a large one with a grid of tiles.
        ys = [(y0 + y1) // 2 - P // 2] if y1 - y0 <= inner else list(range(y0 - m, y1 - m, inner))
        xs = [(x0 + x1) // 2 - P // 2] if x1 - x0 <= inner else list(range(x0 - m, x1 - m, inner))
        for y in ys:
            for x in xs:
                origins.add((min(max(y, 0), H - P), min(max(x, 0), W - P)))
    return sorted(origins)


def _nearest_pair(neighbours: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(neighbours) in (0, 2):
        return list(neighbours)
    if len(neighbours) % 2:
        raise ValueError(f"neighbours must come in (previous..., next...) pairs from motion.compensate, got {len(neighbours)}")
    mid = len(neighbours) // 2
    return list(neighbours[mid - 1 : mid + 1])  # offsets (-2, -1, 1, 2): the nearest two


def _model_stack(frame: np.ndarray, neighbours: Sequence[tuple[np.ndarray, np.ndarray]], in_channels: int) -> np.ndarray:
    """Full-frame model channels float32 ``(Cin, H, W)`` (see detector_model.CHANNELS)."""
    H, W = frame.shape[:2]
    peak = float(np.iinfo(frame.dtype).max)
    chans = [2 * luma_float(frame, peak) - 1]
    if in_channels > 1:
        pair = neighbours if len(neighbours) == 2 else [(np.zeros(frame.shape, np.float32), np.zeros((H, W), bool))] * 2
        for warped, valid in pair:
            v = valid.astype(np.float32)
            chans += [(2 * luma_float(warped, peak) - 1) * v, v]
    return np.stack(chans).astype(np.float32)


def _tiles(stack: np.ndarray, proposals: np.ndarray | None, config: DiffEditConfig) -> tuple[list[tuple[int, int]], torch.Tensor]:
    """Tile origins (in the frame, padded to at least one tile) and the tiles ``(N, Cin, P, P)``.

    A frame smaller than a tile is reflected out to one tile (validity reflected too)."""
    P = config.tile
    H, W = stack.shape[1:]
    ph, pw = max(P - H, 0), max(P - W, 0)
    if ph or pw:
        stack = np.pad(stack, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(H, W) > 1 else "edge")
        if proposals is not None:
            proposals = np.pad(proposals, ((0, ph), (0, pw)))
    origins = _tile_origins(stack.shape[1:], proposals, config)
    if not origins:
        return [], torch.zeros((0, stack.shape[0], P, P))
    return origins, torch.from_numpy(np.stack([stack[:, y : y + P, x : x + P] for y, x in origins]))


def hysteresis(score: np.ndarray, level: np.ndarray, grow: float) -> np.ndarray:
    """``score > level``, grown through the 8-connected pixels above ``grow * level``.

    score, level: float ``(H, W)``; grow in (0, 1] (1 = just ``score > level``). Returns bool ``(H, W)``:
    every pixel of a component of ``score > grow * level`` that holds a pixel above ``level``.
    """
    strong = score > level
    if grow >= 1 or not strong.any():
        return strong
    labels, _ = ndi.label(score > grow * level, structure=_SQUARE)
    keep = np.zeros(labels.max() + 1, bool)
    keep[labels[strong]] = True
    keep[0] = False
    return keep[labels]


def _departures(frame: np.ndarray, neighbours: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far ``frame``'s luma departs from each of its two warped neighbours' (fractions of the
    range, float32 ``(H, W)`` each; frame minus neighbour), and where both neighbours are valid
    (bool ``(H, W)``)."""
    peak = float(np.iinfo(frame.dtype).max)
    luma = luma_float(frame, peak)
    (prev, prev_valid), (nxt, next_valid) = neighbours
    return luma - luma_float(prev, peak), luma - luma_float(nxt, peak), prev_valid & next_valid


def grow_temporally(
    found: np.ndarray,
    frame: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    candidates: np.ndarray,
    tolerance: float,
) -> np.ndarray:
    """``found`` grown through the pixels where both neighbours see the same change as the damage.

    found, candidates: bool ``(H, W)`` (growth only through ``candidates``); frame: ``(H, W, C)``
    uint8/uint16; neighbours: the two ``(warped, valid)`` pairs of
    :func:`restoration.motion.flow.compensate`; tolerance: fraction of the range. A pixel joins when
    it is 8-connected to ``found`` through such pixels, both neighbours are valid there, the frame
    departs from each by at least ``tolerance`` in the same direction, and that direction is the
    one the found pixels around it (3x3) depart in on average. Returns bool ``(H, W)``.
    """
    d0, d1, both = _departures(frame, neighbours)
    direction = np.sign(d0) * (np.sign(d0) == np.sign(d1)) * both
    around = ndi.uniform_filter(np.where(found, direction, 0).astype(np.float32), 3, mode="constant")
    joins = candidates & (np.minimum(np.abs(d0), np.abs(d1)) >= tolerance) & (direction != 0) & (np.sign(around) == direction)
    return ndi.binary_propagation(found, structure=_SQUARE, mask=found | joins)


def _tidy(diff: np.ndarray, config: DiffEditConfig) -> np.ndarray:
    """Close small gaps (``close``) and drop components under ``min_area`` px (grain)."""
    if config.close > 0 and diff.any():
        diff = ndi.binary_closing(diff, structure=_SQUARE, iterations=config.close, border_value=0) | diff
    if config.min_area > 1 and diff.any():
        labels, k = ndi.label(diff, structure=_SQUARE)
        keep = np.bincount(labels.ravel(), minlength=k + 1) >= config.min_area
        keep[0] = False
        diff = keep[labels]
    return diff


def _picture_factor(scheduler: DDPMScheduler, config: DiffEditConfig) -> float:
    """The picture rule's score per unit of raw map: ``sqrt((1 - a) / a) / 2 / picture_threshold``."""
    a = float(scheduler.alphas_cumprod[_timestep(scheduler, config)])
    return float(np.sqrt((1 - a) / a) / 2 / config.picture_threshold)


def tile_scores(raw: np.ndarray, scheduler: DDPMScheduler, config: DiffEditConfig) -> np.ndarray:
    """Per-tile scores ``(N, h, w)`` float32 from raw maps: damage where > 1. The picture rule
    (``picture_threshold`` > 0) or the relative one (:func:`mask_from_map`)."""
    if config.picture_threshold <= 0:
        return mask_from_map(raw, config)
    return (raw * _picture_factor(scheduler, config)).astype(np.float32)


def confirm_faint(
    grown: np.ndarray,
    strong: np.ndarray,
    frame: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    departure: float,
) -> np.ndarray:
    """``grown`` without the faint pixels that the neighbours do not see changed as their artefact.

    grown, strong: bool ``(H, W)``, the hysteresis mask and its pixels above the level; frame:
    ``(H, W, C)`` uint8/uint16; neighbours: the two ``(warped, valid)`` pairs of
    :func:`restoration.motion.flow.compensate`; departure: fraction of the range. An artefact's
    direction is the sign of its strong pixels' mean departure from the two neighbours (where both
    are valid). A pixel of ``grown`` that is not strong is dropped where both neighbours are valid
    and the frame departs from either by less than ``departure`` in that direction (an artefact
    without a strong pixel under two valid neighbours has no direction: its faint pixels there
    go). Returns bool ``(H, W)``, a subset of ``grown``.
    """
    d0, d1, both = _departures(frame, neighbours)
    labels, n = ndi.label(grown, structure=_SQUARE)
    pull = ndi.sum(np.where(strong & both, (d0 + d1) / 2, 0), labels, np.arange(1, n + 1))
    sign = np.concatenate([[0.0], np.sign(pull)])[labels]
    seen = (sign * d0 >= departure) & (sign * d1 >= departure)
    return grown & (strong | ~both | seen)


def pixel_levels(proposals: np.ndarray, config: DiffEditConfig = DiffEditConfig()) -> np.ndarray:
    """Each pixel's level in score units for the whole-frame rule: 1, ``proposal_relief`` inside the
    spike proposals (bool ``(H, W)``), times ``edge_level`` within ``edge_width`` of the frame's
    border. Returns float64 ``(H, W)``."""
    H, W = proposals.shape
    level = np.where(proposals, config.proposal_relief, 1.0)
    if config.edge_width > 0:
        inner = np.zeros((H, W), bool)
        inner[config.edge_width : H - config.edge_width, config.edge_width : W - config.edge_width] = True
        level = np.where(inner, level, level * config.edge_level)
    return level


def mask_from_score(
    score: np.ndarray,
    level: np.ndarray,
    frame: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    config: DiffEditConfig = DiffEditConfig(),
) -> np.ndarray:
    """The whole-frame mask rule: damage from a frame's score map and its pixels' levels.

    score: float32 ``(H, W)`` (:func:`whole_frame_score`); level: float ``(H, W)``
    (:func:`pixel_levels`); frame ``(H, W, C)`` and its ``neighbours`` (the nearest pair, or none) as
    :func:`detect_damage` takes them, for the rules that ask the neighbours (``confirm``,
    ``spike_level``, ``temporal_grow``). The level with hysteresis growth, the confirmation of faint
    pixels, the speck rule, the neighbours' spikes, the temporal growth and the dilation, in that
    order (:class:`DiffEditConfig`). Split from :func:`detect_damage` so that the rule can be swept on
    stored score maps (``benchmarks/mask_rule.py``). Returns bool ``(H, W)``.
    """
    if len(neighbours) not in (0, 2) or score.shape != level.shape or score.shape != frame.shape[:2]:
        raise ValueError(
            f"need a score and a level of the frame's {frame.shape[:2]} and the nearest pair of neighbours or none, "
            f"got {score.shape}, {level.shape} and {len(neighbours)} neighbours"
        )
    pair = len(neighbours) == 2
    grown = hysteresis(score, level, config.grow_relief)
    if config.confirm > 0 and pair and grown.any():
        grown = confirm_faint(grown, score > level, frame, neighbours, config.confirm)
    found = _tidy(grown, config)
    if config.single_level > 0:
        found |= grown & (score > config.single_level * level)
    if config.spike_level > 0 and pair:
        spikes = detect_spikes(frame, neighbours, SpikeDetectorConfig(threshold=config.spike_level, min_area=1))
        found |= spikes & (score >= config.spike_score * level)
    if config.temporal_grow > 0 and pair and found.any():
        found = grow_temporally(found, frame, neighbours, score >= config.temporal_grow_score * level, config.temporal_grow)
    if config.dilate > 0 and found.any():
        found = ndi.binary_dilation(found, structure=_SQUARE, iterations=config.dilate)
    return found


def whole_frame_score(
    stack: np.ndarray,
    model: UNet2DModel,
    scheduler: DDPMScheduler,
    config: DiffEditConfig,
    generator: torch.Generator | int | None,
    dtype: torch.dtype = torch.float32,
    level: np.ndarray | None = None,
) -> np.ndarray:
    """The score of every pixel of a frame (:func:`tile_scores`), float32 ``(H, W)``.

    stack: the model's channels ``(Cin, H, W)``; a frame smaller than a tile is reflected out to
    one tile. Tiles from :func:`whole_frame_origins`, all through :func:`diffedit_map` (chunks of
    ``config.batch`` tiles, both conditions in each call, or twice as many under "clean" alone);
    each pixel's score comes from the one tile that owns it. ``config.tile`` 0: the frame is one
    tile, reflected out at its bottom and right to a multiple of the U-Net's stride. ``level``:
    float ``(H, W)``, each pixel's level in score units (damage where the score exceeds it), which
    conditions "cascade" needs (default: 1 everywhere).
    """
    P, H, W = config.tile, *stack.shape[1:]
    stride = 2 ** (len(model.config.block_out_channels) - 1)
    if P % stride:
        raise ValueError(f"tile {P} must be a multiple of {stride}: the detector halves its input {stride.bit_length() - 1} times")
    # A frame smaller than a tile is reflected out to one; with tile 0, to the stride.
    ph, pw = (-H % stride, -W % stride) if P == 0 else (max(P - H, 0), max(P - W, 0))
    level = np.ones((H, W), np.float32) if level is None else level.astype(np.float32)
    if level.shape != (H, W):
        raise ValueError(f"level must be {(H, W)}, got {level.shape}")
    if ph or pw:
        stack = np.pad(stack, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(H, W) > 1 else "edge")
        level = np.pad(level, ((0, ph), (0, pw)), mode="reflect" if min(H, W) > 1 else "edge")
    Hp, Wp = stack.shape[1:]
    th, tw = (Hp, Wp) if P == 0 else (P, P)
    tiles = whole_frame_origins((Hp, Wp), P, config.margin) if P else [(0, 0, 0, Hp, 0, Wp)]
    batch = torch.from_numpy(np.stack([stack[:, y : y + th, x : x + tw] for y, x, *_ in tiles]))
    onward = None
    if config.conditions == "cascade":
        # The cascade compares raw maps, in which a level is the score's over the picture rule's factor.
        raw_level = config.cascade / _picture_factor(scheduler, config)
        onward = torch.from_numpy(np.stack([level[y : y + th, x : x + tw] for y, x, *_ in tiles]) * raw_level)
    scores = tile_scores(diffedit_map(model, scheduler, batch, config, generator, dtype, onward), scheduler, config)
    out = np.zeros(stack.shape[1:], np.float32)
    for (y, x, oy0, oy1, ox0, ox1), sc in zip(tiles, scores):
        out[y + oy0 : y + oy1, x + ox0 : x + ox1] = sc[oy0:oy1, ox0:ox1]
    return out[:H, :W]


def fuse_tiles(
    origins: Sequence[tuple[int, int]], raw: np.ndarray, proposals: np.ndarray, config: DiffEditConfig = DiffEditConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Frame mask from per-tile raw DiffEdit maps, fused with the proposals.

    origins: tile corners (from the tiling); raw: ``(N, P, P)`` from :func:`diffedit_map`;
    proposals: bool ``(H, W)``. Returns ``(mask bool (H, W), score float32 (H, W))``, score = the
    maximum over overlapping tiles of :func:`mask_from_map` (0 where no tile ran).
    Split from :func:`detect_damage` so that fusion settings can be swept on cached maps.
    """
    H, W = proposals.shape
    P = config.tile
    Hp, Wp = max(H, P), max(W, P)
    score = np.zeros((Hp, Wp), np.float32)
    raw_full = np.zeros((Hp, Wp), np.float32)
    if len(origins):
        sc = mask_from_map(raw, config)
        for (y, x), s, r in zip(origins, sc, raw):
            np.maximum(score[y : y + P, x : x + P], s, out=score[y : y + P, x : x + P])
            np.maximum(raw_full[y : y + P, x : x + P], r, out=raw_full[y : y + P, x : x + P])
    score, raw_full, prop = score[:H, :W], raw_full[:H, :W], proposals

    diff = _tidy(score > 1.0, config)

    near = ndi.binary_dilation(prop, structure=_SQUARE, iterations=config.proposal_dilate) if config.proposal_dilate > 0 else prop
    if config.fusion == "diffedit":
        fused = diff.copy()
    elif config.fusion == "intersect":
        fused = diff & near
    elif config.fusion == "grow":
        fused = prop | (diff & near)
    else:
        labels, k = ndi.label(near, structure=_SQUARE)
        confirmed = np.zeros(k + 1, bool)
        confirmed[np.unique(labels[diff & near])] = True
        confirmed[0] = False
        region = confirmed[labels]
        fused = (prop & region) | (diff & region)
    if config.thorough and diff.any():
        labels, k = ndi.label(diff & ~near, structure=_SQUARE)
        if k:
            peaks = ndi.maximum(raw_full, labels, index=np.arange(1, k + 1))
            strong = np.concatenate([[False], np.asarray(peaks) > config.strong])
            fused |= strong[labels]
    if config.dilate > 0 and fused.any():
        fused = ndi.binary_dilation(fused, structure=_SQUARE, iterations=config.dilate)
    return fused, score


def whole_frame_origins(extent: tuple[int, int], tile: int, margin: int) -> list[tuple[int, int, int, int, int, int]]:
    """Tiles covering a frame of ``extent`` (each side >= ``tile``), every pixel owned by one tile.

    Returns ``(y, x, oy0, oy1, ox0, ox1)`` per tile: its corner, and the rows / columns of the tile
    it owns (the tile minus ``margin`` on each inner side; the frame's own border is owned by the
    tile touching it). Tiles step by ``tile - 2 margin``; the last row and column are shifted back
    inside the frame.
    """
    H, W = extent
    step = tile - 2 * margin

    def starts(n: int) -> list[int]:
        out = list(range(0, max(n - tile, 0) + 1, step))
        if out[-1] + tile < n:
            out.append(n - tile)
        return out

    def owned(starts_: list[int], n: int) -> list[tuple[int, int]]:
        spans, lo = [], 0
        for k, a in enumerate(starts_):
            hi = n if k == len(starts_) - 1 else a + tile - margin
            spans.append((lo - a, hi - a))
            lo = hi
        return spans

    ys, xs = starts(H), starts(W)
    return [(y, x, *oy, *ox) for y, oy in zip(ys, owned(ys, H)) for x, ox in zip(xs, owned(xs, W))]


def detect_damage(
    frame: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    model: UNet2DModel,
    scheduler: DDPMScheduler,
    config: DiffEditConfig = DiffEditConfig(),
    generator: torch.Generator | int | None = 0,
    proposals: np.ndarray | None = None,
    return_score: bool = False,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Damage mask of ``frame`` from DiffEdit on tiles, fused with temporal proposals.

    frame: ``(H, W, C)`` uint8/uint16, C in {1, 3} (colour is reduced to BT.709 luma).
    neighbours: ``(warped, valid)`` pairs from :func:`restoration.motion.flow.compensate` (offsets
        ``(-1, 1)``, or ``(-2, -1, 1, 2)`` of which the nearest two are used); warped float32
        ``(H, W, C)`` native units, valid bool ``(H, W)``. An empty list = no temporal context.
    model, scheduler: from :func:`load_detector`.
    generator: a ``torch.Generator`` or an int seed (same seed, same mask).
    proposals: bool ``(H, W)`` candidate regions; None = computed here with
        :func:`restoration.detect.temporal.detect_spikes` (default settings; empty without two
        neighbours). An empty mask means nothing to check: the result is empty unless ``thorough``.
    return_score: also return the DiffEdit score map float32 ``(H, W)`` (0 where no tile ran;
        > 1 = DiffEdit says damage).
    dtype: the network's precision (see :func:`diffedit_map`).
    Returns bool ``(H, W)``, True = damage.

    Fusion (``config.fusion``): "verify" keeps a proposal component when DiffEdit flags a pixel
    within ``proposal_dilate`` of it, and adds DiffEdit's pixels there (the speck's full extent);
    "intersect" = DiffEdit mask inside the dilated proposals; "diffedit" = the DiffEdit mask on the
    tiles. In ``thorough`` mode DiffEdit-only components peaking above ``strong`` are added.
    With ``whole_frame`` every pixel is scored (:func:`whole_frame_score`) and the proposals only
    lower the level inside them (``proposal_relief``), and with ``temporal_grow`` a found artefact
    grows through the pixels both neighbours see changed as it is (:func:`grow_temporally`); a frame
    without neighbours (a reel's only frame, a still, both sides across cuts) is examined from its
    own picture.
    """
    validate_frame(frame)
    H, W = frame.shape[:2]
    neighbours = _nearest_pair(neighbours)
    for warped, valid in neighbours:
        if warped.shape != frame.shape or valid.shape != (H, W) or valid.dtype != bool:
            raise ValueError(f"neighbour shapes {warped.shape}, {valid.shape} do not match frame {frame.shape}")
    if proposals is None:
        if len(neighbours) == 2:
            proposals = detect_spikes(frame, neighbours)
        else:
            proposals = np.zeros((H, W), bool)
    if proposals.shape != (H, W) or proposals.dtype != bool:
        raise ValueError(f"proposals must be bool {(H, W)}, got {proposals.dtype} {proposals.shape}")

    stack = _model_stack(frame, neighbours, model.config.in_channels)
    if config.whole_frame:
        level = pixel_levels(proposals, config)
        score = whole_frame_score(stack, model, scheduler, config, generator, dtype, level)
        found = mask_from_score(score, level, frame, neighbours, config)
        return (found, score) if return_score else found
    origins, tiles = _tiles(stack, None if config.thorough else proposals, config)
    raw = (
        diffedit_map(model, scheduler, tiles, config, generator, dtype) if origins else np.zeros((0, config.tile, config.tile), np.float32)
    )
    fused, score = fuse_tiles(origins, raw, proposals, config)
    return (fused, score) if return_score else fused
