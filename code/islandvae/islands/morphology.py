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

The px sizes below were set for cells of the stand-in's size. On other data they scale with the cells:
`blob_sigma` measures the data's characteristic dark-blob size (the scale of the strongest responses of a
scale-normalised Laplacian of Gaussian, Lindeberg 1998), and `detector_scale` turns it into the factor that
every size of the detector is multiplied by (cells(..., scale=...)), in steps of a quarter octave.
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
SIGMAS = 2 ** (np.arange(0, 10) / 3)  # px: the Laplacian-of-Gaussian scales tried, 1 to 8
REFERENCE_SIGMA = 3.0  # px: the blob scale (blob_sigma) the sizes above were set for: 2.9 to 3.2 on the stand-in
SAMPLE_SIDE, SAMPLE_IMAGES = 512, 16  # blob_sigma looks at the central square of this many images


def blob_sigma(images) -> float:
    """The data's characteristic dark-blob scale (px): over the central SAMPLE_SIDE square of up to
    SAMPLE_IMAGES images of `images` (an ImageSource), the response-weighted mean scale of the local maxima of
    sigma^2 LoG that stand above the noise (dark blobs; the scale at which a blob of radius r responds most is
    r / sqrt(2))."""
    infos = images.infos()
    picked = [infos[i] for i in np.unique(np.linspace(0, len(infos) - 1, min(SAMPLE_IMAGES, len(infos))).astype(int))]
    scales, weights = [], []
    for info in picked:
        h, w = min(SAMPLE_SIDE, info.height), min(SAMPLE_SIDE, info.width)
        grey = images.region(info.brain, info.name, (info.height - h) // 2, (info.width - w) // 2, h, w)
        grey = grey.astype(np.float32)
        response = np.stack([s**2 * ndimage.gaussian_laplace(grey, s) for s in SIGMAS])
        best, which = response.max(0), response.argmax(0)
        residual = grey - ndimage.gaussian_filter(grey, 1.0)
        noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual)))) or 1.0
        peaks = (best == ndimage.maximum_filter(best, 5)) & (best > 3 * noise)
        scales.append(SIGMAS[which[peaks]])
        weights.append(best[peaks])
    scales, weights = np.concatenate(scales), np.concatenate(weights)
    return float(np.average(scales, weights=weights)) if weights.sum() > 0 else REFERENCE_SIGMA


def detector_scale(sigma: float) -> float:
    """The factor for the detector's sizes, from the data's blob scale: sigma / REFERENCE_SIGMA in quarter-octave
    steps (so that small differences in the estimate leave the detector as it is), within 0.5 .. 3."""
    return float(2 ** (np.clip(np.round(4 * np.log2(sigma / REFERENCE_SIGMA)), -4, 6) / 4))


def darkening(pixels: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, float]:
    """How much darker than its surroundings each pixel is (grey levels), and the noise level of that map."""
    grey = pixels.astype(np.float32)
    blurred = ndimage.gaussian_filter(grey, BLUR * scale)
    residual = grey - ndimage.gaussian_filter(grey, 1.0)
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual)))) or 1.0  # robust std (MAD)
    # The light level around the cells: a closing removes dark blobs smaller than BACKGROUND px, then a blur.
    size = int(round(BACKGROUND * scale)) | 1  # odd: centred on the pixel
    background = ndimage.gaussian_filter(ndimage.grey_closing(blurred, size=size), 2.0 * scale)
    return background - blurred, noise


def cells(pixels: np.ndarray, mask: np.ndarray | None = None, *, scale: float = 1.0) -> dict:
    """Dark cell bodies of a grey region (h, w), counted where `mask` (h, w, bool) is true (default: all), with
    every size of the detector multiplied by `scale` (detector_scale).

    Returns the cells' areas (px), equivalent diameters (px) and roundness (0..1), each an array, the number of
    cells and their density per 10,000 px of the mask."""
    mask = np.ones(pixels.shape, dtype=bool) if mask is None else mask
    d, noise = darkening(pixels, scale)
    body = d > BODY * noise
    spacing = max(int(round(SEED_SPACING * scale)), 1)
    peaks = (d == ndimage.maximum_filter(d, size=2 * spacing + 1)) & (d > SEED * noise) & mask
    seeds, count = ndimage.label(peaks)
    if count == 0:
        none = np.zeros(0)
        return {"count": 0, "density": 0.0, "area": none, "diameter": none, "roundness": none, "y": none, "x": none}
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
    keep = area >= MIN_AREA * scale**2
    roundness, cy, cx = _roundness(basins, index)
    area, roundness = area[keep], roundness[keep]
    return {
        "count": int(keep.sum()),
        "density": 1e4 * float(keep.sum()) / max(int(mask.sum()), 1),
        "area": area,
        "diameter": 2 * np.sqrt(area / np.pi),
        "roundness": roundness,
        "y": cy[keep],
        "x": cx[keep],
    }


def tile_cells(greys: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Per grey tile of (N, h, w): cells per 10,000 px, mean cell diameter (px) and mean roundness, (N, 3); nan
    for the means of a tile without cells."""
    rows = []
    for grey in greys:
        found = cells(grey, scale=scale)
        rows.append(
            [
                found["density"],
                found["diameter"].mean() if found["count"] else np.nan,
                found["roundness"].mean() if found["count"] else np.nan,
            ]
        )
    return np.array(rows, dtype=float).reshape(-1, 3)


def _roundness(labels: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minor over major axis (square root of the eigenvalue ratio of the pixel moments) of each labelled blob,
    and its centre (row, column)."""
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
    return np.sqrt(minor / np.maximum(major, 1e-9))[index], my[index], mx[index]


STRIP = 1024  # rows of an image detected at a time (memory stays bounded on the course file's largest sections)


def image_cells(pixels: np.ndarray, *, strip: int = STRIP, scale: float = 1.0) -> dict:
    """The cells of a whole image (`cells`' arrays: centre, diameter, roundness), detected in strips of rows
    with a margin, each cell kept by the strip that holds its centre."""
    margin = int(4 * BACKGROUND * scale)
    parts = []
    for r0 in range(0, pixels.shape[0], strip):
        lo = max(r0 - margin, 0)
        found = cells(pixels[lo : r0 + strip + margin], scale=scale)
        mine = (found["y"] + lo >= r0) & (found["y"] + lo < r0 + strip)
        parts.append(
            {
                "y": found["y"][mine] + lo,
                "x": found["x"][mine],
                "diameter": found["diameter"][mine],
                "roundness": found["roundness"][mine],
            }
        )
    return {
        k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in ("y", "x", "diameter", "roundness")
    }


TILE_MEASURES = ("cells / 10,000 px", "mean cell diameter (px)", "mean roundness")


def point_window_sums(
    y: np.ndarray,
    x: np.ndarray,
    weights: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    size: int,
    shape: tuple[int, int],
) -> np.ndarray:
    """Sums of `weights` of the points (y, x) inside each window [r, r + size) x [c, c + size) (clipped to
    `shape`), (len(rows), len(cols)): a histogram on the windows' edges and its prefix sums."""
    r1, c1 = np.minimum(rows + size, shape[0]), np.minimum(cols + size, shape[1])
    r_edges, c_edges = np.unique(np.concatenate([rows, r1])), np.unique(np.concatenate([cols, c1]))
    hist = np.zeros((len(r_edges) - 1, len(c_edges) - 1))
    if len(r_edges) > 1 and len(c_edges) > 1 and len(y):
        hist = np.histogram2d(y, x, [r_edges, c_edges], weights=weights)[0]
    prefix = np.zeros((len(r_edges), len(c_edges)))
    prefix[1:, 1:] = hist.cumsum(0).cumsum(1)
    i0, i1 = np.searchsorted(r_edges, rows)[:, None], np.searchsorted(r_edges, r1)[:, None]
    j0, j1 = np.searchsorted(c_edges, cols)[None, :], np.searchsorted(c_edges, c1)[None, :]
    return prefix[i1, j1] - prefix[i0, j1] - prefix[i1, j0] + prefix[i0, j0]


def tile_measures(
    found: dict, rows: np.ndarray, cols: np.ndarray, size: int, shape: tuple[int, int], tissue_px: np.ndarray
) -> np.ndarray:
    """Per window of a grid (len(rows), len(cols), 3): cells per 10,000 px of tissue, their mean diameter (px) and
    mean roundness (nan without cells), from one image's cells (`image_cells`)."""
    y, x = found["y"], found["x"]
    count = np.rint(point_window_sums(y, x, np.ones(len(y)), rows, cols, size, shape))  # exact: the prefix sums'
    # float differences leave a trace of 1e-13 where no cell lies
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = [
            np.where(count > 0, point_window_sums(y, x, found[k], rows, cols, size, shape) / count, np.nan)
            for k in ("diameter", "roundness")
        ]
    return np.stack([1e4 * count / np.maximum(tissue_px, 1), *mean], axis=-1)


def region_measures(pixels: np.ndarray, mask: np.ndarray | None = None, *, scale: float = 1.0) -> dict:
    """The structure of one region in three numbers: cells per 10,000 px, median cell diameter (px) and median
    roundness (nan without cells)."""
    found = cells(pixels, mask, scale=scale)
    return {
        "cells / 10,000 px": found["density"],
        "cell diameter (px)": float(np.median(found["diameter"])) if found["count"] else float("nan"),
        "roundness": float(np.median(found["roundness"])) if found["count"] else float("nan"),
    }
