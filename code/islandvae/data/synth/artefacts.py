"""Section artefacts, each recorded per pixel as a bit flag in the truth file.

Tears (bright tapered gaps), folds (darker bands with a crease), defocused regions, silver
precipitate and debris, chatter stripes and knife marks; outside-tissue pixels get their own flag.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from islandvae.data.synth.fields import coarse_grid, coarse_shape, smooth_noise, upsample
from islandvae.data.synth.scene import NO_TISSUE

FLAGS = {"tear": 1, "fold": 2, "defocus": 4, "outside": 8, "debris": 16, "chatter": 32}
CHANCE = {"tear": 0.12, "fold": 0.15, "defocus": 0.15, "debris": 0.5, "chatter": 0.12}


def _line_coordinates(h: int, w: int, rng: np.random.Generator):
    """A random straight line through the image: (along, across) coordinates of every pixel, each (H, W)."""
    cy, cx, angle = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(0, np.pi)
    y, x = np.ogrid[0:h, 0:w]
    along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    across = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    return along.astype(np.float32), across.astype(np.float32)


def fold(od, mask, flags, rng) -> None:
    """Tissue folded over itself: a band of doubled density with a dark crease along one edge."""
    h, w = od.shape
    along, across = _line_coordinates(h, w, rng)
    across = across + 6 * upsample(smooth_noise(coarse_shape(h, w), 4, rng), h, w)
    width = rng.uniform(15, 60)
    band = (across > 0) & (across < width)
    od[band] = od[band] * rng.uniform(1.6, 2.0) + 0.05
    crease = np.exp(-0.5 * (across / 1.2) ** 2)
    od += (0.5 * crease * (od > 0)).astype(np.float32)
    flags[band | (crease > 0.3)] |= FLAGS["fold"]


def tear(od, mask, flags, rng) -> None:
    """A tapered gap through the section: glass shows through, the truth says no tissue."""
    h, w = od.shape
    along, across = _line_coordinates(h, w, rng)
    half_length = rng.uniform(0.15, 0.5) * max(h, w)
    across = (
        across
        - rng.normal(0, 0.6 / half_length) * along**2
        + 3 * upsample(smooth_noise(coarse_shape(h, w), 2, rng), h, w)
    )
    t = np.clip(1 - (along / half_length) ** 2, 0, None)
    gap = np.abs(across) < rng.uniform(2, 12) * np.sqrt(t)
    od[gap] = 0
    mask[gap] = NO_TISSUE
    flags[gap] |= FLAGS["tear"]


def defocus(od, mask, flags, rng) -> None:
    """A region out of focus (the section not flat on the slide): blurred and slightly washed out."""
    h, w = od.shape
    y, x = coarse_grid(h, w)
    cy, cx, radius = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.2, 0.6) * max(h, w)
    weight = np.clip(1.5 - np.hypot(y - cy, x - cx) / radius + 0.3 * smooth_noise(y.shape, 3, rng), 0, 1)
    weight = upsample(weight.astype(np.float32), h, w)
    blurred = ndimage.gaussian_filter(od, rng.uniform(2.5, 4.5))
    od[:] = od * (1 - weight) + blurred * weight * 0.92
    flags[weight > 0.5] |= FLAGS["defocus"]


def debris(od, mask, flags, rng) -> None:
    """Silver precipitate and dust: clusters of tiny black specks, a few dark curly threads."""
    h, w = od.shape
    for _ in range(1 + rng.poisson(h * w / 1e6 * 4)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        n = rng.integers(1, 12)
        ys = np.clip(cy + rng.normal(0, 4, n), 0, h - 1).astype(int)
        xs = np.clip(cx + rng.normal(0, 4, n), 0, w - 1).astype(int)
        for y, x in zip(ys, xs):
            r = int(rng.integers(0, 3))
            od[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] += rng.uniform(0.8, 1.6)
            flags[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] |= FLAGS["debris"]
    if rng.random() < 0.3:  # a thread: a random walk of dark dots
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(40, 160))):
            heading += rng.normal(0, 0.25)
            y, x = y + np.sin(heading), x + np.cos(heading)
            iy, ix = int(y), int(x)
            if 0 <= iy < h and 0 <= ix < w:
                od[iy, ix] += 0.9
                flags[iy, ix] |= FLAGS["debris"]


def chatter(od, mask, flags, rng) -> None:
    """Knife chatter: parallel stripes of varying thickness; sometimes a straight knife mark too."""
    h, w = od.shape
    along, across = _line_coordinates(h, w, rng)
    period, depth = rng.uniform(8, 30), rng.uniform(0.08, 0.2)
    extent = rng.uniform(0.3, 1.0) * max(h, w)
    region = np.abs(along) < extent / 2
    stripes = 1 + depth * np.sin(2 * np.pi * across / period) * region
    od *= stripes.astype(np.float32)
    flags[region] |= FLAGS["chatter"]
    if rng.random() < 0.5:
        mark = np.abs(along - rng.uniform(-0.3, 0.3) * max(h, w)) < rng.uniform(0.7, 2.0)
        od[mark] *= 0.35
        flags[mark] |= FLAGS["chatter"]


def add_artefacts(
    od: np.ndarray, mask: np.ndarray, tissue: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, list[str]]:
    """Apply each artefact with its chance (in place); return the per-pixel flags (uint8) and the names applied."""
    flags = np.where(mask == NO_TISSUE, FLAGS["outside"], 0).astype(np.uint8)
    applied = []
    for name, draw in (("fold", fold), ("tear", tear), ("defocus", defocus), ("debris", debris), ("chatter", chatter)):
        if rng.random() < CHANCE[name]:
            draw(od, mask, flags, rng)
            applied.append(name)
    tissue[mask == NO_TISSUE] = 0  # tears remove neuropil too
    tissue[(flags & FLAGS["fold"]) > 0] *= 1.8  # a fold holds two layers
    return flags, applied
