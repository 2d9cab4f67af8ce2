"""The latent-diffusion backend's model: a diffusers Stable Diffusion folder on local disk.

A *latent* model works in the 1/8-resolution latent space of its VAE and is steered by a text
prompt (CLIP text encoder), unlike the project's own pixel-space models. It is far larger (about
1 B parameters for Stable Diffusion 1.x/2.x) and practical only on a GPU. The folder is the
layout ``huggingface-cli download`` (or ``save_pretrained``) writes::

    model_index.json  unet/  vae/  text_encoder/  tokenizer/  scheduler/

Nothing is ever downloaded: the folder is a local path read with ``local_files_only`` (and the
command line sets ``HF_HUB_OFFLINE=1``, :mod:`flows`), weights only as safetensors (never pickle).
A 9-channel U-Net (latents, mask, masked-image latents) is an inpainting model and runs in
``inpaint`` mode; a 4-channel text-to-image U-Net runs in ``legacy`` mode (known latents
re-imposed each step). The folder's scheduler config is reused with DDIM and
``timestep_spacing="trailing"`` (DESIGN: linspace spacing is defective at few steps).

Users of this module: :mod:`restoration.inpaint.latent` (``sd-inpaint``),
:mod:`restoration.detect.latent` (``sd-diffedit``) and :mod:`restoration.train.latent`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from restoration.errors import RestorationError

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
MODES = ("auto", "inpaint", "legacy")
FUSIONS = ("union", "diffedit")
# Weights file names per component, safetensors only (plain or fp16 variant).
_WEIGHTS = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"),
    "text_encoder": ("model.safetensors", "model.fp16.safetensors"),
}
_CONFIGS = {
    "unet": ("config.json",),
    "vae": ("config.json",),
    "text_encoder": ("config.json",),
    "tokenizer": ("vocab.json", "merges.txt"),
    "scheduler": ("scheduler_config.json",),
}


@dataclass(frozen=True)
class LatentConfig:
    """Settings of the latent backend (``sd-inpaint`` inpainter and ``sd-diffedit`` detector).

    mode: "inpaint" (9-channel inpainting U-Net, the mask and masked-image latents as input),
        "legacy" (4-channel text-to-image U-Net; the known latents, noised to t, replace the
        sample's outside the mask before every step) or "auto" (by the U-Net's input channels).
    steps: DDIM steps; eta: DDIM eta (0 = deterministic given the first noise).
    guidance: classifier-free guidance scale (``prompt`` against ``negative_prompt``; 1 = none).
    strength: 1 = start from pure noise; below 1, from the crop's own latents noised to that share
        of the schedule (fewer steps, keeps more of the damaged picture: rarely wanted).
    prompt, negative_prompt: the film's terms; the negative prompt is what guidance steers away from.
    crop: side in source pixels of the square cut around damage (0 = the model's resolution, e.g.
        512 for Stable Diffusion 1.x); a larger hole gets a larger crop, resized to the model's
        resolution.
    context: known source pixels kept around a hole inside its crop, at least.
    repaint_jump, repaint_resample: RePaint resampling in latent space (as in
        :class:`restoration.inpaint.palette.PaletteConfig`; 0 / 1 = off).
    match_ring: the VAE does not give back a crop's exact tones: the median difference, per channel,
        between the source and the decoded crop over the known pixels within this many px of the
        holes is added to the fill, so that it meets its surroundings without a seam (0 = off).
    max_batch: crops per network call (each call holds two items per crop: both prompts).
    detect_strength: DiffEdit's noise level r in (0, 1]; detect_draws: noise draws averaged.
    detect_clamp, detect_threshold: diffusers' DiffEdit normalisation over the frame
        (``M > threshold * clamp * mean(M)``); detect_floor: and ``M`` above this absolute level.
    detect_fusion: "union" (DiffEdit mask or the temporal spike proposals) or "diffedit" (alone).
    """

    mode: str = "auto"
    steps: int = 25
    eta: float = 0.0
    guidance: float = 7.5
    strength: float = 1.0
    prompt: str = "film photo"
    negative_prompt: str = "damaged film photo"
    crop: int = 0
    context: int = 32
    repaint_jump: int = 0
    repaint_resample: int = 1
    match_ring: int = 4
    max_batch: int = 4
    detect_strength: float = 0.5
    detect_draws: int = 4
    detect_clamp: float = 3.0
    detect_threshold: float = 0.5
    detect_floor: float = 0.0
    detect_fusion: str = "union"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.steps < 1 or self.max_batch < 1 or self.context < 0 or self.crop < 0:
            raise ValueError(f"steps, max_batch >= 1 and context, crop >= 0 required: {self}")
        if not 0 < self.strength <= 1 or not 0 < self.detect_strength <= 1:
            raise ValueError(f"strength and detect_strength must be in (0, 1]: {self}")
        if self.repaint_jump < 0 or self.repaint_resample < 1 or self.detect_draws < 1 or self.match_ring < 0:
            raise ValueError(f"repaint_jump >= 0, repaint_resample >= 1, detect_draws >= 1 required: {self}")
        if self.detect_fusion not in FUSIONS:
            raise ValueError(f"detect_fusion must be one of {FUSIONS}, got {self.detect_fusion!r}")


@dataclass
class LatentModel:
    """The loaded components of a Stable Diffusion folder (in eval mode, on ``device``)."""

    path: Path
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler_config: dict
    _prompts: dict = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def inpainting(self) -> bool:
        """True for a 9-channel inpainting U-Net."""
        return self.unet.config.in_channels == 2 * self.latent_channels + 1

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def vae_scale(self) -> int:
        """Pixels per latent pixel along a side (8 for Stable Diffusion)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size(self) -> int:
        """The model's native resolution in pixels (512 for Stable Diffusion 1.x)."""
        return int(self.unet.config.sample_size) * self.vae_scale

    def mode(self, config: LatentConfig) -> str:
        """The mode ``config`` asks for, checked against the U-Net (RestorationError if it cannot run)."""
        mode = config.mode if config.mode != "auto" else ("inpaint" if self.inpainting else "legacy")
        if (mode == "inpaint") != self.inpainting:
            kind = f"{self.unet.config.in_channels}-channel"
            raise RestorationError(
                f"{self.path}: latent mode {mode!r} needs a "
                f"{'9-channel inpainting' if mode == 'inpaint' else 'text-to-image (4-channel)'} U-Net, this one is {kind}"
            )
        return mode

    def scheduler(self):
        """A fresh DDIM scheduler from the folder's config (one per call: schedulers hold state)."""
        from diffusers import DDIMScheduler

        # Stable Diffusion's config is PNDM's; DDIM reads the same betas. Latents are not bounded,
        # so DDIM's default x0 clipping to [-1, 1] must be off.
        return DDIMScheduler.from_config(self.scheduler_config, timestep_spacing="trailing", clip_sample=False)

    @torch.no_grad()
    def prompt_embeddings(self, prompt: str) -> torch.Tensor:
        """CLIP text embeddings ``(1, L, D)`` float32 of ``prompt`` on the model's device (cached)."""
        if prompt not in self._prompts:
            tok = self.tokenizer
            ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
            self._prompts[prompt] = self.text_encoder(ids.to(self.text_encoder.device))[0].float()
        return self._prompts[prompt]

    @torch.no_grad()
    def encode(self, images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Latents ``(N, 4, s/8, s/8)`` float32 (scaled) of images ``(N, 3, s, s)`` in [-1, 1].

        The posterior mean, not a sample: the same crop always gives the same latents."""
        images = images.to(self.device)
        with autocast_for(self.device, dtype):
            latents = self.vae.encode(images).latent_dist.mean
        return latents.float() * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Images ``(N, 3, s, s)`` float32 in [-1, 1] on the CPU from scaled latents."""
        with autocast_for(self.device, dtype):
            images = self.vae.decode(latents.to(self.device) / self.vae.config.scaling_factor).sample
        return images.float().clamp(-1, 1).cpu()

    def eps(self, output: torch.Tensor, x_t: torch.Tensor, t: int, alphas_cumprod: torch.Tensor) -> torch.Tensor:
        """The noise estimate from the U-Net's output, whatever its ``prediction_type``."""
        kind = self.scheduler_config.get("prediction_type", "epsilon")
        if kind == "epsilon":
            return output
        if kind == "v_prediction":
            a = alphas_cumprod[t].to(output.device, output.dtype)
            return a.sqrt() * output + (1 - a).sqrt() * x_t
        raise RestorationError(f"{self.path}: prediction_type {kind!r} is not supported (epsilon or v_prediction)")

    def describe(self) -> dict:
        """What the provenance records: the folder, its components and each weights file's SHA-256."""
        from restoration.io.reel import sha256_file

        files = sorted(p for p in self.path.rglob("*.safetensors") if p.parent.name in COMPONENTS)
        return {
            "path": str(self.path),
            "kind": "inpaint" if self.inpainting else "text-to-image",
            "size": self.size,
            "files": {str(p.relative_to(self.path)): sha256_file(p) for p in files},
        }


def autocast_for(device: torch.device, dtype: torch.dtype):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)


def _weights_file(folder: Path, component: str) -> Path | None:
    for name in _WEIGHTS[component]:
        if (folder / component / name).is_file():
            return folder / component / name
    return None


def check_folder(path: str | Path) -> Path:
    """Check that ``path`` is a complete diffusers Stable Diffusion folder; returns it resolved.

    Raises one :class:`RestorationError` naming everything missing (every component's config and
    safetensors weights), or a pickled checkpoint where safetensors are required.
    """
    folder = Path(path).expanduser()
    hint = "copy a whole Stable Diffusion folder (README, 'Latent backend')"
    if not folder.is_dir():
        raise RestorationError(f"{folder}: no such weights folder; {hint}")
    missing = [] if (folder / "model_index.json").is_file() else ["model_index.json"]
    pickled: list[str] = []
    for component in COMPONENTS:
        missing += [f"{component}/{name}" for name in _CONFIGS[component] if not (folder / component / name).is_file()]
        if component in _WEIGHTS and _weights_file(folder, component) is None:
            bins = sorted((folder / component).glob("*.bin")) if (folder / component).is_dir() else []
            (pickled if bins else missing).append(f"{component}/{_WEIGHTS[component][0]}")
    if pickled:
        raise RestorationError(f"{folder}: {', '.join(pickled)} only as pickled .bin files; safetensors are required (never pickle)")
    if missing:
        raise RestorationError(f"{folder}: incomplete Stable Diffusion folder, missing {', '.join(missing)}; {hint}")
    index = json.loads((folder / "model_index.json").read_text())
    if "text_encoder_2" in index:
        raise RestorationError(f"{folder}: a two-text-encoder model (SDXL) is not supported; use Stable Diffusion 1.x/2.x")
    return folder.resolve()


def load_latent(path: str | Path, device: torch.device | str = "cpu") -> LatentModel:
    """Load a Stable Diffusion folder (see :func:`check_folder`) onto ``device``, offline.

    Weights stay float32 (the networks run under autocast where the precision is bfloat16, as the
    project's own models do). Raises :class:`RestorationError` for a missing, incomplete or
    unreadable folder, or components that do not fit together.
    """
    folder = check_folder(path)
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    def variant(component: str) -> str | None:
        weights = _weights_file(folder, component)
        assert weights is not None  # check_folder found every weighted component's safetensors
        return "fp16" if weights.name.split(".")[-2] == "fp16" else None

    common = dict(local_files_only=True, use_safetensors=True, torch_dtype=torch.float32)
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", variant=variant("unet"), **common)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", variant=variant("vae"), **common)
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", variant=variant("text_encoder"), **common)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)
        scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError, RuntimeError, KeyError, json.JSONDecodeError) as err:
        raise RestorationError(f"{folder}: cannot load the Stable Diffusion folder: {str(err).splitlines()[0]}") from None
    model = LatentModel(folder, unet, vae, text_encoder, tokenizer, scheduler_config)
    lc, cin = model.latent_channels, unet.config.in_channels
    if cin not in (lc, 2 * lc + 1) or unet.config.out_channels != lc:
        raise RestorationError(
            f"{folder}: U-Net takes {cin} channels and gives {unet.config.out_channels}; the VAE has {lc} latent channels"
        )
    if text_encoder.config.hidden_size != unet.config.cross_attention_dim:
        raise RestorationError(
            f"{folder}: text encoder width {text_encoder.config.hidden_size} != "
            f"U-Net cross-attention width {unet.config.cross_attention_dim}"
        )
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False).eval().to(device)
    return model


# --------------------------------------------------------------------------- crops


def to_model_input(crop: np.ndarray, peak: float, size: int) -> np.ndarray:
    """A source crop ``(S, S, C)`` (native units, C in {1, 3}) as the VAE's input: float32
    ``(3, size, size)`` in [-1, 1] (gray repeated to RGB; resized with area averaging when
    shrinking, bicubic when enlarging)."""
    x = crop.astype(np.float32) / peak
    x = resize(x, size)
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray(x.transpose(2, 0, 1) * 2 - 1)


def from_model_output(image: np.ndarray, side: int, channels: int) -> np.ndarray:
    """The decoded image float32 ``(3, size, size)`` in [-1, 1] back at the crop's side: float32
    ``(side, side, channels)`` in [0, 1] (gray = the mean of R, G, B)."""
    x = (image.transpose(1, 2, 0) + 1) / 2
    if channels == 1:
        x = x.mean(axis=2, keepdims=True)
    x = resize(x, side)
    return (x[..., None] if x.ndim == 2 else x).astype(np.float32)


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` ``(S, S[, C])`` float32 to ``(size, size[, C])``: area when shrinking, bicubic when enlarging."""
    if x.shape[0] == size:
        return x
    interp = cv2.INTER_AREA if x.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(x, (size, size), interpolation=interp)


def latent_mask(mask: np.ndarray, size: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """A crop's hole mask bool ``(S, S)`` at the model's resolution ``(size, size)`` and in latent
    space ``(size/scale, size/scale)``, both float32 0/1.

    A pixel (or latent pixel) is a hole when *any* hole pixel falls in it: a 2 px speck is a
    quarter of a latent pixel, and nearest-neighbour resizing (diffusers' choice) would lose it.
    """
    interp = cv2.INTER_AREA if mask.shape[0] > size else cv2.INTER_NEAREST
    pixel = (cv2.resize(mask.astype(np.float32), (size, size), interpolation=interp) > 0).astype(np.float32)
    lat = pixel.reshape(size // scale, scale, size // scale, scale).max(axis=(1, 3))
    return pixel, lat
