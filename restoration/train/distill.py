"""Distil the Palette sampler into half its network calls (progressive distillation, Salimans & Ho 2022).

The teacher is a trained inpainter, frozen, stepped as the pipeline steps it (DDIM, eta 0, x0 clipped
to the residual's range, the known pixels re-imposed before every call). The student, the same U-Net
started from the teacher's weights, learns to take in one DDIM step what the teacher takes in two.
The student's call points are its own ``student_steps`` schedule (3 steps: 999, 666, 332; the step
from 999 needs no call, :func:`restoration.inpaint.palette.sample_residuals`); from each, the teacher
steps to the midpoint and on to the student's next point, and the student's target is the x0 whose
single DDIM step lands exactly where the teacher's two did. The inputs follow the sampler's own
trajectory: at the first call point the noise that the free first step leaves, at the next the
teacher's state there. Loss: squared error on the holes in x0 units weighted by max(SNR, 1) (the
paper's truncated-SNR weighting), summed over the call points. The student is an ordinary Palette
inpainter, run with ``PaletteConfig(steps=student_steps)``. With ``teacher_steps`` 1 the teacher
takes one step for each of the student's: a fresh, smaller network (``--channels``) learns to match
the teacher's calls on the same trajectory. Tiles, conditioning and neighbour knock-out are the
inpainter's training data (:mod:`restoration.train.inpainter`); the loop (optimiser, EMA,
checkpoints, resume) is :mod:`restoration.train.loop`. Run ``python -m restoration.train.distill
--help``.
"""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDIMScheduler, UNet2DModel

from restoration.inpaint.palette import SCHEDULER_CONFIG, load_inpainter
from restoration.io.reel import sha256_file
from restoration.models.inpainter import build_inpainter
from restoration.train.config import settings_from_args, training_config
from restoration.train.inpainter import TrainInpainterConfig, build_bank, sample_batch
from restoration.train.inpainter import parser as inpainter_parser
from restoration.train.loop import run_training


@dataclass(frozen=True)
class DistillConfig(TrainInpainterConfig):
    """Distillation settings: the inpainter trainer's (data, bank, knock-out, loop) and the teacher's.

    teacher: the teacher's weights (required); the student starts from them unless ``init`` names
        other weights. The shipped inpainter is itself a student: its teacher is in git history
        (``restoration/weights/inpainter.md``).
    student_steps: the DDIM steps the student is trained to sample with (``steps - 1`` network
        calls a draw).
    teacher_steps: the teacher's DDIM steps for each of the student's: 2 halves the calls
        (progressive distillation); 1 matches the teacher call for call, which is how a smaller
        network (``model``, started fresh: no ``init``) learns a trained one's sampler.
    """

    out_dir: str = "training/inpainter_distilled"
    teacher: str | None = None
    student_steps: int = 3
    teacher_steps: int = 2
    lr: float = 1e-4
    warmup: int = 100
    steps: int = 3000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.student_steps < 2:
            raise ValueError(f"student_steps must be at least 2 (the first step needs no call), got {self.student_steps}")
        if self.teacher_steps < 1:
            raise ValueError(f"teacher_steps must be at least 1, got {self.teacher_steps}")


def call_points(scheduler: DDIMScheduler, steps: int) -> list[tuple[int, int, float, float]]:
    """The network calls of a ``steps``-step DDIM draw: ``(t, t_prev, alpha_bar(t), alpha_bar(t_prev))``
    for each timestep after the first (the step from the top needs no call), ``t_prev`` as diffusers'
    ``DDIMScheduler.step`` takes it (``t - T // steps``; alpha_bar 1 below 0)."""
    scheduler.set_timesteps(steps)
    span = scheduler.config.num_train_timesteps // steps
    return [(t, t - span, alpha(scheduler, t), alpha(scheduler, t - span)) for t in scheduler.timesteps[1:].tolist()]


def alpha(scheduler: DDIMScheduler, t: int) -> float:
    """alpha_bar at timestep ``t`` (the final alpha below 0, as DDIM's last step)."""
    return float(scheduler.alphas_cumprod[t]) if t >= 0 else float(scheduler.final_alpha_cumprod)


def ddim_step(x: torch.Tensor, eps: torch.Tensor, a_t: float, a_prev: float, clip: float) -> torch.Tensor:
    """One deterministic DDIM step (eta 0) from alpha_bar ``a_t`` to ``a_prev``, x0 clipped to
    ``[-clip, clip]`` and the noise estimate kept unclipped (diffusers' ``DDIMScheduler.step``)."""
    x0 = ((x - (1 - a_t) ** 0.5 * eps) / a_t**0.5).clamp(-clip, clip)
    return a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def distillation_loss(
    student: torch.nn.Module,
    batch: tuple,
    generator: torch.Generator,
    teacher: UNet2DModel,
    scheduler: DDIMScheduler,
    student_steps: int,
    teacher_steps: int = 2,
) -> dict[str, torch.Tensor]:
    """The student's loss on one batch (:func:`restoration.train.inpainter.sample_batch`), and the
    teacher's and the student's last x0 against the true residual (``truth_*``, MSE on the holes)."""
    x0_true, cond, hole = batch
    clip = float(scheduler.config.clip_sample_range)
    area = hole.sum().clamp(min=1)

    def on_holes(err: torch.Tensor) -> torch.Tensor:
        return ((err**2) * hole).sum() / area

    def call(model: torch.nn.Module, x: torch.Tensor, t: int) -> torch.Tensor:
        tt = torch.full((len(x),), t, dtype=torch.long)
        return model(torch.cat([x, cond], 1), tt).sample.float()

    def known_noised(a_t: float) -> torch.Tensor:
        return (1 - a_t) ** 0.5 * torch.randn(x0_true.shape, generator=generator)

    points = call_points(scheduler, student_steps)
    # The free first step from the top (x0 taken as 0) leaves pure noise at the first call point.
    a_top = alpha(scheduler, int(scheduler.timesteps[0]))
    x = ((1 - points[0][2]) / (1 - a_top)) ** 0.5 * torch.randn(x0_true.shape, generator=generator)
    loss = torch.zeros(())
    for t, t_next, a_t, a_next in points:
        x_in = hole * x + (1 - hole) * known_noised(a_t)
        with torch.no_grad():
            x, s, a_s = x_in, t, a_t
            for j in range(1, teacher_steps + 1):
                s_next = (t * (teacher_steps - j) + max(t_next, 0) * j) // teacher_steps
                a_s_next = a_next if j == teacher_steps else alpha(scheduler, s_next)
                x = ddim_step(x, call(teacher, x, s), a_s, a_s_next, clip)
                if j < teacher_steps:
                    x = hole * x + (1 - hole) * known_noised(a_s_next)
                s, a_s = s_next, a_s_next
            # The x0 whose single DDIM step from x_in lands on x.
            c = ((1 - a_next) / (1 - a_t)) ** 0.5
            target = (x - c * x_in) / (a_next**0.5 - c * a_t**0.5)
        x0_student = (x_in - (1 - a_t) ** 0.5 * call(student, x_in, t)) / a_t**0.5
        loss = loss + max(a_t / (1 - a_t), 1.0) * on_holes(x0_student - target)
        x0_teacher = target
    return {
        "loss": loss,
        "truth_teacher": on_holes(x0_teacher.clamp(-clip, clip) - x0_true),
        "truth_student": on_holes(x0_student.detach().clamp(-clip, clip) - x0_true),
    }


def train(config: DistillConfig, log=None) -> Path:
    """Distil; returns the path of the student's weights (``out_dir/inpainter.safetensors``, EMA).

    ``config.init`` is the student's starting point (:func:`main` sets it to the teacher unless a
    fresh student's shape is given)."""
    if not config.teacher:
        raise ValueError("name the teacher's weights (--teacher)")
    if not config.init and config.teacher_steps > 1:
        raise ValueError("a student that halves the calls starts from trained weights: set init (the teacher's, normally)")
    teacher_path = config.teacher
    teacher, scheduler = load_inpainter(teacher_path)
    teacher.requires_grad_(False)
    facts = {
        "kind": "palette-inpainter",
        "scheduler": SCHEDULER_CONFIG,
        "formulation": "residual x0 = 2*(clean - baseline); eps-prediction",
        "baseline": "mean of the valid warped neighbours (their own damage invalid), Telea where none",
        "sampling_steps": config.student_steps,
        "distilled_from": {
            "path": teacher_path,
            "sha256": sha256_file(Path(teacher_path)),
            "teacher_steps_per_step": config.teacher_steps,
        },
    }
    loss = functools.partial(
        distillation_loss,
        teacher=teacher,
        scheduler=scheduler,
        student_steps=config.student_steps,
        teacher_steps=config.teacher_steps,
    )
    metrics = ("loss", "truth_teacher", "truth_student")
    return run_training(config, "inpainter", build_bank, build_inpainter, sample_batch, loss, metrics, facts, log)


def parser() -> argparse.ArgumentParser:
    """The command line (``python -m restoration.train.distill``, ``restoration train distill``)."""
    ap = inpainter_parser("python -m restoration.train.distill", __doc__.split("\n\n")[0])
    ap.add_argument("--teacher", help="the teacher's weights (required; the student starts from them unless --init names others)")
    ap.add_argument("--student-steps", type=int, help="DDIM steps the student samples with (default 3: two network calls a draw)")
    ap.add_argument(
        "--teacher-steps",
        type=int,
        help="the teacher's DDIM steps for each of the student's (default 2; 1 with --channels: a smaller network learns its sampler)",
    )
    ap.add_argument(
        "--channels",
        dest="model.channels",
        type=int,
        nargs="+",
        help="a fresh student of this shape (channels per level) instead of the teacher's weights",
    )
    ap.add_argument("--norm-groups", dest="model.norm_groups", type=int, help="the fresh student's GroupNorm groups")
    return ap


def config_from_args(argv: list[str] | None = None) -> DistillConfig:
    """The run's config from a command line: the student starts from the teacher's weights unless
    ``--init`` names others or ``--channels`` asks for a fresh student of another shape."""
    settings = settings_from_args(parser().parse_args(argv))
    if "model" not in settings:
        settings.setdefault("init", settings.get("teacher"))
    return training_config(DistillConfig, settings)


def main(argv: list[str] | None = None) -> None:
    config = config_from_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    print(train(config))


if __name__ == "__main__":
    main()
