"""The training loop (restoration.train.loop) and the two trainers on it: a killed and resumed run is
bit for bit the run that never stopped, the learning rate and the EMA follow diffusers' rules, the loss
history survives resumes, flags resolve to the config a run records, and the committed detector v2
checkpoint resumes."""

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from clips import random_frames, write_clip
from diffusers.models.attention_processor import Attention
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import load_file

import restoration.train.detector as detector_trainer
import restoration.train.inpainter as inpainter_trainer
from restoration.models.detector import build_detector, tiny_detector_config
from restoration.models.inpainter import tiny_inpainter_config
from restoration.models.weights import load_unet, shipped
from restoration.train.checkpoint import TrainingState, load_checkpoint
from restoration.train.config import settings_from_args, training_config
from restoration.train.loop import LoopConfig, train_loop

TRAINERS = {
    "detector": (detector_trainer, detector_trainer.TrainDetectorConfig, tiny_detector_config()),
    "inpainter": (inpainter_trainer, inpainter_trainer.TrainInpainterConfig, tiny_inpainter_config()),
}
BANK_KEYS = {
    "detector": ("clean", "damaged", "mask", "prev", "prev_valid", "next", "next_valid"),
    "inpainter": ("clean", "damaged", "mask", "prev", "prev_valid", "next", "next_valid"),
}
STATES = Path(__file__).resolve().parents[1] / "restoration" / "weights" / "training"
V2 = STATES / "detector_v2"
# The resume commands of restoration/weights/training/detector_v2/README.md and detector_v2_lowt/README.md.
V2_FLAGS = (
    "--objective disagreement --t-min 10 --t-max 300 --channels 16 32 32 --no-attention --norm-groups 8 --patch 64 "
    "--batch 32 --steps 24000 --triplets 300 --frac-proposal 0.2 --checkpoint-minutes 5 --out-dir training/detector_v2 "
    "--threads 1 --lr 1e-3"
).split()
V2_LOWT_FLAGS = (
    f"--init {V2 / 'detector.safetensors'} --objective disagreement --t-min 15 --t-max 60 --patch 64 --batch 32 --steps 5000 "
    "--lr 3e-4 --triplets 900 --frac-proposal 0.2 --threads 1 --checkpoint-minutes 5 --out-dir training/detector_v2_lowt"
).split()


class Killed(Exception):
    pass


def kill_after_checkpoint(step: int):
    """A ``log`` that kills the run right after its checkpoint at ``step`` is written."""

    def log(message: str) -> None:
        if message == f"checkpoint at step {step}":
            raise Killed(message)

    return log


def tiny_bank(kind: str, patch: int, count: int = 6) -> dict[str, np.ndarray]:
    """A random patch bank of the trainer's layout: float16 pictures in [0, 1], bool masks."""
    rng = np.random.default_rng(7)
    return {
        k: rng.random((count, patch, patch)) < 0.3
        if k == "mask" or k.endswith("_valid")
        else rng.random((count, patch, patch)).astype(np.float16)
        for k in BANK_KEYS[kind]
    }


def tiny_run(kind: str, out_dir: Path, config_cls=None, **settings):
    """A fresh tiny model's config for ``out_dir`` (``config_cls``: the trainer's own by default), with a
    cached random bank there; checkpoints every step."""
    _, own_cls, shape = TRAINERS[kind]
    config = training_config(
        config_cls or own_cls,
        {
            "out_dir": str(out_dir),
            "data": ["unused.mkv"],  # the cached bank below is what the run trains on
            "steps": 6,
            "batch": 4,
            "patch": shape.patch,
            "warmup": 2,
            "checkpoint_minutes": 0,
            "precision": "float32",
            "model": dataclasses.asdict(shape),
            **settings,
        },
    )
    out_dir.mkdir(parents=True)
    np.savez(out_dir / "bank.npz", **tiny_bank(kind, shape.patch))
    return config


def loss_rows(out_dir: Path) -> list[list[str]]:
    """loss.csv without its wall-clock column."""
    with open(out_dir / "loss.csv", newline="") as f:
        return [row[:-1] for row in csv.reader(f)]


def detector_settings(flags: list[str]) -> dict:
    return settings_from_args(detector_trainer.parser().parse_args(flags))


def as_json(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def checkpoint_contents(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), load_file(str(path))


@pytest.mark.parametrize("kind,log_every", [("detector", 2), ("inpainter", 1)])
def test_a_killed_and_resumed_run_is_the_run_that_never_stopped(tmp_path, kind, log_every):
    trainer, _, _ = TRAINERS[kind]
    straight = tiny_run(kind, tmp_path / "straight", log_every=log_every)
    resumed = tiny_run(kind, tmp_path / "resumed", log_every=log_every)
    trainer.train(straight)

    with pytest.raises(Killed):
        trainer.train(resumed, log=kill_after_checkpoint(3))
    header = loss_rows(tmp_path / "resumed")[0]  # less the last column
    with open(tmp_path / "resumed" / "loss.csv", "a", newline="") as f:
        csv.writer(f).writerow([4, *["9.99999"] * len(header)])  # a row the killed run wrote after its last checkpoint
    lines: list[str] = []
    weights = trainer.train(resumed, log=lines.append)

    assert "resumed at step 3" in lines
    meta_a, tensors_a = checkpoint_contents(tmp_path / "straight" / "checkpoint.safetensors")
    meta_b, tensors_b = checkpoint_contents(tmp_path / "resumed" / "checkpoint.safetensors")
    assert meta_a == meta_b and meta_a["step"] == "6"
    assert tensors_a.keys() == tensors_b.keys() and all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)
    ema_a, facts_a = load_unet(tmp_path / "straight" / weights.name)
    ema_b, facts_b = load_unet(weights)
    assert all(torch.equal(a, b) for a, b in zip(ema_a.state_dict().values(), ema_b.state_dict().values(), strict=True))
    assert facts_b["steps"] == 6 and facts_b["losses_tail"] == facts_a["losses_tail"]
    rows = loss_rows(tmp_path / "resumed")
    assert rows == loss_rows(tmp_path / "straight")
    assert [row[0] for row in rows] == ["step", *(str(s) for s in range(log_every, 7, log_every))]
    assert facts_b["losses_tail"] == [float(row[1]) for row in rows[1:]]


def test_learning_rate_and_ema_follow_diffusers_rules(tmp_path):
    """The loop against a plain reference: AdamW at ``get_cosine_schedule_with_warmup``'s rate for each
    step (written out here from its definition) and the EMA update of ``EMAModel``."""
    config = LoopConfig(out_dir=str(tmp_path), steps=7, lr=0.05, warmup=3, ema=0.75, grad_clip=0.5, precision="float32", log_every=1)
    inputs = torch.linspace(-1, 1, 7 * 12).reshape(7, 4, 3)
    targets = torch.sin(3 * inputs[..., :2])

    def sample_batch(rng):
        return int(rng.integers(7))

    def compute_loss(model, i, generator):
        return {"loss": ((model(inputs[i]) - targets[i]) ** 2).mean()}

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    reference = torch.nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    written = {}

    def write_weights(averaged, step, tail):
        written[step] = [p.detach().clone() for p in averaged.parameters()]
        return tmp_path / "weights"

    train_loop(model, sample_batch, compute_loss, ("loss",), write_weights, config, lambda message: None)

    optimizer = torch.optim.AdamW(reference.parameters(), lr=config.lr, weight_decay=0.0)
    shadow = [p.detach().clone() for p in reference.parameters()]
    rng = np.random.default_rng([config.seed, 0])
    rates = []
    for step in range(config.steps):
        if step < config.warmup:
            factor = step / config.warmup
        else:
            factor = 0.5 * (1 + math.cos(math.pi * (step - config.warmup) / (config.steps - config.warmup)))
        rates.append(config.lr * factor)
        for group in optimizer.param_groups:
            group["lr"] = rates[-1]
        optimizer.zero_grad()
        compute_loss(reference, sample_batch(rng), None)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), config.grad_clip)
        optimizer.step()
        decay = 0.0 if step == 0 else min(config.ema, (1 + step) / (10 + step))  # EMAModel.get_decay
        for s, p in zip(shadow, reference.parameters()):
            s.sub_((1 - decay) * (s - p.detach()))

    assert rates[0] == 0.0 and rates[config.warmup] == config.lr
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(written[config.steps], shadow))
    assert [row[2] for row in loss_rows(tmp_path)[1:]] == [f"{r:.3g}" for r in rates]


def test_flags_resolve_to_the_config_a_run_records():
    saved = load_unet(V2 / "detector.safetensors")[1]["train_config"]
    config = training_config(detector_trainer.TrainDetectorConfig, detector_settings(V2_FLAGS))
    recorded = {k: v for k, v in saved.items() if k not in ("data", "max_minutes")}  # the run named its data and a time limit
    recorded["model"] = {**recorded["model"], "attention_middle": True}  # recorded before the setting existed: its default
    assert {k: v for k, v in as_json(dataclasses.asdict(config)).items() if k in recorded} == recorded
    fine_tune = training_config(detector_trainer.TrainDetectorConfig, detector_settings(["--init", str(V2 / "detector.safetensors")]))
    assert dataclasses.asdict(fine_tune.model) == dataclasses.asdict(config.model)  # the init weights' shape, not the default


def test_inpainter_neighbour_knock_out_flags_reach_the_config():
    def config(flags: list[str]) -> inpainter_trainer.TrainInpainterConfig:
        return training_config(inpainter_trainer.TrainInpainterConfig, settings_from_args(inpainter_trainer.parser().parse_args(flags)))

    raised = config(["--p-drop-neighbour", "0.4", "--p-occlude-blob", "0.25"])
    assert (raised.p_drop_neighbour, raised.p_occlude_blob) == (0.4, 0.25)
    assert (config([]).p_drop_neighbour, config([]).p_occlude_blob) == (0.15, 0.15)  # the config's defaults


def test_inpainter_sees_the_damaged_frame_outside_the_holes_and_learns_the_clean_one():
    config = training_config(
        inpainter_trainer.TrainInpainterConfig,
        settings_from_args(inpainter_trainer.parser().parse_args(["--rim", "0", "0.4", "--p-rim", "0.5", "--batch", "3", "--patch", "16"])),
    )
    assert (config.rim, config.p_rim) == ((0.0, 0.4), 0.5)
    bank = tiny_bank("inpainter", 16)
    rimmed = {**bank, "clean": bank["damaged"]}  # what the model is shown is the damaged patch
    x0, cond, hole = inpainter_trainer.sample_batch(bank, config, np.random.default_rng(3))
    x0_seen, cond_seen, hole_seen = inpainter_trainer.sample_batch(rimmed, config, np.random.default_rng(3))
    assert torch.equal(cond, cond_seen) and torch.equal(hole, hole_seen)
    assert not torch.equal(x0, x0_seen)  # the target is the clean patch
    # A bank cut before rims (no damaged patch: hard edges) shows the clean patch.
    old = {k: v for k, v in bank.items() if k != "damaged"}
    assert torch.equal(
        inpainter_trainer.sample_batch(old, config, np.random.default_rng(3))[1],
        inpainter_trainer.sample_batch({**old, "damaged": bank["clean"]}, config, np.random.default_rng(3))[1],
    )


def test_middle_attention_flag():
    """v2's flags keep the middle block's attention (its checkpoint must load); ``--no-middle-attention``
    with ``--no-attention`` builds a fully convolutional detector."""
    for extra, attentions in (([], 1), (["--no-middle-attention"], 0)):
        config = training_config(detector_trainer.TrainDetectorConfig, detector_settings([*V2_FLAGS, *extra]))
        model = build_detector(config.model)
        assert sum(isinstance(m, Attention) for m in model.modules()) == attentions


@pytest.mark.parametrize(("folder", "flags"), [(V2, V2_FLAGS), (STATES / "detector_v2_lowt", V2_LOWT_FLAGS)], ids=["v2", "v2_lowt"])
def test_committed_detector_checkpoint_resumes(tmp_path, folder, flags):
    """The committed training state restores exactly (model, EMA, AdamW, LR schedule) and goes on."""
    checkpoint = folder / "checkpoint.safetensors"
    if not checkpoint.is_file():
        pytest.skip(f"the checkpoint in {folder} is absent")
    step = int(checkpoint_contents(checkpoint)[0]["step"])
    settings = detector_settings([*flags, "--out-dir", str(tmp_path), "--batch", "2"])
    config = training_config(detector_trainer.TrainDetectorConfig, {**settings, "steps": step + 1})
    stored = load_file(str(checkpoint))
    ema_weights = load_unet(folder / "detector.safetensors")[0]  # the EMA written with the checkpoint

    model = load_unet(folder / "detector.safetensors")[0]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    ema = EMAModel(model.parameters(), decay=config.ema)
    lr_scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup, config.steps)
    state = TrainingState(model, optimizer, ema, lr_scheduler, np.random.default_rng(), torch.Generator())
    assert load_checkpoint(checkpoint, state)[0] == step
    assert all(torch.equal(v, stored[f"model.{k}"]) for k, v in model.state_dict().items())
    assert all(torch.equal(s, p) for s, p in zip(ema.shadow_params, ema_weights.parameters(), strict=True))
    assert ema.optimization_step == step and ema.decay == 0.999 and lr_scheduler.last_epoch == step
    adam = optimizer.state_dict()["state"]
    assert all(torch.equal(v, stored[f"opt.{i}.{k}"]) for i, s in adam.items() for k, v in s.items())
    assert all(float(s["step"]) == step for s in adam.values())

    shutil.copy(checkpoint, tmp_path / "checkpoint.safetensors")
    shutil.copy(folder / "loss.csv", tmp_path / "loss.csv")
    np.savez(tmp_path / "bank.npz", **tiny_bank("detector", 64))
    lines: list[str] = []
    detector_trainer.train(config, log=lines.append)
    at = lines.index(f"resumed at step {step}")
    assert lines[at + 1] == f"model 268081 params, training steps {step} -> {step + 1}"
    meta, _ = checkpoint_contents(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == str(step + 1) and f'"optimization_step": {step + 1}' in meta["ema"]
    if (step + 1) % config.log_every:
        assert loss_rows(tmp_path) == loss_rows(folder)  # the history kept; no row due at the extra step


def test_fine_tune_from_shipped_weights_on_the_command_line(tmp_path):
    reel = write_clip(tmp_path / "clean.mkv", random_frames(8, 96, 128, 1, np.uint8), "gray", audio=False)
    for name, (trainer, config_cls, _) in TRAINERS.items():
        out = tmp_path / name
        args = ["--data", str(reel), "--init", str(shipped(name)), "--triplets", "4", "--batch", "4", "--out-dir", str(out)]
        trainer.main([*args, "--steps", "2", "--no-resume"])
        trainer.main([*args, "--steps", "4"])
        _, facts = load_unet(out / f"{name}.safetensors")
        expected = training_config(
            config_cls, {"data": [str(reel)], "init": str(shipped(name)), "triplets": 4, "batch": 4, "out_dir": str(out), "steps": 4}
        )
        assert facts["steps"] == 4 and facts["train_config"] == as_json(dataclasses.asdict(expected))
        shipped_shape = load_unet(shipped(name))[1]["train_config"]["model"]
        assert facts["train_config"]["model"] == {**as_json(dataclasses.asdict(expected.model)), **shipped_shape}
        assert "resumed at step 2" in (out / "train.log").read_text()
        assert checkpoint_contents(out / "checkpoint.safetensors")[0]["step"] == "4"
