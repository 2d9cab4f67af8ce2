"""Save ``docs/damage_examples.png``: a 256x256 grey frame damaged at each level, beside its mask.

Usage: ``python benchmarks/damage_examples.py [--sprites ../shared/data/damage_overlays]``
Rows: low, medium, high; columns: damaged frame, truth mask (coloured by class). Also prints the
mean coverage per level over 24 frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from restoration.simulate.damage import DAMAGE_CLASSES, LEVEL_COVERAGE, DamageConfig, coverage, simulate_damage
from restoration.simulate.film_look import add_film_look

OUT = Path(__file__).parent.parent / "docs" / "damage_examples.png"


def grey_clip(t: int = 24, size: int = 256) -> np.ndarray:
    """A smooth grey scene ``(t, size, size, 1)`` uint8 with film grain and flicker."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    scene = 0.45 + 0.2 * np.sin(5 * xx + 2 * yy) * np.cos(3 * yy) + 0.1 * (xx - 0.5)
    frames = np.repeat((scene * 255).astype(np.uint8)[None, ..., None], t, axis=0)
    return add_film_look(frames, seed=0)


def class_colours(class_map: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 class map -> ``(H, W, 3)`` uint8 BGR image, black where undamaged."""
    palette = np.zeros((len(DAMAGE_CLASSES) + 1, 3), np.uint8)
    hues = np.linspace(0, 170, len(DAMAGE_CLASSES)).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, 200), np.full_like(hues, 255)], axis=-1)[None]
    palette[1:] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]
    return palette[class_map]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sprites", default=None, help="sprite library folder (default: procedural)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    clean = grey_clip()
    rows = []
    for level in LEVEL_COVERAGE:
        damaged = simulate_damage(clean, DamageConfig(level=level, seed=1, sprites_dir=args.sprites))
        print(f"{level:6s} target {LEVEL_COVERAGE[level]:.4f} achieved {coverage(damaged.mask):.4f}")
        frame = cv2.cvtColor(damaged.frames[5], cv2.COLOR_GRAY2BGR)
        rows.append(np.hstack([frame, np.full((256, 4, 3), 255, np.uint8), class_colours(damaged.class_map[5])]))
    cv2.imwrite(str(args.out), np.vstack([np.vstack([r, np.full((4, r.shape[1], 3), 255, np.uint8)]) for r in rows])[:-4])
    print(args.out)


if __name__ == "__main__":
    main()
