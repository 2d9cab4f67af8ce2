"""Progressive distillation of the Palette sampler (restoration.train.distill): its DDIM step is
diffusers', the student's target is exactly where the teacher's two steps land, a tiny run moves the
student towards the teacher's two-step result and resumes bit for bit, and the command line starts
the student from the teacher."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from test_training import Killed, checkpoint_contents, kill_after_checkpoint, loss_rows, tiny_run

import restoration.train.distill as distill
from restoration.inpaint.palette import PaletteConfig, inpaint_palette, load_inpainter, make_scheduler
from restoration.io.reel import sha256_file
from restoration.models.inpainter import build_inpainter, tiny_inpainter_config
from restoration.models.weights import load_unet, save_unet
from restoration.train.inpainter import sample_batch


def tiny_teacher(path: Path) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = build_inpainter(tiny_inpainter_config())
    save_unet(model, path, {"kind": "palette-inpainter", "train_config": {"model": dataclasses.asdict(tiny_inpainter_config())}})
    return path


def tiny_distill_run(out_dir: Path, **settings) -> distill.DistillConfig:
    """A distillation of a tiny random teacher (written beside ``out_dir``) on a random bank."""
    teacher = str(tiny_teacher(out_dir.parent / f"{out_dir.name}-teacher.safetensors"))
    return tiny_run("inpainter", out_dir, distill.DistillConfig, teacher=teacher, init=teacher, **settings)


def test_ddim_step_is_diffusers_ddim_step():
    scheduler = make_scheduler()
    scheduler.set_timesteps(5)
    gen = torch.Generator().manual_seed(0)
    x, eps = torch.randn((2, 1, 8, 8), generator=gen) * 2, torch.randn((2, 1, 8, 8), generator=gen)
    for t in scheduler.timesteps[1:].tolist():
        expected = scheduler.step(eps, t, x, eta=0.0).prev_sample
        ours = distill.ddim_step(x, eps, distill.alpha(scheduler, t), distill.alpha(scheduler, t - 200), 2.0)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_the_students_target_is_one_ddim_step_to_where_the_teachers_two_land():
    """With the target x0, diffusers' step at the student's schedule lands on the teacher's result."""
    scheduler = make_scheduler()
    gen = torch.Generator().manual_seed(1)
    for t, _, a_t, a_next in distill.call_points(scheduler, 3):
        x_in = torch.randn((1, 1, 8, 8), generator=gen)
        x_next = 0.5 * torch.randn((1, 1, 8, 8), generator=gen)  # where the teacher's two steps landed
        c = ((1 - a_next) / (1 - a_t)) ** 0.5
        target = (x_next - c * x_in) / (a_next**0.5 - c * a_t**0.5)
        eps = (x_in - a_t**0.5 * target) / (1 - a_t) ** 0.5  # the noise estimate whose x0 is the target
        scheduler.set_timesteps(3)
        landed = scheduler.step(eps, t, x_in, eta=0.0).prev_sample
        inside = target.abs() <= 2  # the scheduler clips x0 to the residual's range
        assert inside.float().mean() > 0.5
        torch.testing.assert_close(landed[inside], x_next[inside], rtol=1e-4, atol=1e-4)


def test_call_points_are_the_samplers_network_calls():
    points = distill.call_points(make_scheduler(), 3)
    assert [(t, t_prev) for t, t_prev, _, _ in points] == [(666, 333), (332, -1)]
    assert points[-1][3] == 1.0  # the last step lands on x0
    assert PaletteConfig(steps=3).evaluations() == len(points)  # network calls a draw


def test_distilled_student_moves_towards_the_teachers_two_step_result(tmp_path):
    config = tiny_distill_run(tmp_path / "run", steps=60, lr=3e-3, warmup=0, log_every=20, checkpoint_minutes=5)
    weights = distill.train(config)
    assert loss_rows(tmp_path / "run")[0] == ["step", "loss", "truth_teacher", "truth_student", "lr"]
    facts = load_unet(weights)[1]
    assert facts["sampling_steps"] == 3
    assert facts["distilled_from"] == {
        "path": config.teacher,
        "sha256": sha256_file(Path(config.teacher)),
        "teacher_steps_per_step": 2,
    }

    teacher, scheduler = load_inpainter(config.teacher)
    student, _ = load_inpainter(weights)
    bank = dict(np.load(tmp_path / "run" / "bank.npz"))
    batch = sample_batch(bank, dataclasses.replace(config, batch=16), np.random.default_rng(11))

    def gap(model) -> float:
        with torch.no_grad():
            values = distill.distillation_loss(model, batch, torch.Generator().manual_seed(5), teacher, scheduler, 3)
        return float(values["loss"])

    before, after = gap(teacher), gap(student)
    assert after < 0.6 * before, (before, after)

    # The student is an ordinary Palette inpainter: outside the mask bit-exact.
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (24, 24, 1), dtype=np.uint8)
    mask = np.zeros((24, 24), bool)
    mask[10:13, 9:12] = True
    restored, _ = inpaint_palette(frame, mask, [], student, scheduler, PaletteConfig(steps=3))
    assert np.array_equal(restored[~mask], frame[~mask]) and restored.dtype == np.uint8


def test_a_killed_and_resumed_distillation_is_the_run_that_never_stopped(tmp_path):
    straight = tiny_distill_run(tmp_path / "straight")
    resumed = tiny_distill_run(tmp_path / "resumed")
    distill.train(straight)
    with pytest.raises(Killed):
        distill.train(resumed, log=kill_after_checkpoint(3))
    distill.train(resumed)
    meta_a, tensors_a = checkpoint_contents(tmp_path / "straight" / "checkpoint.safetensors")
    meta_b, tensors_b = checkpoint_contents(tmp_path / "resumed" / "checkpoint.safetensors")
    assert meta_a == meta_b and meta_a["step"] == "6"
    assert all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)


def test_distill_starts_the_student_from_the_teacher_on_the_command_line(tmp_path):
    teacher = tiny_teacher(tmp_path / "teacher.safetensors")
    config = distill.config_from_args(["--teacher", str(teacher), "--student-steps", "2", "--p-drop-neighbour", "0.3"])
    assert (config.init, config.teacher, config.student_steps, config.p_drop_neighbour) == (str(teacher), str(teacher), 2, 0.3)
    assert dataclasses.asdict(config.model) == dataclasses.asdict(tiny_inpainter_config())
    with pytest.raises(ValueError, match="starts from trained weights"):
        distill.train(dataclasses.replace(config, init=None))
    with pytest.raises(ValueError, match="--teacher"):
        distill.train(dataclasses.replace(config, teacher=None))
    with pytest.raises(ValueError, match="student_steps"):
        dataclasses.replace(config, student_steps=1)


def test_a_smaller_student_starts_fresh_and_matches_the_teacher_call_for_call(tmp_path):
    teacher = tiny_teacher(tmp_path / "teacher.safetensors")
    argv = ["--teacher", str(teacher), "--teacher-steps", "1", "--channels", "4", "8", "--norm-groups", "2", "--patch", "16"]
    config = distill.config_from_args(argv)
    assert config.init is None and config.teacher_steps == 1
    assert (config.model.channels, config.model.norm_groups, config.model.patch) == ((4, 8), 2, 16)
    with pytest.raises(ValueError, match="starts from trained weights"):
        distill.train(dataclasses.replace(config, teacher_steps=2))
    with pytest.raises(ValueError, match="teacher_steps"):
        dataclasses.replace(config, teacher_steps=0)

    # Unclipped, the teacher's own x0 is the target: the teacher as its own student has no loss at
    # one teacher step a student step, and some at two.
    model, _ = load_inpainter(str(teacher))
    unclipped = DDIMScheduler.from_config(make_scheduler().config, clip_sample_range=1e4)
    x0 = torch.randn((4, 1, 16, 16), generator=torch.Generator().manual_seed(2)) * 0.3
    cond = torch.rand((4, 6, 16, 16), generator=torch.Generator().manual_seed(3))
    hole = torch.zeros((4, 1, 16, 16))
    hole[:, :, 4:12, 5:11] = 1

    def loss(teacher_steps: int) -> float:
        with torch.no_grad():
            values = distill.distillation_loss(
                model, (x0, cond, hole), torch.Generator().manual_seed(5), model, unclipped, 3, teacher_steps
            )
        return float(values["loss"])

    assert loss(1) < 1e-9 < 1e-3 < loss(2)


def test_restoration_train_distill_explains_itself():
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["train", "distill", "--help"])
    assert result.exit_code == 0 and "--student-steps" in result.output and "--teacher" in result.output
    assert "--teacher-steps" in result.output and "--channels" in result.output
