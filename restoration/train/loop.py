"""The one training loop of the patch models (the detector and the inpainter).

nanoGPT-style, read top to bottom: AdamW with diffusers' cosine schedule with warm-up, gradient
clipping, diffusers' ``EMAModel`` (its average is the weights a run writes), fixed seeds, a
checkpoint every few minutes and a resume that goes on bit for bit as if the run had never stopped
(model, EMA, optimiser, LR schedule and both random generators are in the checkpoint), and the loss
history in ``loss.csv`` (kept across resumes). A trainer brings its patch bank, its batch sampler and
its loss function; the loop owns everything else.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel

from restoration.core.compute import resolve_dtype
from restoration.io.atomic import atomic_path
from restoration.models.weights import load_unet, save_unet
from restoration.train.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from restoration.train.data import cached_bank, default_data

LOSSES_TAIL = 20  # loss.csv rows quoted in the weights' facts


@dataclass(frozen=True)
class LoopConfig:
    """The loop's settings; each trainer's config extends it (they are written into the weights' facts).

    out_dir: the run's folder: ``checkpoint.safetensors``, ``loss.csv``, ``train.log``, the weights.
    steps: optimiser steps in total (a resumed run continues to this count).
    lr, warmup, weight_decay: AdamW's peak learning rate, reached linearly over ``warmup`` steps and
        then decayed to 0 at ``steps`` on a cosine (diffusers' ``get_cosine_schedule_with_warmup``),
        and its weight decay.
    ema: the EMA's decay (diffusers' ``EMAModel``: ``min(ema, (1 + n) / (10 + n))`` at its n-th update
        after the first); the EMA of the weights is what gets saved.
    grad_clip: the gradients' global norm is clipped to this.
    seed: seeds the data and noise generators (and a fresh model's initial weights).
    threads: torch threads; precision: the network's precision (:mod:`restoration.core.compute`:
        bfloat16 only where the CPU computes it natively).
    checkpoint_minutes: checkpoint period; resume: continue from ``out_dir/checkpoint.safetensors``
        (and reuse the cached bank) when present.
    max_minutes: stop (after a checkpoint) when the wall time exceeds this (0 = no limit).
    log_every: one ``loss.csv`` row and progress line per this many steps (the means over them).
    """

    out_dir: str = "training/run"
    steps: int = 6000
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.0
    ema: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    precision: str = "auto"
    checkpoint_minutes: float = 4.0
    max_minutes: float = 0.0
    resume: bool = True
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.steps < 1 or self.warmup < 0 or self.lr <= 0 or not 0 <= self.ema <= 1 or self.log_every < 1:
            raise ValueError(f"invalid training settings {self}")


@contextmanager
def run_log(path: Path, also: Callable[[str], None] | None = None) -> Iterator[Callable[[str], None]]:
    """Yield ``say(message)``: a timestamped line printed and appended to ``path``, and the message
    passed to ``also``; the file is closed when the block ends."""
    with open(path, "a") as log_file:

        def say(message: str) -> None:
            line = f"[{time.strftime('%H:%M:%S')}] {message}"
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()
            if also is not None:
                also(message)

        yield say


def initial_model(init: str | None, build: Callable[[Any], torch.nn.Module], shape: Any, seed: int, say: Callable[[str], None]):
    """The model a run starts from: the weights file ``init`` (fine-tuning), else ``build(shape)``
    with initial weights drawn from ``seed``."""
    if init:
        model, facts = load_unet(init)
        say(f"init from {init} ({facts.get('steps', '?')} steps)")
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(shape)


def kept_history(path: Path, columns: tuple[str, ...], step: int) -> list[list[str]]:
    """The rows of the loss history ``path`` up to ``step``, the file rewritten with just them (a
    killed run's rows after its last checkpoint would otherwise repeat); step 0 starts it afresh."""
    rows: list[list[str]] = []
    if step > 0 and path.exists():
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = tuple(next(reader, ()))
            if header != columns:
                raise ValueError(f"{path}: columns {header}, expected {columns}: the loss history of another trainer?")
            rows = [row for row in reader if int(row[0]) <= step]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return rows


def train_loop(
    model: torch.nn.Module,
    sample_batch: Callable[[np.random.Generator], Any],
    compute_loss: Callable[[torch.nn.Module, Any, torch.Generator], dict[str, torch.Tensor]],
    metrics: tuple[str, ...],
    write_weights: Callable[[torch.nn.Module, int, list[float]], Path],
    config: LoopConfig,
    say: Callable[[str], None],
) -> Path:
    """Train ``model`` in place to ``config.steps``; returns ``write_weights(averaged model, step, losses tail)``.

    sample_batch(rng): the next batch, drawn with the data generator ``rng`` only.
    compute_loss(model, batch, generator): ``{"loss": the loss to minimise, ...}``, one scalar per
        name of ``metrics`` (``metrics[0] == "loss"``); noise and timesteps come from ``generator``.
    write_weights(averaged, step, tail): writes the EMA model, with the last ``loss`` means, and
        returns its path; called at each checkpoint and at the end.
    """
    if metrics[0] != "loss":
        raise ValueError(f"metrics must start with 'loss', got {metrics}")
    out = Path(config.out_dir)
    torch.set_num_threads(config.threads)
    bf16 = resolve_dtype(config.precision, torch.device("cpu")) == torch.bfloat16
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    lr_scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup, config.steps)
    ema = EMAModel(model.parameters(), decay=config.ema)
    rng = np.random.default_rng([config.seed, 0])
    generator = torch.Generator().manual_seed(config.seed * 1_000_003)

    state = TrainingState(model, optimizer, ema, lr_scheduler, rng, generator)

    step, summed = 0, 0
    sums = dict.fromkeys(metrics, 0.0)  # over the ``summed`` steps since the last loss.csv row
    checkpoint = out / "checkpoint.safetensors"
    if config.resume and checkpoint.exists():
        step, extra = load_checkpoint(checkpoint, state)
        sums, summed = extra["sums"], extra["summed"]
        say(f"resumed at step {step}")
    columns = ("step", *metrics, "lr", "seconds")
    losses = [float(row[1]) for row in kept_history(out / "loss.csv", columns, step)]

    def averaged() -> torch.nn.Module:
        ema_model = copy.deepcopy(model)
        ema.copy_to(ema_model.parameters())
        return ema_model

    n_params = sum(p.numel() for p in model.parameters())
    say(f"model {n_params} params, training steps {step} -> {config.steps}")
    began = last_checkpoint = time.time()
    with open(out / "loss.csv", "a", newline="") as csv_file:
        writer = csv.writer(csv_file)
        while step < config.steps:
            lr = lr_scheduler.get_last_lr()[0]
            batch = sample_batch(rng)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                values = compute_loss(model, batch, generator)
            optimizer.zero_grad(set_to_none=True)
            values["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            lr_scheduler.step()
            ema.step(model.parameters())
            step += 1

            for name in metrics:
                sums[name] += values[name].item()
            summed += 1
            if step % config.log_every == 0:
                means = [sums[name] / summed for name in metrics]
                sums, summed = dict.fromkeys(metrics, 0.0), 0
                losses.append(round(means[0], 5))
                writer.writerow([step, *(f"{m:.5f}" for m in means), f"{lr:.3g}", f"{time.time() - began:.0f}"])
                csv_file.flush()
                say(f"step {step}/{config.steps} " + " ".join(f"{n} {m:.4f}" for n, m in zip(metrics, means)) + f" lr {lr:.2e}")

            over_time = config.max_minutes and time.time() - began > 60 * config.max_minutes
            if time.time() - last_checkpoint > 60 * config.checkpoint_minutes or step == config.steps or over_time:
                save_checkpoint(checkpoint, step, state, {"sums": sums, "summed": summed})
                write_weights(averaged(), step, losses[-LOSSES_TAIL:])
                last_checkpoint = time.time()
                say(f"checkpoint at step {step}")
            if over_time:
                say(f"stopping at step {step}: max_minutes {config.max_minutes} reached")
                break
    return write_weights(averaged(), step, losses[-LOSSES_TAIL:])


def run_training(
    config: Any,
    name: str,
    build_bank: Callable[[Any, Callable[[str], None]], dict[str, np.ndarray]],
    build_model: Callable[[Any], torch.nn.Module],
    sample_batch: Callable[[dict[str, np.ndarray], Any, np.random.Generator], Any],
    compute_loss: Callable[[torch.nn.Module, Any, torch.Generator], dict[str, torch.Tensor]],
    metrics: tuple[str, ...],
    facts: dict,
    log: Callable[[str], None] | None = None,
) -> Path:
    """One training run, as each trainer makes it: its log, its cached data bank, its initial model, the loop.

    ``config``: a trainer's config (a :class:`LoopConfig` with ``init``, ``model`` and ``data``);
    ``build_bank(config, say)`` makes the bank cached in ``out_dir/bank.npz``; ``build_model(config.model)``
    a fresh model; ``sample_batch(bank, config, rng)``, ``compute_loss`` and ``metrics`` as for
    :func:`train_loop`. The EMA weights go to ``out_dir/<name>.safetensors`` (its SHA-256 in
    ``<name>.sha256``) with ``facts`` plus the steps, the losses' tail and the training config.
    Returns the weights' path.
    """
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def write_weights(ema: torch.nn.Module, step: int, tail: list[float]) -> Path:
        path = out / f"{name}.safetensors"
        recorded = dataclasses.asdict(config)
        recorded["data"] = list(config.data or default_data())
        sha = save_unet(ema, path, {**facts, "steps": step, "losses_tail": tail, "train_config": recorded})
        (out / f"{name}.sha256").write_text(sha + "\n")
        return path

    with run_log(out / "train.log", log) as say:
        bank = cached_bank(out / "bank.npz", config.resume, lambda: build_bank(config, say), say)
        model = initial_model(config.init, build_model, config.model, config.seed, say)
        return train_loop(model, functools.partial(sample_batch, bank, config), compute_loss, metrics, write_weights, config, say)
