"""Distil the Palette inpainter's DDIM sampler into one network evaluation per draw.

The teacher is a trained inpainter (default: the shipped one), frozen. For each training tile a noise
x_T is drawn; the teacher runs its whole DDIM loop from that x_T (``teacher_steps`` steps, known pixels
re-imposed, exactly :func:`restoration.inpaint.palette.sample_residuals`) and the student, the same
U-Net initialised from the teacher, learns to give the teacher's result in one call at t = T
(:func:`restoration.inpaint.palette.one_step_residual`): the MSE between the two residuals on the holes.
Since the student maps each x_T to the teacher's sample from it (not to the mean of all samples),
different draws still differ, so k draws still give a spread. The tiles, their conditioning and the
neighbour knock-out are the inpainter's training data (:mod:`restoration.train.inpainter`); the loop
(optimiser, EMA, checkpoints, resume) is :mod:`restoration.train.loop`. Run ``python -m
restoration.train.distill --help``.
"""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDIMScheduler, UNet2DModel

from restoration.core.compute import resolve_dtype
from restoration.inpaint.palette import SCHEDULER_CONFIG, PaletteConfig, load_inpainter, one_step_residual, sample_residuals
from restoration.io.reel import sha256_file
from restoration.models.inpainter import build_inpainter
from restoration.models.weights import shipped
from restoration.train.config import settings_from_args, training_config, training_parser
from restoration.train.inpainter import TrainInpainterConfig, build_bank, sample_batch
from restoration.train.loop import run_training


@dataclass(frozen=True)
class DistillConfig(TrainInpainterConfig):
    """Distillation settings: the inpainter trainer's (data, bank, knock-out, loop) and the teacher.

    teacher: the teacher's weights (None = the shipped inpainter); the student starts from them
        unless ``init`` names other weights.
    teacher_steps: the teacher's DDIM steps (its sampler as the pipeline runs it, one draw).
    """

    out_dir: str = "training/inpainter_one_step"
    teacher: str | None = None
    teacher_steps: int = 5
    lr: float = 2e-4
    warmup: int = 100
    steps: int = 3000


def distillation_loss(
    student: torch.nn.Module,
    batch: tuple,
    generator: torch.Generator,
    teacher: UNet2DModel,
    scheduler: DDIMScheduler,
    sampler: PaletteConfig,
    dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """MSE on the holes between the student's one-step residual and the teacher's DDIM sample from
    the same x_T; also the teacher's and the student's error against the true residual (``truth_*``,
    in the same units), to see what the distillation costs."""
    x0, cond, hole = batch
    noise = torch.randn(x0.shape, generator=generator)
    target = sample_residuals(teacher, scheduler, cond, sampler, generator, dtype, noise=noise)
    pred = one_step_residual(student, noise, cond).float()
    area = hole.sum().clamp(min=1)

    def on_holes(err: torch.Tensor) -> torch.Tensor:
        return ((err**2) * hole).sum() / area

    return {
        "loss": on_holes(pred - target),
        "truth_teacher": on_holes(target - x0),
        "truth_student": on_holes(pred.detach().clamp(-2, 2) - x0),
    }


def train(config: DistillConfig, log=None) -> Path:
    """Distil; returns the path of the student's weights (``out_dir/inpainter_one_step.safetensors``, EMA).

    ``config.init`` is the student's starting point (:func:`main` sets it to the teacher)."""
    if not config.init:
        raise ValueError("the student starts from trained weights: set init (the teacher's, normally)")
    teacher_path = config.teacher or str(shipped("inpainter"))
    teacher, scheduler = load_inpainter(teacher_path)
    teacher.requires_grad_(False)
    dtype = resolve_dtype(config.precision, torch.device("cpu"))
    facts = {
        "kind": "palette-inpainter",
        "sampling": "one-step",
        "formulation": "residual x0 = 2*(clean - baseline); one call at t = 999 gives x0 (distilled from the DDIM sampler)",
        "baseline": "mean of the valid warped neighbours (their own damage invalid), Telea where none",
        "scheduler": SCHEDULER_CONFIG,
        "teacher": {"path": teacher_path, "sha256": sha256_file(Path(teacher_path)), "steps": config.teacher_steps},
    }
    sampler = PaletteConfig(steps=config.teacher_steps, samples=1)
    loss = functools.partial(distillation_loss, teacher=teacher, scheduler=scheduler, sampler=sampler, dtype=dtype)
    metrics = ("loss", "truth_teacher", "truth_student")
    return run_training(config, "inpainter_one_step", build_bank, build_inpainter, sample_batch, loss, metrics, facts, log)


def parser() -> argparse.ArgumentParser:
    """The command line (``python -m restoration.train.distill``)."""
    ap = training_parser("python -m restoration.train.distill", __doc__.split("\n\n")[0], "inpainter")
    ap.add_argument("--teacher", help="the teacher's weights (default: the shipped restoration/weights/inpainter.safetensors)")
    ap.add_argument("--teacher-steps", type=int, help="the teacher's DDIM steps (default 5, the pipeline's)")
    return ap


def main(argv: list[str] | None = None) -> None:
    settings = settings_from_args(parser().parse_args(argv))
    settings.setdefault("init", settings.get("teacher") or str(shipped("inpainter")))
    config = training_config(DistillConfig, settings)
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    print(train(config))


if __name__ == "__main__":
    main()
