"""Train (or fine-tune) the Palette inpainter on clean footage with simulated damage masks.

The loop (optimiser, EMA, checkpoints, resume, loss CSV) is :mod:`restoration.train.loop`; this
module brings the patch bank, the batch sampler and the loss. Run ``python -m
restoration.train.inpainter --help``.

Data. ``TrainInpainterConfig.data``: reels, each optionally ``path@a:b``; () = the project's
training split (:mod:`restoration.train.data`, which also names the held-out clips).

Patch bank (built once, cached in ``out_dir/bank.npz``): random frame triplets are reduced to gray,
given a film look (grain, flicker: fills learn to carry grain), damaged with the simulator
(:func:`restoration.simulate.damage.simulate_damage`, all classes and levels), and motion-compensated
(:func:`restoration.motion.flow.compensate` on the *damaged* triplet with its masks, as in the pipeline:
a neighbour's own damage is invalid). Patches are cut
around the centre frame's mask components: clean and damaged centre, mask, warped previous / next and
validity. With a ``rim`` range the damage has soft edges (:func:`restoration.simulate.damage.soften_edges`):
the pixels next to a hole are then changed, as on a real scan, and the model learns not to carry them in.
At batch time the neighbours' validity is randomly knocked out (whole patch or a blob) so the model
also learns the no-neighbour case; conditioning and baseline are then computed exactly as at
inference (:func:`restoration.inpaint.palette.conditioning`).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from restoration.inpaint.palette import SCHEDULER_CONFIG, conditioning, make_scheduler
from restoration.models.inpainter import InpainterModelConfig, build_inpainter
from restoration.motion import flow as motion
from restoration.simulate.damage import LEVEL_COVERAGE, DamageConfig, simulate_damage
from restoration.train.config import settings_from_args, training_config, training_parser
from restoration.train.data import film_triplets, read_clips, triplet_patch
from restoration.train.loop import LoopConfig, run_training


@dataclass(frozen=True)
class TrainInpainterConfig(LoopConfig):
    """Training settings (written into the weights' facts); the loop's (steps, lr, warmup, ema,
    checkpoints, ...) are :class:`restoration.train.loop.LoopConfig`'s.

    data: reels / folders, each optionally ``path@a:b`` (fractions of its frames); () = default split.
    init: weights file to start from (fine-tuning); None = fresh model of ``model`` shape.
    batch: patches per step.
    patch: training tile side; context: how far a patch centre strays from its mask component's;
        triplets: frame triplets sampled for the bank; patches_per_triplet: at most this many
        patches cut per triplet.
    max_side: frames larger than this (longest side) are downscaled before use (0 = never).
    p_drop_neighbour, p_occlude_blob: validity knock-out probabilities (per neighbour, per patch).
    grain, flicker: ranges of the film look's strengths (drawn per triplet).
    rim: range of the damage's soft edge (``DamageConfig.rim``, drawn per triplet; (0, 0) = hard edges);
        p_rim: the share of triplets with a soft edge (the others hard). Measured (2026-12-03): a
        teacher fine-tuned on ``rim`` (0.05, 0.4) at ``p_rim`` 0.5 still distrusted every hole's rim
        (-1.1 to -4.6 dB on hard edges): without the damage it cannot tell the two apart, which is
        why the fill's rim rule (``PaletteConfig.rim_tol``) ships instead.
    model: the U-Net's shape (a fine-tune's is its ``init`` weights').
    """

    out_dir: str = "training/inpainter"
    data: tuple[str, ...] = ()
    init: str | None = None
    batch: int = 32
    patch: int = 32
    context: int = 8
    triplets: int = 240
    patches_per_triplet: int = 48
    max_side: int = 0
    p_drop_neighbour: float = 0.15
    p_occlude_blob: float = 0.15
    grain: tuple[float, float] = (0.0, 1.0)
    flicker: tuple[float, float] = (0.0, 1.0)
    rim: tuple[float, float] = (0.0, 0.0)
    p_rim: float = 1.0
    model: InpainterModelConfig = field(default_factory=lambda: InpainterModelConfig(channels=(32, 64, 64)))


# --------------------------------------------------------------------------- data


def build_bank(config: TrainInpainterConfig, log=print) -> dict[str, np.ndarray]:
    """Cut the patch bank (see the module docstring). Arrays, N patches of side P:
    clean, damaged, prev, next float16 (N, P, P) in [0, 1]; mask, prev_valid, next_valid bool (N, P, P)."""
    rng = np.random.default_rng(config.seed)
    clips = read_clips(config.data, config.max_side, log)
    weights = np.array([len(c) for c in clips], float)
    weights = np.sqrt(weights) / np.sqrt(weights).sum()  # short clips still count
    P, half = config.patch, config.patch // 2
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("clean", "damaged", "mask", "prev", "prev_valid", "next", "next_valid")}
    t0 = time.time()
    for n, tri, seed in film_triplets(clips, weights, config.triplets, config.grain, config.flicker, rng):
        level = str(rng.choice(list(LEVEL_COVERAGE)))
        # Drawn only when asked, so that a bank without rims is the one built before rims existed.
        rim = float(rng.uniform(*config.rim)) * (rng.random() < config.p_rim) if config.rim[1] > 0 else 0.0
        damage = simulate_damage(tri, DamageConfig(level=level, seed=seed, rim=rim))
        damaged, mask = damage.frames, damage.mask
        centre_mask = mask[1]
        if not centre_mask.any():
            continue
        nb = motion.compensate(damaged, 1, damage=mask)
        h, w = centre_mask.shape
        labels, k = ndi.label(centre_mask, structure=np.ones((3, 3), bool))
        objs = ndi.find_objects(labels)
        order = rng.permutation(k)[: config.patches_per_triplet]
        for j in order:
            sl = objs[j]
            cy = (sl[0].start + sl[0].stop) // 2 + int(rng.integers(-config.context, config.context + 1))
            cx = (sl[1].start + sl[1].stop) // 2 + int(rng.integers(-config.context, config.context + 1))
            oy = min(max(cy - half, 0), h - P)
            ox = min(max(cx - half, 0), w - P)
            if oy < 0 or ox < 0:
                continue
            ys, xs = slice(oy, oy + P), slice(ox, ox + P)
            for key, patch in triplet_patch(tri, nb, ys, xs).items():
                out[key].append(patch)
            out["mask"].append(centre_mask[ys, xs])
            out["damaged"].append((damaged[1, ys, xs, 0] / float(np.iinfo(damaged.dtype).max)).astype(np.float16))
        if (n + 1) % 20 == 0:
            log(f"bank: {n + 1}/{config.triplets} triplets, {len(out['clean'])} patches, {time.time() - t0:.0f}s")
    return {k: np.stack(v) for k, v in out.items()}


def sample_batch(
    bank: dict[str, np.ndarray], config: TrainInpainterConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``config.batch`` random bank patches as ``(x0 (B,1,P,P), cond (B,6,P,P), hole (B,1,P,P))``
    float32, with validity knock-out and flips; all randomness from ``rng``."""
    P = config.patch
    x0s, conds, holes = [], [], []
    for i in rng.integers(0, len(bank["clean"]), config.batch):
        clean = bank["clean"][i].astype(np.float32)
        mask = bank["mask"][i]
        nbs = []
        for key in ("prev", "next"):
            img, valid = bank[key][i].astype(np.float32), bank[f"{key}_valid"][i].copy()
            # Knocked-out validity comes with wrong values (a shifted copy), as a real occlusion or
            # failed registration would: the model must learn not to copy invalid pixels blindly.
            wrong = np.roll(img, tuple(rng.integers(3, 10, 2) * rng.choice([-1, 1], 2)), axis=(0, 1))
            if rng.random() < config.p_drop_neighbour:
                valid[:] = False
                img = wrong
            elif rng.random() < config.p_occlude_blob:
                yy, xx = np.ogrid[:P, :P]
                cy, cx, r = rng.integers(0, P), rng.integers(0, P), rng.uniform(3, P / 2)
                blob = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                valid &= ~blob
                img = np.where(blob, wrong, img)
            nbs.append((img, valid))
        if rng.random() < 0.5:
            nbs.reverse()  # time symmetry
        # The damaged pixels never reach the model; their soft rims, outside the mask, do. A bank cut
        # before rims existed has no damaged patch: its damage had hard edges, so the clean one is it.
        seen = bank["damaged"][i].astype(np.float32) if "damaged" in bank else clean
        known = np.where(mask, 0.0, seen).astype(np.float32)
        cond, base = conditioning(known, mask, nbs[0][0], nbs[0][1], nbs[1][0], nbs[1][1])
        x0 = (2 * (clean - base) * mask)[None]
        if rng.random() < 0.5:
            cond, x0, mask = cond[..., ::-1], x0[..., ::-1], mask[..., ::-1]
        x0s.append(np.ascontiguousarray(x0))
        conds.append(np.ascontiguousarray(cond))
        holes.append(np.ascontiguousarray(mask)[None].astype(np.float32))
    return torch.from_numpy(np.stack(x0s)), torch.from_numpy(np.stack(conds)), torch.from_numpy(np.stack(holes))


# --------------------------------------------------------------------------- training


def denoising_loss(model: torch.nn.Module, batch: tuple, generator: torch.Generator, alphas: torch.Tensor) -> dict[str, torch.Tensor]:
    """The noise-prediction MSE on the holes of ``batch`` (:func:`sample_batch`), x_t noised from x0
    to a random timestep; noise and timesteps from ``generator``."""
    x0, cond, hole = batch
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.randint(0, len(alphas), (len(x0),), generator=generator)
    a = alphas[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    pred = model(torch.cat([xt, cond], 1), t).sample
    # Known pixels are re-imposed at sampling, so only the holes' noise is learned.
    return {"loss": (((pred.float() - noise) ** 2) * hole).sum() / hole.sum().clamp(min=1)}


def train(config: TrainInpainterConfig, log=None) -> Path:
    """Train; returns the path of the final weights (``out_dir/inpainter.safetensors``, EMA)."""
    facts = {
        "kind": "palette-inpainter",
        "scheduler": SCHEDULER_CONFIG,
        "formulation": "residual x0 = 2*(clean - baseline); eps-prediction",
        "baseline": "mean of the valid warped neighbours (their own damage invalid), Telea where none",
    }
    loss = functools.partial(denoising_loss, alphas=make_scheduler().alphas_cumprod)
    return run_training(config, "inpainter", build_bank, build_inpainter, sample_batch, loss, ("loss",), facts, log)


def parser(prog: str = "python -m restoration.train.inpainter", description: str | None = None) -> argparse.ArgumentParser:
    """The command line (``python -m restoration.train.inpainter``, ``restoration train inpainter``);
    the distillation's (:mod:`restoration.train.distill`) adds its own flags to it."""
    ap = training_parser(prog, description or __doc__.split("\n\n")[0], "inpainter")
    # Raising these trains more of the no-neighbour case (a reel's ends, cuts, stills: issue 15).
    ap.add_argument(
        "--p-drop-neighbour",
        type=float,
        help="the share of training tiles whose neighbour is knocked out (no valid pixel, wrong values), per neighbour",
    )
    ap.add_argument(
        "--p-occlude-blob",
        type=float,
        help="the share of training tiles whose neighbour loses a random disc of validity, per neighbour not knocked out",
    )
    ap.add_argument(
        "--rim",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="range of the simulated damage's soft edge, drawn per triplet (DamageConfig.rim; default 0 0: hard edges)",
    )
    ap.add_argument("--p-rim", type=float, help="the share of triplets whose damage gets a soft edge from --rim (default 1)")
    return ap


def main(argv: list[str] | None = None) -> None:
    config = training_config(TrainInpainterConfig, settings_from_args(parser().parse_args(argv)))
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    print(train(config))


if __name__ == "__main__":
    main()
