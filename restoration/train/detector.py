"""Train (or fine-tune) the DiffEdit damage detector: a class-conditional "damaged film photo" model.

The loop (optimiser, EMA, checkpoints, resume, loss CSV) is :mod:`restoration.train.loop`; this
module brings the patch bank, the batch sampler and the loss. Run ``python -m
restoration.train.detector --help``.

Data. ``TrainDetectorConfig.data``: reels, each optionally ``path@a:b``; () = the project's
training split (:mod:`restoration.train.data`, which also names the held-out clips).

Patch bank (built once, cached in ``out_dir/bank.npz``): random frame triplets are reduced to gray
and given a film look (grain, flicker) -> the *clean* triplet; the same triplet through the damage
simulator (:func:`restoration.simulate.damage.simulate_damage`, levels mixed, sprites from
``/work/shared/data/damage_overlays`` when present) -> the *damaged* triplet. Neighbours are
motion-compensated on the damaged triplet, exactly as the pipeline sees them, so the clean examples
also carry damage in their neighbours (a speck in a neighbour only must not read as damage here).
Patches are cut at the centre frame's damage components, at the spike detector's proposals (the
tiles DiffEdit sees at inference, false alarms included) and at random places.

Training. Each batch holds pairs of the same patch and neighbours, one labelled ``clean`` and one
``damaged``; ``p_uncond`` of the labels are dropped to ``null`` (classifier-free guidance).
Timesteps are drawn from ``[t_min, t_max)``: DiffEdit only ever asks the model at low strength, so
the high-noise end of the schedule is not worth the steps. Two objectives (``objective``):

- ``"eps"`` (the first detector): each member is noised from its own patch and predicts its true
  noise. The two conditions then disagree only as far as the model happens to explain damage away.
- ``"disagreement"`` (detector v2): both members are noised from the *damaged* patch, ``x_t =
  sqrt(a) x_damaged + sqrt(1 - a) eps``. The ``damaged`` (and ``null``) label predicts the true
  noise ``eps``; the ``clean`` label predicts the noise relative to the *clean* patch, ``(x_t -
  sqrt(a) x_clean) / sqrt(1 - a) = eps + sqrt(a / (1 - a)) (x_damaged - x_clean)``. So
  ``eps(damaged) - eps(clean) = sqrt(a / (1 - a)) (x_clean - x_damaged)``: the DiffEdit difference
  *is* the damage, scaled, and zero on clean picture and grain. The loss is weighted by ``(1 - a) /
  a`` (relative to t = 100) so that errors count in picture units, the units of the mask threshold.
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

from restoration.models.detector import LABELS, SCHEDULER_CONFIG, DetectorModelConfig, build_detector, make_scheduler
from restoration.motion import flow as motion
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.train.config import settings_from_args, training_config, training_parser
from restoration.train.data import film_triplets, read_clips, triplet_patch
from restoration.train.loop import LoopConfig, run_training

SPRITES = Path(__file__).resolve().parents[3] / "shared" / "data" / "damage_overlays"

OBJECTIVES = ("eps", "disagreement")
# What the weights' facts say of the objective; the DiffEdit step reads it to pick its mask rule.
FORMULATIONS = {
    "eps": "eps-prediction on 2*luma-1; clean warped neighbours as conditioning",
    "disagreement": "disagreement: x_t from the damaged patch; clean label predicts the noise relative to the clean patch",
}


@dataclass(frozen=True)
class TrainDetectorConfig(LoopConfig):
    """Training settings (written into the weights' facts); the loop's (steps, lr, warmup, ema,
    checkpoints, ...) are :class:`restoration.train.loop.LoopConfig`'s.

    data: reels / folders, each optionally ``path@a:b`` (fractions of its frames); () = default split.
    sprites_dir: damage sprites for the simulator (None = the shared overlays when present).
    sprites_per_class: use a seeded subset of this many sprites per class (decoded once and cached;
        0 = all, uncached, about 20x slower bank building).
    levels: damage levels mixed in the bank (names as :class:`restoration.simulate.damage.DamageConfig` takes).
    init: weights file to start from (fine-tuning); None = fresh model of ``model`` shape.
    batch: examples per step (half clean, half damaged: pairs of the same patch).
    patch: training tile side; context: how far a patch centre strays from its component's;
        triplets: frame triplets sampled for the bank; patches_per_triplet: at most this many
        patches cut per triplet; frac_damage / frac_proposal: shares of patches centred on damage
        components / spike-detector proposals (the rest at random places).
    max_side: frames larger than this (longest side) are downscaled before use (0 = never).
    p_uncond: label dropout to ``null``; p_drop_neighbour: a neighbour's validity knocked out.
    objective: "eps" or "disagreement" (module docstring).
    t_min, t_max: timesteps are drawn from [t_min, t_max).
    grain, flicker: ranges of the film look's strengths (drawn per triplet).
    model: the U-Net's shape (a fine-tune's is its ``init`` weights'; a fresh one's ``patch`` is ``patch``).
    """

    out_dir: str = "training/detector"
    data: tuple[str, ...] = ()
    sprites_dir: str | None = None
    sprites_per_class: int = 30
    levels: tuple[str, ...] = ("low", "medium", "high")
    init: str | None = None
    batch: int = 32
    patch: int = 32
    context: int = 10
    triplets: int = 260
    patches_per_triplet: int = 24
    frac_damage: float = 0.45
    frac_proposal: float = 0.3
    max_side: int = 0
    p_uncond: float = 0.15
    p_drop_neighbour: float = 0.1
    objective: str = "eps"
    t_min: int = 0
    t_max: int = 700
    grain: tuple[float, float] = (0.0, 1.0)
    flicker: tuple[float, float] = (0.0, 1.0)
    model: DetectorModelConfig = field(default_factory=DetectorModelConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        timesteps = self.model.num_train_timesteps
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if not 0 <= self.t_min < self.t_max <= timesteps:
            raise ValueError(f"need 0 <= t_min < t_max <= {timesteps}, got {self.t_min}, {self.t_max}")


# --------------------------------------------------------------------------- data


def simulate(frames: np.ndarray, level: str, seed: int, sprites_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(damaged frames, mask (T, H, W) bool)`` from the project's damage simulator."""
    sprites = sprites_dir if sprites_dir is not None else (str(SPRITES) if SPRITES.is_dir() else None)
    clip = simulate_damage(frames, DamageConfig(level=level, seed=seed, sprites_dir=sprites))
    return clip.frames, clip.mask


def _centres(
    rng: np.random.Generator, mask: np.ndarray, proposals: np.ndarray, n: int, config: TrainDetectorConfig
) -> list[tuple[int, int]]:
    """Patch centres: damage components, spike proposals, random places (shares from config)."""
    h, w = mask.shape
    out: list[tuple[int, int]] = []
    for source, share in ((mask, config.frac_damage), (proposals, config.frac_proposal)):
        labels, k = ndi.label(source, structure=np.ones((3, 3), bool))
        if k == 0:
            continue
        objs = ndi.find_objects(labels)
        for j in rng.permutation(k)[: int(round(n * share))]:
            sl = objs[j]
            cy = (sl[0].start + sl[0].stop) // 2 + int(rng.integers(-config.context, config.context + 1))
            cx = (sl[1].start + sl[1].stop) // 2 + int(rng.integers(-config.context, config.context + 1))
            out.append((cy, cx))
    while len(out) < n:
        out.append((int(rng.integers(0, h)), int(rng.integers(0, w))))
    return out


def _sprite_subset(sprites_dir: str | None, per_class: int, out: Path, seed: int) -> str | None:
    """A folder of links to ``per_class`` sprites of each class (seeded pick), so that decoded
    sprites can stay cached: decoding a fresh 400x400 PNG for every artefact made the simulator
    the bank's bottleneck (about 12 s per triplet)."""
    src = Path(sprites_dir) if sprites_dir is not None else (SPRITES if SPRITES.is_dir() else None)
    if src is None or per_class <= 0:
        return None if src is None else str(src)
    rng = np.random.default_rng(seed)
    dst = out / "sprites"
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        files = sorted(cls.glob("*.png"))
        (dst / cls.name).mkdir(parents=True, exist_ok=True)
        for f in (files[j] for j in rng.permutation(len(files))[:per_class]):
            link = dst / cls.name / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
    return str(dst)


def build_bank(config: TrainDetectorConfig, log=print) -> dict[str, np.ndarray]:
    """Cut the patch bank (see the module docstring). Arrays, N patches of side P:
    clean, damaged, prev, next float16 (N, P, P) in [0, 1]; mask, prev_valid, next_valid bool."""
    from restoration.detect.temporal import detect_spikes

    rng = np.random.default_rng(config.seed)
    sprites = _sprite_subset(config.sprites_dir, config.sprites_per_class, Path(config.out_dir), config.seed)
    log(f"damage sprites: {sprites} ({config.sprites_per_class or 'all'} per class)")
    clips = read_clips(config.data, config.max_side, log)
    weights = np.array([len(c) * c.shape[1] * c.shape[2] for c in clips], float)
    weights = np.sqrt(weights) / np.sqrt(weights).sum()  # small clips still count
    P, half = config.patch, config.patch // 2
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("clean", "damaged", "mask", "prev", "prev_valid", "next", "next_valid")}
    t0 = time.time()
    for n, tri, seed in film_triplets(clips, weights, config.triplets, config.grain, config.flicker, rng):
        damaged, mask = simulate(tri, str(rng.choice(list(config.levels))), seed, sprites)
        nb = motion.compensate(damaged, 1)
        proposals = detect_spikes(damaged[1], nb)
        h, w = mask.shape[1:]
        if h < P or w < P:
            continue
        top = float(np.iinfo(tri.dtype).max)
        for cy, cx in _centres(rng, mask[1], proposals, config.patches_per_triplet, config):
            oy = min(max(cy - half, 0), h - P)
            ox = min(max(cx - half, 0), w - P)
            ys, xs = slice(oy, oy + P), slice(ox, ox + P)
            for key, patch in triplet_patch(tri, nb, ys, xs).items():
                out[key].append(patch)
            out["damaged"].append((damaged[1, ys, xs, 0] / top).astype(np.float16))
            out["mask"].append(mask[1, ys, xs])
        if (n + 1) % 20 == 0:
            log(f"bank: {n + 1}/{config.triplets} triplets, {len(out['clean'])} patches, {time.time() - t0:.0f}s")
    return {k: np.stack(v) for k, v in out.items()}


def model_input(
    x_t: torch.Tensor, prev: torch.Tensor, prev_valid: torch.Tensor, nxt: torch.Tensor, next_valid: torch.Tensor
) -> torch.Tensor:
    """Stack the channels of :data:`restoration.models.detector.CHANNELS`.

    x_t (N, 1, P, P) noised patch in [-1, 1] units; prev / nxt (N, 1, P, P) in [0, 1]; *_valid
    (N, 1, P, P) 0/1. Invalid neighbour pixels become 0 (mid-gray) so they carry nothing.
    """
    return torch.cat([x_t, (2 * prev - 1) * prev_valid, prev_valid, (2 * nxt - 1) * next_valid, next_valid], 1)


def sample_batch(
    bank: dict[str, np.ndarray], config: TrainDetectorConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x0, ref, cond, labels, damage)``, float32 but labels (B,) long, B = ``config.batch``: x0
    (B,1,P,P) in [-1,1], the patch x_t is noised from; ref (B,1,P,P), the patch the target noise is
    relative to; cond (B,4,P,P) = prev, prev_valid, next, next_valid; damage (B,1,P,P) 0/1, the
    centre frame's damage mask. All randomness from ``rng``.

    Pairs: for ``config.batch // 2`` random bank patches a member labelled clean and one labelled
    damaged, with the same neighbours, flips / transposes and time swap. ``objective="eps"``: x0 = ref = the member's own
    patch; ``"disagreement"``: x0 = the damaged patch for both, ref = the clean patch for the clean
    label and the damaged one otherwise. Labels dropped to null with ``p_uncond`` (ref = x0 then); a
    neighbour's validity knocked out with ``p_drop_neighbour``.
    """
    x0s, refs, conds, labels, damage = [], [], [], [], []
    for i in rng.integers(0, len(bank["clean"]), config.batch // 2):
        nbs = [[bank[k][i].astype(np.float32), bank[f"{k}_valid"][i].astype(np.float32)] for k in ("prev", "next")]
        for nbv in nbs:
            if rng.random() < config.p_drop_neighbour:
                nbv[1] = np.zeros_like(nbv[1])
        if rng.random() < 0.5:
            nbs.reverse()  # time symmetry
        cond = np.stack([nbs[0][0], nbs[0][1], nbs[1][0], nbs[1][1]])
        flip_y, flip_x, transpose = rng.random(3) < 0.5
        for key, label in (("clean", LABELS["clean"]), ("damaged", LABELS["damaged"])):
            label = LABELS["null"] if rng.random() < config.p_uncond else label
            own = (2 * bank[key][i].astype(np.float32) - 1)[None]
            if config.objective == "disagreement":
                x0 = (2 * bank["damaged"][i].astype(np.float32) - 1)[None]
                ref = own if label == LABELS["clean"] else x0
            else:
                x0 = ref = own
            both = np.concatenate([x0, ref, cond, bank["mask"][i][None].astype(np.float32)])
            if flip_y:
                both = both[:, ::-1]
            if flip_x:
                both = both[:, :, ::-1]
            if transpose:
                both = both.transpose(0, 2, 1)
            both = np.ascontiguousarray(both)
            x0s.append(both[:1])
            refs.append(both[1:2])
            conds.append(both[2:6])
            damage.append(both[6:])
            labels.append(label)
    return (
        torch.from_numpy(np.stack(x0s)),
        torch.from_numpy(np.stack(refs)),
        torch.from_numpy(np.stack(conds)),
        torch.tensor(labels, dtype=torch.long),
        torch.from_numpy(np.stack(damage)),
    )


# --------------------------------------------------------------------------- training


def detector_loss(
    model: torch.nn.Module, batch: tuple, generator: torch.Generator, config: TrainDetectorConfig, alphas: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The objective's MSE (module docstring) on ``batch`` (:func:`sample_batch`) and, as a measure,
    its mean on the damaged pixels; noise and timesteps from ``generator``."""
    x0, ref, cond, labels, damage = batch
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.randint(config.t_min, config.t_max, (len(x0),), generator=generator)
    a = alphas[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    target = noise + (a / (1 - a)).sqrt() * (x0 - ref)
    inp = model_input(xt, cond[:, 0:1], cond[:, 1:2], cond[:, 2:3], cond[:, 3:4])
    if config.model.in_channels == 1:
        inp = inp[:, :1]
    pred = model(inp, t, class_labels=labels).sample
    err = (pred.float() - target) ** 2
    if config.objective == "disagreement":
        a_ref = alphas[100]
        err = err * ((1 - a) / a) * (a_ref / (1 - a_ref))  # (1 - a) / a relative to t = 100
    # The loss on the damaged pixels (both members of each pair): the part DiffEdit relies on.
    damaged_px = (err.detach() * damage).sum() / damage.sum().clamp(min=1)
    return {"loss": err.mean(), "loss_damaged_px": damaged_px}


def train(config: TrainDetectorConfig, log=None) -> Path:
    """Train; returns the path of the final weights (``out_dir/detector.safetensors``, EMA)."""
    facts = {
        "kind": "diffedit-detector",
        "damage_simulator": "restoration.simulate.damage.simulate_damage",
        "scheduler": SCHEDULER_CONFIG,
        "labels": LABELS,
        "formulation": FORMULATIONS[config.objective],
    }
    loss = functools.partial(detector_loss, config=config, alphas=make_scheduler().alphas_cumprod)
    return run_training(config, "detector", build_bank, build_detector, sample_batch, loss, ("loss", "loss_damaged_px"), facts, log)


def parser() -> argparse.ArgumentParser:
    """The command line (``python -m restoration.train.detector``, ``restoration train detector``)."""
    ap = training_parser("python -m restoration.train.detector", __doc__.split("\n\n")[0], "detector")
    ap.add_argument("--sprites-dir", help="damage sprites folder (default: ../shared/data/damage_overlays when present)")
    ap.add_argument("--sprites-per-class", type=int, help="sprite subset per class (0 = all; slow)")
    ap.add_argument("--levels", nargs="*")
    ap.add_argument(
        "--objective", choices=OBJECTIVES, help="eps (first detector) or disagreement (v2: the two conditions differ by the damage)"
    )
    ap.add_argument("--t-min", type=int)
    ap.add_argument("--t-max", type=int)
    ap.add_argument(
        "--channels",
        dest="model.block_out_channels",
        metavar="CHANNELS",
        type=int,
        nargs="*",
        help="U-Net channels per level for a fresh model, e.g. 16 32 32",
    )
    ap.add_argument(
        "--no-attention",
        dest="model.attention_lowest",
        action="store_false",
        help="fresh model without self-attention in the lowest down and up blocks",
    )
    ap.add_argument(
        "--no-middle-attention",
        dest="model.attention_middle",
        action="store_false",
        help="fresh model without the middle block's self-attention (with --no-attention: fully convolutional)",
    )
    ap.add_argument("--norm-groups", dest="model.norm_groups", metavar="NORM_GROUPS", type=int)
    ap.add_argument("--frac-proposal", type=float)
    return ap


def main(argv: list[str] | None = None) -> None:
    config = training_config(TrainDetectorConfig, settings_from_args(parser().parse_args(argv)))
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    print(train(config))


if __name__ == "__main__":
    main()
