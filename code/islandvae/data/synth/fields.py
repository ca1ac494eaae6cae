"""Smooth random fields and shapes on a coarse grid, brought up to full resolution."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

COARSE = 8  # px per coarse cell: density maps and slowly varying fields live on this grid


def coarse_shape(height: int, width: int, step: int = COARSE) -> tuple[int, int]:
    """Coarse grid covering (height, width) with one spare cell on each axis for interpolation."""
    return (height // step + 2, width // step + 2)


def smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation (float32)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="reflect")
    return field / max(float(field.std()), 1e-6)


def upsample(field: np.ndarray, height: int, width: int, step: int = COARSE) -> np.ndarray:
    """Bilinear interpolation of a coarse field (cell centres at step * (i + 0.5)) to (height, width)."""
    rows = (np.arange(height, dtype=np.float32) + 0.5) / step - 0.5
    cols = (np.arange(width, dtype=np.float32) + 0.5) / step - 0.5
    r0 = np.clip(np.floor(rows).astype(int), 0, field.shape[0] - 2)
    c0 = np.clip(np.floor(cols).astype(int), 0, field.shape[1] - 2)
    fr = np.clip(rows - r0, 0, 1)[:, None]
    fc = np.clip(cols - c0, 0, 1)[None, :]
    top = field[r0][:, c0] * (1 - fc) + field[r0][:, c0 + 1] * fc
    bottom = field[r0 + 1][:, c0] * (1 - fc) + field[r0 + 1][:, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


def coarse_grid(height: int, width: int, step: int = COARSE) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution (y, x) coordinates of the coarse cell centres, each (h, w)."""
    h, w = coarse_shape(height, width, step)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (y + 0.5) * step, (x + 0.5) * step


def blob(
    y: np.ndarray,
    x: np.ndarray,
    cy: float,
    cx: float,
    radius: float,
    rng: np.random.Generator,
    *,
    lobes: int,
    roughness: float,
) -> np.ndarray:
    """An irregular blob as a signed field (> 0 inside): a union of offset ellipses with a wavy outline."""
    field = np.full(y.shape, -np.inf, dtype=np.float32)
    for i in range(lobes):
        offset = rng.normal(0, 0.35 * radius, 2) if i else np.zeros(2)
        a = radius * (rng.uniform(0.85, 1.0) if i == 0 else rng.uniform(0.4, 0.75))
        b = a * rng.uniform(0.6, 1.0)
        angle = rng.uniform(0, np.pi)
        dy, dx = y - cy - offset[0], x - cx - offset[1]
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        phi = np.arctan2(v, u)
        wave = 1 + roughness * sum(rng.uniform(0, 1) / k * np.cos(k * phi + rng.uniform(0, 6.3)) for k in (3, 5, 7))
        field = np.maximum(field, 1 - np.hypot(u / a, v / b) / wave)
    return field


def sample_points(density: np.ndarray, rng: np.random.Generator, step: int = COARSE) -> tuple[np.ndarray, np.ndarray]:
    """An inhomogeneous Poisson process: `density` (expected points per px^2) given per coarse cell."""
    counts = rng.poisson(np.clip(density, 0, None) * step * step)
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    rows, cols = np.divmod(cells, counts.shape[1])
    ys = (rows + rng.random(cells.size)) * step
    xs = (cols + rng.random(cells.size)) * step
    return ys.astype(np.float32), xs.astype(np.float32)
