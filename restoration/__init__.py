"""Film restoration library: reel I/O, damage simulation, detection, inpainting and provenance.

The library knows nothing of Prefect; ``flows/`` orchestrates it. Its packages follow the data flow
(``docs/CONVENTIONS.md``): ``io`` (reels in and out), ``store`` (the provenance record), ``motion``,
``detect``, ``inpaint``, ``check``, ``models``, ``core`` (one frame's restore), ``pipeline`` (a
reel through the job), ``simulate``, ``train`` and ``evaluate``. The public API below is importable
from ``restoration`` itself; like scikit-image, a name's module is imported on first use, so
``import restoration`` stays cheap (no torch, zarr or OpenCV until they are needed).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "restoration.io.reel": ("ReelInfo", "probe", "read_frames", "iter_frames"),
    "restoration.io.encode": ("EncodeConfig", "write_master", "write_access_copy"),
    "restoration.store.provenance": ("ProvenanceStore",),
    "restoration.store.lock": ("RunLock",),
    "restoration.store.verify": ("master_problems",),
    "restoration.motion.flow": ("MotionConfig", "compensate", "estimate_flow", "warp_to"),
    "restoration.detect.temporal": ("SpikeDetectorConfig", "detect_spikes"),
    "restoration.detect.diffedit": ("DiffEditConfig", "detect_damage"),
    "restoration.inpaint.classical": ("inpaint_telea", "inpaint_temporal_median"),
    "restoration.inpaint.palette": ("PaletteConfig", "inpaint_palette"),
    "restoration.check.consistency": ("ConsistencyConfig", "check_frame"),
    "restoration.models.weights": ("load_unet", "save_unet", "shipped"),
    "restoration.core.compute": ("Compute",),
    "restoration.core.methods": ("DETECTORS", "INPAINTERS"),
    "restoration.core.restore": (
        "RestoreConfig",
        "Models",
        "load_models",
        "detect_frame",
        "fill_frame",
        "restore_frames",
        "restore_window",
    ),
    "restoration.pipeline.chunks": ("restore_reel", "restore_range", "revert_output"),
    "restoration.pipeline.reprocess": ("reprocess_frames",),
    "restoration.simulate.damage": ("DamageConfig", "simulate_damage"),
    "restoration.simulate.film_look": ("add_film_look",),
    "restoration.evaluate.metrics": ("detection_scores", "psnr"),
    "restoration.errors": ("RestorationError",),
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = ["__version__", *sorted(_MODULE_OF)]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'restoration' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
