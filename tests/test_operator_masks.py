"""Operator mask correction in the library (kept beside the detected mask, refilled by reprocessing)
and the `restoration fill` command on a still and on a reel frame."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import write_clip
from test_flows import damaged_frames

from restoration.core.restore import RestoreConfig
from restoration.io.reel import probe, read_frames
from restoration.pipeline.chunks import restore_reel
from restoration.pipeline.operator_masks import detected_mask, operator_mask, save_operator_mask
from restoration.pipeline.reprocess import reprocess_frames
from restoration.store.provenance import STATUS, ProvenanceStore

CLI = [str(Path(sys.executable).with_name("restoration"))]
CONFIG = RestoreConfig(detector="temporal", inpainter="temporal_median", chunk_frames=4)


def run(*args):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    base = tmp_path_factory.mktemp("masks")
    reel = write_clip(base / "reel.mkv", damaged_frames(8, 48, 64, seed=3), "gray", audio=False)
    config = replace(CONFIG, encode=replace(CONFIG.encode, access_copy=False))
    outputs = restore_reel(probe(reel), base / "out", config)
    return reel, ProvenanceStore(outputs.store)


def test_reprocess_fills_a_corrected_frame_from_the_operator_mask(restored):
    reel, store = restored
    frame = 4
    before_masks = store.read_diff(0, store.frame_count)[0]
    detected = before_masks[frame]
    corrected = detected.copy()
    corrected[20:24, 30:36] = True  # a speck the detector missed
    removed = np.argwhere(detected)[:1]
    for y, x in removed:
        corrected[y, x] = False  # a false detection
    event = save_operator_mask(store, frame, corrected, user="ada")
    assert (event["added"], event["removed"]) == (int((corrected & ~detected).sum()), len(removed))
    records = reprocess_frames(store, [frame, 6], replace(CONFIG, seed=5), user="ada")
    assert [r["frame"] for r in records] == [frame, 6]
    store = ProvenanceStore(store.path)
    masks = store.read_diff(0, store.frame_count)[0]
    assert np.array_equal(masks[frame], corrected)
    assert np.array_equal(operator_mask(store, frame), corrected) and np.array_equal(detected_mask(store, frame), detected)
    assert all(np.array_equal(masks[f], before_masks[f]) for f in range(store.frame_count) if f != frame)
    source = read_frames(probe(reel), frame, frame + 1)
    out = store.apply(source, frame)[0]
    changed = (out != source[0]).any(axis=2)
    assert not (changed & ~corrected).any() and changed[20:24, 30:36].any()
    refilled = [e for e in store.events() if e["kind"] == "frame_reprocessed"]
    assert [(e["frame"], e.get("mask_source"), e["user"]) for e in refilled] == [(frame, "operator", "ada"), (6, None, "ada")]
    assert store.status()[frame] in (STATUS["done"], STATUS["flagged"])


def test_fill_a_still_touches_only_the_mask(tmp_path):
    rng = np.random.default_rng(0)
    still = rng.integers(0, 65535, (40, 60, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "still.png"), still)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:14, 20:25] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    result = run("fill", tmp_path / "still.png", "--mask", tmp_path / "mask.png", "--out", tmp_path / "filled.png", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pixels_filled"] == 20
    filled = cv2.imread(str(tmp_path / "filled.png"), cv2.IMREAD_UNCHANGED)
    assert filled.dtype == np.uint16 and filled.shape == still.shape
    changed = (filled != still).any(axis=2)
    assert not changed[mask == 0].any() and changed[mask > 0].sum() == 20

    again = run("fill", tmp_path / "still.png", "--mask", tmp_path / "mask.png", "--out", tmp_path / "filled.png")
    assert (
        again.returncode == 1
        and again.stderr.strip() == f"error: {tmp_path / 'filled.png'}: output already exists; remove it or choose another --out"
    )
    cv2.imwrite(str(tmp_path / "small.png"), mask[:20])
    wrong = run("fill", tmp_path / "still.png", "--mask", tmp_path / "small.png", "--out", tmp_path / "x.png")
    assert wrong.returncode == 1 and wrong.stderr.strip() == f"error: {tmp_path / 'small.png'}: mask is 60x20, the frame 60x40"
    assert not (tmp_path / "x.png").exists()


def test_fill_a_reel_frame_from_its_neighbours(restored, tmp_path):
    reel, _ = restored
    source = read_frames(probe(reel), 3, 4)[0]
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[5:9, 5:12] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    result = run("fill", reel, "--frame", 3, "--mask", tmp_path / "mask.png", "--out", tmp_path / "f3.png")
    assert result.returncode == 0, result.stderr
    filled = cv2.imread(str(tmp_path / "f3.png"), cv2.IMREAD_UNCHANGED)[..., None]
    assert np.array_equal(filled[mask == 0], source[mask == 0])
    assert (filled[mask > 0] != source[mask > 0]).any()
