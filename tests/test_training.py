"""Both training scripts run end to end on a tiny reel, resume from their checkpoint, and write
weights that load without pickle."""

import numpy as np
import pytest
from clips import random_frames, write_clip

from restoration.models.weights import load_unet, shipped
from restoration.train.detector import main as train_detector
from restoration.train.inpainter import main as train_inpainter


@pytest.fixture(scope="module")
def reel(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "clean.mkv"
    return write_clip(path, random_frames(8, 96, 128, 1, np.uint8), "gray", audio=False)


@pytest.mark.parametrize("train,name", [(train_inpainter, "inpainter"), (train_detector, "detector")])
def test_fine_tune_from_shipped_weights_and_resume(tmp_path, reel, train, name):
    args = ["--data", str(reel), "--init", str(shipped(name)), "--triplets", "4", "--batch", "4", "--out-dir", str(tmp_path)]
    train([*args, "--steps", "2", "--no-resume"])
    train([*args, "--steps", "4"])
    model, facts = load_unet(tmp_path / f"{name}.safetensors")
    assert sum(p.numel() for p in model.parameters()) > 0
    log = (tmp_path / "train.log").read_text()
    assert "resum" in log.lower(), log
