"""Where one reel's results go inside an output folder (light: the CLI checks it before loading models)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from restoration.io.reel import ReelInfo


@dataclass(frozen=True)
class ReelOutputs:
    """Where one reel's results go inside an output folder."""

    store: Path
    master: Path
    access: Path

    @classmethod
    def in_folder(cls, out_dir: Path, info: ReelInfo) -> ReelOutputs:
        return cls.for_reel(out_dir, Path(info.path))

    @classmethod
    def for_reel(cls, out_dir: Path, reel: Path) -> ReelOutputs:
        """The outputs of the reel at ``reel`` (named by its file or folder name, before probing it)."""
        stem = Path(reel).resolve().stem
        out_dir = Path(out_dir)
        return cls(out_dir / f"{stem}.zarr", out_dir / f"{stem}.master.mkv", out_dir / f"{stem}.access.mp4")
