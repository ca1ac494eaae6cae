"""The feature spaces chapter 5 compares on the same islands and tiles: the VAE's readout (plain and pooled
over 8 orientations), its autoencoder twin and the untrained encoder, pixel PCA, tile mean and spread, texture
statistics and the measured cells (blob density, size, roundness); the island-enriched tile sets they are scored
on, and the supervised island probe (the ceiling)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from islandvae.data.hdf5 import ImageSource, LazyImages, read_inventory, training_brains
from islandvae.data.truth import TruthFile, truth_path
from islandvae.islands.grid import TYPES, Grid, tissue_grid, true_islands
from islandvae.islands.types import agreement, describe
from islandvae.latent.analysis import Analysis
from islandvae.latent.baselines import texture_features
from islandvae.latent.codes import (
    TileSet,
    cut,
    pixel_pca,
    pooled_readout,
    posterior,
    readout,
    reconstruction_mse,
    tile_set,
    trivial_features,
)
from islandvae.model.vae import VAE
from islandvae.parallel import pixel_map
from islandvae.tiles.tissue import tissue_map

TRAIN_ISLAND_TILES = 2000  # island tiles of the training brains for the probes and the ceiling (and as many plain)
MEASURES = ("cells / 10,000 px", "cell diameter (px)", "roundness")
POOLED = "orientation-pooled VAE"  # the VAE's readout averaged over each tile's 8 views (latent.pooled_readout)
MEASURED = "measured cells"  # the feature space of the blob detector's per-tile density, cell size and roundness


def features_of(
    model: VAE,
    images: ImageSource,
    keys: list,
    stats,
    batch: int = 2048,
    *,
    pooled: bool = False,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """The model's readout of the tiles of `keys` (pooled over their 8 orientations: latent.pooled_readout, with
    `first` their plain readout when at hand), cut and encoded a batch at a time."""

    def describe(k):
        tiles = cut(images, keys[k : k + batch], stats)
        if not pooled:
            return readout(model, tiles)
        return pooled_readout(model, tiles, first=None if first is None else first[k : k + batch])

    parts = [describe(k) for k in range(0, len(keys), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def enriched_sets(config, a: Analysis, grid: Grid, picks: tuple, rng: np.random.Generator) -> tuple:
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
            whole = tissue_grid(
                images.infos(), tissue_map(images, a.stats), tile=grid.tile, stride=grid.stride, truth=truth
            )
        train_true, kinds = true_islands(whole)
        islands_at = rng.permutation(np.flatnonzero(train_true >= 0))[:TRAIN_ISLAND_TILES]
        plain = rng.permutation(np.flatnonzero(whole.label == "plain"))[: len(islands_at)]
        pick = np.concatenate([islands_at, plain])
        train = tile_set(config, images, [whole.keys[k] for k in pick], a.stats)
    finally:
        images.close()
    return test, train, np.concatenate([train_true[islands_at], np.full(len(plain), -1)]), kinds, test_pick


def test_picks(rng: np.random.Generator, grid: Grid, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The test brain's island-enriched tiles (grid indices: every true island tile, then as many plain tiles drawn
    with `rng`) and their bootstrap unit (the island; for plain tiles, past the islands' numbers, the image)."""
    islands_at = np.flatnonzero(true >= 0)
    plain = rng.permutation(np.flatnonzero(grid.label == "plain"))[: len(islands_at)]
    return np.concatenate([islands_at, plain]), np.concatenate([true[islands_at], true.max() + 1 + grid.image[plain]])


def feature_spaces(
    a: Analysis,
    test: TileSet,
    train: TileSet,
    *,
    vae_test: np.ndarray | None = None,
    pooled_test: np.ndarray | None = None,
    baselines: bool = True,
    scale: float = 1.0,
    progress=None,
) -> dict:
    """Every feature space on the same tiles: name -> {"train", "test", "mse" (test reconstruction, or absent)}.
    The first is the VAE (`vae_test`: its readout of the test tiles when already at hand), the second the same VAE
    pooled over each tile's 8 orientations (a lever that needs no training; `pooled_test` when at hand); without
    `baselines` they are the only ones. `progress` is called with each space's name once it is computed."""
    config, d = a.config, a.config.model.latent
    vae_train = readout(a.model, train.tiles)
    spaces = {
        f"VAE (latent {d})": {
            "train": vae_train,
            "test": readout(a.model, test.tiles) if vae_test is None else vae_test,
            "mse": reconstruction_mse(a.model, test.tiles),
        }
    }
    spaces[POOLED] = {
        "train": pooled_readout(a.model, train.tiles, first=vae_train),
        "test": pooled_readout(a.model, test.tiles) if pooled_test is None else pooled_test,
    }
    if not baselines:
        return spaces
    done = progress or (lambda line: None)
    done("feature spaces: the VAE's, one view and pooled over 8 orientations")

    def add(name: str, **value) -> None:
        spaces[name] = value
        done(f"feature space: {name}")

    if "autoencoder" in a.comparisons:
        ae = a.comparisons["autoencoder"][0]
        seen = posterior(ae, test.tiles, mse=True)
        add(
            f"autoencoder ({config.train.comparison_steps} steps)",
            train=readout(ae, train.tiles),
            test=readout(ae, test.tiles, codes=seen),
            mse=seen["mse"],
        )
    torch.manual_seed(config.train.seed)  # the VAE's weights before its first step
    untrained = VAE(config.model, config.sampling.tile_size).to(memory_format=torch.channels_last).eval()
    add("untrained encoder", train=readout(untrained, train.tiles), test=readout(untrained, test.tiles))
    pca = pixel_pca(config, test, train, d)
    add(f"pixel PCA-{pca['test'].shape[1]}", train=pca["train"], test=pca["test"], mse=pca["test_mse"])
    add("tile mean + std", train=trivial_features(train), test=trivial_features(test))
    add("texture statistics", train=texture_of(train, a.stats), test=texture_of(test, a.stats))
    add(MEASURED, train=measured_of(train, a.stats, scale), test=measured_of(test, a.stats, scale))
    return spaces


def grey_of(tiles: TileSet, stats) -> np.ndarray:
    """Standardised tiles back in grey values, (N, h, w) uint8."""
    grey = tiles.tiles[:, 0] * stats.std  # one float copy of the tiles, then in place
    return grey.add_(stats.mean).clamp_(0, 255).numpy().astype(np.uint8)


def measured_of(tiles: TileSet, stats, scale: float = 1.0) -> np.ndarray:
    """The blob detector's measures of each tile, (N, 3): cells per 10,000 px, mean cell diameter and mean
    roundness; a tile without cells takes the median diameter and roundness of the tiles that have some."""
    from islandvae.islands.morphology import tile_cells

    out = pixel_map(functools.partial(tile_cells, scale=scale), grey_of(tiles, stats))
    for j in (1, 2):
        missing = ~np.isfinite(out[:, j])
        out[missing, j] = np.median(out[~missing, j]) if (~missing).any() else 0.0
    return out


def texture_of(tiles: TileSet, stats) -> np.ndarray:
    """baselines.texture_features of standardised tiles (back in grey values)."""
    from islandvae.latent.baselines import TileSet as Tiles

    none = np.array([])
    return texture_features(Tiles(tiles=grey_of(tiles, stats), labels=none, brain_mean=none, brain_std=none))


def island_probe(train_x, train_island, train_kinds, test_x, test_island, test_kinds) -> dict:
    """The supervised ceiling: a linear probe on island descriptors (mean and spread of the tiles' features),
    trained on the training brains' islands, scored on the test islands (ARI and balanced accuracy, 95 %
    bootstrap intervals over test islands)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from islandvae.latent.measures import linear

    have = np.unique(train_island[train_island >= 0])
    described = describe(train_x, train_island)[have]
    probe = make_pipeline(StandardScaler(), linear()).fit(described, train_kinds[have])
    predicted = probe.predict(describe(test_x, test_island))
    types = np.searchsorted(TYPES, predicted)
    return agreement(types, test_kinds)
