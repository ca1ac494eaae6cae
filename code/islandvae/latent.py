"""Chapter 5's data: fixed tile sets, their latent means and baseline features, cached beside the run.

`tile_sets` gives the test brain's fixed evaluation tiles and a fixed set from the training brains,
with per-tile image, mean grey value and (where a truth file exists) label. `embed` encodes them with
a trained model; `pixel_pca` fits PCA on the training tiles' pixels (the linear baseline). Results
are cached as .npz files keyed by the checkpoint (path, size, mtime) or the data file, so a
re-render only reads them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from islandvae.config import Config
from islandvae.data import InMemoryImages, read_inventory, training_brains
from islandvae.errors import UserError
from islandvae.model import VAE
from islandvae.stats import cache_key, file_identity, training_stats, write_atomic
from islandvae.tiles import TileDataset, evaluation_keys, fixed_tiles, tissue_map
from islandvae.truth import TruthFile, truth_path

LABELS = ("granular", "parvicellular", "plain")  # the tile labels the measures use (ambiguous, background left out)
TRAIN_TILES = 2000  # fixed tiles from the training brains for probes and the PCA baseline


@dataclass
class TileSet:
    """Tiles (standardised, N x 1 x s x s) with their keys and per-tile facts."""

    keys: list
    tiles: torch.Tensor
    image: np.ndarray  # index of the tile's image (for the bootstrap over images)
    brain: np.ndarray  # brain name per tile
    grey: np.ndarray  # mean grey value per tile (0..255)
    label: np.ndarray | None  # truth label per tile (str), None without a truth file


def tile_sets(config: Config) -> tuple[TileSet, TileSet]:
    """The test brain's fixed evaluation tiles and a fixed set from the training brains."""
    s = config.sampling
    inventory = read_inventory(config.data.path)
    stats = training_stats(config.data.path, config.data.test_brain, cache_dir=config.paths.cache, progress=False)
    test_images = InMemoryImages(config.data.path, [config.data.test_brain], progress=False)
    positions = sum(max(i.height - s.tile_size + 1, 1) * max(i.width - s.tile_size + 1, 1) for i in test_images.infos())
    if s.test_tiles > positions:
        raise UserError(f"sampling.test_tiles {s.test_tiles} exceeds the {positions:,} distinct tile positions of "
                        f"test brain {config.data.test_brain}; lower it")
    test_keys = evaluation_keys(test_images, stats, tile_size=s.tile_size, count=s.test_tiles, seed=s.seed)
    train_images = InMemoryImages(config.data.path, training_brains(inventory, config.data.test_brain), progress=False)
    train_keys = fixed_tiles(train_images.infos(), tile_size=s.tile_size, count=TRAIN_TILES, seed=s.seed + 1,
                             strategy="tissue", tissue=tissue_map(train_images, stats))
    return _tile_set(config, test_images, test_keys, stats), _tile_set(config, train_images, train_keys, stats)


def _tile_set(config: Config, images: InMemoryImages, keys: list, stats) -> TileSet:
    tiles = TileDataset(images, stats).__getitems__(keys)
    index = {(i.brain, i.name): k for k, i in enumerate(images.infos())}
    image = np.array([index[(k[0], k[1])] for k in keys])
    grey = (tiles.mean(dim=(1, 2, 3)) * stats.std + stats.mean).numpy()
    label = None
    if truth_path(config.data.path).is_file():
        with TruthFile(truth_path(config.data.path)) as truth:
            label = np.array([truth.tile_label(*k) for k in keys])
    return TileSet(keys=keys, tiles=tiles, image=image, brain=np.array([k[0] for k in keys]), grey=grey, label=label)


@torch.no_grad()
def encode(model: VAE, tiles: torch.Tensor, batch: int = 256) -> np.ndarray:
    """Posterior means (N, latent) of tiles."""
    model.eval()
    return torch.cat([model.encoder(tiles[k:k + batch])[0] for k in range(0, len(tiles), batch)]).numpy()


@torch.no_grad()
def reconstruction_mse(model: VAE, tiles: torch.Tensor, batch: int = 256) -> np.ndarray:
    """Per-tile mean squared error (standardised pixels) of the reconstruction from the latent mean."""
    model.eval()
    out = [(model(tiles[k:k + batch])[0] - tiles[k:k + batch]).pow(2).flatten(1).mean(1)
           for k in range(0, len(tiles), batch)]
    return torch.cat(out).numpy()


def cached(path: Path, key: str, compute) -> dict:
    """Arrays from `path` when it was made for `key`, else computed, written atomically and returned."""
    if path.is_file():
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["key"]) == key:
                return {k: saved[k] for k in saved.files if k != "key"}
    arrays = compute()
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())
    return arrays


def embed(model: VAE, checkpoint: Path, test: TileSet, train: TileSet) -> dict:
    """Latent means of both tile sets and per-tile test reconstruction MSE, cached beside the checkpoint."""
    key = cache_key("embed-1", file_identity(checkpoint), test.keys[:3], len(test.keys), len(train.keys))
    return cached(checkpoint.parent / "embeddings.npz", key, lambda: {
        "test": encode(model, test.tiles), "train": encode(model, train.tiles),
        "test_mse": reconstruction_mse(model, test.tiles)})


def pixel_pca(config: Config, test: TileSet, train: TileSet, components: int) -> dict:
    """PCA on the training tiles' pixels: features of both sets and per-tile test reconstruction MSE."""
    from sklearn.decomposition import PCA

    def compute():
        x_train, x_test = train.tiles.flatten(1).numpy(), test.tiles.flatten(1).numpy()
        k = min(components, *x_train.shape)
        pca = PCA(n_components=k, random_state=0).fit(x_train)
        f_test = pca.transform(x_test)
        recon = pca.inverse_transform(f_test)
        return {"test": f_test, "train": pca.transform(x_train), "test_mse": ((recon - x_test) ** 2).mean(1),
                "explained": np.array(pca.explained_variance_ratio_.sum())}
    key = cache_key("pca-2", file_identity(config.data.path), config.sampling.tile_size, test.keys[:3], len(test.keys), train.keys[:3],
                    len(train.keys), components)
    return cached(config.paths.cache / f"pixel-pca-{config.sampling.tile_size}-{components}.npz", key, compute)


def trivial_features(tiles: TileSet) -> np.ndarray:
    """Tile mean and standard deviation: the brightness baseline."""
    flat = tiles.tiles.flatten(1)
    return torch.stack([flat.mean(1), flat.std(1)], dim=1).numpy()
