"""Cell bodies measured on the pixels: a simple detector of dark blobs, and what it says about a region.

The detector works on grey values as stored (dark = stained) and needs no training. The local light level
is a grey closing of the lightly blurred region (dark blobs smaller than BACKGROUND px removed), and the
darkening d is that level minus the blurred grey. The noise level is the robust spread of what a 1 px blur
removes (pixel noise, not cell texture, so a dense island does not raise its own threshold). Each local
maximum of d above SEED noise levels (a dark centre) seeds a cell; pixels darker than the noise (BODY) are
cell body, split between the seeds of a touching group by distance, and a cell extends to where it is half
as dark as its centre (full width at half maximum, so blur does not inflate it). Per cell: area, equivalent
diameter and roundness (minor over major axis of the pixel moments, 1 for a disc); per region: the density
of cells. These numbers describe the island types (chapter 5); they are in pixels, so on the course file
they read as micrometres only through its unknown pixel size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BLUR = 1.5  # px: the detector's light blur (noise, and the texture inside large cells)
BACKGROUND = 13  # px: dark blobs smaller than this are cells on a light background (a grey closing)
SEED = 3.0  # a cell centre darkens the background by this many noise levels at least
BODY = 1.5  # a cell-body pixel darkens it by at least this many
HALF = 0.5  # a cell extends to where it is this share as dark as at its centre
MIN_AREA = 6  # px: smaller specks are noise or debris
SEED_SPACING = 2  # px: seeds (local maxima of the darkening) at least this far apart (a 5 x 5 neighbourhood)


def darkening(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """How much darker than its surroundings each pixel is (grey levels), and the noise level of that map."""
    grey = pixels.astype(np.float32)
    blurred = ndimage.gaussian_filter(grey, BLUR)
    residual = grey - ndimage.gaussian_filter(grey, 1.0)
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual)))) or 1.0  # robust std (MAD)
    # The light level around the cells: a closing removes dark blobs smaller than BACKGROUND px, then a blur.
    background = ndimage.gaussian_filter(ndimage.grey_closing(blurred, size=BACKGROUND), 2.0)
    return background - blurred, noise


def cells(pixels: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Dark cell bodies of a grey region (h, w), counted where `mask` (h, w, bool) is true (default: all).

    Returns the cells' areas (px), equivalent diameters (px) and roundness (0..1), each an array, the number of
    cells and their density per 10,000 px of the mask."""
    mask = np.ones(pixels.shape, dtype=bool) if mask is None else mask
    d, noise = darkening(pixels)
    body = d > BODY * noise
    peaks = (d == ndimage.maximum_filter(d, size=2 * SEED_SPACING + 1)) & (d > SEED * noise) & mask
    seeds, count = ndimage.label(peaks)
    if count == 0:
        return {"count": 0, "density": 0.0, "area": np.zeros(0), "diameter": np.zeros(0), "roundness": np.zeros(0)}
    # Touching cells are split between their seeds: each body pixel goes to the nearest seed of its own blob.
    _, (ny, nx) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    basins = seeds[ny, nx]
    blobs, _ = ndimage.label(body)
    basins[~body | (blobs != blobs[ny, nx])] = 0
    index = np.arange(1, count + 1)
    # A cell's extent: where it is at least half as dark as at its centre (full width at half maximum).
    peak = np.concatenate([[0.0], ndimage.maximum(d, seeds, index)])
    basins[d < HALF * peak[basins]] = 0
    area = ndimage.sum_labels(np.ones_like(basins), basins, index)
    keep = area >= MIN_AREA
    roundness = _roundness(basins, index)
    area, roundness = area[keep], roundness[keep]
    return {"count": int(keep.sum()), "density": 1e4 * float(keep.sum()) / max(int(mask.sum()), 1),
            "area": area, "diameter": 2 * np.sqrt(area / np.pi), "roundness": roundness}


def _roundness(labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Minor over major axis (square root of the eigenvalue ratio of the pixel moments) of each labelled blob."""
    y, x = np.nonzero(labels)
    k = labels[y, x]
    n = np.bincount(k, minlength=index.max() + 1).astype(float)
    n[n == 0] = 1
    my, mx = np.bincount(k, y, len(n)) / n, np.bincount(k, x, len(n)) / n
    dy, dx = y - my[k], x - mx[k]
    syy, sxx, sxy = (np.bincount(k, v, len(n)) / n for v in (dy * dy, dx * dx, dy * dx))
    half_trace, det = (syy + sxx) / 2, syy * sxx - sxy**2
    root = np.sqrt(np.maximum(half_trace**2 - det, 0))
    major, minor = half_trace + root, np.maximum(half_trace - root, 0)
    return np.sqrt(minor / np.maximum(major, 1e-9))[index]


def region_measures(pixels: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """The structure of one region in three numbers: cells per 10,000 px, median cell diameter (px) and median
    roundness (nan without cells)."""
    found = cells(pixels, mask)
    return {"cells / 10,000 px": found["density"],
            "cell diameter (px)": float(np.median(found["diameter"])) if found["count"] else float("nan"),
            "roundness": float(np.median(found["roundness"])) if found["count"] else float("nan")}
