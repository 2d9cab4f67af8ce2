"""``sd-inpaint``: fill damage with a Stable Diffusion model, on crops around the damage.

How a frame is filled (:func:`inpaint_latent`):

1. The mask's components are gathered into square crops (:func:`crop_windows`): a crop of
   ``config.crop`` source pixels (default: the model's resolution) centred on a component, which
   also takes every other component lying inside it with ``context`` pixels around it; a compact
   component too large for that (a stain) gets a crop of its own size plus context, resized to the
   model's resolution; a thin one (a long scratch, a hair) is cut into crop-sized pieces at the
   source's scale. Each hole pixel is written back by exactly one crop.
2. Each crop is resized to the model's resolution (only when its side differs), encoded by the
   VAE (posterior mean), and denoised from pure noise with DDIM, written out step by step:
   ``inpaint`` mode feeds the 9-channel inpainting U-Net the latents, the latent hole mask and the
   latents of the crop with its holes blanked; ``legacy`` mode runs a text-to-image U-Net and
   replaces the sample outside the hole by the crop's own latents noised to the current t before
   every step (and by the clean latents at the end). Classifier-free guidance steers from the
   negative prompt ("damaged film photo") towards the prompt ("film photo"). RePaint resampling in
   latent space is an option in both modes.
3. The decoded crop is resized back, its tones matched to the source around the holes
   (:func:`ring_offset`: the VAE's round trip shifts them), and only the hole pixels the crop owns
   are written, rounded and clipped to the source dtype: every other pixel stays bit-exact.

It is a GPU path: a 512 px crop takes ``steps`` evaluations of a ~860 M-parameter U-Net, twice
(guidance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage as ndi

from restoration.inpaint.palette import crop_tile
from restoration.models.latent import LatentConfig, LatentModel, autocast_for, from_model_output, latent_mask, to_model_input
from restoration.motion.flow import validate_frame


@dataclass
class Window:
    """One square crop: top-left ``(oy, ox)`` (may lie outside a frame smaller than ``side``: the
    crop replicates the edge), and the hole pixels it writes back (frame coordinates)."""

    oy: int
    ox: int
    side: int
    ys: np.ndarray
    xs: np.ndarray


# A component larger than a crop whose area is at most this share of the square on its longest side
# (a line scratch, a hair) is cut into crop-sized pieces at the source's scale: shrunk to the model's
# resolution whole, a 3 px scratch would be under one latent pixel wide. A disc covers 0.79.
THIN = 0.25


def _pieces(mask: np.ndarray, crop: int, context: int) -> list[tuple[int, int, int, int, np.ndarray, np.ndarray]]:
    """The mask's components (8-connected) as ``(y0, y1, x0, x1, ys, xs)``, thin ones larger than a
    crop cut into grid cells of ``crop - 2 * context`` px."""
    labels, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    cell = max(crop - 2 * context, 1)
    pieces = []
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        ys, xs = np.nonzero(labels[sl] == k)
        y0, x0 = sl[0].start, sl[1].start
        ys, xs = ys + y0, xs + x0
        extent = max(sl[0].stop - y0, sl[1].stop - x0)
        if extent + 2 * context <= crop or len(ys) > THIN * extent**2:
            pieces.append((y0, sl[0].stop, x0, sl[1].stop, ys, xs))
            continue
        cells = ((ys - y0) // cell) * (extent + 1) + (xs - x0) // cell
        for c in np.unique(cells):
            py, px = ys[cells == c], xs[cells == c]
            pieces.append((py.min(), py.max() + 1, px.min(), px.max() + 1, py, px))
    return pieces


def crop_windows(mask: np.ndarray, crop: int, context: int) -> list[Window]:
    """Square crops covering every hole pixel of ``mask`` (bool ``(H, W)``) exactly once.

    Pieces (components, thin ones cut to crop size: :data:`THIN`) are taken largest first; one
    lying with ``context`` pixels around it inside an existing crop joins that crop, otherwise it
    opens a crop of side ``max(crop, its extent + 2 * context)`` centred on it, shifted inside the
    frame.
    """
    h, w = mask.shape
    windows: list[Window] = []
    for y0, y1, x0, x1, ys, xs in sorted(_pieces(mask, crop, context), key=lambda p: -len(p[4])):
        for win in windows:
            if (
                win.oy <= y0 - context
                and y1 + context <= win.oy + win.side
                and win.ox <= x0 - context
                and x1 + context <= win.ox + win.side
            ):
                win.ys, win.xs = np.concatenate([win.ys, ys]), np.concatenate([win.xs, xs])
                break
        else:
            side = max(crop, max(y1 - y0, x1 - x0) + 2 * context)
            oy = (y0 + y1) // 2 - side // 2
            ox = (x0 + x1) // 2 - side // 2
            # Inside the frame where it fits; centred on the frame where the frame is smaller.
            oy = min(max(oy, 0), h - side) if h >= side else (h - side) // 2
            ox = min(max(ox, 0), w - side) if w >= side else (w - side) // 2
            windows.append(Window(oy, ox, side, ys, xs))
    return windows


def ring_offset(source: np.ndarray, fill: np.ndarray, hole: np.ndarray, ly: np.ndarray, lx: np.ndarray, ring: int) -> np.ndarray:
    """Per-channel tone correction of a decoded crop: float32 ``(C,)``, the median of ``source -
    fill`` over the known pixels (not ``hole``) within ``ring`` px of the pixels ``(ly, lx)`` the
    crop writes; 0 where ``ring`` is 0 or no known pixel is near.

    source, fill: float32 ``(S, S, C)`` in [0, 1]; hole: bool ``(S, S)``, every hole in the crop.
    """
    channels = source.shape[2]
    if ring <= 0:
        return np.zeros(channels, np.float32)
    owned = np.zeros(hole.shape, bool)
    owned[ly, lx] = True
    near = ndi.binary_dilation(owned, structure=np.ones((3, 3), bool), iterations=ring) & ~hole
    if not near.any():
        return np.zeros(channels, np.float32)
    return np.median(source[near] - fill[near], axis=0).astype(np.float32)


def repaint_plan(steps: int, jump: int, resample: int) -> list[int]:
    """The step indices in the order they run, with RePaint resampling: after every ``jump``
    steps, go back ``jump`` steps and run them again, ``resample - 1`` extra times (0 / 1 = off).
    Its length is ``steps + (resample - 1) * jump * (steps // jump - 1)`` for ``jump`` dividing
    ``steps`` (DESIGN, RePaint cost)."""
    order = list(range(steps))
    if jump <= 0 or resample <= 1:
        return order
    plan = []
    for start in range(0, steps, jump):
        block = order[start : start + jump]
        plan += block * (resample if start + jump < steps else 1)
    return plan


@torch.no_grad()
def sample_latents(
    model: LatentModel,
    image_latents: torch.Tensor,
    masked_latents: torch.Tensor | None,
    hole: torch.Tensor,
    config: LatentConfig,
    mode: str,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The DDIM loop in latent space for a batch of crops.

    image_latents: float32 ``(N, 4, h, w)``, the crops' own latents; masked_latents: the latents of
    the crops with their holes blanked (``inpaint`` mode) or None (``legacy``); hole: float32
    ``(N, 1, h, w)``, 1 = hole. Returns float32 ``(N, 4, h, w)`` latents on the model's device.
    Noise is drawn on the CPU from ``generator``, so a seed gives the same draws on every device.
    """
    device = model.device
    scheduler = model.scheduler()
    scheduler.set_timesteps(config.steps)
    timesteps = [int(t) for t in scheduler.timesteps]
    timesteps = timesteps[len(timesteps) - max(1, round(config.strength * len(timesteps))) :]
    alphas = scheduler.alphas_cumprod
    image_latents, hole = image_latents.to(device), hole.to(device)
    n = len(image_latents)
    shape = tuple(image_latents.shape)

    def randn() -> torch.Tensor:
        return torch.randn(shape, generator=generator).to(device)

    x = randn()
    if config.strength < 1:
        x = scheduler.add_noise(image_latents, x, torch.tensor([timesteps[0]]))
    pos = model.prompt_embeddings(config.prompt)
    neg = model.prompt_embeddings(config.negative_prompt)
    text = torch.cat([neg.expand(n, -1, -1), pos.expand(n, -1, -1)])
    extra: torch.Tensor | None = None
    if mode == "inpaint":
        assert masked_latents is not None, "inpaint mode needs the masked crops' latents"
        extra = torch.cat([hole, masked_latents.to(device)], dim=1)

    def one_step(x: torch.Tensor, t: int) -> torch.Tensor:
        if mode == "legacy":
            known = scheduler.add_noise(image_latents, randn(), torch.tensor([t]))
            x = hole * x + (1 - hole) * known
        inp = x if extra is None else torch.cat([x, extra], dim=1)
        with autocast_for(device, dtype):
            out = model.unet(torch.cat([inp, inp]), t, encoder_hidden_states=text).sample.float()
        out_neg, out_pos = out.chunk(2)
        out = out_neg + config.guidance * (out_pos - out_neg)
        return scheduler.step(out, t, x, eta=config.eta, generator=generator).prev_sample

    plan = repaint_plan(len(timesteps), config.repaint_jump, config.repaint_resample)
    for k, i in enumerate(plan):
        if k and i <= plan[k - 1]:
            # RePaint: back up the schedule from the level x is at (timesteps[previous + 1]) to
            # timesteps[i]: scale by sqrt(a_to / a_from) and add the missing noise.
            ratio = alphas[timesteps[i]] / alphas[timesteps[plan[k - 1] + 1]]
            x = ratio.sqrt().to(device) * x + (1 - ratio).sqrt().to(device) * randn()
        x = one_step(x, timesteps[i])
    if mode == "legacy":
        x = hole * x + (1 - hole) * image_latents
    return x


def inpaint_latent(
    frame: np.ndarray,
    mask: np.ndarray,
    model: LatentModel,
    config: LatentConfig = LatentConfig(),
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Fill ``mask`` in ``frame`` with the latent model.

    frame: ``(H, W, C)`` uint8/uint16, C in {1, 3} (gray is fed to the model as RGB and comes back
    as the mean of its channels); mask: bool ``(H, W)``, True = hole; model: from
    :func:`restoration.models.latent.load_latent`; generator: a CPU ``torch.Generator`` (default: seeded
    0); dtype: the networks' precision (bfloat16 = autocast, see :mod:`restoration.core.compute`).
    Returns the restored frame, the frame's shape and dtype, equal to ``frame`` bit-exactly outside
    ``mask``. An empty mask returns a copy without running the model. Raises
    :class:`~restoration.errors.RestorationError` when ``config.mode`` does not fit the U-Net.
    """
    validate_frame(frame)
    if mask.shape != frame.shape[:2] or mask.dtype != bool:
        raise ValueError(f"mask must be bool {frame.shape[:2]}, got {mask.dtype} {mask.shape}")
    mode = model.mode(config)
    restored = frame.copy()
    windows = crop_windows(mask, config.crop or model.size, config.context)
    if not windows:
        return restored
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    peak = float(np.iinfo(frame.dtype).max)
    size, channels = model.size, frame.shape[2]
    for a in range(0, len(windows), config.max_batch):
        batch = windows[a : a + config.max_batch]
        images, holes, lat_holes = [], [], []
        for win in batch:
            images.append(to_model_input(crop_tile(frame, win.oy, win.ox, win.side), peak, size))
            pixel, lat = latent_mask(crop_tile(mask, win.oy, win.ox, win.side), size, model.vae_scale)
            holes.append(pixel)
            lat_holes.append(lat)
        images_t = torch.from_numpy(np.stack(images))
        hole_t = torch.from_numpy(np.stack(lat_holes))[:, None]
        image_latents = model.encode(images_t, dtype)
        masked = None
        if mode == "inpaint":
            # As Stable Diffusion's inpainting training: hole pixels blanked to 0 (mid-grey) in [-1, 1].
            keep = 1 - torch.from_numpy(np.stack(holes))[:, None]
            masked = model.encode(images_t * keep, dtype)
        latents = sample_latents(model, image_latents, masked, hole_t, config, mode, gen, dtype)
        decoded = model.decode(latents, dtype).numpy()
        for win, image in zip(batch, decoded):
            fill = from_model_output(image, win.side, channels)
            ly, lx = win.ys - win.oy, win.xs - win.ox
            source = crop_tile(frame, win.oy, win.ox, win.side).astype(np.float32) / peak
            offset = ring_offset(source, fill, crop_tile(mask, win.oy, win.ox, win.side), ly, lx, config.match_ring)
            values = fill[ly, lx] + offset  # (n, C) in [0, 1]
            restored[win.ys, win.xs] = np.clip(np.rint(values * peak), 0, peak).astype(frame.dtype)
    return restored
