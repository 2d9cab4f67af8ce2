"""The latent backend (sd-inpaint, sd-diffedit) on tiny random Stable Diffusion folders built here.

Nothing is downloaded: ``latent_tiny.make_tiny_folder`` writes a diffusers folder from configs. The
models are random, so the tests check the archival promises (shapes, dtype, only masked pixels
change, same seed same result) and the folder checks, not the quality of a fill.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from clips import random_frames, write_clip
from latent_tiny import make_tiny_folder

from restoration.detect.latent import detect_latent
from restoration.errors import RestorationError
from restoration.inpaint.latent import crop_windows, inpaint_latent, repaint_plan, ring_offset
from restoration.models.latent import LatentConfig, check_folder, latent_mask, load_latent

FAST = dict(steps=3, detect_draws=2)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd")
    return {"inpaint": make_tiny_folder(root / "inpaint", 9), "legacy": make_tiny_folder(root / "t2i", 4)}


@pytest.fixture(scope="module")
def models(folders):
    return {name: load_latent(path) for name, path in folders.items()}


def damaged(dtype, channels, seed=0):
    """A 40x56 frame (smaller than one 64 px crop on one axis, larger on none) and a mask of three
    components: a single pixel, a 3x4 speck and a 4x10 streak."""
    frame = random_frames(1, 40, 56, channels, dtype, seed=seed)[0]
    mask = np.zeros((40, 56), bool)
    mask[20, 20] = True
    mask[5:8, 5:9] = True
    mask[30:34, 40:50] = True
    return frame, mask


@pytest.mark.parametrize("mode", ["inpaint", "legacy"])
@pytest.mark.parametrize("dtype,channels", [(np.uint8, 1), (np.uint16, 3)])
def test_fill_changes_only_masked_pixels_and_repeats_for_a_seed(models, mode, dtype, channels):
    frame, mask = damaged(dtype, channels)
    config = LatentConfig(mode=mode, crop=24, context=4, **FAST)
    out = inpaint_latent(frame, mask, models[mode], config, torch.Generator().manual_seed(5))
    assert out.shape == frame.shape and out.dtype == frame.dtype
    assert np.array_equal(out[~mask], frame[~mask])
    assert (out[mask] != frame[mask]).any()
    again = inpaint_latent(frame, mask, models[mode], config, torch.Generator().manual_seed(5))
    assert np.array_equal(out, again)
    other = inpaint_latent(frame, mask, models[mode], config, torch.Generator().manual_seed(6))
    assert not np.array_equal(out[mask], other[mask])


def test_legacy_repaint_resampling_runs_and_keeps_the_promises(models):
    frame, mask = damaged(np.uint16, 1)
    config = LatentConfig(mode="legacy", steps=4, repaint_jump=2, repaint_resample=3)
    out = inpaint_latent(frame, mask, models["legacy"], config, torch.Generator().manual_seed(0))
    assert np.array_equal(out[~mask], frame[~mask]) and (out[mask] != frame[mask]).any()
    plain = inpaint_latent(frame, mask, models["legacy"], LatentConfig(mode="legacy", steps=4), torch.Generator().manual_seed(0))
    assert not np.array_equal(out[mask], plain[mask])


def test_partial_strength_starts_from_the_crop_and_keeps_the_promises(models):
    frame, mask = damaged(np.uint8, 3)
    config = LatentConfig(strength=0.5, steps=4, crop=24, context=4)
    out = inpaint_latent(frame, mask, models["inpaint"], config, torch.Generator().manual_seed(0))
    assert np.array_equal(out[~mask], frame[~mask]) and (out[mask] != frame[mask]).any()
    full = inpaint_latent(frame, mask, models["inpaint"], LatentConfig(steps=4, crop=24, context=4), torch.Generator().manual_seed(0))
    assert not np.array_equal(out[mask], full[mask])


def test_ring_offset_matches_the_fill_to_its_surroundings():
    rng = np.random.default_rng(0)
    source = rng.uniform(0.2, 0.8, (16, 16, 3)).astype(np.float32)
    fill = source - np.array([0.05, -0.02, 0.0], np.float32)  # the VAE's tone shift
    hole = np.zeros((16, 16), bool)
    hole[6:9, 6:9] = True
    hole[0, 0] = True  # another hole: not a known pixel, whatever its value
    fill[0, 0] = 5.0
    ly, lx = np.nonzero(hole[:, :] & (np.arange(16)[:, None] > 2))
    assert np.allclose(ring_offset(source, fill, hole, ly, lx, 2), [0.05, -0.02, 0.0], atol=1e-6)
    assert np.array_equal(ring_offset(source, fill, hole, ly, lx, 0), np.zeros(3, np.float32))
    everything = np.ones((16, 16), bool)
    assert np.array_equal(ring_offset(source, fill, everything, ly, lx, 2), np.zeros(3, np.float32))


def test_repaint_plan_follows_the_cost_formula():
    assert repaint_plan(5, 0, 1) == [0, 1, 2, 3, 4]
    assert repaint_plan(4, 2, 3) == [0, 1, 0, 1, 0, 1, 2, 3]
    for steps, jump, resample in ((50, 5, 3), (20, 4, 2), (10, 10, 5)):
        assert len(repaint_plan(steps, jump, resample)) == steps + (resample - 1) * jump * (steps // jump - 1)


def test_empty_mask_returns_the_frame_without_the_model(models):
    frame, _ = damaged(np.uint8, 3)
    out = inpaint_latent(frame, np.zeros(frame.shape[:2], bool), models["inpaint"], LatentConfig(**FAST))
    assert np.array_equal(out, frame) and out is not frame


def test_mode_must_fit_the_unet(models):
    frame, mask = damaged(np.uint8, 1)
    with pytest.raises(RestorationError, match="needs a 9-channel inpainting U-Net, this one is 4-channel"):
        inpaint_latent(frame, mask, models["legacy"], LatentConfig(mode="inpaint", **FAST))
    with pytest.raises(RestorationError, match="needs a text-to-image"):
        inpaint_latent(frame, mask, models["inpaint"], LatentConfig(mode="legacy", **FAST))
    assert models["inpaint"].mode(LatentConfig()) == "inpaint" and models["legacy"].mode(LatentConfig()) == "legacy"


def test_crops_cover_every_hole_pixel_once():
    mask = np.zeros((200, 300), bool)
    mask[10:12, 10:12] = True  # two specks close together share one crop
    mask[20:23, 30:31] = True
    mask[100:190, 150:280] = True  # a large stain: a crop of its own size plus context
    windows = crop_windows(mask, crop=64, context=8)
    owned = np.zeros(mask.shape, int)
    for w in windows:
        np.add.at(owned, (w.ys, w.xs), 1)
    assert np.array_equal(owned, mask.astype(int))
    assert sorted(w.side for w in windows) == [64, 146]
    big = next(w for w in windows if w.side == 146)
    assert (big.oy, big.ox) == (200 - 146, 142)  # centred on the stain, shifted inside the frame

    scratch = np.zeros((200, 300), bool)
    scratch[20:170, 60:63] = True  # 150 px long, 3 px wide: cut into 48 px cells at the source's scale
    windows = crop_windows(scratch, crop=64, context=8)
    assert [w.side for w in windows] == [64] * 4
    assert sorted(len(w.ys) for w in windows) == [18, 144, 144, 144]
    assert sum(len(w.ys) for w in windows) == scratch.sum() and len({(y, x) for w in windows for y, x in zip(w.ys, w.xs)}) == 450


def test_a_single_pixel_hole_survives_the_latent_mask():
    mask = np.zeros((64, 64), bool)
    mask[33, 17] = True
    pixel, lat = latent_mask(mask, 32, 4)  # crop twice the model's size: 2x2 source px per model px
    assert pixel.sum() == 1 and pixel[16, 8] == 1
    assert lat.shape == (8, 8) and lat.sum() == 1 and lat[4, 2] == 1


def test_text_diffedit_mask(models):
    frame, mask = damaged(np.uint16, 3)
    for name, model in models.items():
        config = LatentConfig(crop=24, **FAST)
        found = detect_latent(frame, model, config, torch.Generator().manual_seed(1), proposals=mask)
        assert found.shape == mask.shape and found.dtype == bool
        assert not (mask & ~found).any()  # "union": the proposals are kept
        again = detect_latent(frame, model, config, torch.Generator().manual_seed(1), proposals=mask)
        assert np.array_equal(found, again), name
        alone = LatentConfig(crop=24, detect_fusion="diffedit", **FAST)
        raw = detect_latent(frame, model, alone, torch.Generator().manual_seed(1), proposals=mask)
        # diffusers' rule: above half of 3x the mean somewhere, never everywhere
        assert 0 < raw.mean() < 1
        same = LatentConfig(crop=24, detect_fusion="diffedit", negative_prompt="film photo", **FAST)
        assert not detect_latent(frame, model, same, torch.Generator().manual_seed(1)).any()  # no difference, no damage
        high = LatentConfig(crop=24, detect_fusion="diffedit", detect_floor=1e9, **FAST)
        assert not detect_latent(frame, model, high, torch.Generator().manual_seed(1)).any()


# --------------------------------------------------------------------------- the folder


def broken_copy(src: Path, dest: Path, remove: list[str]) -> Path:
    shutil.copytree(src, dest)
    for rel in remove:
        target = dest / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return dest


def test_folder_errors_are_one_clear_message(folders, tmp_path):
    with pytest.raises(RestorationError, match="no such weights folder"):
        check_folder(tmp_path / "absent")
    incomplete = broken_copy(
        folders["inpaint"], tmp_path / "incomplete", ["vae", "unet/diffusion_pytorch_model.safetensors", "model_index.json"]
    )
    with pytest.raises(RestorationError) as err:
        load_latent(incomplete)
    assert str(err.value) == (
        f"{incomplete}: incomplete Stable Diffusion folder, missing model_index.json, "
        "unet/diffusion_pytorch_model.safetensors, vae/config.json, vae/diffusion_pytorch_model.safetensors; "
        "copy a whole Stable Diffusion folder (README, 'Latent backend')"
    )
    pickled = broken_copy(folders["inpaint"], tmp_path / "pickled", ["text_encoder/model.safetensors"])
    (pickled / "text_encoder" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(RestorationError, match="text_encoder/model.safetensors only as pickled .bin files"):
        load_latent(pickled)
    corrupt = broken_copy(folders["inpaint"], tmp_path / "corrupt", [])
    (corrupt / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(RestorationError, match="cannot load the Stable Diffusion folder"):
        load_latent(corrupt)
    sdxl = broken_copy(folders["inpaint"], tmp_path / "sdxl", [])
    index = json.loads((sdxl / "model_index.json").read_text())
    (sdxl / "model_index.json").write_text(json.dumps({**index, "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]}))
    with pytest.raises(RestorationError, match="SDXL"):
        load_latent(sdxl)


def test_restore_config_needs_the_folder_for_latent_methods():
    from restoration.core.restore import RestoreConfig

    with pytest.raises(ValueError, match="need a local Stable Diffusion folder"):
        RestoreConfig(detector="temporal", inpainter="sd-inpaint")
    with pytest.raises(ValueError, match="need a local Stable Diffusion folder"):
        RestoreConfig(detector="sd-diffedit", inpainter="temporal_median")


def test_pipeline_runs_both_latent_methods_and_records_the_folder(folders, tmp_path):
    from restoration.core.restore import RestoreConfig, load_models, method_description, restore_frames

    frames = random_frames(3, 40, 56, 1, np.uint8)
    frames[1, 10:13, 10:13] = 255
    config = RestoreConfig(
        detector="sd-diffedit",
        inpainter="sd-inpaint",
        latent_weights=str(folders["inpaint"]),
        device="cpu",
        latent=LatentConfig(crop=24, **FAST),
    )
    models = load_models(config)
    methods = method_description(config, models)
    assert methods["inpainter"]["weights"]["path"] == str(folders["inpaint"].resolve())
    assert set(methods["detector"]["weights"]["files"]) == {
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    }
    [(mask, restored, scores, _)] = restore_frames(frames, [1], 0, config, models)
    assert mask[10:13, 10:13].all()  # the spike proposal, kept by "union"
    assert np.array_equal(restored[~mask], frames[1][~mask]) and restored.dtype == np.uint8


@pytest.mark.slow
def test_restore_command_with_sd_inpaint(folders, tmp_path):
    from restoration.store.provenance import ProvenanceStore

    frames = random_frames(6, 40, 56, 1, np.uint8)
    for t in range(6):
        frames[t, 8 + 4 * t : 11 + 4 * t, 20:23] = 255  # a transient speck per frame
    reel = write_clip(tmp_path / "reel.mkv", frames, "gray")
    cli = str(Path(sys.executable).with_name("restoration"))
    env = {**os.environ, "COLUMNS": "200"}
    settings = json.dumps({"latent": {"steps": 2, "crop": 24}, "device": "cpu"})
    base = [cli, "restore", str(reel), "--detector", "temporal", "--inpainter", "sd-inpaint", "--no-access-copy", "--settings", settings]

    bad = subprocess.run(
        base + ["--out", str(tmp_path / "bad"), "--weights", str(tmp_path / "nothing")], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nothing'}: no such weights folder; copy a whole Stable Diffusion folder (README, 'Latent backend')"
    ]
    assert not (tmp_path / "bad").exists()

    out = tmp_path / "out"
    run = subprocess.run(base + ["--out", str(out), "--weights", str(folders["inpaint"])], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    from restoration.io.reel import probe, read_frames

    master = read_frames(probe(out / "reel.master.mkv"))
    store = ProvenanceStore(out / "reel.zarr")
    mask, original, _ = store.read_diff(0, 6)
    assert mask.any() and mask[:, 8:32, 20:23].any()
    changed = (master != frames).any(-1)
    assert not (changed & ~mask).any() and changed.any()
    started = next(e for e in store.events() if e["kind"] == "run_started")
    assert started["config"]["inpainter"] == "sd-inpaint" and started["config"]["latent"]["prompt"] == "film photo"
    assert started["methods"]["inpainter"]["weights"]["path"] == str(folders["inpaint"].resolve())


# --------------------------------------------------------------------------- fine-tuning


@pytest.mark.parametrize("name,lora_rank", [("inpaint", 4), ("legacy", 0)])
def test_finetune_changes_the_unet_and_writes_a_folder_that_loads(folders, tmp_path, name, lora_rank):
    from safetensors.torch import load_file

    from restoration.train.latent import TrainLatentConfig, train

    reel = write_clip(tmp_path / "clean.mkv", random_frames(4, 40, 56, 1, np.uint8), "gray", audio=False)
    config = TrainLatentConfig(
        data=(str(reel),),
        init=str(folders[name]),
        out_dir=str(tmp_path / "run"),
        steps=3,
        batch=2,
        lr=1e-2,
        lora_rank=lora_rank,
        crop=24,
        frames=4,
        device="cpu",
        precision="float32",
    )
    lines = []
    out = train(config, log=lines.append)
    assert out == tmp_path / "run" / "model" and lines[-1].startswith("step 3/3 loss ")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["finetune.json", "model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae"]
    )
    before = load_file(folders[name] / "unet" / "diffusion_pytorch_model.safetensors")
    after = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    assert set(after) == set(before)  # a plain U-Net: LoRA fused, no adapter weights left
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    if lora_rank:  # LoRA reaches the attention projections only
        assert changed and all(".to_q." in k or ".to_k." in k or ".to_v." in k or ".to_out.0." in k for k in changed)
    else:
        assert len(changed) > len(before) // 2
    for part in ("vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        assert (out / part).read_bytes() == (folders[name] / part).read_bytes()
    assert json.loads((out / "finetune.json").read_text())["finetune"]["lora_rank"] == lora_rank
    reloaded = load_latent(out)
    frame, mask = damaged(np.uint8, 1)
    filled = inpaint_latent(frame, mask, reloaded, LatentConfig(crop=24, **FAST))
    assert np.array_equal(filled[~mask], frame[~mask])


@pytest.mark.slow
def test_finetune_flow_registers_a_latent_folder(folders, tmp_path):
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401 - offline Prefect defaults before Prefect is imported
    from flows.finetune import finetune
    from restoration.models.registry import registered, sha256_tree

    reel = write_clip(tmp_path / "clean.mkv", random_frames(4, 40, 56, 1, np.uint8), "gray", audio=False)
    with prefect_test_harness(server_startup_timeout=None):
        [entry] = finetune(
            [str(reel)],
            str(tmp_path / "models"),
            name="stock",
            kinds=["latent"],
            steps=2,
            latent_init=str(folders["inpaint"]),
            settings={"latent": {"crop": 24, "frames": 4, "device": "cpu", "precision": "float32"}},
        )
    assert entry["kind"] == "latent" and entry["sha256"] == sha256_tree(entry["path"])
    assert entry["base"] == {"path": str(folders["inpaint"]), "sha256": sha256_tree(folders["inpaint"])}
    assert entry["facts"]["train_config"]["lora_rank"] == 4 and entry["facts"]["train_config"]["steps"] == 2
    assert [(e["path"], e["sha256"]) for e in registered(tmp_path / "models")] == [(entry["path"], entry["sha256"])]
    model = load_latent(entry["path"])
    assert model.inpainting


def test_restore_help_names_the_latent_methods_as_a_gpu_path():
    cli = str(Path(sys.executable).with_name("restoration"))
    result = subprocess.run([cli, "restore", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    assert "sd-inpaint (Stable Diffusion inpainting with the folder of --weights; a GPU path" in text
    assert "sd-diffedit (text DiffEdit with the Stable Diffusion folder of --weights; a GPU path)" in text


def test_fp16_variant_files_load(folders, tmp_path):
    variant = broken_copy(folders["inpaint"], tmp_path / "fp16", [])
    for rel in ("unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model", "text_encoder/model"):
        (variant / f"{rel}.safetensors").rename(variant / f"{rel}.fp16.safetensors")
    model = load_latent(variant)
    reference = load_latent(folders["inpaint"])
    assert all(torch.equal(a, b) for a, b in zip(model.unet.state_dict().values(), reference.unet.state_dict().values()))
    assert torch.equal(model.prompt_embeddings("film photo"), reference.prompt_embeddings("film photo"))


def test_latent_settings_survive_the_store_round_trip(folders):
    from dataclasses import asdict

    from restoration.core.restore import RestoreConfig
    from restoration.pipeline.reprocess import config_from_dict

    config = RestoreConfig(
        inpainter="sd-inpaint",
        latent_weights=str(folders["legacy"]),
        latent=LatentConfig(mode="legacy", repaint_jump=5, repaint_resample=3, prompt="old film photo"),
    )
    stored = json.loads(json.dumps(asdict(config)))
    assert config_from_dict(RestoreConfig, stored) == config


def test_finetune_resumes_from_its_checkpoint(folders, tmp_path):
    from dataclasses import replace

    from restoration.train.latent import TrainLatentConfig, train

    reel = write_clip(tmp_path / "clean.mkv", random_frames(4, 40, 56, 1, np.uint8), "gray", audio=False)
    config = TrainLatentConfig(
        data=(str(reel),),
        init=str(folders["inpaint"]),
        out_dir=str(tmp_path / "run"),
        steps=2,
        batch=1,
        lr=1e-2,
        crop=24,
        frames=4,
        device="cpu",
        precision="float32",
    )
    unet = tmp_path / "run" / "model" / "unet" / "diffusion_pytorch_model.safetensors"
    train(config, log=lambda line: None)
    after_two = unet.read_bytes()
    lines = []
    train(replace(config, steps=4), log=lines.append)  # killed after step 2, run again for 4
    assert lines[0] == "resumed at step 2" and [line.split(" loss")[0] for line in lines[1:]] == ["step 4/4"]
    after_four = unet.read_bytes()
    assert after_four != after_two
    lines.clear()
    train(replace(config, steps=4), log=lines.append)  # nothing left to do: the same weights again
    assert lines == ["resumed at step 4"] and unet.read_bytes() == after_four


def test_finetune_command_needs_the_latent_folder(tmp_path):
    cli = str(Path(sys.executable).with_name("restoration"))
    result = subprocess.run(
        [cli, "finetune", str(tmp_path / "reel.mkv"), "--models", str(tmp_path / "models"), "--kind", "latent"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert result.returncode == 2 and "the latent kind needs --latent-init DIR (a Stable Diffusion folder)" in result.stderr
    assert not (tmp_path / "models").exists()
