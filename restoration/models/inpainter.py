"""The Palette-style inpainter network: a conditional ``UNet2DModel`` on single-channel patches.

Input channels (all ``(N, 1, P, P)`` float, stacked in this order, :data:`CHANNELS`):

0. ``noisy``      x_t, the noised *residual* (clean - baseline, see below) in [-1, 1] units
1. ``masked``     the patch with holes set to the baseline, scaled to [-1, 1]
2. ``mask``       1 = hole, 0 = known
3. ``prev``       previous frame warped onto this one, scaled to [-1, 1] (as warped, also where invalid)
4. ``prev_valid`` 1 where the warped previous frame is trustworthy (matched, and not damaged there itself)
5. ``next``       next frame warped onto this one, scaled to [-1, 1] (as warped, also where invalid)
6. ``next_valid`` 1 where the warped next frame is trustworthy

Output: the predicted noise (epsilon), one channel.

Residual formulation: the diffusion variable is ``x0 = (clean - baseline)`` (in [-1, 1] units,
i.e. 2 * difference of [0, 1] values), with ``baseline`` = the frame itself outside the holes and,
inside, the mean of the valid motion-compensated neighbours (the cheap temporal estimate; a
neighbour's own damage is not valid), or a spatial (Telea) fill where neither is (see
:func:`restoration.inpaint.palette.baseline_fill`). So x0 is exactly 0 outside the holes (the known
pixels re-imposed at each step are noised zeros) and the network only learns the correction:
brightness flicker between frames, mis-registration, occlusions, and grain.

The model is single-channel (gray / luma). Colour frames are filled one channel at a time, each
channel a separate batch item (:func:`restoration.inpaint.palette.inpaint_palette` does this).
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import UNet2DModel

from restoration.models.unet import patch_unet

CHANNELS = ("noisy", "masked", "mask", "prev", "prev_valid", "next", "next_valid")


@dataclass(frozen=True)
class InpainterModelConfig:
    """Shape of the inpainter U-Net.

    patch: tile side in pixels the model is trained on (it is fully convolutional, but attention and
        group norms are tuned to this size); a multiple of 2 ** (levels - 1).
    channels: output channels per resolution level (3 levels -> 2 downsamplings).
    layers_per_block: ResNet blocks per level.
    attention_lowest: self-attention at the lowest resolution only (DESIGN: attention at 64x64 costs
        7x; at the lowest level of a 32 patch, 8x8 tokens, it is cheap).
    norm_groups: GroupNorm groups (must divide every entry of ``channels``).
    """

    patch: int = 32
    channels: tuple[int, ...] = (32, 64, 96)
    layers_per_block: int = 1
    attention_lowest: bool = True
    norm_groups: int = 16


def tiny_inpainter_config() -> InpainterModelConfig:
    """A very small config for tests (random weights, fast on CPU)."""
    return InpainterModelConfig(patch=16, channels=(8, 16), layers_per_block=1, attention_lowest=False, norm_groups=4)


def build_inpainter(config: InpainterModelConfig = InpainterModelConfig()) -> UNet2DModel:
    """A fresh (randomly initialised) inpainter ``UNet2DModel``: in 7 channels, out 1 (noise)."""
    return patch_unet(
        config.patch,
        config.channels,
        len(CHANNELS),
        config.layers_per_block,
        config.norm_groups,
        config.attention_lowest,
    )
