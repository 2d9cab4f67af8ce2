"""Fine-tune a latent (Stable Diffusion) model's U-Net on a collection, into a new local folder.

The collection's clean frames teach the U-Net the stock, its grain and its tones. Per step: random
crops of random frames (``crop`` source pixels, resized to the model's resolution), a damage mask
from the simulator (:func:`restoration.simulate.damage.simulate_damage`, only its mask is used), the crop's
latents (frozen VAE, posterior mean) noised to a random t, and the denoising loss against the
noise (or the velocity, for a ``v_prediction`` model), conditioned on the prompt ("film photo").
An inpainting (9-channel) U-Net also gets the latent mask and the latents of the crop with its holes
blanked, exactly as :mod:`restoration.inpaint.latent` feeds it; a text-to-image U-Net learns the
plain denoising objective (what ``legacy`` mode samples from).

``lora_rank > 0`` trains LoRA adapters (peft) on the attention projections and fuses them into the
U-Net at the end; ``lora_rank = 0`` trains the whole U-Net. Either way the result is a complete
folder with a plain U-Net (``<out_dir>/model``: the base folder's other components copied, the
U-Net saved as safetensors), written under a temporary name and renamed, so it loads with
:func:`restoration.models.latent.load_latent` like the base. A killed run resumes from its
checkpoint. Practical only on a GPU; the tests run a few steps of the tiny model on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from restoration.core.compute import Compute
from restoration.errors import RestorationError
from restoration.inpaint.palette import crop_tile
from restoration.io.atomic import atomic_path
from restoration.io.reel import iter_frames, probe
from restoration.models.latent import COMPONENTS, LatentModel, autocast_for, latent_mask, load_latent, to_model_input
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.train.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from restoration.train.data import parse_entry

if TYPE_CHECKING:
    from diffusers import UNet2DConditionModel

# LoRA on the attention projections (self and cross attention): diffusers' own LoRA training recipe.
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


@dataclass(frozen=True)
class TrainLatentConfig:
    """Fine-tuning settings (written into the new folder's ``finetune.json``).

    data: clean reels of the collection, each optionally ``path@a:b`` (a fraction of its frames).
    init: the Stable Diffusion folder to start from (required: there is no shipped latent model).
    out_dir: the new folder is ``out_dir/model``.
    steps, batch, lr: optimiser steps (AdamW), crops per step, learning rate.
    lora_rank: LoRA rank (alpha = rank); 0 = fine-tune every U-Net weight.
    crop: source pixels per training crop (0 = the model's resolution).
    frames: frames read per reel (evenly spaced), the pool crops are cut from.
    prompt: the text condition (the inpainter's prompt).
    damage_level: the simulator's level for the training masks.
    device, precision: as :meth:`restoration.core.compute.Compute.resolve`.
    checkpoint_minutes: period of ``out_dir/checkpoint.safetensors`` (the trained weights and the
        optimiser, and always after the last step); resume: continue from it when present.
    """

    data: tuple[str, ...] = ()
    init: str | None = None
    out_dir: str = "training/latent"
    steps: int = 500
    batch: int = 1
    lr: float = 1e-4
    lora_rank: int = 4
    crop: int = 0
    frames: int = 32
    prompt: str = "film photo"
    damage_level: str = "medium"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    checkpoint_minutes: float = 10.0
    resume: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.frames < 1 or self.lora_rank < 0 or self.crop < 0 or self.lr <= 0:
            raise ValueError(f"invalid TrainLatentConfig {self}")
        DamageConfig(level=self.damage_level)  # validates the level


def read_pool(data: tuple[str, ...], frames: int) -> list[np.ndarray]:
    """Up to ``frames`` evenly spaced frames ``(H, W, C)`` (native dtype) of each data entry."""
    pool = []
    for entry in data:
        path, a, b = parse_entry(entry)
        info = probe(path)
        start, stop = int(info.frame_count * a), max(int(info.frame_count * b), int(info.frame_count * a) + 1)
        wanted = set(np.linspace(start, stop - 1, min(frames, stop - start)).round().astype(int).tolist())
        pool += [f for i, f in enumerate(iter_frames(info, start, stop), start=start) if i in wanted]
    return pool


def make_batch(stack: np.ndarray, masks: np.ndarray, batch: int, side: int, size: int, scale: int, rng: np.random.Generator):
    """``batch`` random crops of side ``side`` from frames ``stack`` ``(T, H, W, C)`` and their
    masks bool ``(T, H, W)``, at the model's resolution ``size``. Returns float32 tensors: images
    ``(B, 3, size, size)`` in [-1, 1], pixel holes ``(B, 1, size, size)`` and latent holes
    ``(B, 1, size/scale, size/scale)``, 0/1."""
    peak = float(np.iinfo(stack.dtype).max)
    h, w = stack.shape[1:3]
    images, holes, lat_holes = [], [], []
    for _ in range(batch):
        i = int(rng.integers(len(stack)))
        oy, ox = int(rng.integers(0, max(h - side, 0) + 1)), int(rng.integers(0, max(w - side, 0) + 1))
        images.append(to_model_input(crop_tile(stack[i], oy, ox, side), peak, size))
        pixel, lat = latent_mask(crop_tile(masks[i], oy, ox, side), size, scale)
        holes.append(pixel)
        lat_holes.append(lat)
    return tuple(torch.from_numpy(np.stack(x)) for x in (images, holes, lat_holes))


def train(config: TrainLatentConfig, log=print) -> Path:
    """Fine-tune; returns the new folder ``out_dir/model`` (replaced if it exists)."""
    if not config.init:
        raise RestorationError("latent fine-tuning starts from a Stable Diffusion folder: set init (--latent-init DIR)")
    if not config.data:
        raise RestorationError("latent fine-tuning: name at least one clean reel of the collection")
    compute = Compute.resolve(config.device, config.precision)
    model = load_latent(config.init, compute.device)
    pool = read_pool(config.data, config.frames)
    if len({(f.shape, f.dtype) for f in pool}) > 1:
        raise RestorationError("latent fine-tuning: the reels of one run must share frame size, channels and bit depth")
    stack = np.stack(pool)
    masks = simulate_damage(stack, DamageConfig(level=config.damage_level, seed=config.seed)).mask
    side, size, scale = config.crop or model.size, model.size, model.vae_scale

    unet = model.unet
    if config.lora_rank:
        from peft import LoraConfig

        unet.add_adapter(
            LoraConfig(r=config.lora_rank, lora_alpha=config.lora_rank, init_lora_weights="gaussian", target_modules=list(LORA_TARGETS))
        )
    else:
        unet.requires_grad_(True)
    # Only what trains is checkpointed (LoRA: a few MB, not the whole U-Net); the dict shares the
    # U-Net's parameters, so loading a checkpoint into it restores them in place.
    trainable = torch.nn.ParameterDict({n.replace(".", "/"): p for n, p in unet.named_parameters() if p.requires_grad})
    optimiser = torch.optim.AdamW(list(trainable.values()), lr=config.lr)
    ckpt = Path(config.out_dir) / "checkpoint.safetensors"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    step = 0
    if config.resume and ckpt.exists():
        step, _ = load_checkpoint(ckpt, TrainingState(trainable, optimiser))
        log(f"resumed at step {step}")
    rng = np.random.default_rng([config.seed, step])  # a fixed stream per resume point: reproducible
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    scheduler = model.scheduler()
    steps_total = scheduler.config.num_train_timesteps
    text = model.prompt_embeddings(config.prompt)
    unet.train()
    began = last_ckpt = time.time()
    while step < config.steps:
        images_t, holes_t, lat_holes_t = make_batch(stack, masks, config.batch, side, size, scale, rng)
        latents = model.encode(images_t, compute.dtype)
        noise = torch.randn(tuple(latents.shape), generator=gen).to(compute.device)
        t = torch.randint(0, steps_total, (config.batch,), generator=gen).to(compute.device)
        x_t = scheduler.add_noise(latents, noise, t)
        inp = x_t
        if model.inpainting:
            masked = model.encode(images_t * (1 - holes_t[:, None]), compute.dtype)
            inp = torch.cat([x_t, lat_holes_t[:, None].to(compute.device), masked], dim=1)
        target = scheduler.get_velocity(latents, noise, t) if scheduler.config.prediction_type == "v_prediction" else noise
        with autocast_for(compute.device, compute.dtype):
            out = unet(inp, t, encoder_hidden_states=text.expand(config.batch, -1, -1)).sample.float()
        loss = F.mse_loss(out, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        if step == 1 or step % 50 == 0 or step == config.steps:
            log(f"step {step}/{config.steps} loss {loss.item():.4f} ({time.time() - began:.0f}s)")
        if time.time() - last_ckpt > 60 * config.checkpoint_minutes or step == config.steps:
            save_checkpoint(ckpt, step, TrainingState(trainable, optimiser), {"loss": loss.item()})
            last_ckpt = time.time()
    unet.eval().requires_grad_(False)
    if config.lora_rank:
        unet.fuse_lora()
        unet.unload_lora()
    return save_folder(model, unet, Path(config.out_dir) / "model", {"finetune": dataclasses.asdict(config), "steps_done": config.steps})


def save_folder(model: LatentModel, unet: UNet2DConditionModel, dest: Path, facts: dict) -> Path:
    """Write the base folder's components with ``unet`` in place of its U-Net to ``dest``,
    atomically (a temporary folder beside it, then renamed over any old one)."""
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        for component in COMPONENTS:
            if component != "unet":
                shutil.copytree(model.path / component, tmp / component)
        shutil.copyfile(model.path / "model_index.json", tmp / "model_index.json")
        unet.to("cpu").save_pretrained(tmp / "unet", safe_serialization=True)
        (tmp / "finetune.json").write_text(json.dumps({**facts, "base": str(model.path)}, indent=1))
    return dest
