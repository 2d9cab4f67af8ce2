"""Reading reels: probe a video file or an image-sequence folder, decode frames at native bit depth.

A reel is either a container file (FFV1/MKV, ProRes/MOV, MP4, ...) read with PyAV, or a folder of
numbered images (PNG, TIFF, DPX) read one file per frame. Frames come out as numpy arrays
``(T, H, W, C)``, ``C`` in {1, 3}, ``uint8`` or ``uint16``, exactly as stored: no colour conversion
where the source is already gray or RGB, so that untouched pixels survive a round trip bit-exactly.
Frames are numbered by presentation time on the reel's constant frame rate, as film scans have:
``probe`` refuses a reel whose timestamps leave that grid (variable frame rate) and one that holds
fewer frames than its container declares, and decoding refuses a frame that is missing or
repeated, so every frame comes out in display order exactly once or not at all.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from restoration.errors import ReelError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".dpx")
DEFAULT_SEQUENCE_FPS = Fraction(24)

# Source pixel format -> (format handed to ``to_ndarray``, channels, bit depth of the arrays).
# Gray and RGB sources are read as stored. YUV sources (access formats such as H.264 or ProRes) are
# converted once to RGB at decode; a YUV source whose chroma is neutral is gray film and is read as
# its luma plane, since a conversion to ``gray`` shifts values.
_DIRECT_FORMATS = {
    "gray": ("gray", 1, 8),
    "gray16le": ("gray16le", 1, 16),
    "gray16be": ("gray16le", 1, 16),
    "rgb24": ("rgb24", 3, 8),
    "bgr24": ("rgb24", 3, 8),
    "bgr0": ("rgb24", 3, 8),
    "rgb0": ("rgb24", 3, 8),
    "gbrp": ("rgb24", 3, 8),
    "rgb48le": ("rgb48le", 3, 16),
    "rgb48be": ("rgb48le", 3, 16),
    "bgr48le": ("rgb48le", 3, 16),
    "gbrp16le": ("rgb48le", 3, 16),
    "gbrp16be": ("rgb48le", 3, 16),
}


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream, carried over to the master unchanged."""

    index: int
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class ReelInfo:
    """What a reel is: enough to decode any frame range and to encode a faithful master.

    ``fps`` and ``time_base`` are exact fractions (frames per second, seconds per tick).
    ``sha256`` is the file's digest, or for an image sequence the digest of its manifest of
    (file name, file digest) lines, so that any change to any frame changes it.
    """

    path: str
    kind: str  # "container" or "image_sequence"
    container: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    channels: int
    bit_depth: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration_s: float
    sha256: str
    timecode: str | None = None
    audio: tuple[AudioStreamInfo, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    decode_format: str = "gray"
    start_pts: int = 0

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bit_depth == 8 else np.uint16)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one decoded frame."""
        return (self.height, self.width, self.channels)

    def to_dict(self) -> dict:
        """JSON-ready form; fractions as ``"num/den"`` strings."""
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["time_base"] = f"{self.time_base.numerator}/{self.time_base.denominator}"
        d["audio"] = [asdict(a) for a in self.audio]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ReelInfo:
        d = dict(d)
        d["fps"] = Fraction(d["fps"])
        d["time_base"] = Fraction(d["time_base"])
        d["audio"] = tuple(AudioStreamInfo(**a) for a in d["audio"])
        return cls(**d)


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def probe(path: str | Path, *, sequence_fps: Fraction = DEFAULT_SEQUENCE_FPS) -> ReelInfo:
    """Describe a reel: container, codec, size, pixel format, bit depth, rate, frames, audio, timecode.

    Raises ``ReelError`` with one line saying what is wrong for a missing path, an empty or
    non-video file, a truncated stream or an unsupported pixel format.
    """
    path = Path(path)
    if not path.exists():
        raise ReelError(f"{path}: no such file or folder")
    if path.is_dir():
        return _probe_sequence(path, sequence_fps)
    if path.stat().st_size == 0:
        raise ReelError(f"{path}: file is empty (0 bytes)")
    container = _open(path)
    with container:
        if not container.streams.video:
            raise ReelError(f"{path}: not a video file (it holds no video stream)")
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.base_rate or stream.guessed_rate
        if not fps:
            raise ReelError(f"{path}: the video stream declares no frame rate")
        src_fmt = stream.codec_context.pix_fmt
        decode_format, channels, bit_depth = _decode_format(path, container, src_fmt)
        timestamps = _frame_timestamps(path, container)
        frame_count, start_pts = len(timestamps), (timestamps[0] if timestamps[0] is not None else 0)
        _check_constant_rate(path, timestamps, Fraction(fps), Fraction(stream.time_base))
        declared = _declared_frames(container, stream, Fraction(fps))
        if declared is not None and frame_count < declared:
            raise ReelError(f"{path}: truncated stream: {frame_count} frames readable, the container declares {declared}")
        metadata = {**dict(container.metadata), **dict(stream.metadata)}
        audio = tuple(AudioStreamInfo(a.index, a.codec_context.name, a.sample_rate or 0, a.channels or 0) for a in container.streams.audio)
        return ReelInfo(
            path=str(path.resolve()),
            kind="container",
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            pix_fmt=src_fmt,
            channels=channels,
            bit_depth=bit_depth,
            fps=Fraction(fps),
            time_base=Fraction(stream.time_base),
            frame_count=frame_count,
            duration_s=float(frame_count / Fraction(fps)),
            sha256=sha256_file(path),
            timecode=_find_key(metadata, "timecode"),
            audio=audio,
            metadata={k: str(v) for k, v in metadata.items() if k.upper() != "DURATION"},
            decode_format=decode_format,
            start_pts=start_pts,
        )


def iter_frames(info: ReelInfo, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Yield frames ``start .. stop-1`` as ``(H, W, C)`` arrays of ``info.dtype``.

    Seeks to the nearest keyframe before ``start`` instead of decoding from the beginning.
    """
    stop = info.frame_count if stop is None else stop
    if not 0 <= start <= stop <= info.frame_count:
        raise ValueError(f"frame range [{start}, {stop}) outside reel of {info.frame_count} frames")
    if start == stop:
        return
    if info.kind == "image_sequence":
        for file in _sequence_files(Path(info.path))[start:stop]:
            yield _read_image(file, info)
        return
    yield from _iter_container(info, start, stop)


def read_frames(info: ReelInfo, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``[start, stop)`` stacked as ``(T, H, W, C)`` of ``info.dtype``."""
    stop = info.frame_count if stop is None else stop
    out = np.empty((stop - start, *info.frame_shape), info.dtype)
    for i, frame in enumerate(iter_frames(info, start, stop)):
        out[i] = frame
    return out


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except av.error.InvalidDataError as err:
        raise ReelError(f"{path}: not a video file ({err.strerror or err})") from err
    except av.error.FFmpegError as err:
        raise ReelError(f"{path}: cannot be opened as video ({err.strerror or err})") from err


def _find_key(metadata: dict, key: str) -> str | None:
    """Look a metadata key up case-insensitively: Matroska returns ``TIMECODE``, MOV ``timecode``."""
    for k, v in metadata.items():
        if k.lower() == key:
            return str(v)
    return None


def _decode_format(path: Path, container, src_fmt: str | None) -> tuple[str, int, int]:
    if src_fmt in _DIRECT_FORMATS:
        return _DIRECT_FORMATS[src_fmt]
    if src_fmt and src_fmt.startswith(("yuv", "yuvj")) and "a" not in src_fmt[3:5]:
        high = any(tag in src_fmt for tag in ("p9", "p10", "p12", "p14", "p16"))
        if not high and _chroma_is_neutral(path, container):
            return "gray", 1, 8
        return ("rgb48le", 3, 16) if high else ("rgb24", 3, 8)
    raise ReelError(f"{path}: unsupported pixel format {src_fmt!r} (supported: 8/16-bit gray, 8/16-bit RGB, YUV without alpha)")


def _chroma_is_neutral(path: Path, container) -> bool:
    """True when the first frame's chroma planes are all 128: a gray film stored as YUV."""
    try:
        frame = next(container.decode(video=0))
    except (StopIteration, av.error.FFmpegError) as err:
        raise ReelError(f"{path}: no decodable video frame") from err
    finally:
        container.seek(0)
    planes = frame.to_ndarray(format="yuv444p")
    return bool(np.all(planes[1:] == 128))


def _frame_timestamps(path: Path, container) -> Sequence[int | None]:
    """Presentation timestamps of every video packet, in display order, without decoding.

    ``[None, ...]`` when the container stores none (decoding then checks the order itself).
    """
    pts: list[int | None] = []
    try:
        for packet in container.demux(video=0):
            if packet.size == 0:
                continue
            pts.append(packet.pts)
    except av.error.FFmpegError as err:
        raise ReelError(f"{path}: truncated or corrupt stream after {len(pts)} frames") from err
    finally:
        container.seek(0)
    if not pts:
        raise ReelError(f"{path}: the video stream holds no frames")
    known = [t for t in pts if t is not None]
    return sorted(known) if len(known) == len(pts) else [None] * len(pts)


def _check_constant_rate(path: Path, timestamps: Sequence[int | None], fps: Fraction, time_base: Fraction) -> None:
    """Refuse a reel whose frames are not one per ``1 / fps`` (a variable frame rate).

    Frame ``i`` must lie nearest to ``start + i / fps``: that is how frames are numbered, sought
    and written back to the master, so a frame off this grid would be dropped or doubled.
    """
    if timestamps[0] is None:
        return
    ticks_per_frame = 1 / (fps * time_base)
    start = timestamps[0]
    for i, pts in enumerate(timestamps):
        assert pts is not None  # a stream's packets carry timestamps all or none (_frame_timestamps)
        if round((pts - start) / ticks_per_frame) != i:
            raise ReelError(
                f"{path}: variable frame rate: frame {i} is shown at {float((pts - start) * time_base):.3f} s, "
                f"not at {float(i / fps):.3f} s as a constant {fps} fps puts it; only constant-rate reels "
                "can be restored frame-exactly (convert it to a constant rate first)"
            )


def _declared_frames(container, stream, fps: Fraction) -> int | None:
    if stream.frames:
        return stream.frames
    if container.duration:
        return math.floor(Fraction(container.duration, av.time_base) * fps + Fraction(1, 2))
    return None


def _iter_container(info: ReelInfo, start: int, stop: int) -> Iterator[np.ndarray]:
    path = Path(info.path)
    ticks_per_frame = 1 / (info.fps * info.time_base)
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0:
            container.seek(info.start_pts + int(start * ticks_per_frame), stream=stream, backward=True)
        expected = start
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    raise ReelError(f"{path}: frames carry no timestamps; cannot seek by frame")
                index = round((frame.pts - info.start_pts) / ticks_per_frame)
                if index < start:
                    continue  # decoded from the keyframe before start
                if index >= stop:
                    return
                if index != expected:
                    # A gap or a repeat: numbering by position would shift every later frame.
                    raise ReelError(
                        f"{path}: frame {expected} expected, the stream gives frame {index} "
                        f"(timestamp {frame.pts}); its timestamps do not follow a constant {info.fps} fps"
                    )
                yield _frame_array(frame, info)
                expected = index + 1
        except av.error.FFmpegError as err:
            raise ReelError(f"{path}: decoding failed at frame {expected}: {err}") from err
    if expected < stop:
        raise ReelError(f"{path}: truncated stream: frame {expected} of {info.frame_count} missing")


def _frame_array(frame: av.VideoFrame, info: ReelInfo) -> np.ndarray:
    if info.decode_format == "gray" and frame.format.name.startswith(("yuv", "yuvj")):
        # The luma plane as stored: converting to "gray" rescales video range and breaks exactness.
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        arr = rows[:, : plane.width]
    else:
        arr = frame.to_ndarray(format=info.decode_format)
    arr = np.ascontiguousarray(arr, dtype=info.dtype)
    return arr.reshape(info.frame_shape)


def _sequence_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    suffixes = {p.suffix.lower() for p in files}
    if len(suffixes) > 1:
        raise ReelError(f"{folder}: mixed image types {sorted(suffixes)} in one sequence")
    return files


def _image_format(file: Path) -> tuple[str, int, int, str]:
    """``(pixel format, width, height, codec)`` of one image, from its header."""
    container = _open(file)
    with container:
        if not container.streams.video:
            raise ReelError(f"{file}: not an image")
        ctx = container.streams.video[0].codec_context
        return ctx.pix_fmt, ctx.width, ctx.height, ctx.name


def _probe_sequence(folder: Path, fps: Fraction) -> ReelInfo:
    """Every image must share the first one's pixel format and size: a frame of another bit depth
    would otherwise be converted to the sequence's and lose its low bits without a word."""
    files = _sequence_files(folder)
    if not files:
        raise ReelError(f"{folder}: folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    src_fmt, width, height, codec = _image_format(files[0])
    container = _open(files[0])
    with container:
        decode_format, channels, bit_depth = _decode_format(files[0], container, src_fmt)
    manifest = hashlib.sha256()
    for file in files:
        fmt, w, h, _ = _image_format(file)
        if (fmt, w, h) != (src_fmt, width, height):
            raise ReelError(
                f"{file}: {w}x{h} {fmt}, unlike the sequence's first image {files[0].name} "
                f"({width}x{height} {src_fmt}); every frame of a sequence must share size, bit depth and pixel format"
            )
        manifest.update(f"{file.name} {sha256_file(file)}\n".encode())
    return ReelInfo(
        path=str(folder.resolve()),
        kind="image_sequence",
        container="image2",
        codec=codec,
        width=width,
        height=height,
        pix_fmt=src_fmt,
        channels=channels,
        bit_depth=bit_depth,
        fps=fps,
        time_base=1 / fps,
        frame_count=len(files),
        duration_s=float(len(files) / fps),
        sha256=manifest.hexdigest(),
        decode_format=decode_format,
    )


def _read_image(file: Path, info: ReelInfo) -> np.ndarray:
    container = _open(file)
    with container:
        try:
            frame = next(container.decode(video=0))
        except (StopIteration, av.error.FFmpegError) as err:
            raise ReelError(f"{file}: unreadable image") from err
    if (frame.width, frame.height, frame.format.name) != (info.width, info.height, info.pix_fmt):
        raise ReelError(
            f"{file}: {frame.width}x{frame.height} {frame.format.name} differs from the sequence's "
            f"{info.width}x{info.height} {info.pix_fmt} (changed since it was probed?)"
        )
    return _frame_array(frame, info)
