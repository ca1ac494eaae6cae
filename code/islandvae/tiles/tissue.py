"""The tissue map: per image, blocks of TISSUE_BLOCK px that are darker than glass or textured, computed a
strip of an image at a time (memory bounded by STRIP_PIXELS whatever the image size), with each block's
darkness for the dense sampling strategy (DENSE_WEIGHT). Samplers, the grid of chapter 5 and the exploration
use it to stay on tissue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from islandvae.data.hdf5 import ImageSource
from islandvae.data.stats import PixelStats

# its image's median tissue block), clipped to [-2, 3] spreads
TISSUE_BLOCK = 16  # px per cell of the tissue map
STRIP_PIXELS = 1 << 20  # pixels of an image that tissue_blocks turns into floats at once
DENSE_WEIGHT = 1.0  # strategy "dense": a block's weight is exp(DENSE_WEIGHT x how many spreads darker it is than
# its image's median tissue block), clipped to [-2, 3] spreads


@dataclass(frozen=True)
class TissueMap:
    """Per image, which TISSUE_BLOCK x TISSUE_BLOCK blocks hold tissue (not glass, not a tear), and their means."""

    blocks: list[np.ndarray]  # bool (ceil(H / b), ceil(W / b)) per image
    means: list[np.ndarray] | None = None  # float32, the same shape: each block's mean grey value

    def dense_weights(self, k: int) -> np.ndarray:
        """Sampling weights of image k's tissue blocks for the "dense" strategy: darker than the image's median
        tissue block (where cells crowd: islands) weighs more, exp(DENSE_WEIGHT z), z clipped to [-2, 3]."""
        tissue = self.means[k][self.blocks[k]]
        if not tissue.size:
            return tissue
        spread = float(np.std(tissue)) or 1.0
        z = np.clip((np.median(tissue) - tissue) / spread, -2, 3)
        return np.exp(DENSE_WEIGHT * z)


def tissue_map(images: ImageSource, stats: PixelStats) -> TissueMap:
    """Blocks whose mean is below the glass level or whose texture is clearly above noise (an image at a time)."""
    glass = stats.mean + 1.5 * stats.std  # about 230 on the stand-in; glass is brighter and flat
    pairs = [tissue_blocks(images.image(info.brain, info.name), glass, 0.35 * stats.std) for info in images.infos()]
    return TissueMap(blocks=[b for b, _ in pairs], means=[m for _, m in pairs])


def tissue_blocks(a: np.ndarray, glass: float, texture: float) -> tuple[np.ndarray, np.ndarray]:
    """(ceil(H / b), ceil(W / b)) bool: blocks of one image darker than `glass` or with a std above `texture`; and
    every block's mean. Computed a strip of block rows at a time: the float copy it needs stays a few MB even
    for the course file's largest sections (a whole-image copy took 12 bytes per pixel at once)."""
    b = TISSUE_BLOCK
    hb, wb = math.ceil(a.shape[0] / b), math.ceil(a.shape[1] / b)
    strip = max(1, STRIP_PIXELS // (wb * b * b))  # block rows per strip
    tissue, means = np.zeros((hb, wb), dtype=bool), np.zeros((hb, wb), dtype=np.float32)
    for top in range(0, hb, strip):
        rows = a[top * b : (top + strip) * b]
        n = math.ceil(rows.shape[0] / b)
        padded = np.pad(rows, ((0, n * b - rows.shape[0]), (0, wb * b - a.shape[1])), mode="edge").astype(np.float32)
        cells = padded.reshape(n, b, wb, b)
        means[top : top + n] = cells.mean(axis=(1, 3))
        tissue[top : top + n] = (means[top : top + n] < glass) | (cells.std(axis=(1, 3)) > texture)
    return tissue, means
