"""Finding island types automatically (chapter 5): islands found from the latent space, typed, described, scored.

On the test brain, with or without truth:
1. every tissue tile on a grid of half-tile stride is described by the VAE's posterior (latent.readout);
2. islands are found from those descriptions (islands.find_islands): clusters of tiles, the clusters whose
   cells are clearly denser than the section's tissue (by rank, counted on every tile's pixels), connected
   regions of such tiles grown by one ring of moderately dense tiles;
3. islands at the section's edge are set apart; the others are typed from their dense tiles, described by the
   readout pooled over each tile's 8 orientations (islands.island_types, the number of types the smallest
   within a BIC margin of the best);
4. each type is described on the pixels: cell density, cell size and roundness per island (morphology.py),
   with 95 % bootstrap intervals over the type's islands; every found island goes into a catalogue
   (results/islands-<config>.csv: where, how large, which type, its cells).
With truth (the stand-in) it also scores, for the VAE and every baseline, the same design on the same units:
- tile level, on the island-enriched tiles (every island tile of the grid and as many plain tiles), the
  measures of measures.py with intervals from a bootstrap over islands (and each image's plain tiles);
- island level, on the true islands: agreement of the types found without labels with the true types
  (ARI; balanced accuracy after naming each type by its majority), and the supervised ceiling (an island
  probe trained on the training brains' islands); written to islands.json in the run folder;
- how well the islands found without truth match the true ones (recall, precision, overlap).
Everything is cached in the run folder (discovery.json, discovery.npz), keyed by the checkpoints and the data.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch

from islandvae import islands as isl
from islandvae.analysis import Analysis
from islandvae.baselines import texture_features
from islandvae.data import ImageSource, LazyImages, read_inventory, training_brains
from islandvae.files import write_atomic
from islandvae.latent import (
    TileSet,
    cached,
    cached_json,
    cut,
    pixel_pca,
    pooled_readout,
    posterior,
    readout,
    reconstruction_mse,
    tile_set,
    trivial_features,
)
from islandvae.measures import score_features
from islandvae.model import VAE
from islandvae.morphology import blob_sigma, detector_scale
from islandvae.parallel import pixel_map
from islandvae.stats import cache_key, file_identity
from islandvae.tiles import tissue_map
from islandvae.train import Run
from islandvae.truth import TruthFile, truth_path

VERSION = "discovery-5"
TRAIN_ISLAND_TILES = 2000  # island tiles of the training brains for the probes and the ceiling (and as many plain)
MEASURES = ("cells / 10,000 px", "cell diameter (px)", "roundness")
POOLED = "orientation-pooled VAE"  # the VAE's readout averaged over each tile's 8 views (latent.pooled_readout)
MEASURED = "measured cells"  # the feature space of the blob detector's per-tile density, cell size and roundness
REPS = 200


def scores_path(config) -> Path:
    """runs/<config>/islands.json: the island-level scores of every feature space (stand-in only)."""
    return Run.of(config).folder / "islands.json"


def discovery_key(config, *, baselines: bool = True) -> str:
    """What the island pipeline depends on: the main and autoencoder checkpoints, the data and the settings."""
    from islandvae.analysis import budget_models

    paths = [Run.of(config).best] + [p for label, (_, p) in budget_models(config).items() if label == "autoencoder"]
    return cache_key(VERSION, [file_identity(p) for p in paths if p.is_file()], file_identity(config.data.path),
                     config.data.test_brain, config.sampling.tile_size, config.train.seed, source_digest(), baselines)


def source_digest() -> str:
    """A hash of the code the pipeline runs: a changed module recomputes it instead of showing stale numbers."""
    import hashlib

    from islandvae import baselines, latent, measures, morphology

    digest = hashlib.sha1()
    for path in [Path(m.__file__) for m in (isl, morphology, measures, latent, baselines)] + [Path(__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def read_discovery(config, *, baselines: bool = True) -> dict | None:
    """The cached result when it belongs to the config's present checkpoints, else None (loads nothing else)."""
    return cached_json(Run.of(config).folder / "discovery.json", discovery_key(config, baselines=baselines))


class Discovery:
    """The island pipeline of one config's trained models."""

    def __init__(self, analysis: Analysis, *, baselines: bool = True):
        """`baselines`: score every baseline beside the VAE (False: the VAE alone, as the lever runs need)."""
        self.a = analysis
        self.config = analysis.config
        self.folder = analysis.run.folder
        self.baselines = baselines
        self.key = discovery_key(self.config, baselines=baselines)

    def result(self) -> dict:
        """Everything the chapter reports (computed once, then read from discovery.json); the island catalogue
        is written beside the other results whenever it is missing or belongs to other results."""
        result = cached_json(self.folder / "discovery.json", self.key, self._compute)
        path = catalogue_path(self.config)
        table = catalogue_csv(self.a.test_images.infos(), self.arrays(), result)
        if not path.is_file() or path.read_bytes() != table:  # missing, or from earlier results
            write_atomic(path, table)
        return result

    def arrays(self) -> dict:
        """Per grid tile: image, row, column, grid place, cluster, found island, core flag, true island, label."""
        return cached(self.folder / "discovery.npz", self.key, lambda: self._grid_arrays()[0])

    # The computation ------------------------------------------------------------------------------------------

    def _grid_arrays(self) -> tuple[dict, isl.Grid, np.ndarray]:
        a, s = self.a, self.config.sampling.tile_size
        truth = TruthFile(truth_path(self.config.data.path)) if a.has_truth else None
        try:
            grid = isl.tissue_grid(a.test_images.infos(), tissue_map(a.test_images, a.stats), tile=s,
                                   stride=max(s // 2, 1), truth=truth)
        finally:
            if truth is not None:
                truth.close()
        features = features_of(a.model, a.test_images, grid.keys, a.stats)
        sigma = blob_sigma(a.test_images)
        scale = detector_scale(sigma)  # the blob detector's sizes follow the data's cells
        measures = isl.grid_measures(grid, a.test_images, scale)
        found = isl.find_islands(grid, features, a.test_images, seed=self.config.train.seed, measures=measures,
                                 scale=scale)
        true = isl.true_islands(grid)[0] if grid.label is not None else np.full(len(grid), -1)
        arrays = {"image": grid.image, "row": np.array([k[2] for k in grid.keys], dtype=int),
                  "col": np.array([k[3] for k in grid.keys], dtype=int), "gy": grid.gy, "gx": grid.gx,
                  "cluster": found["cluster"], "island": found["island"], "core": found["core"], "true": true,
                  "label": grid.label if grid.label is not None else np.full(len(grid), "", dtype=str),
                  "features": features.astype(np.float32), "measures": measures.astype(np.float32),
                  "tissue_px": grid.tissue_px, "blob": np.array([sigma, scale])}
        return arrays, grid, found

    def _compute(self) -> dict:
        arrays, grid, found = self._grid_arrays()
        cached(self.folder / "discovery.npz", self.key, lambda: arrays)
        island, core = arrays["island"], arrays["core"]
        edge = isl.edge_islands(grid, island)
        # The types from the core tiles' readout pooled over their 8 orientations (the lever that types best);
        # pooled once for them and, with truth, the scored tiles (most of them the same).
        pooled = np.zeros_like(arrays["features"])
        typed = np.flatnonzero(core & (island >= 0))
        rng = np.random.default_rng(self.config.sampling.seed)  # draws the scored plain tiles, then the training ones
        picks = test_picks(rng, grid, arrays["true"]) if grid.label is not None else None
        need = np.union1d(typed, picks[0]) if picks is not None else typed
        pooled[need] = features_of(self.a.model, self.a.test_images, [grid.keys[t] for t in need], self.a.stats,
                                   pooled=True, first=arrays["features"][need])
        typing = isl.island_types(pooled, np.where(core, island, -1), seed=self.config.train.seed, spread=True,
                                  typed=~edge)
        out = {"grid": {"tiles": len(grid), "images": len(grid.infos), "tile": grid.tile, "stride": grid.stride},
               "clusters": {"k": len(found["density"]), "density": found["density"], "rank": found["rank"],
                            "tiles": np.bincount(found["cluster"], minlength=len(found["density"])).tolist(),
                            "island clusters": [int(c) for c in found["island clusters"]],
                            "tissue density": found["tissue density"], "threshold": found["threshold"]},
               "found": {"islands": int(island.max() + 1), "tiles": int((island >= 0).sum()),
                         "candidates": found["candidates"], "set apart": int(edge.sum())},
               "types": {"k": typing["k"], "bic": {str(k): v for k, v in typing["bic"].items()},
                         "type": typing["type"].tolist(), "axis": typing["axis"].tolist(), "margin": isl.BIC_MARGIN,
                         "bic spread": {str(k): v for k, v in typing.get("bic spread", {}).items()},
                         "k chosen": {str(k): v for k, v in typing.get("k chosen", {}).items()}}}
        out["morphology"] = found["morphology"]
        out["blob scale"] = {"sigma": float(arrays["blob"][0]), "scale": float(arrays["blob"][1])}
        out["described"] = describe_types(out["morphology"], typing["type"], typing["k"])
        if grid.label is not None:
            out |= self._truth_scores(grid, arrays, typing, pooled, picks, rng)
        return out

    def _truth_scores(self, grid: isl.Grid, arrays: dict, typing: dict, pooled: np.ndarray, picks: tuple,
                      rng: np.random.Generator) -> dict:
        a, config = self.a, self.config
        true, kinds = isl.true_islands(grid)
        found = arrays["island"]
        out = {"match": isl.match_found(found, true) | empty_images(grid, found),
               "true islands": {t: int((kinds == t).sum()) for t in isl.TYPES}}
        majority = majority_types(found, grid.label)
        known = (majority != "") & (np.array(typing["type"]) >= 0)  # islands set apart have no type to score
        out["found agreement"] = (isl.agreement(np.array(typing["type"])[known], majority[known])
                                  if len(set(majority[known])) > 1 else None)
        out["found islands without a true island"] = int((majority == "").sum())
        test, train, train_island, train_kinds, picked = enriched_sets(config, a, grid, picks, rng)
        spaces = feature_spaces(a, test, train, vae_test=arrays["features"][picked], pooled_test=pooled[picked],
                                baselines=self.baselines, scale=float(arrays["blob"][1]))
        out["measures"] = [score_features(name, f["train"], f["test"], train, test, f.get("mse"))
                           for name, f in spaces.items()]
        island_of_test = np.where(test.group < len(kinds), test.group, -1)  # plain tiles carry group ids >= islands
        scores, ceilings = {}, {}
        for name, f in spaces.items():
            types = isl.island_types(f["test"], island_of_test, seed=config.train.seed)
            scores[name] = isl.agreement(types["type"], kinds) | {"types": types["k"]}
            ceilings[name] = island_probe(f["train"], train_island, train_kinds, f["test"], island_of_test, kinds)
        out["island scores"], out["island ceilings"] = scores, ceilings
        vae = next(iter(spaces))
        table = {name: {"ari": list(v["ari"]), "balanced accuracy": list(v["balanced accuracy"])}
                 for name, v in scores.items()}
        table[f"supervised island probe, {vae}"] = {k: list(ceilings[vae][k]) for k in ("ari", "balanced accuracy")}
        if self.baselines:  # islands.json holds the whole comparison
            write_atomic(scores_path(config), json.dumps(table, indent=1).encode())
        return out


def catalogue_path(config) -> Path:
    """results/islands-<config>.csv: every found island of the test brain (the table a researcher takes away)."""
    return config.paths.results / f"islands-{config.name}.csv"


CATALOGUE = ("brain", "image", "island", "top", "left", "bottom", "right", "tiles", "area (px)", "area (um2)", "type",
             *MEASURES)


def catalogue_rows(infos: list, arrays: dict, result: dict) -> list[dict]:
    """Per found island its image, bounding box (px, bottom and right exclusive), tiles, footprint area (px; in
    um2 only where the file gives a pixel size, which the course file does not), type (1 .. k, or 'set apart'
    for islands at the section's edge) and its core's measured cells."""
    tile = result["grid"]["tile"]
    rows = []
    for k, (kind, cells) in enumerate(zip(result["types"]["type"], result["morphology"])):
        tiles = np.flatnonzero(arrays["island"] == k)
        info = infos[int(arrays["image"][tiles[0]])]
        top, left = arrays["row"][tiles], arrays["col"][tiles]
        bottom, right = np.minimum(top + tile, info.height), np.minimum(left + tile, info.width)
        footprint = np.zeros((int(bottom.max() - top.min()), int(right.max() - left.min())), dtype=bool)
        for r0, c0, r1, c1 in zip(top - top.min(), left - left.min(), bottom - top.min(), right - left.min()):
            footprint[r0:r1, c0:c1] = True
        rows.append(dict(zip(CATALOGUE, [info.brain, info.name, k + 1, int(top.min()), int(left.min()),
                                         int(bottom.max()), int(right.max()), len(tiles), int(footprint.sum()), "",
                                         kind + 1 if kind >= 0 else "set apart", *(cells[m] for m in MEASURES)])))
    return rows


def catalogue_csv(infos: list, arrays: dict, result: dict) -> bytes:
    """The island catalogue (catalogue_rows) as CSV, measures to three decimals."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CATALOGUE)
    for row in catalogue_rows(infos, arrays, result):
        writer.writerow([f"{v:.3f}" if k in MEASURES else v for k, v in row.items()])
    return text.getvalue().encode()


def features_of(model: VAE, images: ImageSource, keys: list, stats, batch: int = 2048, *,
                pooled: bool = False, first: np.ndarray | None = None) -> np.ndarray:
    """The model's readout of the tiles of `keys` (pooled over their 8 orientations: latent.pooled_readout, with
    `first` their plain readout when at hand), cut and encoded a batch at a time."""
    def describe(k):
        tiles = cut(images, keys[k:k + batch], stats)
        if not pooled:
            return readout(model, tiles)
        return pooled_readout(model, tiles, first=None if first is None else first[k:k + batch])
    parts = [describe(k) for k in range(0, len(keys), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def empty_images(grid: isl.Grid, found: np.ndarray) -> dict:
    """The finder on sections without islands: how many test images hold no true island tile (nor an ambiguous
    one), and how many islands were found on them."""
    labels = grid.label
    empty = [k for k in np.unique(grid.image) if not np.isin(labels[grid.image == k], (*isl.TYPES, "ambiguous")).any()]
    on_empty = np.isin(grid.image, empty) & (found >= 0)
    return {"empty images": len(empty), "found on empty images": int(len(np.unique(found[on_empty])))}


def majority_types(found: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per found island, the island type most of its tiles have by the truth ('' when none of them is an island
    tile)."""
    n = int(found.max()) + 1 if (found >= 0).any() else 0
    out = np.full(n, "", dtype=object)
    for k in range(n):
        tiles = label[found == k]
        tiles = tiles[np.isin(tiles, isl.TYPES)]
        if len(tiles):
            values, counts = np.unique(tiles, return_counts=True)
            out[k] = values[counts.argmax()]
    return out.astype(str)


def describe_types(morphology: list[dict], types: np.ndarray, k: int, *, reps: int = REPS, seed: int = 0) -> list:
    """Per type: its islands and, per measure, the mean over its islands with a 95 % bootstrap interval."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(k):
        members = [m for m, ty in zip(morphology, types) if ty == t]
        row = {"type": t + 1, "islands": len(members)}
        for measure in MEASURES:
            values = np.array([m[measure] for m in members], dtype=float)
            values = values[np.isfinite(values)]
            if not len(values):
                row[measure] = (float("nan"),) * 3
                continue
            means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(reps)]
            row[measure] = (float(values.mean()), *map(float, np.percentile(means, [2.5, 97.5])))
        out.append(row)
    return out


def enriched_sets(config, a: Analysis, grid: isl.Grid, picks: tuple, rng: np.random.Generator) -> tuple:
    """The island-enriched tiles: on the test brain the grid tiles of `picks` (test_picks: every island tile and as
    many plain tiles, with their bootstrap unit); on the training brains up to TRAIN_ISLAND_TILES island tiles and
    as many plain ones, drawn with `rng` (the generator that drew `picks`), read region by region. Returns the
    test and training TileSets, the training island of each training tile (-1 for plain tiles), the type of each
    training island, and which grid tiles the test set holds."""
    test_pick, group = picks
    test = tile_set(config, a.test_images, [grid.keys[k] for k in test_pick], a.stats, group=group)

    brains = training_brains(read_inventory(config.data.path), config.data.test_brain)
    images = LazyImages(config.data.path, brains)
    try:
        with TruthFile(truth_path(config.data.path)) as truth:
            whole = isl.tissue_grid(images.infos(), tissue_map(images, a.stats), tile=grid.tile, stride=grid.stride,
                                    truth=truth)
        train_true, kinds = isl.true_islands(whole)
        islands_at = rng.permutation(np.flatnonzero(train_true >= 0))[:TRAIN_ISLAND_TILES]
        plain = rng.permutation(np.flatnonzero(whole.label == "plain"))[:len(islands_at)]
        pick = np.concatenate([islands_at, plain])
        train = tile_set(config, images, [whole.keys[k] for k in pick], a.stats)
    finally:
        images.close()
    return test, train, np.concatenate([train_true[islands_at], np.full(len(plain), -1)]), kinds, test_pick


def test_picks(rng: np.random.Generator, grid: isl.Grid, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The test brain's island-enriched tiles (grid indices: every true island tile, then as many plain tiles drawn
    with `rng`) and their bootstrap unit (the island; for plain tiles, past the islands' numbers, the image)."""
    islands_at = np.flatnonzero(true >= 0)
    plain = rng.permutation(np.flatnonzero(grid.label == "plain"))[:len(islands_at)]
    return np.concatenate([islands_at, plain]), np.concatenate([true[islands_at], true.max() + 1 + grid.image[plain]])


def feature_spaces(a: Analysis, test: TileSet, train: TileSet, *, vae_test: np.ndarray | None = None,
                   pooled_test: np.ndarray | None = None, baselines: bool = True, scale: float = 1.0) -> dict:
    """Every feature space on the same tiles: name -> {"train", "test", "mse" (test reconstruction, or absent)}.
    The first is the VAE (`vae_test`: its readout of the test tiles when already at hand), the second the same VAE
    pooled over each tile's 8 orientations (a lever that needs no training; `pooled_test` when at hand); without
    `baselines` they are the only ones."""
    config, d = a.config, a.config.model.latent
    vae_train = readout(a.model, train.tiles)
    spaces = {f"VAE (latent {d})": {"train": vae_train,
                                    "test": readout(a.model, test.tiles) if vae_test is None else vae_test,
                                    "mse": reconstruction_mse(a.model, test.tiles)}}
    spaces[POOLED] = {"train": pooled_readout(a.model, train.tiles, first=vae_train),
                      "test": pooled_readout(a.model, test.tiles) if pooled_test is None else pooled_test}
    if not baselines:
        return spaces
    if "autoencoder" in a.comparisons:
        ae = a.comparisons["autoencoder"][0]
        seen = posterior(ae, test.tiles, mse=True)
        spaces[f"autoencoder ({config.train.comparison_steps} steps)"] = {
            "train": readout(ae, train.tiles), "test": readout(ae, test.tiles, codes=seen), "mse": seen["mse"]}
    torch.manual_seed(config.train.seed)  # the VAE's weights before its first step
    untrained = VAE(config.model, config.sampling.tile_size).to(memory_format=torch.channels_last).eval()
    spaces["untrained encoder"] = {"train": readout(untrained, train.tiles), "test": readout(untrained, test.tiles)}
    pca = pixel_pca(config, test, train, d)
    spaces[f"pixel PCA-{pca['test'].shape[1]}"] = {"train": pca["train"], "test": pca["test"], "mse": pca["test_mse"]}
    spaces["tile mean + std"] = {"train": trivial_features(train), "test": trivial_features(test)}
    spaces["texture statistics"] = {"train": texture_of(train, a.stats), "test": texture_of(test, a.stats)}
    spaces[MEASURED] = {"train": measured_of(train, a.stats, scale), "test": measured_of(test, a.stats, scale)}
    return spaces


def grey_of(tiles: TileSet, stats) -> np.ndarray:
    """Standardised tiles back in grey values, (N, h, w) uint8."""
    return (tiles.tiles[:, 0] * stats.std + stats.mean).clamp(0, 255).numpy().astype(np.uint8)


def measured_of(tiles: TileSet, stats, scale: float = 1.0) -> np.ndarray:
    """The blob detector's measures of each tile, (N, 3): cells per 10,000 px, mean cell diameter and mean
    roundness; a tile without cells takes the median diameter and roundness of the tiles that have some."""
    from islandvae.morphology import tile_cells

    out = pixel_map(functools.partial(tile_cells, scale=scale), grey_of(tiles, stats))
    for j in (1, 2):
        missing = ~np.isfinite(out[:, j])
        out[missing, j] = np.median(out[~missing, j]) if (~missing).any() else 0.0
    return out


def texture_of(tiles: TileSet, stats) -> np.ndarray:
    """baselines.texture_features of standardised tiles (back in grey values)."""
    from islandvae.baselines import TileSet as Tiles

    none = np.array([])
    return texture_features(Tiles(tiles=grey_of(tiles, stats), labels=none, brain_mean=none, brain_std=none))


def island_probe(train_x, train_island, train_kinds, test_x, test_island, test_kinds) -> dict:
    """The supervised ceiling: a linear probe on island descriptors (mean and spread of the tiles' features),
    trained on the training brains' islands, scored on the test islands (ARI and balanced accuracy, 95 %
    bootstrap intervals over test islands)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from islandvae.measures import linear

    have = np.unique(train_island[train_island >= 0])
    described = isl.describe(train_x, train_island)[have]
    probe = make_pipeline(StandardScaler(), linear()).fit(described, train_kinds[have])
    predicted = probe.predict(isl.describe(test_x, test_island))
    types = np.searchsorted(isl.TYPES, predicted)
    return isl.agreement(types, test_kinds)

