"""Tiny random Stable Diffusion folders, built from configs as diffusers' own tests build them.

Same layout as a downloaded model (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
scheduler/), nothing downloaded. The VAE halves twice (scale 4), the U-Net's sample is 8 latent
pixels: the model's resolution is 32 px. A character-level CLIP vocabulary (every letter alone and
word-final, no merges) tokenises the prompts.
"""

import json
import string
from pathlib import Path

import torch


def make_tiny_folder(root: Path, in_channels: int = 9, seed: int = 0) -> Path:
    """Write a tiny random Stable Diffusion folder at ``root`` (inpainting U-Net for
    ``in_channels`` 9, text-to-image for 4) and return it."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        norm_num_groups=4,
        sample_size=32,
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    tok_dir = root / "tokenizer"
    tok_dir.mkdir(exist_ok=True)
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=24, pad_token="<|endoftext|>")
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            max_position_embeddings=24,
            projection_dim=16,
        )
    )
    tokenizer.save_pretrained(tok_dir)
    unet.save_pretrained(root / "unet")
    vae.save_pretrained(root / "vae")
    text_encoder.save_pretrained(root / "text_encoder")
    # Stable Diffusion ships PNDM's config; the backend reads it with DDIM.
    PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True).save_pretrained(
        root / "scheduler"
    )
    index = {
        "_class_name": "StableDiffusionInpaintPipeline" if in_channels == 9 else "StableDiffusionPipeline",
        **{
            name: [lib, cls]
            for name, lib, cls in (
                ("unet", "diffusers", "UNet2DConditionModel"),
                ("vae", "diffusers", "AutoencoderKL"),
                ("text_encoder", "transformers", "CLIPTextModel"),
                ("tokenizer", "transformers", "CLIPTokenizer"),
                ("scheduler", "diffusers", "PNDMScheduler"),
            )
        },
    }
    (root / "model_index.json").write_text(json.dumps(index, indent=1))
    return root
