"""Finding islands without truth: clusters of grid tiles clearly denser in cells than the section's tissue.

`find_islands` groups the tiles' features (grid.Grid) into clusters, names as island clusters those whose
tiles hold clearly more small dark blobs than the section's tissue (morphology.py, counted on every tile's pixels;
"clearly" is a rank statistic against the tissue's own tiles, `rank_above`, so no density ratio is assumed), and
takes connected regions of such tiles on each image, grown by a ring of moderately dense tiles (`next_to`).
Islands at the section's edge are set apart (`edge_islands`); on the stand-in `match_found` scores the found
islands against the true ones. Typing the islands is types.py's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from islandvae.data.hdf5 import ImageSource
from islandvae.islands.grid import EIGHT, TYPES, Grid, grid_measures, island_crop, regions

FIT_TILES = 6000  # tiles the tile clustering is fitted on (all tiles are then assigned)
MAX_CLUSTERS = 8
SPLIT_CLUSTERS = range(2, 5)  # where no cluster is clearly denser, the denser clusters are split in 2 to 4 parts
CLUSTER_COMPONENTS = 10  # principal components of the standardised tile features the tile clustering sees
MIXTURE_INITS = 1  # starts of each mixture fit, the best kept (scikit-learn's n_init; a lever: bench/finder_seeds.py)
AGREE = 2  # with several starts of the clustering (islands.starts), the starts that must call a tile core or border
# The finder compares tile cell densities by rank with the tissue's own tiles (the tiles of the largest cluster):
# the share of (cluster tile, tissue tile) pairs in which the cluster's tile is the denser.
CORE_RANK = 0.9  # island cores: clusters whose tiles are denser than the tissue's in at least 90 % of pairs
BORDER_RANK = 0.75  # an island's border: tiles next to a core from clusters denser in at least 75 % of pairs
# and a found island's core, counted on its own pixels, at least as dense as this quantile of the tissue's tiles
CORE_QUANTILE = CORE_RANK
# and a core of at least this many tiles: one tile is a single sample of the tissue's own spread (every tenth
# tissue tile passes CORE_QUANTILE by chance), so a one-tile core cannot be told from tissue
MIN_CORE = 2
EDGE_SHARE = 0.9  # islands whose tiles are on average less than this share tissue (at glass, tears) are set apart


def rank_above(values: np.ndarray, reference: np.ndarray) -> float:
    """The share of pairs (value, reference value) in which the value is the larger (ties count half): the
    Mann-Whitney statistic over the number of pairs, 0.5 when the two samples are alike."""
    from scipy.stats import rankdata

    if not len(values) or not len(reference):
        return float("nan")
    ranks = rankdata(np.concatenate([values, reference]))[: len(values)]
    return float((ranks.sum() - len(values) * (len(values) + 1) / 2) / (len(values) * len(reference)))


def find_islands(
    grid: Grid,
    features: np.ndarray,
    images: ImageSource,
    *,
    seed: int = 0,
    measures: np.ndarray | None = None,
    scale: float = 1.0,
    inits: int = MIXTURE_INITS,
    starts: int = 1,
) -> dict:
    """Islands found without truth: the grid's tiles clustered by their features, the clusters of clearly
    denser cells than the section's tissue named from the pixels, and connected regions of such tiles.

    The tiles are clustered and the clusters named core, border or tissue (tile_clusters; every tile's cell density
    is counted on its pixels, `measures`: grid_measures, computed when not given). A found island is a connected
    region of core tiles with the tiles of border clusters next to them (the island's border cuts through tiles),
    kept when its core spans at least MIN_CORE tiles and its core's cells, counted on its own pixels, are at least
    as dense as the CORE_QUANTILE quantile of the tissue's tiles. With `starts` > 1 the clustering runs from that
    many seeds (seed, seed + 1, ...: the tiles it is fitted on and the mixtures' starts) and a tile is a core tile
    where at least AGREE of them call it one (a border tile likewise, counting the core calls), the threshold the
    median of theirs: one start's mixture ends in a local optimum, and which islands it finds moves with the seed
    (bench/finder_seeds.py). Returns the cluster of each tile, per cluster its median density and rank against the
    tissue, the island clusters and the clusters split ("refined") of the first start, the found island of each
    tile (-1 outside), the core flag, the tile measures, and the measures of each found island's core
    (morphology.region_measures)."""
    from islandvae.islands.morphology import region_measures

    measures = grid_measures(grid, images, scale) if measures is None else measures
    if len(grid) < 2 * MAX_CLUSTERS:
        return {
            "cluster": np.zeros(len(grid), dtype=int),
            "density": [],
            "rank": [],
            "island clusters": [],
            "island": np.full(len(grid), -1),
            "core": np.zeros(len(grid), dtype=bool),
            "tissue density": float("nan"),
            "threshold": float("nan"),
            "candidates": 0,
            "morphology": [],
            "measures": measures,
            "refined": [],
        }
    runs = [tile_clusters(features, measures[:, 0], seed=seed + i, inits=inits) for i in range(max(starts, 1))]
    need = min(AGREE, len(runs))  # one clustering: its own calls
    core = np.sum([r["core"] for r in runs], axis=0) >= need
    moderate = np.sum([r["core"] | r["moderate"] for r in runs], axis=0) >= need
    member = core | (moderate & next_to(grid, core))  # the border: one ring of moderate tiles
    candidate = regions(grid, member)
    # An island must itself be dense: the cells of its core, counted on its own pixels, as the clusters' rule asks.
    threshold = float(np.median([r["threshold"] for r in runs]))
    measured = [
        region_measures(*island_crop(images, grid, np.where(core, candidate, -1), k, margin=0), scale=scale)
        for k in range(int(candidate.max()) + 1)
    ]
    core_tiles = np.bincount(candidate[core & (candidate >= 0)], minlength=len(measured))
    kept = [k for k, m in enumerate(measured) if m["cells / 10,000 px"] >= threshold and core_tiles[k] >= MIN_CORE]
    renumber = np.full(int(candidate.max()) + 2, -1)
    renumber[kept] = np.arange(len(kept))
    island = renumber[candidate]  # candidate -1 maps to the last entry, -1
    first = runs[0]
    return {
        "cluster": first["cluster"],
        "density": first["density"],
        "rank": first["rank"],
        "island clusters": first["island clusters"],
        "island": island,
        "core": core & (island >= 0),
        "tissue density": first["tissue density"],
        "threshold": threshold,
        "candidates": int(candidate.max()) + 1,
        "morphology": [measured[k] for k in kept],
        "measures": measures,
        "refined": first["refined"],
    }


def tile_clusters(features: np.ndarray, density: np.ndarray, *, seed: int = 0, inits: int = MIXTURE_INITS) -> dict:
    """One start of the finder's clustering. A Gaussian mixture on the first principal components of the
    standardised features (fitted on at most FIT_TILES tiles drawn with `seed`; 2 .. MAX_CLUSTERS components, the
    number by the lowest BIC; each fit the best of `inits` starts) puts every tile in a cluster. The tissue is the
    largest cluster (islands are never the most common kind of tile); each other cluster is compared with it by
    rank (rank_above) of the tiles' cell densities: island cores are the clusters whose tiles are the denser in at
    least CORE_RANK of the pairs, border clusters those at BORDER_RANK. The rank counts the tiles' sampling noise
    in: a cluster must be denser by more than a tile's count of cells varies. No density ratio is assumed, so the
    rule holds whatever the stain, cell size or how much denser islands are. Where no cluster is clearly denser,
    every cluster denser at BORDER_RANK is split by a mixture of its own and the parts are ranked again
    (split_clusters: islands barely denser than the tissue can share a cluster with its densest tiles); without a
    clearly denser part there is no island. Returns each tile's cluster and its core and border ("moderate") flags,
    per cluster the median density and rank, the island clusters, the clusters split, the tissue's median density
    and the CORE_QUANTILE quantile of it (the threshold of a found island's core)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    fit = np.random.default_rng(seed).permutation(len(features))[:FIT_TILES]
    standard = StandardScaler().fit(features[fit])
    pca = PCA(n_components=min(CLUSTER_COMPONENTS, features.shape[1]), random_state=seed).fit(
        standard.transform(features[fit])
    )
    x = pca.transform(standard.transform(features))
    mixture = best_mixture(x[fit], range(2, MAX_CLUSTERS + 1), seed=seed, inits=inits)
    cluster, best = mixture.predict(x), mixture.n_components
    tissue_cluster = np.bincount(cluster, minlength=best).argmax()  # the most common kind of tile, not an island
    tissue = density[cluster == tissue_cluster]
    rank = ranks(cluster, density, tissue_cluster)
    refined = []
    if not any(r >= CORE_RANK for r in rank):  # no clearly denser cluster: look once more, within the denser ones
        denser = [c for c, r in enumerate(rank) if r >= BORDER_RANK]
        cluster, refined = split_clusters(x, cluster, denser, seed=seed, inits=inits)
        rank = ranks(cluster, density, tissue_cluster)
    best = len(rank)
    sizes = np.bincount(cluster, minlength=best)
    dense = [c for c in range(best) if rank[c] >= CORE_RANK]
    return {
        "cluster": cluster,
        "core": np.isin(cluster, dense),
        "moderate": np.isin(cluster, [c for c in range(best) if rank[c] >= BORDER_RANK]),
        "density": [float(np.median(density[cluster == c])) if sizes[c] else 0.0 for c in range(best)],
        "rank": rank,
        "island clusters": dense,
        "refined": refined,
        "tissue density": float(np.median(tissue)),
        "threshold": float(np.quantile(tissue, CORE_QUANTILE)) if len(tissue) else float("nan"),
    }


def ranks(cluster: np.ndarray, density: np.ndarray, tissue_cluster: int) -> list[float]:
    """Per cluster, rank_above of its tiles' densities against the tissue cluster's (nan for the tissue)."""
    tissue = density[cluster == tissue_cluster]
    return [
        float("nan") if c == tissue_cluster else rank_above(density[cluster == c], tissue)
        for c in range(int(cluster.max()) + 1)
    ]


def split_clusters(
    x: np.ndarray, cluster: np.ndarray, which: list[int], *, seed: int = 0, inits: int = MIXTURE_INITS
) -> tuple[np.ndarray, list]:
    """Each cluster of `which` split by a mixture of its own (2 .. SPLIT_CLUSTERS components, the number by the
    lowest BIC, fitted on at most FIT_TILES of its tiles): where islands are barely denser than the tissue, the
    whole-grid mixture can put island tiles and the densest tissue into one cluster that no rank calls clearly
    denser. The first part keeps the cluster's number, the others are numbered after the last cluster. Returns the
    new cluster of each tile and the clusters split."""
    cluster, rng, split = cluster.copy(), np.random.default_rng(seed), []
    for c in which:
        tiles = np.flatnonzero(cluster == c)
        if len(tiles) < 2 * MAX_CLUSTERS:
            continue
        fit = x[rng.permutation(tiles)[:FIT_TILES]]
        part = best_mixture(fit, SPLIT_CLUSTERS, seed=seed, inits=inits).predict(x[tiles])
        cluster[tiles] = np.where(part == 0, c, cluster.max() + part)
        split.append(int(c))
    return cluster, split


def best_mixture(fit: np.ndarray, ks, *, seed: int = 0, inits: int = MIXTURE_INITS):
    """The Gaussian mixture (full covariances) of the number of components in `ks` with the lowest BIC on `fit`
    (each number's fit the likeliest of `inits` starts)."""
    from sklearn.mixture import GaussianMixture

    fits = [GaussianMixture(k, covariance_type="full", n_init=inits, random_state=seed).fit(fit) for k in ks]
    return min(fits, key=lambda m: m.bic(fit))


def edge_islands(grid: Grid, island: np.ndarray) -> np.ndarray:
    """Per found island, whether its tiles hold on average less than EDGE_SHARE tissue (it lies at glass or a
    tear: a section edge, whose dark border can look dense, rather than an island in the tissue)."""
    n = int(island.max()) + 1 if (island >= 0).any() else 0
    inside = island >= 0
    area = np.array([min(grid.tile, grid.infos[k].height) * min(grid.tile, grid.infos[k].width) for k in grid.image])
    share = np.bincount(island[inside], grid.tissue_px[inside] / area[inside], minlength=n) / np.maximum(
        np.bincount(island[inside], minlength=n), 1
    )
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


def match_found(found: np.ndarray, true: np.ndarray) -> dict:
    """How well found islands (a number per tile, -1 none) match the true ones: recall (share of true islands of
    which one found island holds at least half the tiles), precision (share of found islands at least half made
    of true island tiles) and overlap (mean over true islands of the best intersection over union)."""
    n_true = true.max() + 1 if (true >= 0).any() else 0
    n_found = found.max() + 1 if (found >= 0).any() else 0
    if n_true == 0:
        return {
            "true islands": 0,
            "found islands": int(n_found),
            "recall": float("nan"),
            "precision": float("nan"),
            "overlap": float("nan"),
        }
    both = (true >= 0) & (found >= 0)
    shared = np.zeros((n_true, max(n_found, 1)), dtype=int)
    np.add.at(shared, (true[both], found[both]), 1)
    size_true = np.bincount(true[true >= 0], minlength=n_true)
    size_found = np.bincount(found[found >= 0], minlength=max(n_found, 1))
    iou = shared / (size_true[:, None] + size_found[None, :] - shared)
    recall = float(np.mean(shared.max(1) >= 0.5 * size_true))
    precision = float(np.mean(shared.sum(0)[:n_found] >= 0.5 * size_found[:n_found])) if n_found else float("nan")
    return {
        "true islands": int(n_true),
        "found islands": int(n_found),
        "recall": recall,
        "precision": precision,
        "overlap": float(iou.max(1).mean()),
    }


def empty_images(grid: Grid, found: np.ndarray) -> dict:
    """The finder on sections without islands: how many test images hold no true island tile (nor an ambiguous
    one), and how many islands were found on them."""
    labels = grid.label
    island = (*TYPES, "ambiguous")
    empty = [k for k in np.unique(grid.image) if not np.isin(labels[grid.image == k], island).any()]
    on_empty = np.isin(grid.image, empty) & (found >= 0)
    return {"empty images": len(empty), "found on empty images": int(len(np.unique(found[on_empty])))}


def majority_types(found: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per found island, the island type most of its tiles have by the truth ('' when none of them is an island
    tile)."""
    n = int(found.max()) + 1 if (found >= 0).any() else 0
    out = np.full(n, "", dtype=object)
    for k in range(n):
        tiles = label[found == k]
        tiles = tiles[np.isin(tiles, TYPES)]
        if len(tiles):
            values, counts = np.unique(tiles, return_counts=True)
            out[k] = values[counts.argmax()]
    return out.astype(str)
