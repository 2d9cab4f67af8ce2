"""The patch U-Net both diffusion models are built on: diffusers ``UNet2DModel``, plain ResNet
levels with self-attention at the lowest one, one output channel (the predicted noise)."""

from __future__ import annotations

from diffusers import UNet2DModel


def patch_unet(
    patch: int,
    channels: tuple[int, ...],
    in_channels: int,
    layers_per_block: int,
    norm_groups: int,
    attention_lowest: bool,
    attention_middle: bool = True,
    **extra,
) -> UNet2DModel:
    """A fresh ``UNet2DModel`` for ``patch`` x ``patch`` inputs with ``len(channels)`` levels.

    ``attention_lowest``: self-attention in the lowest down and up blocks; ``attention_middle``: the
    middle block's (diffusers' ``add_attention``). Without both the network is fully convolutional:
    a pixel's output depends only on the pixels within its receptive field (and the group norms'
    statistics), so it can run on tiles of any size.

    ``extra`` goes to ``UNet2DModel`` as is (e.g. ``num_class_embeds``). Raises ``ValueError``
    where the levels, patch size and group norm do not fit together.
    """
    channels = tuple(channels)
    n = len(channels)
    if n < 2:
        raise ValueError(f"need at least 2 levels, got channels={channels}")
    if patch % (2 ** (n - 1)):
        raise ValueError(f"patch {patch} must be a multiple of {2 ** (n - 1)}")
    if any(c % norm_groups for c in channels):
        raise ValueError(f"norm_groups {norm_groups} must divide every channel count {channels}")
    down = ["DownBlock2D"] * n
    up = ["UpBlock2D"] * n
    if attention_lowest:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=patch,
        in_channels=in_channels,
        out_channels=1,
        block_out_channels=channels,
        layers_per_block=layers_per_block,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        norm_num_groups=norm_groups,
        attention_head_dim=min(32, channels[-1]),
        add_attention=attention_middle,
        **extra,
    )
