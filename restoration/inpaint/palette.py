"""Palette-style diffusion inpainting of damage masks, on tiles around each mask component.

How a frame is filled (:func:`inpaint_palette`):

1. The mask is cut into tiles (:func:`_tiles_for`): one ``config.tile`` square centred on each
   isolated speck with at least ``config.context`` known pixels around it, and a grid of larger
   tiles over a long scratch or a dense cluster (each sized to its damage: a line gets tiles long
   along it and ``tile`` across); shifted inside the frame at borders. Tiles of all
   frames (with :func:`inpaint_palette_many`) and all colour channels are batched together; each
   colour channel is a separate single-channel batch item (the model is gray / luma).
2. Per tile: the *baseline* (cheap first, DESIGN) is the frame outside the holes and, inside, the
   mean of the valid motion-compensated neighbours (a neighbour's own damage is not valid), or the
   spatial (Telea) fill where neither is (:func:`baseline_fill`). The model denoises the residual
   ``x0 = 2 (clean - baseline)`` from pure noise with DDIM, conditioned on the masked tile, the
   mask and the warped neighbours with their validity; at every step the known pixels (residual
   exactly 0) are re-imposed noised to the current t (RePaint). Optional RePaint resampling
   (``repaint_jump``, ``repaint_resample``).
3. ``samples`` = k independent draws per tile; the fill is their mean (``combine="mean"``) or the
   first draw (``combine="first"``); ``spread`` is the per-pixel std over the k draws.
4. Only the masked pixels each tile owns are written back, rounded and clipped to the source dtype;
   every other pixel is bit-exact.

The sampling loop is written out step by step (as diffusers' ``pipeline_ddpm.py`` does) with
``DDIMScheduler(timestep_spacing="trailing")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from diffusers import DDIMScheduler, UNet2DModel
from scipy import ndimage as ndi

from restoration.motion.flow import no_neighbour, validate_frame

# Scheduler shared by training and sampling; stored in the weights' facts so both always agree.
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    # The residual x0 lies in [-2, 2]; with the cosine schedule alpha_bar(999) is ~0, so an
    # unclipped x0 estimate at the first steps explodes (eps error / sqrt(alpha_bar)).
    "clip_sample": True,
    "clip_sample_range": 2.0,
    "set_alpha_to_one": True,
    "timestep_spacing": "trailing",
}


@dataclass(frozen=True)
class PaletteConfig:
    """Settings for :func:`inpaint_palette`.

    steps: DDIM steps; the first (from the top of the schedule) needs no network call, so a draw
        costs ``steps - 1`` evaluations without resampling, and one step is the baseline itself.
        3: the shipped weights are a student distilled to take in 3 steps what its teacher took in 5
        (:mod:`restoration.train.distill`); other weights want their own count (the teacher's was
        5: 2 / 5 / 10 / 20 steps at k = 4 gave 30.77 / 31.05 / 30.81 / 31.00 dB on imageio_realshort
        medium, benchmarks/RESULTS.md, "quality against cost"). True masks, medium, 6 frames
        (2026-12-03, ad hoc): the student at 3 steps against the teacher at 5, 30.79 / 38.23 / 34.49
        / 33.47 dB against 30.91 / 38.44 / 34.74 / 33.61 (imageio, intel_car, person, BBB) at 0.53x
        the seconds; the teacher itself at 3 steps lost 0.45 dB on intel_car.
        k = 2 (``samples``) is the fewest draws that still give a spread (the uncertainty the
        consistency check reads); k = 1 / 2 / 4 at the teacher's 5 steps gave 30.40 / 30.88 / 31.05.
    tile: side in pixels of the tile around an isolated speck (the model's training patch); larger
        damage is covered by a grid of tiles up to twice this side (see :func:`_tiles_for`).
    context: known pixels kept around the hole pixels a tile fills, at least.
    samples: k draws per tile (fill = combine of them, spread = their std).
    samples_alone: k for a tile where no pixel it fills has a valid neighbour (a reel's end, a
        cut, a still), whose baseline is Telea alone: there the mean of more draws is what beats
        Telea. No neighbours, true masks (2026-12-07, ad hoc): 4 draws against 2, +0.13 to +0.26 dB
        on intel_car and person medium in every size bucket, person low 31.03 against 30.45 (Telea
        30.71); FILM-R 26.77 / 24.52 dB against 26.75 / 24.45, grain 0.96 / 0.91 against 0.97 / 0.92.
        Its first ``samples`` draws are those of ``samples``.
    eta: DDIM eta (0 = deterministic given the initial noise).
    repaint_jump, repaint_resample: RePaint resampling; every ``repaint_jump`` steps go back up that
        many steps and redo them, ``repaint_resample - 1`` extra times (0 / 1 = off). Network
        evaluations per draw: ``steps + (resample - 1) * jump * (steps // jump - 1)``.
    combine: "mean" (average of the k draws: lowest error) or "first" (one draw: full grain).
    max_batch: batch items per network call (memory bound).
    agree_tol: cheap first: a tile whose hole pixels all have both neighbours valid and agreeing
        within this fraction of the range is filled with the baseline without the model (0 = always
        run the model).
    margin: px around the mask the model also treats as unknown, though only the mask is written:
        real damage has soft rims that a mask drawn at a threshold leaves outside, and the model
        trusts its context.
    rim_tol: 0 = every pixel within ``margin`` is unknown; > 0 = only those that depart from the
        picture around them towards the damage by more than this fraction of the range (:func:`rim`).
        Default margin 1, rim_tol 0.04 (since 2026-12-03, night; margin 0 before). Real damage has
        soft rims: next to the FILM-R masks the scan has moved towards the damage by 0.12-0.15 of
        the damage's change, the ring beyond it not at all (``benchmarks/soft_edges.py``). With
        ``rim_tol`` around every piece (``rim_follow`` 0) this setting fills there at 27.62 / 24.46 dB
        against Telea's 25.16 / 23.33 (grain 0.86 / 0.79 of the expert's; margin 0: 21.98 / 20.21;
        rim_tol 0.02: 27.93 / 24.34, grain 0.79 / 0.76); on simulated damage with such rims
        (``DamageConfig.rim`` 0.2, true masks, medium) it gains 0.8 to 5.8 dB over margin 0 and beats
        Telea and the temporal median in 7 of 8 cells (margin 0: none); on the simulator's
        hard-edged damage it cost 0.1-2.2 dB with both neighbours and 0.1-3.7 dB without (true
        masks, every level), which ``rim_follow`` mostly wins back. ``margin`` 0 restores the
        hard-edge setting.
    rim_follow, rim_tol_hard: ``rim_tol`` applies around a piece of damage whose ring follows it on
        average by more than ``rim_follow`` of its change (a soft edge); around the others (hard
        edges) only ring pixels departing by more than ``rim_tol_hard`` (a halo) are unknown. With
        ``rim_tol`` around every piece (``rim_follow`` 0, the default from 2026-12-03 to 2026-12-07),
        grain alone made 5-12 % of the ring of the simulator's hard-edged damage unknown, and the
        fill without neighbours lost to Telea in all 4 clips (medium, true masks). On the FILM-R
        scans the piece's mean ring departure is 0.19-0.20 of its change in the median, on
        simulated rims 0.19-0.20, on hard edges 0.00 (10-15 % of pieces above 0.08 by grain and
        texture). Measured (2026-12-07, ad hoc, 2 draws a tile, no neighbours; FILM-R 50d / 800t, grain, and the
        simulator's hard-edged person clip, whose Telea fill is 31.04 dB): every piece soft 27.62 /
        24.47 dB, grain 0.86 / 0.79, person 30.25; rim_follow 0.08 with no halo rule 26.41 / 23.54,
        1.01 / 1.10, 31.57; 0.08 with rim_tol_hard 0.12 27.17 / 24.62, 0.91 / 0.87, 30.95; 0.08 with
        0.16 26.99 / 24.51, 0.93 / 0.91, 31.03; 0.12 with 0.16 (the default) 26.75 / 24.45, 0.97 /
        0.92, 31.09; 0.08 with 0.24 26.60 / 24.13, 0.98 / 1.02, 31.32. Telea: 25.16 / 23.33.
        The default against every piece soft, both with 2 draws everywhere (RESULTS.md of
        2026-12-07, commit d81b298; true masks unless said): both neighbours +0.07 to +0.87 dB in every cell, no
        neighbours +0.12 to +2.08 dB, simulated soft rims -0.49 to +0.02 dB, FILM-R -0.87 / -0.02
        dB with grain 0.97 / 0.92, end to end with the detector's masks -0.10 to +0.00 dB.
    rim_beyond: around hard edges a ring pixel departing by more than ``rim_tol_hard`` is a halo only
        where no picture pixel up to 2 px past the ring departs ``rim_beyond`` as much (0 = off; see
        :func:`rim`). Where damage touched a line or an edge of the picture, the picture's pixels in
        the ring departed from the estimate across the ring like a halo, counted as unknown, and the
        fill lost the line. No neighbours, true masks, with ``shrink_alone`` 8
        (2026-12-07, evening, ad hoc; intel_one-by-one-person medium, <50 / 50-500 / >500 px):
        31.42 / 35.01 / 32.52 dB against 31.15 / 34.99 / 31.54 without (Telea 30.54 / 33.19 / 32.32);
        FILM-R 26.98 / 24.55 against 26.98 / 24.56. The same test around soft-edged pieces too (1.0 /
        1.5 there) gained up to 1 dB more on the simulator but cost FILM-R 0.6 / 0.7 dB (1.0) and 0.1
        / 0.2 dB (1.5): a real rim runs on past the first ring.
    rim_halo_cap: around hard edges a ring pixel departing by this many times the piece's mean
        departure inside, or more, is not a halo (0 = off; see :func:`rim`): a dark stain on the
        core of a dark line of the picture made the line's ring pixels "halo" (beyond the ring the
        line is lighter, so ``rim_beyond`` kept them), and that one 50 px piece at 9.5 dB took
        intel_one-by-one-person high's 50-500 px bucket 1.7 dB below Telea. No neighbours, true
        masks, with the other defaults (2026-12-07, evening, ad hoc; that clip and level, <50 /
        50-500 / >500 px, Telea 31.33 / 30.10 / 32.28; FILM-R): off 32.24 / 28.43 / 32.03, FILM-R
        26.98 / 24.55 dB; 0.75: 32.31 / 31.36 / 32.85, 26.81 / 24.45; 1: 32.31 / 31.36 / 32.40,
        26.95 / 24.55; 1.5: 32.31 / 31.11 / 32.35, 26.98 / 24.55. The same cap around soft-edged
        pieces too cost FILM-R 0.6 / 0.4 dB.
    shrink_alone: a tile without a single valid neighbour pixel (no neighbour frame there: a reel's
        end, a cut, a still): the mean of its draws is pulled towards the baseline where it is no
        surer than their own noise (:func:`shrink_to_baseline`; 0 = off). Where only the hole's
        neighbours are invalid (motion failed on a stain) the warped neighbours still inform the
        draws: shrinking those tiles too cost intel_one-by-one-person medium's stains 0.6 dB with
        both neighbours.
        Without neighbours the draws' texture does not average out in 4 draws, and on smooth
        picture Telea's plain fill beat their mean (intel_car's line scratches, 0.4 dB). No
        neighbours, true masks (2026-12-07, evening, ad hoc; intel_car medium, <50 / 50-500 / >500 px,
        Telea 36.09 / 36.40 / 36.20): off 36.67 / 36.53 / 35.82; 1: 36.87 / 36.68 / 35.97; 2: 37.05 /
        36.81 / 36.12; 4: 37.30 / 37.05 / 36.38; 8: 37.57 / 37.45 / 36.79 (8 draws instead, off: 36.82
        / 36.53 / 35.88 at twice the cost). FILM-R (Telea 25.16 / 23.33 dB): off 26.77 / 24.52, grain
        0.96 / 0.91 of the expert's; 4: 26.91 / 24.57, 0.91 / 0.87; 8: 26.98 / 24.56, 0.88 / 0.84; 16:
        27.03 / 24.52, 0.84 / 0.80 (the grain bar is 0.8). Frames with neighbours never use it.
    speck_tile: side of the tile around a cluster at most ``speck_tile // 4`` px across (0 = off:
        ``tile``). Three quarters of the simulated artefacts are 1-4 px specks, and a 32 px tile
        around each one was most of the fill's cost (at 720x576, medium damage, 144 tiles covered
        half the frame for 0.5 % of it damaged); a 16 px tile keeps at least 6 px of context around
        such a speck for a quarter of the pixels. True masks, 6 frames, each tile's own noise
        streams (imageio_realshort, intel_car, person; every level; both and no neighbours; 2026-12-03,
        ad hoc): -0.00 to -0.09 dB in the mask against 32 px tiles, the fill 4-48 % faster.
    """

    steps: int = 3
    tile: int = 32
    context: int = 8
    samples: int = 2
    samples_alone: int = 4
    eta: float = 0.0
    repaint_jump: int = 0
    repaint_resample: int = 1
    combine: str = "mean"
    max_batch: int = 256
    agree_tol: float = 0.02
    margin: int = 1
    rim_tol: float = 0.04
    rim_follow: float = 0.12
    rim_tol_hard: float = 0.16
    speck_tile: int = 16
    rim_beyond: float = 0.8
    rim_halo_cap: float = 1.0
    shrink_alone: float = 8.0

    def __post_init__(self) -> None:
        if min(self.steps, self.samples, self.samples_alone, self.max_batch) < 1 or self.tile < 8 or self.context < 0 or self.margin < 0:
            raise ValueError(f"invalid PaletteConfig {self}")
        if self.tile % 4 or 2 * self.context >= self.tile:
            # The U-Net halves the tile twice; a cell must be left once the context is taken off.
            raise ValueError(f"tile must be a multiple of 4 larger than 2 * context, got tile {self.tile}, context {self.context}")
        if self.speck_tile and (self.speck_tile % 4 or not 8 <= self.speck_tile <= self.tile):
            raise ValueError(f"speck_tile must be 0 or a multiple of 4 in [8, tile], got {self.speck_tile}")
        if self.rim_tol < 0 or self.rim_follow < 0 or self.rim_tol_hard < self.rim_tol:
            raise ValueError(
                "need rim_tol >= 0, rim_follow >= 0 and rim_tol_hard >= rim_tol, "
                f"got {self.rim_tol}, {self.rim_follow}, {self.rim_tol_hard}"
            )
        if min(self.rim_beyond, self.rim_halo_cap, self.shrink_alone) < 0:
            raise ValueError(f"rim_beyond, rim_halo_cap and shrink_alone must be >= 0, got {self}")
        if self.margin >= self.context:
            raise ValueError(f"margin must be smaller than context, got margin {self.margin}, context {self.context}")
        if self.combine not in ("mean", "first"):
            raise ValueError(f"combine must be 'mean' or 'first', got {self.combine!r}")
        if self.repaint_jump < 0 or self.repaint_resample < 1:
            raise ValueError("repaint_jump must be >= 0 and repaint_resample >= 1")

    def evaluations(self) -> int:
        """Network evaluations per draw and tile: the DDIM steps (RePaint's repeats included) less
        those at the top of the schedule, which need no network call (:func:`sample_residuals`)."""
        if self.repaint_jump <= 0 or self.repaint_resample <= 1 or self.repaint_jump >= self.steps:
            return self.steps - 1
        steps = self.steps + (self.repaint_resample - 1) * self.repaint_jump * (self.steps // self.repaint_jump - 1)
        return steps - self.repaint_resample  # the first step, and each jump back to it


def make_scheduler() -> DDIMScheduler:
    """The DDIM scheduler the inpainter is trained and sampled with."""
    return DDIMScheduler(**SCHEDULER_CONFIG)


def load_inpainter(path: str | Path | None = None) -> tuple[UNet2DModel, DDIMScheduler]:
    """Load inpainter weights (default: the shipped ``restoration/weights/inpainter.safetensors``).

    Returns ``(model in eval mode on CPU, DDIMScheduler)``; the scheduler config stored with the
    weights is used, with ``timestep_spacing="trailing"``.
    """
    from restoration.models.weights import load_unet, shipped

    model, facts = load_unet(shipped("inpainter") if path is None else path)
    cfg = dict(SCHEDULER_CONFIG)
    cfg.update(facts.get("scheduler", {}))
    cfg["timestep_spacing"] = "trailing"
    return model, DDIMScheduler(**cfg)


# --------------------------------------------------------------------------- conditioning


def telea_unit(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Telea fill (radius 3) of ``mask`` (bool ``(P, Q)``) in ``image``, float32 ``(P, Q)`` in [0, 1];
    returns float32 ``(P, Q)``. OpenCV's Telea mishandles float32 in [0, 1] (a flat 0.8 fills as
    0.45), so it runs on the image as uint16."""
    u16 = np.clip(np.rint(image * 65535), 0, 65535).astype(np.uint16)
    return cv2.inpaint(u16, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32) / 65535


def baseline_fill(
    known: np.ndarray,
    mask: np.ndarray,
    prev: np.ndarray,
    prev_valid: np.ndarray,
    nxt: np.ndarray,
    next_valid: np.ndarray,
) -> np.ndarray:
    """Cheap estimate of a tile: known pixels as they are, holes from the neighbours or Telea.

    All float32 ``(P, P)`` in [0, 1] (one channel), masks bool ``(P, P)``. Inside ``mask``: the mean
    of the valid warped neighbours, the spatial (Telea, radius 3) fill where neither is valid.
    The validity must already exclude the neighbours' own damage (``compensate(..., damage=)``):
    a line scratch persists across frames, and copying it from the neighbours cost 10 dB in the
    mask (benchmarks/RESULTS.md). Returns float32 ``(P, P)``.
    """
    out = known.astype(np.float32, copy=True)
    if not mask.any():
        return out
    n = prev_valid.astype(np.float32) + next_valid.astype(np.float32)
    temporal = (prev * prev_valid + nxt * next_valid) / np.maximum(n, 1)
    out[mask] = temporal[mask]
    alone = mask & (n == 0)
    if alone.any():
        out[alone] = telea_unit(known, mask)[alone]
    return out


def rim(
    frame: np.ndarray,
    mask: np.ndarray,
    margin: int,
    tol: float = 0.0,
    follow: float = 0.0,
    hard_tol: float = 0.0,
    beyond: float = 0.0,
    halo_cap: float = 0.0,
) -> np.ndarray:
    """The soft rim of the damage in ``mask``: pixels within ``margin`` px of it (8-connected) that
    depart from the picture around them, towards the damage, by more than ``tol``; around damage
    with hard edges, by more than ``hard_tol``.

    frame: ``(H, W, C)`` uint8/uint16; mask: bool ``(H, W)``; tol, hard_tol: fractions of the dtype's
    range, on the channels' mean (tol 0 = the whole ring). The picture at a ring pixel is estimated
    from beyond the ring (Telea over the mask and the ring); the damage's direction, per connected
    piece of mask and ring, is the sign of its mean departure inside the mask (a bright speck's rim
    is brighter than the picture, a dark one's darker). A piece has hard edges when its ring, on
    average, departs towards the damage by no more than ``follow`` of the damage's own mean
    departure (0: no piece has): grain moves single ring pixels either way and cancels in the
    mean, a rim moves them all one way. ``beyond`` > 0: around hard edges a ring pixel is a halo
    only where no picture pixel up to :data:`BEYOND_REACH` px past the ring departs from the
    estimate at the ring pixel, towards the damage, by ``beyond`` of the ring pixel's own departure:
    a line or edge of the picture that the damage touches runs on past the ring, a halo does not.
    ``halo_cap`` > 0: around hard edges a ring pixel departing by ``halo_cap`` times the piece's
    mean departure inside or more is picture, not a halo (a halo is fainter than its damage).
    Returns bool ``(H, W)``, False inside ``mask``.
    """
    grown = ndi.binary_dilation(mask, np.ones((3, 3), bool), iterations=margin)
    ring = grown & ~mask
    if tol <= 0 or not ring.any():
        return ring
    peak = float(np.iinfo(frame.dtype).max)
    luma = frame.astype(np.float32).mean(axis=-1) / peak
    depart = luma - telea_unit(luma, grown)
    pieces, n = ndi.label(grown, structure=np.ones((3, 3), bool))
    index = np.arange(n + 1)
    inside = ndi.mean(depart, labels=np.where(mask, pieces, 0), index=index)
    towards = depart * np.sign(inside)[pieces]
    if follow <= 0:
        return ring & (towards > tol)
    followed = ndi.mean(depart, labels=np.where(ring, pieces, 0), index=index) * np.sign(inside)
    hard = (followed <= follow * np.abs(inside))[pieces]
    found = ring & (towards > np.where(hard, hard_tol, tol))
    if halo_cap > 0:
        found &= ~hard | (towards < halo_cap * np.abs(inside)[pieces])
    if beyond > 0 and (found & hard).any():
        found &= ~hard | (_beyond_ring(luma, luma - depart, grown, np.sign(inside)[pieces]) < beyond * towards)
    return found


# How far past the ring :func:`rim` looks for the picture a ring pixel may belong to (px).
BEYOND_REACH = 2


def _beyond_ring(luma: np.ndarray, estimate: np.ndarray, grown: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Per pixel p, the largest ``(luma[q] - estimate[p]) * sign[p]`` over the pixels q outside
    ``grown`` within :data:`BEYOND_REACH` px (a square window); -inf where there are none. All
    float32 / bool ``(H, W)``."""
    r = BEYOND_REACH
    h, w = luma.shape
    outside = np.pad(np.where(grown, np.nan, luma), r, constant_values=np.nan)
    most = np.full((h, w), -np.inf, np.float32)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            step = (outside[dy : dy + h, dx : dx + w] - estimate) * sign
            most = np.fmax(most, step)  # fmax skips the NaN of pixels inside grown or off the frame
    return most


def conditioning(
    known: np.ndarray, mask: np.ndarray, prev: np.ndarray, prev_valid: np.ndarray, nxt: np.ndarray, next_valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The 6 conditioning channels of one tile and its baseline.

    Inputs as for :func:`baseline_fill`. Returns ``(cond float32 (6, P, P), baseline float32 (P, P))``
    with cond = masked (baseline in holes), mask, prev, prev_valid, next, next_valid; images in
    [-1, 1], invalid neighbour pixels passed as warped (see :mod:`restoration.models.inpainter`).
    """
    base = baseline_fill(known, mask, prev, prev_valid, nxt, next_valid)
    pv, nv = prev_valid.astype(np.float32), next_valid.astype(np.float32)
    # Warped neighbours go in even where flagged invalid: a speck on this frame alone often fails
    # the forward-backward check although the neighbour's value there is right; the validity
    # channel tells the model how far to trust it.
    cond = np.stack([base * 2 - 1, mask.astype(np.float32), prev * 2 - 1, pv, nxt * 2 - 1, nv])
    return cond.astype(np.float32), base


# --------------------------------------------------------------------------- sampling


Generators = torch.Generator | Sequence[torch.Generator]


def _randn(shape: tuple[int, ...], generator: Generators) -> torch.Tensor:
    """Standard normal float32 noise of ``shape`` on the CPU: from one generator, or batch item i
    from ``generator[i]``."""
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator)
    return torch.stack([torch.randn(shape[1:], generator=g) for g in generator])


def _noised_known(
    scheduler: DDIMScheduler, shape: tuple[int, ...], t: torch.Tensor, generator: Generators, device: torch.device
) -> torch.Tensor:
    """Known pixels (residual 0) noised to t: sqrt(1 - alpha_bar_t) * noise."""
    noise = _randn(shape, generator).to(device)
    return scheduler.add_noise(torch.zeros(shape, device=device), noise, t)


@torch.no_grad()
def sample_residuals(
    model: UNet2DModel,
    scheduler: DDIMScheduler,
    cond: torch.Tensor,
    config: PaletteConfig,
    generator: Generators,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Draw residuals ``x0`` for a batch of tiles with the DDIM loop (RePaint re-imposition).

    cond: float32 ``(N, 6, P, P)`` (channel 1 is the hole mask). Returns float32 ``(N, 1, P, P)`` on
    the CPU, 0 outside the holes. The network runs on the model's device; the noise is drawn on the
    CPU from ``generator`` (a CPU generator, or N of them: item i's noise from the i-th, so that an
    item's draws do not depend on the batch it is in), so a seed gives the same draws on every device;
    ``dtype`` is the network's precision (bfloat16 = autocast; see :mod:`restoration.core.compute`).
    The loop is the plain DDIM loop with, before every network call, the known
    region replaced by the known residual (0) noised to the current t, and optional RePaint
    jumps back up the schedule.
    """
    n, _, p, q = cond.shape
    if not isinstance(generator, torch.Generator) and len(generator) != n:
        raise ValueError(f"one generator per batch item: {n} items, {len(generator)} generators")
    device = model.device
    cond = cond.to(device)
    hole = cond[:, 1:2]
    scheduler.set_timesteps(config.steps)
    timesteps = list(scheduler.timesteps)
    shape = (n, 1, p, q)
    x = _randn(shape, generator).to(device)

    def one_step(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = hole * x + (1 - hole) * _noised_known(scheduler, shape, t, generator, device)
        a_t = scheduler.alphas_cumprod[int(t)]
        if a_t < 1e-3:
            # At the top of the cosine schedule alpha_bar is ~0 and x0 = (x - sqrt(1-a) eps) / sqrt(a)
            # only amplifies the eps error (measured: 5-step fills twice as far off). Take x0 = 0,
            # the residual's prior mean (= the baseline); then x holds only noise, eps = x / sqrt(1-a),
            # so the step to t_prev needs no network call (the network's eps there is x to within
            # sqrt(a) x0: the same fills within noise, one evaluation fewer a draw).
            t_prev = int(t) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
            a_prev = scheduler.alphas_cumprod[t_prev] if t_prev >= 0 else scheduler.final_alpha_cumprod
            return ((1 - a_prev) / (1 - a_t)).sqrt() * x
        tt = torch.full((n,), int(t), dtype=torch.long, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            eps = model(torch.cat([x, cond], dim=1), tt).sample.float()
        return scheduler.step(eps, t, x, eta=config.eta, generator=generator).prev_sample

    def jump_up(x: torch.Tensor, t_from: int, t_to: int) -> torch.Tensor:
        # q(x_{t_to} | x_{t_from}): scale by sqrt(a_to / a_from) and add the missing noise.
        a = scheduler.alphas_cumprod
        ratio = a[t_to] / a[t_from]
        return ratio.sqrt() * x + (1 - ratio).sqrt() * _randn(shape, generator).to(device)

    # x at index i is at the noise level of timesteps[i] (the input of step i).
    jump, resample = config.repaint_jump, config.repaint_resample
    redo: dict[int, int] = {}  # position -> resamplings done there
    i = 0
    while i < len(timesteps):
        x = one_step(x, timesteps[i])
        i += 1
        if jump > 0 and resample > 1 and i % jump == 0 and i < len(timesteps) and redo.get(i, 0) < resample - 1:
            redo[i] = redo.get(i, 0) + 1
            x = jump_up(x, int(timesteps[i]), int(timesteps[i - jump]))
            i -= jump
    return (hole * x).cpu()


def shrink_to_baseline(mean: np.ndarray, draws: np.ndarray, baseline: np.ndarray, factor: float) -> np.ndarray:
    """The mean of k draws pulled towards the baseline where it is no surer than the draws' own noise.

    mean, baseline: float32 ``(P, Q)``; draws: ``(k, P, Q)``, k >= 2. The mean's Monte Carlo error
    has variance var(draws) / k; where its departure from the baseline is small against that, the
    departure is mostly the draws' texture (grain, invented detail) which a finite mean has not
    averaged out, and costs error. Per pixel, with ``E`` the squared departure and ``V`` that
    variance, each averaged over 3x3: ``baseline + (mean - baseline) * clip(1 - factor V / E, 0, 1)``
    (a positive-part James-Stein shrinkage). Returns float32 ``(P, Q)``.
    """
    departure = mean - baseline
    squared = cv2.blur(departure * departure, (3, 3))
    noise = cv2.blur(draws.var(axis=0) / len(draws), (3, 3))
    return baseline + departure * np.clip(1 - factor * noise / np.maximum(squared, 1e-12), 0, 1)


# --------------------------------------------------------------------------- tiling


@dataclass
class _Tile:
    frame: int  # index into the batch of frames
    oy: int
    ox: int
    height: int
    width: int
    ys: np.ndarray  # component pixel rows (frame coordinates)
    xs: np.ndarray


def _tiles_for(mask: np.ndarray, config: PaletteConfig, frame_index: int) -> list[_Tile]:
    """Tiles covering every hole pixel of ``mask`` (bool ``(H, W)``) exactly once.

    Components closer than ``2 * context`` form a cluster (they share context). A cluster whose
    bounding box fits inside a ``tile`` with ``context`` around it gets one tile centred on it. A
    cluster at most ``speck_tile // 4`` px across (a speck) gets a ``speck_tile`` square instead. A
    larger cluster (a scratch, a dense patch of dirt) is cut into grid cells of ``2 * tile - 2 *
    context`` px; each cell holding hole pixels gets a tile that writes back the hole pixels of its
    own cell only, sized per side to those pixels plus ``context`` (``tile``, ``1.5 tile`` or ``2
    tile``): a line scratch gets ``2 tile x tile`` tiles along it, half the cost of squares, with the
    same context along the line. Cost thus follows the damaged area: one small tile per isolated
    speck, and a few larger tiles, not one frame-sized tile, for a long scratch or a dense cluster.
    Tiles are shifted inside the frame at its borders.
    """
    h, w = mask.shape
    ctx, small = config.context, config.tile
    sides = (small, small + small // 2 // 4 * 4, 2 * small)  # multiples of 4: the U-Net halves twice
    near = ndi.binary_dilation(mask, iterations=ctx) if ctx > 0 else mask
    clusters, _ = ndi.label(near, structure=np.ones((3, 3), bool))
    clusters = np.where(mask, clusters, 0)
    tiles = []

    def add(ys: np.ndarray, xs: np.ndarray, side: int = 0) -> None:
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        th = side or next(s for s in sides if y1 - y0 + 2 * ctx <= s)
        tw = side or next(s for s in sides if x1 - x0 + 2 * ctx <= s)
        oy = min(max((y0 + y1) // 2 - th // 2, 0), max(h - th, 0))
        ox = min(max((x0 + x1) // 2 - tw // 2, 0), max(w - tw, 0))
        tiles.append(_Tile(frame_index, int(oy), int(ox), th, tw, ys, xs))

    cell = 2 * small - 2 * ctx
    for k, sl in enumerate(ndi.find_objects(clusters), start=1):
        if sl is None:
            continue
        y0, x0 = sl[0].start, sl[1].start
        ys, xs = np.nonzero(clusters[sl] == k)
        ys, xs = ys + y0, xs + x0
        extent = max(np.ptp(ys), np.ptp(xs)) + 1
        if config.speck_tile and extent <= config.speck_tile // 4:
            add(ys, xs, config.speck_tile)
            continue
        if extent + 2 * ctx <= small:
            add(ys, xs)
            continue
        cells = ((ys - y0) // cell) * ((sl[1].stop - x0) // cell + 1) + (xs - x0) // cell
        for c in np.unique(cells):
            sel = cells == c
            add(ys[sel], xs[sel])
    return tiles


def crop_tile(a: np.ndarray, oy: int, ox: int, size: int, width: int | None = None) -> np.ndarray:
    """``a[oy:oy+size, ox:ox+width]`` (``width`` default ``size``: a square) with edge replication
    past the frame (frames smaller than a tile)."""
    h, w = a.shape[:2]
    yi = np.clip(np.arange(oy, oy + size), 0, h - 1)
    xi = np.clip(np.arange(ox, ox + (size if width is None else width)), 0, w - 1)
    return a[yi[:, None], xi[None, :]]


def _check_inputs(frame: np.ndarray, mask: np.ndarray, neighbours: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    validate_frame(frame)
    if mask.shape != frame.shape[:2] or mask.dtype != bool:
        raise ValueError(f"mask must be bool {frame.shape[:2]}, got {mask.dtype} {mask.shape}")
    if len(neighbours) > 2:
        raise ValueError(f"the model takes at most 2 neighbours (previous, next), got {len(neighbours)}")
    for warped, valid in neighbours:
        if warped.shape != frame.shape or valid.shape != mask.shape or valid.dtype != bool:
            raise ValueError(f"neighbour shapes {warped.shape}, {valid.shape} do not match frame {frame.shape}")


def inpaint_palette_many(
    frames: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    neighbours: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    model: UNet2DModel,
    scheduler: DDIMScheduler,
    config: PaletteConfig = PaletteConfig(),
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`inpaint_palette` for several frames at once, their tiles batched together.

    frames: ``(H, W, C)`` uint8/uint16 each; masks: bool ``(H, W)``; neighbours: per frame the
    ``[(prev_warped, prev_valid), (next_warped, next_valid)]`` list from
    :func:`restoration.motion.flow.compensate` with offsets ``(-1, 1)`` (one or none also accepted: the
    missing one counts as invalid everywhere); ``dtype``: the network's precision. Returns per frame
    ``(restored, spread)``.
    """
    if not (len(frames) == len(masks) == len(neighbours)):
        raise ValueError("frames, masks and neighbours must have one entry per frame")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    results = []
    tiles: list[_Tile] = []
    holes = []  # what the model fills: the mask and its margin
    for i, (frame, mask, nb) in enumerate(zip(frames, masks, neighbours)):
        _check_inputs(frame, mask, nb)
        results.append((frame.copy(), np.zeros(mask.shape, np.float32)))
        tiles.extend(_tiles_for(mask, config, i))
        hole = mask
        if config.margin and mask.any():
            rims = (config.rim_tol, config.rim_follow, config.rim_tol_hard, config.rim_beyond, config.rim_halo_cap)
            hole = mask | rim(frame, mask, config.margin, *rims)
        holes.append(hole)
    if not tiles:
        return results

    # Per tile and channel: conditioning (6, H, W) and baseline (H, W); group by tile shape.
    items: dict[tuple[int, int], list[tuple[int, int, np.ndarray, np.ndarray, int, bool]]] = {}  # ..., draws, blind
    cheap: list[tuple[int, int, np.ndarray]] = []  # (tile, channel, baseline) filled without the model
    for ti, tile in enumerate(tiles):
        frame, nb = frames[tile.frame], list(neighbours[tile.frame])
        peak = float(np.iinfo(frame.dtype).max)
        s = (tile.height, tile.width)
        m = crop_tile(holes[tile.frame], tile.oy, tile.ox, *s)
        pair = []
        for j in range(2):
            if j < len(nb):
                pair.append((crop_tile(nb[j][0], tile.oy, tile.ox, *s) / peak, crop_tile(nb[j][1], tile.oy, tile.ox, *s)))
            else:
                pair.append(no_neighbour((*s, frame.shape[2])))
        f = crop_tile(frame, tile.oy, tile.ox, *s).astype(np.float32) / peak
        skip = False
        ly, lx = tile.ys - tile.oy, tile.xs - tile.ox
        k = config.samples if (pair[0][1][ly, lx] | pair[1][1][ly, lx]).any() else config.samples_alone
        # No valid neighbour pixel in the whole tile: no neighbour frame here (a reel's end, a cut, a
        # still), not a patch whose motion failed, where the warped neighbours still help the model.
        blind = not (pair[0][1] | pair[1][1]).any()
        if config.agree_tol > 0:
            both = pair[0][1][ly, lx] & pair[1][1][ly, lx]
            diff = np.abs(pair[0][0][ly, lx] - pair[1][0][ly, lx]).max(axis=-1)
            skip = bool(both.all() and (diff <= config.agree_tol).all())
        for c in range(frame.shape[2]):
            cond, base = conditioning(f[..., c], m, pair[0][0][..., c], pair[0][1], pair[1][0][..., c], pair[1][1])
            if skip:
                cheap.append((ti, c, base))
            else:
                items.setdefault(s, []).append((ti, c, cond, base, k, blind))

    # Each draw of each tile has its own noise stream, named by the tile (its frame, first hole pixel
    # and shape) and the call's seed: a tile's fill does not depend on which other tiles are filled
    # with it, how they are batched or in what order (a changed mask elsewhere leaves it as it was).
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))

    def streams(ti: int, c: int, k: int) -> list[torch.Generator]:
        t = tiles[ti]
        key = [seed, t.frame, int(t.ys[0]), int(t.xs[0]), t.height, t.width, c]
        seeds = [int(np.random.SeedSequence([*key, d]).generate_state(1, np.uint64)[0] >> 1) for d in range(k)]
        return [torch.Generator().manual_seed(s) for s in seeds]

    fills: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (tile, channel) -> (fill, std) in [0,1]
    for ti, c, base in cheap:
        fills[(ti, c)] = (base, np.zeros_like(base))
    for _, group in sorted(items.items()):
        counts = [g[4] for g in group]
        conds = torch.from_numpy(np.stack([g[2] for g in group]))  # (G, 6, H, W)
        conds = conds.repeat_interleave(torch.tensor(counts), dim=0)  # each item's draws, adjacent
        gens = [g for ti, c, _, _, k, _ in group for g in streams(ti, c, k)]
        out = []
        for a in range(0, len(conds), config.max_batch):
            out.append(sample_residuals(model, scheduler, conds[a : a + config.max_batch], config, gens[a : a + config.max_batch], dtype))
        res = torch.cat(out)[:, 0].numpy()
        for (ti, c, _, base, k, blind), at in zip(group, np.cumsum([0, *counts[:-1]])):
            draws = base[None] + res[at : at + k] / 2  # residual x0 = 2 (clean - baseline)
            fill = draws.mean(axis=0) if config.combine == "mean" else draws[0]
            if blind and config.combine == "mean" and config.shrink_alone > 0 and k > 1:
                fill = shrink_to_baseline(fill, draws, base, config.shrink_alone)
            fills[(ti, c)] = (fill, draws.std(axis=0) if k > 1 else np.zeros_like(fill))

    for ti, tile in enumerate(tiles):
        restored, spread = results[tile.frame]
        depth = restored.dtype
        peak = float(np.iinfo(depth).max)
        ly, lx = tile.ys - tile.oy, tile.xs - tile.ox
        stds = []
        for c in range(restored.shape[2]):
            fill, std = fills[(ti, c)]
            restored[tile.ys, tile.xs, c] = np.clip(np.rint(fill[ly, lx] * peak), 0, peak).astype(depth)
            stds.append(std[ly, lx])
        spread[tile.ys, tile.xs] = np.mean(stds, axis=0)
    return results


def inpaint_palette(
    frame: np.ndarray,
    mask: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    model: UNet2DModel,
    scheduler: DDIMScheduler,
    config: PaletteConfig = PaletteConfig(),
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``mask`` in ``frame`` with the Palette model.

    frame: ``(H, W, C)`` uint8/uint16, C in {1, 3} (each colour channel is filled as a separate
    single-channel batch item); mask: bool ``(H, W)``, True = hole; neighbours: the
    ``[(prev_warped, prev_valid), (next_warped, next_valid)]`` list from
    :func:`restoration.motion.flow.compensate` (offsets ``(-1, 1)``; warped float32 ``(H, W, C)`` native
    units, valid bool ``(H, W)``); model, scheduler: from :func:`load_inpainter`; generator: the
    randomness (default: seeded 0; one number drawn from it seeds each tile's own noise streams, so a
    tile fills the same whatever else the mask holds); dtype: the network's precision (float32, or bfloat16 autocast
    where the hardware has it: :mod:`restoration.core.compute`).
    Returns ``(restored, spread)``: restored has the frame's shape and dtype and equals ``frame``
    bit-exactly outside ``mask``; spread is float32 ``(H, W)``, the per-pixel std over the k draws
    in fractions of the dtype range (mean over channels), 0 outside the mask. An empty mask returns
    a copy of the frame without calling the model.
    """
    return inpaint_palette_many([frame], [mask], [neighbours], model, scheduler, config, generator, dtype)[0]
