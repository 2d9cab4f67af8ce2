"""SMPTE timecode of a frame: the reel's start timecode plus a frame count, at the reel's exact rate."""

from __future__ import annotations

from fractions import Fraction


def frame_timecode(start: str | None, fps: Fraction, frame: int) -> str:
    """``HH:MM:SS:FF`` of frame ``frame`` (0 = the first) of a reel starting at ``start``.

    ``start`` is the reel's timecode (``None``: ``00:00:00:00``); a ``;`` or ``.`` before the
    frames means drop-frame (29.97 and 59.94 fps: frame numbers 0 and 1, or 0-3, are skipped at
    every minute but each tenth), and the result keeps that separator. The count runs at the
    nominal rate (24 for 24000/1001). Wraps at 24 hours.
    """
    nominal = round(fps)
    if nominal <= 0:
        raise ValueError(f"frame rate {fps} has no timecode")
    start = start or "00:00:00:00"
    parts = start.replace(";", ":").replace(".", ":").split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"timecode {start!r} is not HH:MM:SS:FF")
    drop = start[8] in ";." and nominal in (30, 60)
    hh, mm, ss, ff = (int(p) for p in parts)
    dropped = nominal // 15 if drop else 0  # 2 at 29.97, 4 at 59.94
    minutes = 60 * hh + mm
    count = (3600 * hh + 60 * mm + ss) * nominal + ff - dropped * (minutes - minutes // 10) + frame
    day = 24 * 3600 * nominal - dropped * (24 * 60 - 24 * 6)
    count %= day
    if drop:
        per_ten = 10 * 60 * nominal - 9 * dropped
        per_minute = 60 * nominal - dropped
        tens, rest = divmod(count, per_ten)
        count += 9 * dropped * tens + (dropped * ((rest - dropped) // per_minute) if rest > dropped else 0)
    ff = count % nominal
    ss = count // nominal % 60
    mm = count // (60 * nominal) % 60
    hh = count // (3600 * nominal)
    sep = start[8] if drop else ":"
    return f"{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"
