"""Whether island types follow the cells or the sections the islands lie on.

The course file is a series of sections, each stained and scanned on its own (here a section is an image of the
data file). A typing that places islands by how their section was imaged reports imaging as island types, and on
the course file nobody could tell. `section_confound` measures it for one typing, without any island type:
- how well an island's section is told from its descriptors (a cross-validated linear probe, against chance), on
  the sections that hold at least two islands (where each fit holds more islands than there are sections);
- the agreement (ARI) of the types with the sections, on the same islands;
- the correlation of each island's place on the typing axis with its section's own tissue statistics (grey level,
  contrast, sharpness and noise of its ordinary tissue tiles: tiles.imaging), which works where every section
  holds one island too.
`tissue_statistics` measures the sections' ordinary tissue on the grid's tiles outside and away from islands.
"""

from __future__ import annotations

import warnings

import numpy as np

from islandvae.data.hdf5 import ImageSource
from islandvae.islands.grid import Grid
from islandvae.tiles.imaging import SAMPLE_TILES, STATISTICS, grey_tiles, tile_statistics

SECTION_FOLDS = 5  # cross-validation folds of the section probe (fewer where a section holds fewer islands)
LIMITS = {"types ~ sections ARI": 0.1, "axis ~ section |r|": 0.3}  # the project's targets: types that follow the
# sections show an ARI above the first or a correlation above the second


def ordinary_tiles(grid: Grid, island: np.ndarray) -> np.ndarray:
    """The grid tiles that are neither in a found island nor next to one (`island`: a number per tile, -1 none)."""
    from islandvae.islands.finder import next_to

    inside = island >= 0
    return ~(inside | next_to(grid, inside))


def tissue_statistics(grid: Grid, images: ImageSource, ordinary: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Per image of the grid (a section), the median tile_statistics of up to SAMPLE_TILES of its `ordinary` tiles
    (drawn with `seed`), (n_images, len(STATISTICS)); nan for a section without one."""
    rng = np.random.default_rng(seed)
    out = np.full((len(grid.infos), len(STATISTICS)), np.nan)
    for k in np.unique(grid.image):
        tiles = np.flatnonzero((grid.image == k) & ordinary)
        if len(tiles):
            picked = rng.permutation(tiles)[:SAMPLE_TILES]
            out[k] = np.median(tile_statistics(grey_tiles(images, [grid.keys[t] for t in picked])), axis=0)
    return out


def island_sections(grid: Grid, island: np.ndarray) -> np.ndarray:
    """The section (image) of each island (numbers 0 .. n-1 in `island`, -1 outside)."""
    n = int(island.max()) + 1 if (island >= 0).any() else 0
    return np.array([int(np.bincount(grid.image[island == k]).argmax()) for k in range(n)], dtype=int)


def section_confound(
    descriptors: np.ndarray,
    axis: np.ndarray,
    types: np.ndarray,
    section: np.ndarray,
    statistics: np.ndarray,
    *,
    seed: int = 0,
) -> dict:
    """How much one typing follows the sections, per island: `descriptors` (n, d), its place on the typing `axis`
    (n,), its type (n,; -1: not typed) and `section` (n,); `statistics`: the sections' tissue statistics
    (tissue_statistics). Returns the section probe's balanced accuracy and its chance level (None where fewer
    than two sections hold two typed islands; the probe also where a fit would hold no more islands than
    sections), the ARI of types and sections on those islands, and per statistic
    the Pearson r of the axis with the island's section's value (and the largest |r|)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from islandvae.latent.measures import adjusted_rand, balanced_accuracy, linear

    typed = types >= 0
    counts = np.bincount(section[typed], minlength=int(section.max()) + 1 if len(section) else 0)
    shared = typed & (counts[section] >= 2) if len(section) else typed
    out = {
        "islands": int(typed.sum()),
        "sections": int(len(np.unique(section[typed]))),
        "islands on shared sections": int(shared.sum()),
        "sections with several islands": int((counts >= 2).sum()),
    }
    out["section probe"] = out["section chance"] = out["types ~ sections ARI"] = None
    several = out["sections with several islands"]
    if several >= 2:
        out["section chance"] = 1 / several
        out["types ~ sections ARI"] = adjusted_rand(section[shared], types[shared])
        folds = min(SECTION_FOLDS, int(counts[counts >= 2].min()))
        if shared.sum() * (folds - 1) // folds > several:  # the probe needs more islands per fit than sections
            probe = make_pipeline(StandardScaler(), linear())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a fold may hold a section's islands only once
                predicted = cross_val_predict(
                    probe,
                    descriptors[shared],
                    section[shared],
                    cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                )
            out["section probe"] = balanced_accuracy(section[shared], predicted)
    known = typed & np.isfinite(statistics[section]).all(axis=1) if len(section) else typed
    r = {}
    for j, name in enumerate(STATISTICS):
        values = statistics[section[known], j]
        spread = known.sum() > 2 and np.std(values) > 0 and np.std(axis[known]) > 0
        r[name] = float(np.corrcoef(axis[known], values)[0, 1]) if spread else None
    out["axis ~ section r"] = r
    shown = [abs(v) for v in r.values() if v is not None]
    out["axis ~ section |r|"] = max(shown) if shown else None
    return out


def follows_sections(confound: dict) -> bool:
    """Whether a typing crosses a LIMITS line: its types agree with the sections, or its axis follows their
    tissue statistics."""
    return any(confound.get(k) is not None and confound[k] > limit for k, limit in LIMITS.items())


def section_rows(sets: dict) -> list[dict]:
    """The robustness table's section columns, one row per data set (`sets`: label -> robustness.entry row): for the
    pipeline's found types the section probe, its chance, the types ~ sections ARI and the axis ~ section |r|; on
    the true islands the axis ~ section |r| of the pooled VAE and of the measured cells ('-' where not measured)."""
    from islandvae.islands.features import POOLED

    rows = []
    for label, row in sets.items():
        sections = row.get("sections", {})
        own = sections.get("found", {})
        rows.append(
            {
                "data": label,
                "probe": own.get("section probe"),
                "chance": own.get("section chance"),
                "ARI": own.get("types ~ sections ARI"),
                "axis r": own.get("axis ~ section |r|"),
                "pooled r": sections.get(POOLED, {}).get("axis ~ section |r|"),
                "cells r": sections.get("measured cells", {}).get("axis ~ section |r|"),
            }
        )
    return rows


def sections_finding(sets: dict) -> str:
    """Where the pipeline's found types cross the LIMITS (follows_sections), read off the robustness table."""
    measured = {label: row["sections"]["found"] for label, row in sets.items() if row.get("sections", {}).get("found")}
    if not measured:
        return ""
    crossed = [
        f"{label} (types ~ sections ARI {c['types ~ sections ARI'] or 0:.2f}, axis ~ section |r| "
        f"{c['axis ~ section |r|'] or 0:.2f})"
        for label, c in measured.items()
        if follows_sections(c)
    ]
    return (
        "The found types stay within the section limits on every set."
        if not crossed
        else f"The found types cross the section limits (ARI {LIMITS['types ~ sections ARI']}, |r| "
        f"{LIMITS['axis ~ section |r|']}) on {len(crossed)} of {len(measured)} sets: " + ", ".join(crossed) + "."
    )
