"""Encoding reels: a lossless FFV1/Matroska archival master and an H.264 access copy.

The master keeps every pixel as given (FFV1 is lossless at 8 and 16 bit), the source's exact frame
rate, its timecode and metadata, and every audio stream copied packet for packet. Files are written
under a temporary name beside the target and renamed only when complete, so a failure never leaves a
half-written output behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from restoration import __version__
from restoration.errors import OutputError
from restoration.io.atomic import atomic_path
from restoration.io.reel import ReelInfo

# ndarray format handed to PyAV -> FFV1 pixel format (FFV1 stores 8-bit RGB as bgr0).
_MASTER_FORMATS = {"gray": "gray", "gray16le": "gray16le", "rgb24": "bgr0", "rgb48le": "rgb48le"}
# The access copy's audio: AAC plays everywhere MP4 does (FLAC in MP4 does not: QuickTime, Safari).
_ACCESS_AUDIO = "aac"


@dataclass(frozen=True)
class EncodeConfig:
    """How the master and the access copy are encoded."""

    ffv1_level: int = 3
    ffv1_slices: int = 4
    access_copy: bool = True
    access_codec: str = "libx264"
    access_crf: int = 18


def check_writable_folder(folder: Path, what: str = "output folder") -> None:
    """Raise :class:`OutputError` unless ``folder`` is a folder, or can be made one, that this
    process can write in. Checks by writing: permission bits say nothing to root, nor of a
    read-only mount. Creates nothing."""
    folder = Path(folder)
    base = folder
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise OutputError(f"{base}: is a file, not a folder; the {what} {folder} cannot be made")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as err:
        raise OutputError(f"{base}: cannot write here ({err.strerror}); choose another {what}") from None


def write_master(
    path: Path,
    info: ReelInfo,
    frames: Iterable[np.ndarray],
    config: EncodeConfig = EncodeConfig(),
    extra_metadata: dict[str, str] | None = None,
    on_frame: Callable[[], None] | None = None,
    replace: bool = False,
    on_complete: Callable[[Path], object] | None = None,
) -> Path:
    """Encode ``frames`` (each ``(H, W, C)`` of ``info.dtype``) as an FFV1/Matroska master.

    Audio streams of ``info.path`` are copied unchanged, interleaved by time; the timecode and the
    source's metadata are carried over, with the software version and source digest added.
    ``replace``, ``on_complete``: as for :func:`restoration.io.atomic.atomic_path`.
    """
    options = {
        "level": str(config.ffv1_level),
        "slices": str(config.ffv1_slices),
        "slicecrc": "1",
        "g": "1",
    }
    metadata = {
        **info.metadata,
        **(extra_metadata or {}),
        "RESTORATION_SOFTWARE": f"film-restoration {__version__}",
        "SOURCE_SHA256": info.sha256,
    }
    with atomic_path(path, replace=replace, on_complete=on_complete) as tmp:
        _encode(
            tmp,
            "matroska",
            info,
            frames,
            "ffv1",
            _MASTER_FORMATS[info.decode_format],
            options,
            metadata,
            audio_codec=None,
            on_frame=on_frame,
        )
    return path


def write_access_copy(
    path: Path,
    info: ReelInfo,
    frames: Iterable[np.ndarray],
    config: EncodeConfig = EncodeConfig(),
    replace: bool = False,
    on_complete: Callable[[Path], object] | None = None,
) -> Path:
    """Encode an 8-bit 4:2:0 H.264 MP4 for viewing. Lossy; never an archival object.

    16-bit frames are reduced to 8 bits; an odd width or height is padded by repeating the last
    row or column, since 4:2:0 needs even sizes. Audio is AAC: copied when the source's is AAC,
    otherwise encoded with FFmpeg's native ``aac`` encoder.
    """
    fmt = "gray" if info.channels == 1 else "rgb24"
    pad_h, pad_w = info.height % 2, info.width % 2

    def eight_bit() -> Iterator[np.ndarray]:
        for frame in frames:
            if frame.dtype == np.uint16:
                frame = (frame >> 8).astype(np.uint8)
            yield np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")

    with atomic_path(path, replace=replace, on_complete=on_complete) as tmp:
        _encode(
            tmp,
            "mp4",
            info,
            eight_bit(),
            config.access_codec,
            "yuv420p",
            {"crf": str(config.access_crf)},
            {"SOURCE_SHA256": info.sha256},
            audio_codec=_ACCESS_AUDIO,
            size=(info.width + pad_w, info.height + pad_h),
            array_format=fmt,
        )
    return path


def _encode(
    path: Path,
    container_format: str,
    info: ReelInfo,
    frames: Iterable[np.ndarray],
    codec: str,
    pix_fmt: str,
    options: dict[str, str],
    metadata: dict[str, str],
    audio_codec: str | None,
    size: tuple[int, int] | None = None,
    array_format: str | None = None,
    on_frame: Callable[[], None] | None = None,
) -> None:
    width, height = size or (info.width, info.height)
    array_format = array_format or info.decode_format
    # bitexact: no random segment UID or muxing date, so the same frames always give the same bytes.
    out = av.open(str(path), "w", format=container_format, options={"fflags": "+bitexact"})
    source = av.open(info.path) if info.kind == "container" and info.audio else None
    try:
        out.metadata.update(metadata)
        video = out.add_stream(codec, rate=info.fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if info.timecode:
            video.metadata["timecode"] = info.timecode
        audio_in = list(source.streams.audio) if source else []
        audio_out = {s.index: _audio_stream(out, s, audio_codec) for s in audio_in}
        packets = source.demux(audio_in) if source and audio_in else iter(())
        pending = next(packets, None)
        count = 0
        for count, array in enumerate(frames, start=1):
            frame = av.VideoFrame.from_ndarray(_planar(array), format=array_format)
            frame.pts = count - 1
            for packet in video.encode(frame):
                out.mux(packet)
            # Interleave audio up to this frame's end time so the muxer never buffers a whole reel.
            until = count / info.fps
            while pending is not None and _packet_time(pending) < until:
                _mux_copy(out, pending, audio_out)
                pending = next(packets, None)
            if on_frame:
                on_frame()
        if count != info.frame_count:
            raise ValueError(f"got {count} frames to encode, the reel has {info.frame_count}")
        for packet in video.encode():
            out.mux(packet)
        while pending is not None:
            _mux_copy(out, pending, audio_out)
            pending = next(packets, None)
        for stream in audio_out.values():
            if stream.codec_context.is_encoder:
                out.mux(stream.encode(None))
    finally:
        out.close()
        if source is not None:
            source.close()


def _planar(array: np.ndarray) -> np.ndarray:
    """``(H, W, 1)`` gray frames go to PyAV as ``(H, W)``."""
    return array[..., 0] if array.shape[-1] == 1 else array


def _packet_time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0


def _audio_stream(out, source, codec: str | None):
    """The output stream for audio stream ``source``: a packet copy when ``codec`` is None or already
    the source's, else an encoder of ``codec`` at the source's sample rate and channel layout."""
    if codec is None or source.codec_context.name == codec:
        return out.add_stream_from_template(source)
    layout = source.codec_context.layout
    if layout.name.endswith(" channels"):  # order unspecified (PCM in Matroska): the count's default
        layout = av.AudioLayout(f"{layout.nb_channels}c")
    stream = out.add_stream(codec, rate=source.codec_context.sample_rate, layout=layout.name)
    stream.format = av.Codec(codec, "w").audio_formats[0]  # PyAV resamples each frame to it
    return stream


def _mux_copy(out, packet: av.Packet, streams: dict) -> None:
    """Mux ``packet`` into its output stream: as it is, or decoded and encoded where that stream encodes."""
    if packet.size == 0:
        return
    stream = streams[packet.stream.index]
    if stream.codec_context.is_encoder:
        for frame in packet.decode():
            frame.pts = None  # the encoder numbers its own frames (it regroups samples per AAC frame)
            out.mux(stream.encode(frame))
        return
    packet.stream = stream
    out.mux(packet)
