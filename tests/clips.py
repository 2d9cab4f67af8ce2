"""Small synthetic reels written directly with PyAV, independent of the code under test."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# ndarray format -> FFV1 pixel format it is stored as.
FFV1_FORMATS = {"gray": "gray", "rgb24": "bgr0", "rgb48le": "rgb48le", "gray16le": "gray16le"}


def random_frames(count: int, height: int, width: int, channels: int, dtype, seed: int = 0) -> np.ndarray:
    """``(T, H, W, C)`` frames of smooth texture plus noise, so codecs and flow have something real."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(count):
        base = 0.5 + 0.3 * np.sin((xx + 2 * t) / 5.0) * np.cos(yy / 7.0)
        noise = rng.normal(0, 0.03, (height, width, channels))
        frames.append(np.clip((base[..., None] + noise) * top, 0, top).astype(dtype))
    return np.stack(frames)


def damaged_frames(count=12, height=48, width=64, seed=0):
    """Smooth texture with one bright 3x3 speck per frame at a random place (transient damage)."""
    frames = random_frames(count, height, width, 1, np.uint8, seed=seed)
    rng = np.random.default_rng(seed + 3)
    for t in range(count):
        y, x = rng.integers(4, height - 8), rng.integers(4, width - 8)
        frames[t, y : y + 3, x : x + 3] = 255
    return frames


def write_clip(
    path: Path,
    frames: np.ndarray,
    array_format: str,
    fps: Fraction = Fraction(24000, 1001),
    timecode: str | None = "01:00:00:00",
    audio: bool = True,
    codec: str = "ffv1",
    pix_fmt: str | None = None,
    height: int | None = None,
) -> Path:
    """Write ``frames`` ``(T, H, W, C)`` to a Matroska file, with a stereo PCM track and a timecode.

    ``height`` overrides the picture height for packed planar arrays (YUV rows stacked).
    """
    out = av.open(str(path), "w", format="matroska")
    video = out.add_stream(codec, rate=fps)
    video.height, video.width = height or frames.shape[1], frames.shape[2]
    video.pix_fmt = pix_fmt or FFV1_FORMATS[array_format]
    if timecode:
        video.metadata["timecode"] = timecode
    sound = None
    if audio:
        sound = out.add_stream("pcm_s16le", rate=48000)
        sound.layout = "stereo"
    rng = np.random.default_rng(1)
    samples_per_frame = int(48000 / fps)
    for i, array in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(array[..., 0] if array.shape[-1] == 1 else array, format=array_format)
        frame.pts = i
        for packet in video.encode(frame):
            out.mux(packet)
        if sound is not None:
            pcm = rng.integers(-3000, 3000, (1, 2 * samples_per_frame), dtype=np.int16)
            chunk = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, i * samples_per_frame
            for packet in sound.encode(chunk):
                out.mux(packet)
    for stream in [video] + ([sound] if sound else []):
        for packet in stream.encode():
            out.mux(packet)
    out.close()
    return path


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def write_timed_clip(path: Path, frames: np.ndarray, pts_ms: list[int], rate: int = 24) -> Path:
    """Write gray ``frames`` to Matroska with the given presentation times in milliseconds
    (a variable frame rate when their steps differ)."""
    out = av.open(str(path), "w", format="matroska")
    video = out.add_stream("ffv1", rate=rate)
    video.height, video.width, video.pix_fmt = frames.shape[1], frames.shape[2], "gray"
    video.codec_context.time_base = Fraction(1, 1000)
    for pts, array in zip(pts_ms, frames):
        frame = av.VideoFrame.from_ndarray(array[..., 0], format="gray")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    out.close()
    return path


def write_image(path: Path, frame: np.ndarray, array_format: str, pix_fmt: str) -> Path:
    """Write one ``(H, W, C)`` frame as an image file (PNG, TIFF, ...) through PyAV."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png" if path.suffix == ".png" else "tiff", rate=24)
        stream.height, stream.width, stream.pix_fmt = frame.shape[0], frame.shape[1], pix_fmt
        array = frame[..., 0] if frame.shape[-1] == 1 else frame
        for packet in stream.encode(av.VideoFrame.from_ndarray(array, format=array_format)):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
