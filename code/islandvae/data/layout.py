"""The course file's layout in numbers (data-spec section 1), and plain files of that layout.

A plain file has the real structure (groups B01 ... B20, datasets "0000" ..., 2-D uint8, sizes from
the real size distribution) and noise for pixels: quick to write, for tests and benchmarks of the
data layer. The realistic stand-in with cells and islands is a separate generator.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

REAL_COUNTS = {"B01": 276, "B02": 377, "B05": 242, "B07": 245, "B20": 208}  # 1,348 images
# Per brain: mean of image means, mean of image stds (0..255), from data-spec section 1.
REAL_GREY = {
    "B01": (134.7, 43.3),
    "B02": (138.1, 36.9),
    "B05": (165.4, 38.5),
    "B07": (187.0, 36.2),
    "B20": (128.1, 42.4),
}
REAL_SIDE_RANGE = (484, 5840)  # smallest width .. largest height, px
# Side length is log-normal with mode near 930 px and mean near 1,240 px (mean/mode = exp(1.5 s^2));
# its tail gives a mean image of about 1.85 Mpx, so 1,348 images hold about 2.5 Gpx as the real file does.
SIDE_LOG_SIGMA = 0.44
SIDE_LOG_MU = float(np.log(930) + SIDE_LOG_SIGMA**2)


def scaled_counts(total: int) -> dict[str, int]:
    """Images per brain for `total` images, in the real file's proportions (each brain at least 1)."""
    real_total = sum(REAL_COUNTS.values())
    return {b: max(1, round(n * total / real_total)) for b, n in REAL_COUNTS.items()}


def sample_sizes(n: int, rng: np.random.Generator, *, max_side: int | None = None) -> list[tuple[int, int]]:
    """`n` image shapes (H, W): right-skewed like the real ones, aspect ratio wider for large images."""
    lo, hi = REAL_SIDE_RANGE
    hi = min(hi, max_side) if max_side else hi
    sides = np.exp(rng.normal(SIDE_LOG_MU, SIDE_LOG_SIGMA, n))
    # Small images are crops around one island (near square); large ones are tall or wide sections.
    spread = 0.05 + 0.25 * np.clip(np.log(sides / 1000), 0, None)
    log_aspect = rng.normal(0, 1, n) * spread
    heights = np.clip(sides * np.exp(log_aspect / 2), lo, hi).astype(int)
    widths = np.clip(sides * np.exp(-log_aspect / 2), lo, hi).astype(int)
    return list(zip(heights.tolist(), widths.tolist()))


def write_plain_file(path: Path | str, counts: dict[str, int], *, seed: int = 0, max_side: int | None = None) -> int:
    """Write a file of the real layout with noise pixels, image by image; return its pixel count."""
    rng = np.random.default_rng(seed)
    total = 0
    with h5py.File(path, "w") as f:
        for brain, n in counts.items():
            mean, std = REAL_GREY.get(brain, (150.0, 40.0))
            group = f.create_group(brain)
            for index, shape in enumerate(sample_sizes(n, rng, max_side=max_side)):
                pixels = rng.normal(mean, std, size=shape)
                group.create_dataset(f"{index:04d}", data=np.clip(pixels, 0, 255).astype(np.uint8))
                total += shape[0] * shape[1]
    return total
