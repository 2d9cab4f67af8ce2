"""The damage detector network: a class-conditional noise predictor on single-channel patches.

A diffusers ``UNet2DModel`` (group norm, self-attention at the lowest resolution, sinusoidal time
embedding) with a class embedding over :data:`LABELS` (``clean`` = 0, ``damaged`` = 1, ``null`` = 2,
the label-dropout class for classifier-free guidance). DiffEdit
(:mod:`restoration.detect.diffedit`) takes the difference of its two noise estimates,
``eps(x_t, damaged) - eps(x_t, clean)``, as the damage map.

Input channels (all ``(N, 1, P, P)`` float, stacked in this order, :data:`CHANNELS`):

0. ``noisy``      x_t: the gray patch (2 * luma - 1, so [-1, 1]) noised to timestep t
1. ``prev``       previous frame warped onto this one, 2 * luma - 1 (0 where invalid), *not* noised
2. ``prev_valid`` 1 where the warped previous frame is trustworthy
3. ``next``       next frame warped onto this one, 2 * luma - 1 (0 where invalid), *not* noised
4. ``next_valid`` 1 where the warped next frame is trustworthy

Output: the predicted noise of channel 0 only (one channel).

The clean neighbours let a speck present in one frame only stand out from detail present in all
three; the validity channels let the model fall back on the picture alone at cuts and occlusions.
Colour frames are reduced to luma before they reach the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import DDPMScheduler, UNet2DModel

from restoration.models.unet import patch_unet

CHANNELS = ("noisy", "prev", "prev_valid", "next", "next_valid")
LABELS = {"clean": 0, "damaged": 1, "null": 2}

# The diffusion schedule of the detector (stored in the weights' facts; the DiffEdit step uses it).
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": False,
}


def make_scheduler(config: dict | None = None) -> DDPMScheduler:
    """The detector's noise schedule (``SCHEDULER_CONFIG`` updated with ``config``)."""
    return DDPMScheduler(**{**SCHEDULER_CONFIG, **(config or {})})


@dataclass(frozen=True)
class DetectorModelConfig:
    """Shape of the detector U-Net.

    patch: tile side in pixels the model is trained on (fully convolutional, but attention and group
        norms are tuned to this size); a multiple of 2 ** (levels - 1).
    block_out_channels: output channels per resolution level (3 levels -> 2 downsamplings).
    layers_per_block: ResNet blocks per level.
    attention_lowest: self-attention at the lowest resolution only (cheap at 8x8 tokens for a 32
        patch; DESIGN: attention at 64x64 costs 7x).
    attention_middle: self-attention in the middle block (diffusers' default). The v2 detector has
        it; it ties every pixel's score to the whole tile, so tiles must stay at the trained size.
    norm_groups: GroupNorm groups (must divide every entry of ``block_out_channels``).
    in_channels: len(CHANNELS); 1 = the patch alone (no temporal conditioning).
    num_train_timesteps: the diffusion schedule length the model is trained on.
    """

    patch: int = 32
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_lowest: bool = True
    attention_middle: bool = True
    norm_groups: int = 16
    in_channels: int = len(CHANNELS)
    num_train_timesteps: int = 1000


def tiny_detector_config() -> DetectorModelConfig:
    """A very small config for tests (random weights, fast on CPU)."""
    return DetectorModelConfig(patch=16, block_out_channels=(8, 16), attention_lowest=True, norm_groups=4)


def build_detector(config: DetectorModelConfig = DetectorModelConfig()) -> UNet2DModel:
    """A fresh (randomly initialised) detector ``UNet2DModel``: in ``config.in_channels``, out 1,
    class embedding over 3 labels (clean, damaged, null)."""
    if config.in_channels not in (1, len(CHANNELS)):
        raise ValueError(f"in_channels must be 1 or {len(CHANNELS)}, got {config.in_channels}")
    return patch_unet(
        config.patch,
        config.block_out_channels,
        config.in_channels,
        config.layers_per_block,
        config.norm_groups,
        config.attention_lowest,
        config.attention_middle,
        num_class_embeds=len(LABELS),
        time_embedding_type="positional",
    )
