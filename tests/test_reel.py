"""Reel I/O: probing, decoding at native bit depth, and bit-exact FFV1 master round trips."""

import hashlib
import re
from fractions import Fraction

import numpy as np
import pytest
from clips import audio_packets, random_frames, write_clip

from restoration.errors import OutputExistsError, ReelError
from restoration.io.encode import write_master
from restoration.io.reel import probe, read_frames

CASES = [("gray", 1, np.uint8), ("rgb24", 3, np.uint8), ("rgb48le", 3, np.uint16)]


def md5s(frames):
    return [hashlib.md5(np.ascontiguousarray(f).tobytes()).hexdigest() for f in frames]


@pytest.mark.parametrize("array_format,channels,dtype", CASES)
def test_probe_and_decode_are_exact(tmp_path, array_format, channels, dtype):
    frames = random_frames(12, 36, 50, channels, dtype)
    path = write_clip(tmp_path / "clip.mkv", frames, array_format)
    info = probe(path)
    assert (info.width, info.height, info.channels) == (50, 36, channels)
    assert info.bit_depth == (8 if dtype == np.uint8 else 16)
    assert info.fps == Fraction(24000, 1001)
    assert info.frame_count == 12
    assert info.timecode == "01:00:00:00"
    assert [(a.codec, a.sample_rate, a.channels) for a in info.audio] == [("pcm_s16le", 48000, 2)]
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    decoded = read_frames(info)
    assert decoded.dtype == dtype and decoded.shape == frames.shape
    assert md5s(decoded) == md5s(frames)
    # Seeking to a range decodes the same frames as decoding from the start.
    assert md5s(read_frames(info, 7, 10)) == md5s(frames[7:10])


@pytest.mark.parametrize("array_format,channels,dtype", CASES)
def test_master_round_trip_keeps_pixels_audio_timecode_and_rate(tmp_path, array_format, channels, dtype):
    frames = random_frames(10, 36, 50, channels, dtype, seed=3)
    source = write_clip(tmp_path / "clip.mkv", frames, array_format)
    info = probe(source)
    master = write_master(tmp_path / "master.mkv", info, iter(read_frames(info)))
    out = probe(master)
    assert md5s(read_frames(out)) == md5s(frames)
    assert audio_packets(master) == audio_packets(source)
    assert out.timecode == info.timecode
    assert out.fps == info.fps
    assert out.metadata["SOURCE_SHA256"] == info.sha256
    assert not list(tmp_path.glob(".*partial"))
    # Written again from the same frames, the master is the same file byte for byte (no random
    # segment id, no muxing date): a rerun can be checked with a checksum.
    again = write_master(tmp_path / "again.mkv", info, iter(read_frames(info)))
    assert again.read_bytes() == master.read_bytes()


def test_master_refuses_existing_output_and_leaves_no_partial_file(tmp_path):
    frames = random_frames(3, 16, 16, 1, np.uint8)
    info = probe(write_clip(tmp_path / "clip.mkv", frames, "gray"))
    target = tmp_path / "master.mkv"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="already exists"):
        write_master(target, info, iter(frames))
    assert target.read_bytes() == b"keep me"
    # A failure half-way (too few frames) leaves neither the target nor a temporary file.
    with pytest.raises(ValueError, match="got 2 frames"):
        write_master(tmp_path / "short.mkv", info, iter(frames[:2]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "master.mkv"]


def test_gray_yuv_source_is_read_as_its_luma_plane(tmp_path):
    frames = random_frames(4, 32, 32, 1, np.uint8)
    # Planar 4:2:0 with neutral chroma: Y rows, then U and V rows of 128.
    yuv = np.concatenate([frames[..., 0], np.full((4, 16, 32), 128, np.uint8)], axis=1)[..., None]
    path = write_clip(tmp_path / "yuv.mkv", yuv, "yuv420p", pix_fmt="yuv420p", audio=False, height=32)
    info = probe(path)
    assert (info.pix_fmt, info.channels, info.decode_format) == ("yuv420p", 1, "gray")
    assert md5s(read_frames(info)) == md5s(frames)


def test_image_sequence_is_a_reel(tmp_path):
    import av

    frames = random_frames(5, 20, 24, 3, np.uint16)
    folder = tmp_path / "scan"
    folder.mkdir()
    for i, frame in enumerate(frames):
        with av.open(str(folder / f"{i:05d}.png"), "w") as out:
            stream = out.add_stream("png", rate=24)
            stream.width, stream.height, stream.pix_fmt = 24, 20, "rgb48be"
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb48le")):
                out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    info = probe(folder)
    assert (info.kind, info.frame_count, info.bit_depth, info.fps) == ("image_sequence", 5, 16, Fraction(24))
    assert md5s(read_frames(info, 1, 4)) == md5s(frames[1:4])
    master = write_master(tmp_path / "master.mkv", info, iter(read_frames(info)))
    assert md5s(read_frames(probe(master))) == md5s(frames)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (p.write_text("not a film\n" * 20), p)[1], "not a video file"),
    ],
)
def test_bad_input_raises_one_clear_line(tmp_path, make, message):
    with pytest.raises(ReelError, match=message) as err:
        probe(make(tmp_path / "reel.mkv"))
    assert "\n" not in str(err.value)


def test_truncated_stream_is_refused(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", random_frames(12, 48, 64, 1, np.uint8), "gray")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReelError, match="truncated"):
        probe(path)


def test_unsupported_pixel_format_is_refused(tmp_path):
    frames = random_frames(2, 16, 16, 1, np.uint8)
    path = write_clip(tmp_path / "alpha.mkv", frames, "gray", pix_fmt="ya8", audio=False)
    with pytest.raises(ReelError, match="unsupported pixel format 'ya8'"):
        probe(path)


# --------------------------------------------------------------------------- frames by presentation time


def test_variable_frame_rate_is_refused_before_any_frame_is_read(tmp_path):
    from clips import write_timed_clip

    frames = random_frames(6, 32, 32, 1, np.uint8)
    path = write_timed_clip(tmp_path / "vfr.mkv", frames, [0, 42, 84, 167, 188, 208])  # 42, 42, 83, 21, 20 ms
    with pytest.raises(ReelError, match=r"variable frame rate: frame 3 is shown at 0\.167 s, not at 0\.125 s") as err:
        probe(path)
    assert "\n" not in str(err.value)


def test_constant_rate_in_millisecond_timestamps_decodes_every_frame_once(tmp_path):
    from clips import write_timed_clip

    frames = random_frames(7, 32, 32, 1, np.uint8, seed=2)
    # 24000/1001 fps rounded to Matroska's milliseconds: steps of 41 and 42 ms, still one grid.
    pts = [round(i * 1001 / 24) for i in range(7)]
    info = probe(write_timed_clip(tmp_path / "cfr.mkv", frames, pts, rate=Fraction(24000, 1001)))
    assert info.frame_count == 7
    assert md5s(read_frames(info)) == md5s(frames)
    assert md5s(read_frames(info, 3, 6)) == md5s(frames[3:6])


def test_a_frame_gap_in_decoding_is_an_error_not_a_shift(tmp_path):
    """Decoding checks the order itself: a probed CFR reel whose stream then skips a frame."""
    from dataclasses import replace

    from clips import write_timed_clip

    frames = random_frames(5, 32, 32, 1, np.uint8)
    info = probe(write_timed_clip(tmp_path / "gap.mkv", frames, [0, 42, 84, 125, 167]))
    gappy = probe(write_timed_clip(tmp_path / "gap2.mkv", frames, [0, 42, 84, 125, 167]))
    write_timed_clip(tmp_path / "gap2.mkv", frames[:4], [0, 42, 125, 167])  # frame 2 gone after probing
    with pytest.raises(ReelError, match="frame 2 expected, the stream gives frame 3"):
        read_frames(replace(gappy, frame_count=4))
    assert md5s(read_frames(info)) == md5s(frames)


def test_a_file_cut_inside_its_last_frame_is_refused(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", random_frames(24, 48, 64, 1, np.uint8), "gray", audio=False)
    with av_open(path) as c:
        last = [p for p in c.demux(video=0) if p.size][-1]
        cut = last.pos + last.size // 2
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ReelError, match="truncated stream: 23 frames readable, the container declares 24"):
        probe(path)


def av_open(path):
    import av

    return av.open(str(path))


@pytest.mark.parametrize(
    "odd,message",
    [
        (("gray16be", np.uint16, 20, 24), "00002.png: 24x20 gray16be, unlike the sequence's first image 00000.png (24x20 gray)"),
        (("gray", np.uint8, 24, 24), "00002.png: 24x24 gray, unlike"),
        (("rgb24", np.uint8, 20, 24), "00002.png: 24x20 rgb24, unlike"),
    ],
)
def test_image_sequence_of_mixed_depth_size_or_format_is_refused(tmp_path, odd, message):
    from clips import write_image

    folder = tmp_path / "scan"
    folder.mkdir()
    frames = random_frames(4, 20, 24, 1, np.uint8)
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:05d}.png", frame, "gray", "gray")
    pix_fmt, dtype, h, w = odd
    channels = 3 if pix_fmt == "rgb24" else 1
    write_image(folder / "00002.png", random_frames(1, h, w, channels, dtype)[0], pix_fmt if pix_fmt != "gray16be" else "gray16le", pix_fmt)
    with pytest.raises(ReelError, match=re.escape(message)):
        probe(folder)
