"""Fixity check of a restoration: the store against itself, and a master against the store.

Like RAWcooked's ``--check``: nothing is trusted because it exists. The store's own check is
:meth:`restoration.store.provenance.ProvenanceStore.problems` (every finished frame's chunks present, its diff
matching the CRC-32 recorded when it was written); a master must carry the store's source digest,
match the SHA-256 recorded when it was encoded, and decode to source ⊕ diff frame by frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restoration.errors import ReelError
from restoration.io.reel import iter_frames, probe, read_frames, sha256_file
from restoration.store.output_marks import recorded_path
from restoration.store.provenance import ProvenanceStore
from restoration.store.runs import chunk_ranges


def source_available(store: ProvenanceStore) -> bool:
    """Whether the reel the store was made from is still at its path, unchanged (by SHA-256)."""
    path = Path(store.info.path)
    if not path.exists():
        return False
    try:
        return probe(path).sha256 == store.info.sha256
    except ReelError:
        return False


def master_problems(store: ProvenanceStore, master: Path, chunk_frames: int = 16) -> list[str]:
    """What is wrong with ``master`` as the output of ``store``; [] when it is exactly source ⊕ diff.

    The source reel is compared when :func:`source_available`; otherwise only the pixels under the
    mask are (with the restored values the store holds).
    """
    master = Path(master)
    try:
        info = probe(master)
    except ReelError as err:
        return [str(err)]
    source = store.info
    if info.metadata.get("SOURCE_SHA256") != source.sha256:
        return [f"{master}: not made from this store's reel (SOURCE_SHA256 {info.metadata.get('SOURCE_SHA256')!r})"]
    if (info.frame_count, info.frame_shape) != (source.frame_count, source.frame_shape):
        return [f"{master}: {info.frame_count} frames of {info.frame_shape}, the store has {source.frame_count} of {source.frame_shape}"]
    found = []
    where = recorded_path(store, master)
    records = [e for e in store.events() if e.get("kind") == "output_written" and e.get("output") == "master" and e.get("path") == where]
    if records and records[-1]["sha256"] != sha256_file(master):
        found.append(f"{master}: SHA-256 differs from the one recorded when it was encoded ({records[-1]['sha256'][:16]}…)")
    with_source = source_available(store)
    frames = iter_frames(info)
    bad = []
    for a, b in chunk_ranges(source.frame_count, chunk_frames):
        got = np.stack([next(frames) for _ in range(b - a)])
        if with_source:
            want = store.apply(read_frames(source, a, b), a)
            bad += [a + k for k in range(b - a) if not np.array_equal(got[k], want[k])]
        else:
            mask, _, restored = store.read_diff(a, b)
            bad += [a + k for k in range(b - a) if not np.array_equal(got[k][mask[k]], restored[k][mask[k]])]
    if bad:
        shown = ", ".join(map(str, bad[:8])) + (", ..." if len(bad) > 8 else "")
        found.append(
            f"{master}: {len(bad)} frames differ from {'source ⊕ diff' if with_source else 'the stored restored pixels'} ({shown})"
        )
    return found
