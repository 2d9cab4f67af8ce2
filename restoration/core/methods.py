"""The one registry of named detectors and inpainters, and which are the defaults.

Every caller (the CLI, the pipeline, the flows, the benchmark, the speed scripts) names a method by
its key here and runs it through :mod:`restoration.core.restore`. A method is a small record: what it is
(for the provenance), which trained weights it needs, and the function that runs it. The modules
behind the functions are imported when a method first runs, so that command-line help and flow
signatures can list the methods without loading torch.

Interfaces (:class:`Detector`, :class:`Inpainter`): ``frame`` ``(H, W, C)`` uint8/uint16,
``neighbours`` the ``(warped, valid)`` pairs of :func:`restoration.motion.flow.compensate`, ``settings``
the :class:`restoration.core.restore.RestoreConfig`, ``model`` the loaded ``(network, scheduler)`` or None,
``generator`` the frame's own random stream, ``dtype`` the network precision. A detector returns a
bool ``(H, W)`` mask; an inpainter ``(restored, spread)``: restored equals ``frame`` bit-exactly
outside the mask, spread is the per-pixel float32 ``(H, W)`` uncertainty or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

# The diffusion pair is the default: on the benchmark (benchmarks/RESULTS.md) its detection F1 is higher
# at every level on every clip, and its in-mask PSNR in 11 of 12 cells. The classical pair is the fast
# fallback.
DEFAULT_DETECTOR = "diffedit"
DEFAULT_INPAINTER = "palette"


class Detector(Protocol):
    def __call__(
        self, frame: np.ndarray, neighbours: list, settings: Any, model: Any, generator: torch.Generator, dtype: torch.dtype
    ) -> np.ndarray: ...


class Inpainter(Protocol):
    def __call__(
        self,
        frame: np.ndarray,
        mask: np.ndarray,
        neighbours: list,
        settings: Any,
        model: Any,
        generator: torch.Generator,
        dtype: torch.dtype,
    ) -> tuple[np.ndarray, np.ndarray | None]: ...


def _never(settings: Any) -> bool:
    return False


@dataclass(frozen=True)
class Method:
    """A named method: ``description`` (recorded in the provenance), ``weights``: the shipped
    weights it loads ("detector", "inpainter") or None, ``run``: a :class:`Detector` or
    :class:`Inpainter`; ``needs_neighbours(settings)``: True where the method with these settings
    looks only where two neighbours disagree, so a frame without two valid neighbours (both
    sides of a cut, a reel under three frames; a reel's ends borrow from the other side, see
    :class:`restoration.motion.flow.MotionConfig`) is not examined by it."""

    description: str
    weights: str | None  # "detector", "inpainter" (shipped files) or "latent" (a local folder)
    run: Any
    needs_neighbours: Any = _never


def _temporal(frame, neighbours, settings, model, generator, dtype):
    from restoration.detect.temporal import detect_spikes

    return detect_spikes(frame, neighbours, settings.spikes)


def _diffedit(frame, neighbours, settings, model, generator, dtype):
    from restoration.detect.diffedit import detect_damage
    from restoration.detect.temporal import detect_spikes

    proposals = detect_spikes(frame, neighbours, settings.spikes)
    network, scheduler = model
    return detect_damage(frame, neighbours, network, scheduler, settings.diffedit, generator, proposals=proposals, dtype=dtype)


def _sd_diffedit(frame, neighbours, settings, model, generator, dtype):
    from restoration.detect.latent import detect_latent
    from restoration.detect.temporal import detect_spikes

    return detect_latent(frame, model, settings.latent, generator, dtype, detect_spikes(frame, neighbours, settings.spikes))


def _sd_inpaint(frame, mask, neighbours, settings, model, generator, dtype):
    from restoration.inpaint.latent import inpaint_latent

    return inpaint_latent(frame, mask, model, settings.latent, generator, dtype), None


def _temporal_median(frame, mask, neighbours, settings, model, generator, dtype):
    from restoration.inpaint.classical import inpaint_temporal_median

    return inpaint_temporal_median(frame, mask, neighbours), None


def _telea(frame, mask, neighbours, settings, model, generator, dtype):
    from restoration.inpaint.classical import inpaint_telea

    return inpaint_telea(frame, mask), None


def _palette(frame, mask, neighbours, settings, model, generator, dtype):
    from restoration.inpaint.palette import inpaint_palette

    network, scheduler = model
    return inpaint_palette(frame, mask, neighbours, network, scheduler, settings.palette, generator, dtype)


DETECTORS: dict[str, Method] = {
    "diffedit": Method(
        "DiffEdit mask from a class-conditional diffusion model, verifying temporal proposals or over the whole frame",
        "detector",
        _diffedit,
        lambda settings: not (settings.diffedit.whole_frame or settings.diffedit.thorough),
    ),
    "temporal": Method("classical: motion-compensated spike detector (Kokaram SDIp)", None, _temporal, lambda settings: True),
    "sd-diffedit": Method(
        "text DiffEdit with a Stable Diffusion folder ('damaged film photo' vs 'film photo'), GPU", "latent", _sd_diffedit
    ),
}
INPAINTERS: dict[str, Method] = {
    "palette": Method("Palette-style conditional diffusion inpainting with warped neighbours, DDIM", "inpainter", _palette),
    "temporal_median": Method("classical: motion-compensated temporal median, Telea where no neighbour is valid", None, _temporal_median),
    "telea": Method("classical: spatial fill from the hole's border (Telea), no neighbours", None, _telea),
    "sd-inpaint": Method("Stable Diffusion inpainting (or legacy latent masking) on crops around the damage, GPU", "latent", _sd_inpaint),
}
# The methods that run the latent backend (restoration.models.latent): they need a weights folder.
LATENT_METHODS = tuple(name for name, m in (DETECTORS | INPAINTERS).items() if m.weights == "latent")
