"""Islands as the unit: tiles on a dense grid over whole images, islands from the truth or found from features,
and island types.

A `Grid` holds every tissue tile of some brains at a fixed stride (half a tile: neighbouring tiles overlap),
with its place on its image's grid. On the stand-in the truth labels each tile and gives the true islands:
connected regions (8-neighbourhood) of tiles of one island type. On data without truth, `find_islands`
groups the tiles' features into clusters, names as island clusters those whose tiles hold clearly more small
dark blobs than the section's tissue (morphology.py, counted on every tile's pixels; "clearly" is a rank
statistic against the tissue's own tiles, so no density ratio is assumed), and takes connected regions of
such tiles on each image. `island_types` places each island on the direction along which islands differ most
relative to the spread of their own tiles, and fits Gaussian mixtures to those places; the number of types is
the smallest whose BIC is within BIC_MARGIN of the lowest. `describe` gives each island the mean and spread of
its tiles' features (the supervised ceiling's input).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from islandvae.data import ImageInfo, ImageSource
from islandvae.tiles import TISSUE_BLOCK, Key, TissueMap
from islandvae.truth import (
    GRANULAR,
    ISLAND_SHARE,
    NO_TISSUE,
    PARVICELLULAR,
    PLAIN_SHARE,
    TISSUE_SHARE,
)

TYPES = ("granular", "parvicellular")
EIGHT = np.ones((3, 3), dtype=bool)  # 8-neighbourhood on the tile grid
MAX_TYPES = 4  # the island-type mixture tries 1 .. MAX_TYPES components
MIN_ISLANDS = 4  # islands per type at the least, on average: fewer islands are one type
TYPED_TILES = 4  # the types are fitted on islands of at least this many tiles (smaller ones are then assigned)
FIT_TILES = 6000  # tiles the tile clustering is fitted on (all tiles are then assigned)
MAX_CLUSTERS = 8
CLUSTER_COMPONENTS = 10  # principal components of the standardised tile features the tile clustering sees
# The finder compares tile cell densities by rank with the tissue's own tiles (the tiles of the largest cluster):
# the share of (cluster tile, tissue tile) pairs in which the cluster's tile is the denser.
CORE_RANK = 0.9  # island cores: clusters whose tiles are denser than the tissue's in at least 90 % of pairs
BORDER_RANK = 0.75  # an island's border: tiles next to a core from clusters denser in at least 75 % of pairs
# and a found island's core, counted on its own pixels, at least as dense as this quantile of the tissue's tiles
CORE_QUANTILE = CORE_RANK
# and a core of at least this many tiles: one tile is a single sample of the tissue's own spread (every tenth
# tissue tile passes CORE_QUANTILE by chance), so a one-tile core cannot be told from tissue
MIN_CORE = 2
BIC_MARGIN = 6.0  # a mixture of more types must lower the BIC by more than this ("strong" evidence, Kass and
# Raftery 1995): the number of types is the smallest within this margin of the lowest BIC
BIC_SPREAD = 50  # bootstrap resamples of the islands for the spread of the BIC curve
EDGE_SHARE = 0.9  # islands whose tiles are on average less than this share tissue (at glass, tears) are set apart


@dataclass
class Grid:
    """Tissue tiles on a regular grid over every image of some brains."""

    infos: list[ImageInfo]
    tile: int
    stride: int
    keys: list[Key]
    image: np.ndarray  # (N,) index into infos
    gy: np.ndarray  # (N,) grid row of the tile on its image
    gx: np.ndarray  # (N,) grid column
    label: np.ndarray | None = None  # (N,) truth label (granular, parvicellular, plain, ambiguous, background)
    tissue_px: np.ndarray | None = None  # (N,) tissue pixels in each tile's square (by the tissue map)

    def __len__(self) -> int:
        return len(self.keys)


def grid_positions(height: int, width: int, tile: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left rows and columns of a grid of tiles that covers an image; an image smaller than a tile gets one
    (padded) tile at (0, 0), and the last row and column are shifted inwards to reach the border."""
    def starts(n: int) -> np.ndarray:
        if n <= tile:
            return np.zeros(1, dtype=int)
        out = np.arange(0, n - tile + 1, stride)
        return out if out[-1] == n - tile else np.append(out, n - tile)
    return starts(height), starts(width)


def _window_sums(counts: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Sums of `counts` (H, W) over the windows [r:r+size, c:c+size] (clipped to the array), for all r x c: exact
    integers from prefix sums taken only at the rows and columns where windows start or end (a whole-image
    integral image cost 16 bytes and two passes per pixel)."""
    r1, c1 = np.minimum(rows + size, counts.shape[0]), np.minimum(cols + size, counts.shape[1])
    r_edges, c_edges = np.unique(np.concatenate([rows, r1])), np.unique(np.concatenate([cols, c1]))
    prefix = _prefix_at(_prefix_at(counts, r_edges, axis=0), c_edges, axis=1)
    i0, i1 = np.searchsorted(r_edges, rows)[:, None], np.searchsorted(r_edges, r1)[:, None]
    j0, j1 = np.searchsorted(c_edges, cols)[None, :], np.searchsorted(c_edges, c1)[None, :]
    return prefix[i1, j1] - prefix[i0, j1] - prefix[i1, j0] + prefix[i0, j0]


def _prefix_at(a: np.ndarray, edges: np.ndarray, *, axis: int) -> np.ndarray:
    """Sums of a[:e] along `axis` for each of the sorted, distinct `edges` (0 <= e <= length), as int64."""
    n = a.shape[axis]
    inner = edges[(edges > 0) & (edges < n)]
    segments = np.add.reduceat(a, np.concatenate([[0], inner]).astype(np.intp), axis=axis, dtype=np.int64)
    table = np.concatenate([np.zeros_like(np.take(segments, [0], axis=axis)), np.cumsum(segments, axis=axis)],
                           axis=axis)  # the prefix sums at 0, inner..., n
    return np.take(table, np.searchsorted(np.concatenate([[0], inner, [n]]), edges), axis=axis)


def grid_labels(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, tile: int) -> np.ndarray:
    """Truth labels (as truth.label_from_mask gives them) of every tile of a grid, (len(rows), len(cols))."""
    tissue = _window_sums(mask != NO_TISSUE, rows, cols, tile)
    area = _window_sums(np.ones(mask.shape, dtype=bool), rows, cols, tile)
    gran = _window_sums(mask == GRANULAR, rows, cols, tile) / np.maximum(tissue, 1)
    parvi = _window_sums(mask == PARVICELLULAR, rows, cols, tile) / np.maximum(tissue, 1)
    label = np.full(tissue.shape, "ambiguous", dtype=object)
    label[gran + parvi < PLAIN_SHARE] = "plain"
    label[parvi >= ISLAND_SHARE] = "parvicellular"
    label[gran >= ISLAND_SHARE] = "granular"
    label[tissue < TISSUE_SHARE * area] = "background"
    return label.astype(str)


def tissue_grid(infos: list[ImageInfo], tissue: TissueMap, *, tile: int, stride: int, truth=None) -> Grid:
    """Every grid tile of the images whose footprint is at least half tissue by the tissue map (with truth:
    labelled from the island masks)."""
    keys, image, gy, gx, labels, tissue_px = [], [], [], [], [], []
    b = TISSUE_BLOCK
    for k, (info, blocks) in enumerate(zip(infos, tissue.blocks)):
        rows, cols = grid_positions(info.height, info.width, tile, stride)
        # Tissue share from the block map: each block stands for its b x b pixels.
        pixels = np.kron(blocks, np.ones((b, b), dtype=bool))[:info.height, :info.width]
        area = min(tile, info.height) * min(tile, info.width)  # every window is whole but in an image below a tile
        inside = _window_sums(pixels, rows, cols, tile)
        keep = inside >= TISSUE_SHARE * area
        if truth is not None:
            label = grid_labels(truth.mask(info.brain, info.name), rows, cols, tile)
        for y, x in zip(*np.nonzero(keep)):
            keys.append((info.brain, info.name, int(rows[y]), int(cols[x]), tile))
            image.append(k)
            gy.append(y)
            gx.append(x)
            tissue_px.append(inside[y, x])
            if truth is not None:
                labels.append(label[y, x])
    as_int = lambda v: np.array(v, dtype=int)
    return Grid(infos, tile, stride, keys, as_int(image), as_int(gy), as_int(gx),
                np.array(labels, dtype=str) if truth is not None else None, as_int(tissue_px))


def grid_measures(grid: Grid, images: ImageSource, scale: float = 1.0) -> np.ndarray:
    """Every grid tile's cells measured on the pixels (N, 3): cells per 10,000 px of tissue, mean cell diameter
    (px) and mean roundness (nan without cells), from one detection per image (morphology.image_cells)."""
    from islandvae.morphology import image_cells, tile_measures
    from islandvae.parallel import ordered_map

    out = np.full((len(grid), 3), np.nan)
    present = np.unique(grid.image)
    pixels = (images.image(grid.infos[k].brain, grid.infos[k].name) for k in present)  # read as the workers ask
    for k, found in zip(present, ordered_map(functools.partial(image_cells, scale=scale), pixels)):
        info = grid.infos[k]
        rows, cols = grid_positions(info.height, info.width, grid.tile, grid.stride)
        on = np.flatnonzero(grid.image == k)
        tissue = np.zeros((len(rows), len(cols)))
        tissue[grid.gy[on], grid.gx[on]] = grid.tissue_px[on]
        measured = tile_measures(found, rows, cols, grid.tile, (info.height, info.width), tissue)
        out[on] = measured[grid.gy[on], grid.gx[on]]
    return out


def rank_above(values: np.ndarray, reference: np.ndarray) -> float:
    """The share of pairs (value, reference value) in which the value is the larger (ties count half): the
    Mann-Whitney statistic over the number of pairs, 0.5 when the two samples are alike."""
    from scipy.stats import rankdata

    if not len(values) or not len(reference):
        return float("nan")
    ranks = rankdata(np.concatenate([values, reference]))[:len(values)]
    return float((ranks.sum() - len(values) * (len(values) + 1) / 2) / (len(values) * len(reference)))


def regions(grid: Grid, member: np.ndarray) -> np.ndarray:
    """Connected regions (8-neighbourhood) of the tiles where `member` is true, on each image's grid: a region
    number per tile (0, 1, ... over all images), -1 for tiles outside every region."""
    out = np.full(len(grid), -1, dtype=int)
    next_id = 0
    for k in np.unique(grid.image[member]):
        on = np.flatnonzero((grid.image == k) & member)
        plane = np.zeros((grid.gy[on].max() + 1, grid.gx[on].max() + 1), dtype=bool)
        plane[grid.gy[on], grid.gx[on]] = True
        numbered, count = ndimage.label(plane, structure=EIGHT)
        out[on] = numbered[grid.gy[on], grid.gx[on]] - 1 + next_id
        next_id += count
    return out


def true_islands(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """From the truth: an island number per tile (-1 outside islands) and the type of each island. An island is
    a connected region of tiles labelled with one island type."""
    island = np.full(len(grid), -1, dtype=int)
    kinds: list[str] = []
    for kind in TYPES:
        member = grid.label == kind
        ids = regions(grid, member)
        island[member] = ids[member] + len(kinds)
        kinds += [kind] * (ids.max() + 1 if member.any() else 0)
    return island, np.array(kinds, dtype=str)


def describe(features: np.ndarray, island: np.ndarray) -> np.ndarray:
    """Per island (numbers 0 .. n-1 in `island`, -1 ignored): the mean and the standard deviation of its tiles'
    features, side by side, (n, 2 d); zeros for a number without tiles."""
    n = island.max() + 1 if (island >= 0).any() else 0
    inside = island >= 0
    counts = np.bincount(island[inside], minlength=n)[:, None]
    sums = np.zeros((n, features.shape[1]))
    squares = np.zeros((n, features.shape[1]))
    np.add.at(sums, island[inside], features[inside])
    np.add.at(squares, island[inside], features[inside] ** 2)
    mean = sums / np.maximum(counts, 1)  # an island without tiles (none here) stays at 0
    spread = np.sqrt(np.maximum(squares / np.maximum(counts, 1) - mean**2, 0))
    return np.hstack([mean, spread])


def island_types(features: np.ndarray, island: np.ndarray, *, seed: int = 0, max_types: int = MAX_TYPES,
                 spread: bool = False, typed: np.ndarray | None = None) -> dict:
    """Island types from tile features (N, d) and each tile's island number (N,; -1 for tiles outside islands).

    The standardised features are projected on the direction along which islands differ most relative to how
    much the tiles within one island vary (linear discriminant analysis with the islands as classes: it needs
    no island type, only which tiles belong together). Each island is placed by the mean of its tiles on that
    axis, and Gaussian mixtures with 1 .. max_types components (fewer with few islands) are fitted to the
    places of the islands of at least TYPED_TILES tiles (a smaller island's mean is too noisy to shape the
    types; it is assigned to the nearest afterwards); the number of types is the smallest whose BIC is within
    BIC_MARGIN of the lowest (a further type must earn its parameters clearly). With `spread`, the BIC curve is
    also fitted on BIC_SPREAD bootstrap resamples of the islands (its 2.5 and 97.5 percentiles per k, and how
    often each k would be chosen). Returns k, the BIC per k, each island's type (0 .. k-1, ordered along the
    axis) and its place on the axis. `typed` (bool per island): the islands to type; the others (set apart)
    shape neither the axis nor the mixture, get type -1 and still a place on the axis."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    inside = island >= 0
    n = int(island.max()) + 1 if inside.any() else 0
    typed = np.ones(n, dtype=bool) if typed is None else np.asarray(typed, dtype=bool)
    if typed.sum() < MIN_ISLANDS:
        return {"k": 1 if typed.any() else 0, "bic": {}, "type": np.where(typed, 0, -1), "axis": np.zeros(n)}
    used = inside & typed[np.maximum(island, 0)]
    scale = StandardScaler().fit(features[used])
    with warnings.catch_warnings():  # an island of one tile adds no within-island spread; sklearn warns of it
        warnings.filterwarnings("ignore", message="Only one sample available")
        axis = LinearDiscriminantAnalysis(n_components=1, solver="eigen", shrinkage="auto").fit(
            scale.transform(features[used]), island[used])
    # (n, 1): the mean of each island's tiles on the axis
    place = describe(axis.transform(scale.transform(features[inside])), island[inside])[:, :1]
    sizes = np.bincount(island[inside], minlength=n)
    big = typed & (sizes >= TYPED_TILES)
    fit = place[big] if big.sum() >= 2 * MIN_ISLANDS else place[typed]
    fits = {k: GaussianMixture(k, covariance_type="tied", n_init=10, random_state=seed).fit(fit)
            for k in range(1, min(max_types, len(fit) // MIN_ISLANDS) + 1)}
    bic = {k: float(m.bic(fit)) for k, m in fits.items()}
    k = chosen_types(bic)
    raw = fits[k].predict(place)
    order = np.argsort(fits[k].means_[:, 0])  # type 0 lies lowest on the axis
    out = {"k": k, "bic": bic, "type": np.where(typed, np.argsort(order)[raw], -1), "axis": place[:, 0]}
    if spread:
        out |= bic_spread(fit, list(fits), seed=seed)
    return out


def chosen_types(bic: dict) -> int:
    """The smallest number of types whose BIC is within BIC_MARGIN of the lowest."""
    best = min(bic.values())
    return min(k for k, v in bic.items() if v <= best + BIC_MARGIN)


def bic_spread(places: np.ndarray, ks: list[int], *, seed: int = 0, reps: int = BIC_SPREAD) -> dict:
    """The BIC curve on bootstrap resamples of the islands' places: per k its 2.5 and 97.5 percentiles, and the
    share of resamples in which each k would be chosen."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(reps):
        sample = places[rng.integers(0, len(places), len(places))]
        if len(np.unique(sample)) < max(ks):
            continue
        curves.append({k: float(GaussianMixture(k, covariance_type="tied", n_init=3, random_state=seed)
                                .fit(sample).bic(sample)) for k in ks})
    if not curves:
        return {"bic spread": {}, "k chosen": {}}
    choices = [chosen_types(c) for c in curves]
    return {"bic spread": {k: [float(np.percentile([c[k] for c in curves], q)) for q in (2.5, 97.5)] for k in ks},
            "k chosen": {k: choices.count(k) / len(choices) for k in ks}}


def agreement(types: np.ndarray, truth: np.ndarray, *, reps: int = 200, seed: int = 0) -> dict:
    """Island-level agreement of found types with true types: the adjusted Rand index and the balanced accuracy
    after naming each type by the true type most of its islands have, each as (value, low, high) with a 95 %
    bootstrap interval over islands; nan when the truth holds fewer than two types."""
    from islandvae.measures import adjusted_rand, balanced_accuracy, codes

    if len(set(truth)) < 2:  # one true type: agreement is not measurable (a single cluster would score 1)
        return {"ari": (float("nan"),) * 3, "balanced accuracy": (float("nan"),) * 3}
    named = np.empty(len(types), dtype=object)
    for t in np.unique(types):
        kinds, counts = np.unique(truth[types == t], return_counts=True)
        named[types == t] = kinds[counts.argmax()]
    truth, named = codes(truth, named.astype(str))  # the same scores, from integers
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(types), len(types)) for _ in range(reps)]

    def interval(score):
        values = [score(p) for p in picks if (truth[p] != truth[p][0]).any()]
        lo, hi = np.percentile(values, [2.5, 97.5]) if values else (np.nan, np.nan)
        return (float(score(np.arange(len(types)))), float(lo), float(hi))
    return {"ari": interval(lambda p: adjusted_rand(truth[p], types[p])),
            "balanced accuracy": interval(lambda p: balanced_accuracy(truth[p], named[p]))}


def find_islands(grid: Grid, features: np.ndarray, images: ImageSource, *, seed: int = 0,
                 measures: np.ndarray | None = None, scale: float = 1.0) -> dict:
    """Islands found without truth: the grid's tiles clustered by their features, the clusters of clearly
    denser cells than the section's tissue named from the pixels, and connected regions of such tiles.

    A Gaussian mixture on the first principal components of the standardised features (fitted on at most
    FIT_TILES tiles; 2 .. MAX_CLUSTERS components, the number by the lowest BIC) puts every tile in a cluster.
    Every tile's cell density is counted on its pixels (`measures`: grid_measures, computed when not given).
    The tissue is the largest cluster (islands are never the most common kind of tile); each other cluster is
    compared with it by rank (rank_above): island cores are the clusters whose tiles are the denser in at least
    CORE_RANK of the pairs, border clusters those at BORDER_RANK. The rank counts the tiles' sampling noise in:
    a cluster must be denser by more than a tile's count of cells varies. No density ratio is assumed, so the
    rule holds whatever the stain, cell size or how much denser islands are (`scale`: the detector's size
    factor for the data's cells, morphology.detector_scale); a section without a clearly denser cluster has no
    island. A found island is a connected region of core tiles with the tiles of border clusters next to them
    (the island's border cuts through tiles), kept when its core spans at least MIN_CORE tiles and its core's
    cells, counted on its own pixels, are at least as dense as the CORE_QUANTILE quantile of the tissue's tiles.
    Returns the cluster of each tile, per cluster its median density and rank against the tissue, the island
    clusters, the found island of each tile (-1 outside), the core flag, the tile measures, and the measures of
    each found island's core (morphology.region_measures)."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    from islandvae.morphology import region_measures

    rng = np.random.default_rng(seed)
    measures = grid_measures(grid, images, scale) if measures is None else measures
    if len(grid) < 2 * MAX_CLUSTERS:
        return {"cluster": np.zeros(len(grid), dtype=int), "density": [], "rank": [], "island clusters": [],
                "island": np.full(len(grid), -1), "core": np.zeros(len(grid), dtype=bool),
                "tissue density": float("nan"), "threshold": float("nan"), "candidates": 0, "morphology": [],
                "measures": measures}
    fit = rng.permutation(len(grid))[:FIT_TILES]
    standard = StandardScaler().fit(features[fit])
    pca = PCA(n_components=min(CLUSTER_COMPONENTS, features.shape[1]), random_state=seed).fit(
        standard.transform(features[fit]))
    x = pca.transform(standard.transform(features))
    fits = {k: GaussianMixture(k, covariance_type="full", random_state=seed).fit(x[fit])
            for k in range(2, MAX_CLUSTERS + 1)}
    best = min(fits, key=lambda k: fits[k].bic(x[fit]))
    cluster = fits[best].predict(x)

    density = measures[:, 0]
    sizes = np.bincount(cluster, minlength=best)
    median = np.array([np.median(density[cluster == c]) if sizes[c] else 0.0 for c in range(best)])
    tissue = density[cluster == sizes.argmax()]  # the most common kind of tile is the tissue, not an island
    rank = [float("nan") if c == sizes.argmax() else rank_above(density[cluster == c], tissue) for c in range(best)]
    dense = [c for c in range(best) if rank[c] >= CORE_RANK]
    moderate = [c for c in range(best) if rank[c] >= BORDER_RANK]
    core = np.isin(cluster, dense)
    member = core | (np.isin(cluster, moderate) & next_to(grid, core))  # the border: one ring of moderate tiles
    candidate = regions(grid, member)
    # An island must itself be dense: the cells of its core, counted on its own pixels, as the clusters' rule asks.
    threshold = float(np.quantile(tissue, CORE_QUANTILE)) if len(tissue) else float("nan")
    measured = [region_measures(*island_crop(images, grid, np.where(core, candidate, -1), k, margin=0), scale=scale)
                for k in range(int(candidate.max()) + 1)]
    core_tiles = np.bincount(candidate[core & (candidate >= 0)], minlength=len(measured))
    kept = [k for k, m in enumerate(measured) if m["cells / 10,000 px"] >= threshold and core_tiles[k] >= MIN_CORE]
    renumber = np.full(int(candidate.max()) + 2, -1)
    renumber[kept] = np.arange(len(kept))
    island = renumber[candidate]  # candidate -1 maps to the last entry, -1
    return {"cluster": cluster, "density": median.tolist(), "rank": rank, "island clusters": dense,
            "island": island, "core": core & (island >= 0), "tissue density": float(np.median(tissue)),
            "threshold": threshold, "candidates": int(candidate.max()) + 1,
            "morphology": [measured[k] for k in kept], "measures": measures}


def edge_islands(grid: Grid, island: np.ndarray) -> np.ndarray:
    """Per found island, whether its tiles hold on average less than EDGE_SHARE tissue (it lies at glass or a
    tear: a section edge, whose dark border can look dense, rather than an island in the tissue)."""
    n = int(island.max()) + 1 if (island >= 0).any() else 0
    inside = island >= 0
    area = np.array([min(grid.tile, grid.infos[k].height) * min(grid.tile, grid.infos[k].width) for k in grid.image])
    share = np.bincount(island[inside], grid.tissue_px[inside] / area[inside], minlength=n) / np.maximum(
        np.bincount(island[inside], minlength=n), 1)
    return share < EDGE_SHARE


def next_to(grid: Grid, member: np.ndarray) -> np.ndarray:
    """Tiles that are 8-neighbours, on their image's grid, of a tile where `member` is true."""
    out = np.zeros(len(grid), dtype=bool)
    for k in np.unique(grid.image[member]):
        on = np.flatnonzero(grid.image == k)
        plane = np.zeros((grid.gy[on].max() + 1, grid.gx[on].max() + 1), dtype=bool)
        plane[grid.gy[on], grid.gx[on]] = member[on]
        out[on] = ndimage.binary_dilation(plane, EIGHT)[grid.gy[on], grid.gx[on]]
    return out


def tile_extent(grid: Grid, key: Key) -> tuple[int, int]:
    """Height and width of a grid tile's pixels inside its image (a tile of an image smaller than a tile is cut)."""
    info = next(i for i in grid.infos if (i.brain, i.name) == key[:2])
    return min(grid.tile, info.height - key[2]), min(grid.tile, info.width - key[3])


def match_found(found: np.ndarray, true: np.ndarray) -> dict:
    """How well found islands (a number per tile, -1 none) match the true ones: recall (share of true islands of
    which one found island holds at least half the tiles), precision (share of found islands at least half made
    of true island tiles) and overlap (mean over true islands of the best intersection over union)."""
    n_true = true.max() + 1 if (true >= 0).any() else 0
    n_found = found.max() + 1 if (found >= 0).any() else 0
    if n_true == 0:
        return {"true islands": 0, "found islands": int(n_found), "recall": float("nan"),
                "precision": float("nan"), "overlap": float("nan")}
    both = (true >= 0) & (found >= 0)
    shared = np.zeros((n_true, max(n_found, 1)), dtype=int)
    np.add.at(shared, (true[both], found[both]), 1)
    size_true = np.bincount(true[true >= 0], minlength=n_true)
    size_found = np.bincount(found[found >= 0], minlength=max(n_found, 1))
    iou = shared / (size_true[:, None] + size_found[None, :] - shared)
    recall = float(np.mean(shared.max(1) >= 0.5 * size_true))
    precision = float(np.mean(shared.sum(0)[:n_found] >= 0.5 * size_found[:n_found])) if n_found else float("nan")
    return {"true islands": int(n_true), "found islands": int(n_found), "recall": recall, "precision": precision,
            "overlap": float(iou.max(1).mean())}


def island_crop(images: ImageSource, grid: Grid, island: np.ndarray, k: int, *, margin: int = 16) -> tuple:
    """The pixels of island `k`'s footprint (the union of its tiles' squares, plus a margin) and a mask of the
    footprint, both (h, w), for figures and the blob measures."""
    tiles = np.flatnonzero(island == k)
    info = grid.infos[grid.image[tiles[0]]]
    rows = np.array([grid.keys[t][2] for t in tiles])
    cols = np.array([grid.keys[t][3] for t in tiles])
    s = grid.tile
    r0, c0 = max(int(rows.min()) - margin, 0), max(int(cols.min()) - margin, 0)
    r1, c1 = min(int(rows.max()) + s + margin, info.height), min(int(cols.max()) + s + margin, info.width)
    mask = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for r, c in zip(rows, cols):
        mask[r - r0 : r - r0 + s, c - c0 : c - c0 + s] = True
    return images.region(info.brain, info.name, r0, c0, r1 - r0, c1 - c0), mask
