"""``sd-diffedit``: text DiffEdit damage detection with a Stable Diffusion model.

DiffEdit (Couairon et al. 2022, diffusers' mask step) with the film's two prompts: noise the
crop's latents to ``detect_strength``, ask the U-Net for its noise estimate under "damaged film
photo" and under "film photo", and average ``|eps_damaged - eps_clean|`` over the latent channels
and ``detect_draws`` noise draws. The map is normalised over the whole frame the diffusers way
(``M > threshold * clamp * mean(M)``, and above an absolute ``detect_floor``), upsampled
bilinearly from latent to source pixels (a latent pixel is 8 source pixels at the model's
resolution: too coarse for single specks of dust, which is why the temporal proposals are kept in
"union" fusion) and thresholded.

Crops: a grid of ``crop``-pixel squares (default: the model's resolution) over the whole frame,
overlapping by a quarter; each resized to the model's resolution. An inpainting (9-channel) U-Net
is given an empty hole mask and the crop's own latents as its masked image (nothing to fill), so
the two prompts are all that differ. It is a GPU path.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from restoration.inpaint.palette import crop_tile
from restoration.models.latent import LatentConfig, LatentModel, autocast_for, to_model_input
from restoration.motion.flow import validate_frame


def grid_origins(extent: int, side: int) -> list[int]:
    """Crop starts along one axis of ``extent`` pixels: stride ``3/4 side``, the last flush with
    the edge; one centred crop when the frame is smaller than ``side``."""
    if extent <= side:
        return [(extent - side) // 2]
    stride = max(1, side - side // 4)
    return sorted({min(o, extent - side) for o in range(0, extent, stride)})


@torch.no_grad()
def diffedit_latent_map(
    model: LatentModel,
    latents: torch.Tensor,
    config: LatentConfig,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Raw DiffEdit map float32 ``(N, h, w)`` (CPU, noise units) of crop latents ``(N, 4, h, w)``.

    One network call per draw and chunk of ``config.max_batch`` crops, both prompts in the batch.
    """
    device = model.device
    scheduler = model.scheduler()
    steps = scheduler.config.num_train_timesteps
    t = min(max(int(round(config.detect_strength * steps)), 0), steps - 1)
    alphas = scheduler.alphas_cumprod
    n = len(latents)
    damaged = model.prompt_embeddings(config.negative_prompt)
    clean = model.prompt_embeddings(config.prompt)
    total = torch.zeros(n, *latents.shape[2:])
    for _ in range(config.detect_draws):
        noise = torch.randn(tuple(latents.shape), generator=generator)
        x_t = scheduler.add_noise(latents.cpu(), noise, torch.tensor([t]))
        for a in range(0, n, config.max_batch):
            x = x_t[a : a + config.max_batch].to(device)
            k = len(x)
            inp = x
            if model.inpainting:
                nothing = torch.zeros((k, 1, *x.shape[2:]), device=device)
                inp = torch.cat([x, nothing, latents[a : a + k].to(device)], dim=1)
            text = torch.cat([damaged.expand(k, -1, -1), clean.expand(k, -1, -1)])
            with autocast_for(device, dtype):
                out = model.unet(torch.cat([inp, inp]), t, encoder_hidden_states=text).sample.float()
            eps = model.eps(out, torch.cat([x, x]), t, alphas)
            total[a : a + k] += (eps[:k] - eps[k:]).abs().mean(1).cpu()
    return total / config.detect_draws


def detect_latent(
    frame: np.ndarray,
    model: LatentModel,
    config: LatentConfig = LatentConfig(),
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    proposals: np.ndarray | None = None,
) -> np.ndarray:
    """Damage mask bool ``(H, W)`` of ``frame`` (``(H, W, C)`` uint8/uint16) by text DiffEdit.

    proposals: bool ``(H, W)`` from the temporal spike detector, joined to the DiffEdit mask in
    "union" fusion (None = none). generator: a CPU ``torch.Generator`` (default: seeded 0), the
    same seed gives the same mask. dtype: the networks' precision.
    """
    validate_frame(frame)
    H, W = frame.shape[:2]
    if proposals is not None and (proposals.shape != (H, W) or proposals.dtype != bool):
        raise ValueError(f"proposals must be bool {(H, W)}, got {proposals.dtype} {proposals.shape}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    side, size = config.crop or model.size, model.size
    peak = float(np.iinfo(frame.dtype).max)
    origins = [(y, x) for y in grid_origins(H, side) for x in grid_origins(W, side)]
    images = torch.from_numpy(np.stack([to_model_input(crop_tile(frame, y, x, side), peak, size) for y, x in origins]))
    latents = torch.cat([model.encode(images[a : a + config.max_batch], dtype) for a in range(0, len(images), config.max_batch)])
    raw = diffedit_latent_map(model, latents, config, gen, dtype)
    level = max(config.detect_threshold * config.detect_clamp * float(raw.mean()), config.detect_floor)
    # Scores upsampled to the crop's source pixels; a pixel covered by several crops keeps the highest.
    scores = F.interpolate((raw / max(level, 1e-12))[:, None], size=(side, side), mode="bilinear", align_corners=False)[:, 0].numpy()
    score = np.zeros((H, W), np.float32)
    for (y, x), s in zip(origins, scores):
        ya, xa = max(y, 0), max(x, 0)
        yb, xb = min(y + side, H), min(x + side, W)
        np.maximum(score[ya:yb, xa:xb], s[ya - y : yb - y, xa - x : xb - x], out=score[ya:yb, xa:xb])
    mask = score > 1.0
    if config.detect_fusion == "union" and proposals is not None:
        mask |= proposals
    return mask
