"""One section as optical density: tissue, islands, vessels and cells placed in 3-D.

The scene is built in the order a microscopist would describe it: where the tissue is (section
edges), where the islands are (granular, parvicellular, and cell-dense pseudo-islands of ordinary
neurons as hard negatives), where the vessels run, then the cells, drawn from density maps with a
minimum distance between centres in 3-D, at depths that decide how sharp each one looks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from islandvae.data.synth.cells import DIFFICULTY_REACH, SpriteBank, stamp
from islandvae.data.synth.fields import (
    COARSE,
    blob,
    coarse_grid,
    coarse_shape,
    sample_points,
    smooth_noise,
    upsample,
)

GRANULAR, PARVICELLULAR, PSEUDO = 1, 2, 3  # island kinds; the truth mask stores 1 and 2, pseudo-islands as 0
NO_TISSUE = 255
THICKNESS = 20.0  # section thickness, um (= px at 1 um/px); the focal plane lies in the middle
DEFOCUS_STEPS = (3.0, 5.5, 7.5, 9.0)  # |z - focus| (um) where the next defocus level begins

ISLANDS_PER_MPX = 2.8  # island count in large images, per megapixel
PSEUDO_PER_MPX = 0.5
VESSELS_PER_MPX = 3.0

# Expected cells per px^2 (before the minimum-distance thinning) and minimum 3-D distance (px).
DENSITY = {"glia": 1.0e-3, "neuron": 2.4e-4, "large": 1.2e-5, "granule": 5.0e-2, "parvi": 7.5e-3}
MIN_DISTANCE = {"glia": 4.0, "neuron": 12.0, "large": 20.0, "granule": 5.6, "parvi": 8.5}
FIBRES = 1.6e-3  # neuropil fibre segments per px^2
NEUROPIL_OD = 0.03  # texture only: the brain's style sets the neuropil's staining level


@dataclass(frozen=True)
class Plan:
    """What to draw: one image of one brain, its size, seed and the difficulty of the island task."""

    brain: str
    name: str
    height: int
    width: int
    seed: int
    difficulty: float
    island_density: float = 1.0  # robustness sets only: island cells at this share of the usual count
    cell_scale: float = 1.0  # robustness sets only: every cell this many times as large (and as far apart)
    section_imaging: float = 0.0  # robustness sets only: this section stained and scanned on its own (optics.py)
    pixel_size: float = 1.0  # robustness sets only: the scan's pixel size (the scene is drawn this much finer)

    @property
    def crop(self) -> bool:
        """Small images are crops centred on one island; large ones are wider views of a section."""
        return max(self.height, self.width) < 1100


@dataclass
class Scene:
    od: np.ndarray  # (H, W) float32 optical density before the stain gain
    mask: np.ndarray  # (H, W) uint8: 0 tissue, 1 granular island, 2 parvicellular island, 255 no tissue
    islands: list[dict]
    tissue: np.ndarray  # (H, W) float32: how much neuropil each pixel holds (0 glass and lumina, paler near vessels)


def plan_islands(plan: Plan, rng: np.random.Generator) -> list[dict]:
    """Island kinds, centres and diameters: one centred island in a crop, a scatter in a section."""
    h, w = plan.height, plan.width
    side = min(h, w)
    islands: list[dict] = []

    def place(kind: int, diameter: float, centre: tuple[float, float] | None = None) -> None:
        for _ in range(30):
            cy, cx = centre or (rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w)
            if all(np.hypot(cy - o["cy"], cx - o["cx"]) > 0.55 * (diameter + o["diameter"]) for o in islands):
                islands.append(dict(kind=kind, cy=float(cy), cx=float(cx), diameter=float(diameter)))
                return
            centre = None

    def kind() -> int:
        return GRANULAR if rng.random() < 0.5 else PARVICELLULAR

    area = h * w / 1e6
    if plan.crop:
        place(kind(), side / rng.uniform(1.5, 2.4), (h / 2 + rng.normal(0, 0.04 * h), w / 2 + rng.normal(0, 0.04 * w)))
        extra, pseudo = rng.poisson(0.5), int(rng.random() < 0.15)
    else:
        extra, pseudo = max(1, rng.poisson(area * ISLANDS_PER_MPX)), rng.poisson(area * PSEUDO_PER_MPX)
    for _ in range(extra):
        place(kind(), float(np.clip(np.exp(rng.normal(np.log(200), 0.5)), 50, 0.5 * side)))
    for _ in range(pseudo):
        place(PSEUDO, float(np.clip(np.exp(rng.normal(np.log(220), 0.4)), 80, 0.5 * side)))
    return islands


def _tissue(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Boolean tissue mask: everything, or tissue up to a ragged section edge with white glass beyond."""
    h, w = plan.height, plan.width
    if rng.random() > (0.12 if plan.crop else 0.55):
        return np.ones((h, w), dtype=bool)
    y, x = coarse_grid(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    offset = np.quantile(along, rng.uniform(0.06, 0.3))  # 6 to 30 % of the view is glass
    # A wavy edge (coarse noise, in units of about 40 px) with a little fine raggedness.
    coarse = (along - offset) / 40 + 0.8 * smooth_noise(along.shape, 4, rng)
    fine = upsample(smooth_noise(coarse_shape(h, w, 2), 1.5, rng), h, w, 2)
    return upsample(coarse, h, w) + 0.1 * fine > 0


def _island_fields(plan: Plan, islands: list[dict], rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Per island kind, a signed coarse field: > 0 inside an island of that kind."""
    y, x = coarse_grid(plan.height, plan.width)
    wobble = smooth_noise(y.shape, 1.5, rng)
    fields = {}
    for island in islands:
        radius = island["diameter"] / 2
        field = blob(y, x, island["cy"], island["cx"], radius, rng, lobes=int(rng.integers(2, 6)), roughness=0.35)
        field = field + 0.14 * wobble  # ragged borders and small satellites, not a single smooth blob
        # The diameter recorded is that of a circle of the island's drawn area.
        island["diameter"] = float(2 * np.sqrt(np.count_nonzero(field > 0) * COARSE**2 / np.pi))
        kind = island["kind"]
        fields[kind] = np.maximum(fields[kind], field) if kind in fields else field
    return fields


def _vessels(plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Vessel lumina (bool) and their pale halo (0..1): round or oval cross-sections and long slits."""
    h, w = plan.height, plan.width
    lumen = np.zeros((h, w), dtype=bool)
    halo = np.zeros((h, w), dtype=np.float32)
    for _ in range(rng.poisson(h * w / 1e6 * VESSELS_PER_MPX)):
        if rng.random() < 0.6:
            a = rng.uniform(4, 26)
            b, bend = a * rng.uniform(0.5, 1.0), 0.0
        else:
            a, b = rng.uniform(40, 200), rng.uniform(1.5, 5)
            bend = rng.normal(0, 0.15 / a)  # gentle: the slit ends stray ~0.15 a from the axis
        rim = rng.uniform(4, 12)
        cy, cx, angle = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, np.pi)
        reach = int(a + rim + abs(bend) * a * a + 2)
        y0, y1 = max(0, int(cy) - reach), min(h, int(cy) + reach)
        x0, x1 = max(0, int(cx) - reach), min(w, int(cx) + reach)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle) - bend * u * u
        # Distance outside the ellipse, roughly, in px: ellipse radius along this direction times (r - 1).
        r = np.hypot(u / a, v / b)
        gap = (r - 1) * np.hypot(u, v) / np.maximum(r, 1e-6)
        lumen[y0:y1, x0:x1] |= r < 1
        halo[y0:y1, x0:x1] = np.maximum(halo[y0:y1, x0:x1], np.clip(1 - gap / rim, 0, 1) * (r >= 1))
    return lumen, halo


def _thin(ys: np.ndarray, xs: np.ndarray, zs: np.ndarray, distance: float) -> np.ndarray:
    """Keep-mask after removing, of each pair of centres closer than `distance` in 3-D, the later one."""
    keep = np.ones(ys.size, dtype=bool)
    if ys.size < 2:
        return keep
    pairs = cKDTree(np.column_stack([ys, xs, zs])).query_pairs(distance, output_type="ndarray")
    for i, j in pairs[np.argsort(pairs[:, 0], kind="stable")].tolist():
        if keep[i] and keep[j]:
            keep[j] = False
    return keep


def build_scene(plan: Plan, bank: SpriteBank, rng: np.random.Generator) -> Scene:
    """Optical density and island truth of one image."""
    h, w = plan.height, plan.width
    tissue = _tissue(plan, rng)
    islands = plan_islands(plan, rng)
    fields = _island_fields(plan, islands, rng)
    lumen, halo = _vessels(plan, rng)

    mask = np.zeros((h, w), dtype=np.uint8)
    for kind in (PARVICELLULAR, GRANULAR):
        if kind in fields:
            mask[upsample(fields[kind], h, w) > 0] = kind
    mask[~tissue] = NO_TISSUE

    # Coarse density maps. Membership ramps over the island border, so the edge looks frayed.
    member = {k: np.clip((f + 0.1) / 0.3, 0, 1) for k, f in fields.items()}
    zero = np.zeros(coarse_shape(h, w), dtype=np.float32)
    gran, parvi, pseudo = (member.get(k, zero) for k in (GRANULAR, PARVICELLULAR, PSEUDO))
    island = np.maximum(gran, parvi)
    patchy = np.exp(0.35 * smooth_noise(zero.shape, 6, rng))
    clusters = np.exp(0.6 * smooth_noise(zero.shape, 1.5, rng))  # small groups of neurons
    t = DIFFICULTY_REACH * float(np.clip(plan.difficulty, 0, 1))
    per_area = 1 / plan.cell_scale**2  # larger cells, fewer per px^2 at the same packing
    sparse = plan.island_density  # the island classes' count, and their spacing to match (1 / sqrt)
    densities = {
        "glia": DENSITY["glia"] * per_area * patchy * (1 + 0.5 * island),
        "neuron": (DENSITY["neuron"] * patchy * clusters * (1 - 0.85 * island) + 4 * DENSITY["neuron"] * pseudo)
        * per_area,
        "large": DENSITY["large"] * per_area * patchy * (1 - island),
        "granule": DENSITY["granule"] * per_area * sparse * gran,
        "parvi": (DENSITY["parvi"] * (1 - t) + DENSITY["granule"] * t) * per_area * sparse * parvi,
    }

    od = NEUROPIL_OD * (1 + 0.12 * upsample(np.log(patchy), h, w))
    grain = smooth_noise((h, w), 0.8, rng)
    od += 0.012 * grain
    free = tissue & (halo < 0.5) & ~lumen  # where a cell centre may lie
    distance = {name: d * plan.cell_scale for name, d in MIN_DISTANCE.items()}
    distance["parvi"] = distance["parvi"] + (distance["granule"] - distance["parvi"]) * t
    for name in ("granule", "parvi"):
        distance[name] /= np.sqrt(sparse)
    for name, density in densities.items():
        _draw_cells(od, bank, name, density, free, distance[name], rng)
    fy, fx = _points_in(np.full(zero.shape, FIBRES, np.float32), tissue, rng)
    stamp(
        od,
        bank.sprites["fibre"],
        fy,
        fx,
        rng.choice(3, fy.size, p=[0.5, 0.3, 0.2]),
        rng.integers(0, len(bank.sprites["fibre"][0]), fy.size),
        rng.uniform(0.6, 1.4, fy.size),
    )

    od *= 1 - 0.45 * halo
    od[lumen | ~tissue] = 0
    neuropil = (1 - 0.45 * halo) * (tissue & ~lumen)
    for island in islands:
        island["kind"] = {GRANULAR: "granular", PARVICELLULAR: "parvicellular", PSEUDO: "pseudo"}[island["kind"]]
    return Scene(od=od, mask=mask, islands=islands, tissue=neuropil.astype(np.float32))


def _points_in(density: np.ndarray, allowed: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Integer (y, x) of a Poisson process with coarse `density`, kept where `allowed` (H, W) is true."""
    h, w = allowed.shape
    ys, xs = sample_points(density, rng)
    inside = (ys < h) & (xs < w)
    ys, xs = ys[inside].astype(int), xs[inside].astype(int)
    ok = allowed[ys, xs]
    return ys[ok], xs[ok]


def _draw_cells(
    od: np.ndarray,
    bank: SpriteBank,
    name: str,
    density: np.ndarray,
    free: np.ndarray,
    distance: float,
    rng: np.random.Generator,
) -> None:
    """Place cells of class `name` in 3-D, thin them to a minimum distance, and stamp them into `od`."""
    h, w = od.shape
    ys, xs = _points_in(density, free, rng)
    zs = rng.uniform(0, THICKNESS, ys.size).astype(np.float32)
    keep = _thin(ys, xs, zs, distance)
    ys, xs, zs = ys[keep], xs[keep], zs[keep]
    if name == "neuron":  # satellite glia hug a third of the neurons
        sat = rng.random(ys.size) < 0.33
        angle = rng.uniform(0, 2 * np.pi, sat.sum())
        gy = np.clip(ys[sat] + 9 * np.sin(angle), 0, h - 1).astype(int)
        gx = np.clip(xs[sat] + 9 * np.cos(angle), 0, w - 1).astype(int)
        _stamp_cells(od, bank, "glia", gy, gx, zs[sat], rng)
    _stamp_cells(od, bank, name, ys, xs, zs, rng)


def _stamp_cells(
    od: np.ndarray,
    bank: SpriteBank,
    name: str,
    ys: np.ndarray,
    xs: np.ndarray,
    zs: np.ndarray,
    rng: np.random.Generator,
) -> None:
    levels = np.searchsorted(DEFOCUS_STEPS, np.abs(zs - THICKNESS / 2))
    variants = rng.integers(0, len(bank.sprites[name][0]), ys.size)
    stamp(od, bank.sprites[name], ys, xs, levels, variants, rng.uniform(0.8, 1.2, ys.size))
