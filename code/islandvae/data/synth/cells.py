"""Cell bodies as small optical-density sprites, drawn once per run and stamped many times.

Five classes after data-spec 2.3 (diameters at 1 um/px): glial nuclei, granule cells, parvicellular
island neurons, surrounding neurons, large neurons; plus short neuropil fibre segments. Each sprite
exists at several defocus levels: a cell away from the focal plane of the 20 um section is drawn
blurred and lighter, which gives the grey "shadow" cells around the sharp ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Defocus levels: Gaussian sigma (px) and the fraction of optical density that stays visible.
DEFOCUS_SIGMA = (0.0, 1.3, 2.4, 3.6, 5.0)
DEFOCUS_KEEP = (1.0, 0.62, 0.40, 0.27, 0.18)
VARIANTS = 40  # sprites per class and defocus level
DIFFICULTY_REACH = 0.9  # at difficulty 1, parvicellular neurons are 90 % of the way to granule cells


@dataclass(frozen=True)
class CellClass:
    """Shape parameters of one cell class; ranges are (low, high) drawn uniformly per sprite."""

    radius: tuple[float, float]  # px
    density: float  # optical density of the cytoplasm in focus (before the brain's stain gain)
    lobes: float  # amplitude of the 3-fold term: 0 round, 0.25 triangular
    wobble: float  # amplitude of higher harmonics: irregular outline
    elongation: tuple[float, float]  # axis ratio
    nucleus: float  # OD factor inside the nucleus: 1 = uniformly dark, 0.3 = pale nucleus
    dendrites: tuple[int, int] = (0, 0)  # number of dendrite stubs


GLIA = CellClass(radius=(2.0, 3.4), density=1.15, lobes=0.0, wobble=0.05, elongation=(1.0, 1.2), nucleus=1.0)
GRANULE = CellClass(radius=(2.6, 3.9), density=0.95, lobes=0.02, wobble=0.05, elongation=(1.0, 1.2), nucleus=1.0)
PARVI = CellClass(radius=(4.0, 6.0), density=0.85, lobes=0.22, wobble=0.10, elongation=(1.1, 1.9), nucleus=0.45)
NEURON = CellClass(
    radius=(6.0, 10.0), density=0.6, lobes=0.15, wobble=0.08, elongation=(1.1, 1.6), nucleus=0.35, dendrites=(1, 3)
)
LARGE = CellClass(
    radius=(10.0, 19.0), density=0.55, lobes=0.18, wobble=0.08, elongation=(1.1, 1.7), nucleus=0.35, dendrites=(2, 4)
)


def parvicellular(difficulty: float) -> CellClass:
    """Parvicellular neurons moved toward granule cells by `difficulty` (0: as described, 1: nearly granule)."""
    t = float(np.clip(difficulty, 0, 1)) * DIFFICULTY_REACH  # never identical: a trace of the difference stays

    def mix(a, b):
        return tuple(x + (y - x) * t for x, y in zip(a, b)) if isinstance(a, tuple) else a + (b - a) * t

    return CellClass(
        radius=mix(PARVI.radius, GRANULE.radius),
        density=mix(PARVI.density, GRANULE.density),
        lobes=mix(PARVI.lobes, GRANULE.lobes),
        wobble=mix(PARVI.wobble, GRANULE.wobble),
        elongation=mix(PARVI.elongation, GRANULE.elongation),
        nucleus=mix(PARVI.nucleus, GRANULE.nucleus),
    )


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def draw_cell(kind: CellClass, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """One in-focus cell body as an optical-density patch (float32, square, centred); `scale` enlarges it."""
    r0 = rng.uniform(*kind.radius) * scale
    reach = r0 * (2.6 if kind.dendrites[1] else 1.6) + 3
    half = int(np.ceil(reach))
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    e = rng.uniform(*kind.elongation)
    uu, vv = u / np.sqrt(e), v * np.sqrt(e)
    rho = np.hypot(uu, vv)
    phi = np.arctan2(vv, uu)
    outline = 1 + kind.lobes * rng.uniform(0.5, 1) * np.cos(3 * phi + rng.uniform(0, 2 * np.pi))
    for k in (2, 4, 5):
        outline += kind.wobble * rng.uniform(0, 1) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    body = _smoothstep((r0 * outline - rho) / 1.2 + 0.5)
    od = body * kind.density * rng.uniform(0.85, 1.15)
    if kind.nucleus < 1:  # pale nucleus, slightly off centre, with a dark nucleolus
        cy, cx = rng.normal(0, 0.12 * r0, 2)
        rn = r0 * rng.uniform(0.38, 0.5)
        nucleus = _smoothstep((rn - np.hypot(x - cx, y - cy)) / 1.0 + 0.5)
        od = od * (1 - nucleus * (1 - kind.nucleus))
        nucleolus = _smoothstep((1.1 - np.hypot(x - cx - rng.normal(0, 0.5), y - cy)) + 0.5)
        od = np.maximum(od, nucleolus * kind.density * 1.1)
    for _ in range(rng.integers(kind.dendrites[0], kind.dendrites[1] + 1)):
        od = np.maximum(od, _dendrite(x, y, r0, rng) * kind.density)
    return od.astype(np.float32)


def _dendrite(x: np.ndarray, y: np.ndarray, r0: float, rng: np.random.Generator) -> np.ndarray:
    """A tapered stub leaving the soma: width about 2.5 px at the soma, fading out along its length."""
    angle = rng.uniform(0, 2 * np.pi)
    length = r0 * rng.uniform(0.6, 1.5)
    along = x * np.cos(angle) + y * np.sin(angle)
    across = np.abs(-x * np.sin(angle) + y * np.cos(angle))
    t = np.clip((along - 0.5 * r0) / length, 0, 1)
    width = 1.4 * (1 - t) + 0.3
    inside = (along > 0) & (along < 0.5 * r0 + length)
    return (_smoothstep(width - across + 0.5) * inside * (1 - 0.6 * t)).astype(np.float32)


def draw_fibre(rng: np.random.Generator) -> np.ndarray:
    """A short, slightly curved neuropil fibre: a thin line of low optical density."""
    length = rng.uniform(14, 45)
    half = int(np.ceil(length / 2)) + 3
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    across = -x * np.sin(angle) + y * np.cos(angle) - rng.normal(0, 0.012) * along**2  # curvature
    width = rng.uniform(0.25, 0.55)
    line = _smoothstep(width - np.abs(across) + 0.5) * _smoothstep((length / 2 - np.abs(along)) / 3)
    return (line * rng.uniform(0.05, 0.13)).astype(np.float32)


def _defocus(sprite: np.ndarray, level: int) -> np.ndarray:
    sigma = DEFOCUS_SIGMA[level]
    if sigma == 0:
        return sprite
    pad = int(np.ceil(2.5 * sigma))
    wide = np.pad(sprite, pad)
    blurred = ndimage.gaussian_filter(wide, sigma, mode="constant")
    # Blur spreads the same absorbing material; defocus also lightens it (DEFOCUS_KEEP).
    return (blurred * DEFOCUS_KEEP[level]).astype(np.float32)


class SpriteBank:
    """Sprites of every class at every defocus level, drawn from one seed."""

    def __init__(self, seed: int, difficulty: float, cell_scale: float = 1.0):
        rng = np.random.default_rng([seed, 7919])
        classes = {
            "glia": GLIA,
            "granule": GRANULE,
            "parvi": parvicellular(difficulty),
            "neuron": NEURON,
            "large": LARGE,
        }
        self.sprites: dict[str, list[list[np.ndarray]]] = {}
        for name, kind in classes.items():
            cells = [draw_cell(kind, rng, cell_scale) for _ in range(VARIANTS)]
            self.sprites[name] = [[_defocus(c, level) for c in cells] for level in range(len(DEFOCUS_SIGMA))]
        fibres = [draw_fibre(rng) for _ in range(VARIANTS)]
        self.sprites["fibre"] = [[_defocus(f, level) for f in fibres] for level in range(3)]

    def levels(self, name: str) -> int:
        """How many defocus levels class `name` has."""
        return len(self.sprites[name])


def stamp(
    od: np.ndarray,
    sprites: list[list[np.ndarray]],
    ys: np.ndarray,
    xs: np.ndarray,
    levels: np.ndarray,
    variants: np.ndarray,
    amplitudes: np.ndarray,
) -> None:
    """Add sprites[level][variant] * amplitude centred at each (y, x) into `od`, clipped at its borders."""
    height, width = od.shape
    for y, x, level, variant, amp in zip(
        ys.tolist(), xs.tolist(), levels.tolist(), variants.tolist(), amplitudes.tolist()
    ):
        sprite = sprites[level][variant]
        h = sprite.shape[0] // 2
        y0, x0 = y - h, x - h
        y1, x1 = y0 + sprite.shape[0], x0 + sprite.shape[1]
        if y0 >= 0 and x0 >= 0 and y1 <= height and x1 <= width:
            od[y0:y1, x0:x1] += sprite * amp
            continue
        cy0, cx0, cy1, cx1 = max(y0, 0), max(x0, 0), min(y1, height), min(x1, width)
        if cy0 < cy1 and cx0 < cx1:
            od[cy0:cy1, cx0:cx1] += sprite[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] * amp
