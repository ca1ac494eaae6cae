"""How hard is the island task on a stand-in? Two simple classifiers that need no deep learning.

Tiles labelled granular or parvicellular by the truth file are described twice: by texture (dark
blob counts and sizes, band-pass energies, all on the tile normalised to zero mean and unit
variance, so brightness cannot leak in) and by brightness (tile mean and standard deviation,
relative to the brain's pixel mean and standard deviation, which removes the brain-to-brain shift
and so gives brightness its best chance).
A logistic regression is trained on the training brains and scored on the test brain with
balanced accuracy (0.5 = chance). The VAE's latent space should be judged against both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains
from islandvae.data.truth import TruthFile, label_from_mask, truth_path
from islandvae.parallel import pixel_map

ISLAND_LABELS = ("granular", "parvicellular")


@dataclass(frozen=True)
class TileSet:
    """Island tiles with their labels, and the pixel mean and std of the brain each comes from."""

    tiles: np.ndarray  # (N, size, size) uint8
    labels: np.ndarray  # (N,) "granular" or "parvicellular"
    brain_mean: np.ndarray  # (N,)
    brain_std: np.ndarray  # (N,)


def labelled_tiles(
    data: Path | str, brains: tuple[str, ...], *, size: int = 64, per_class: int = 400, seed: int = 0
) -> TileSet:
    """Up to `per_class` tiles per island type, from a half-overlapping grid over every image of `brains`."""
    images = InMemoryImages(data, brains, progress=False)
    moments = {}
    for brain in brains:
        pixels = np.concatenate([images.image(b, n).ravel() for b, n in images.arrays if b == brain])
        moments[brain] = (pixels.mean(), pixels.std())
    tiles, labels, origin = [], [], []
    with TruthFile(truth_path(data)) as truth:
        for info in images.infos():
            mask = truth.mask(info.brain, info.name)
            pixels = images.image(info.brain, info.name)
            for row in range(0, info.height - size + 1, size // 2):
                for col in range(0, info.width - size + 1, size // 2):
                    label = label_from_mask(mask[row : row + size, col : col + size])
                    if label in ISLAND_LABELS:
                        tiles.append(pixels[row : row + size, col : col + size])
                        labels.append(label)
                        origin.append(moments[info.brain])
    labels, origin = np.array(labels), np.array(origin).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in ISLAND_LABELS])
    return TileSet(
        tiles=np.array(tiles)[keep], labels=labels[keep], brain_mean=origin[keep, 0], brain_std=origin[keep, 1]
    )


def brightness_features(tiles: TileSet) -> np.ndarray:
    """Mean and standard deviation of each tile relative to its brain's, (N, 2)."""
    flat = tiles.tiles.reshape(len(tiles.tiles), -1).astype(np.float64)
    return np.column_stack([(flat.mean(1) - tiles.brain_mean) / tiles.brain_std, flat.std(1) / tiles.brain_std])


def texture_features(tiles: TileSet) -> np.ndarray:
    """Blob and band-pass statistics of each tile after normalising it to zero mean, unit variance, (N, 7); on
    every core (parallel.pixel_map)."""
    return pixel_map(texture_rows, np.asarray(tiles.tiles))


def texture_rows(tiles: np.ndarray) -> np.ndarray:
    """texture_features of grey tiles (N, h, w), in this process."""
    rows = []
    for tile in tiles:  # one tile at a time in float64 (a whole chunk would be GBs at the course file's scale)
        tile = tile.astype(np.float64)
        z = (tile - tile.mean()) / max(tile.std(), 1e-6)
        smooth = [ndimage.gaussian_filter(z, s) for s in (1, 2, 4, 8)]
        bands = [np.mean((a - b) ** 2) for a, b in zip(smooth, smooth[1:])]
        dark, count = ndimage.label(smooth[0] < -0.6)
        sizes = np.bincount(dark.ravel())[1:] if count else np.zeros(1)
        minima = (smooth[0] == ndimage.minimum_filter(smooth[0], size=5)) & (smooth[0] < -0.3)
        rows.append([*bands, count, np.mean(sizes), np.median(sizes), minima.sum()])
    return np.array(rows).reshape(-1, 7)


def score(train: TileSet, test: TileSet, features) -> float:
    """Balanced accuracy on `test` of a logistic regression on `features` fitted on `train`."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features(train), train.labels)
    return float(balanced_accuracy_score(test.labels, model.predict(features(test))))


def island_task(data: Path | str, test_brain: str, *, size: int = 64) -> dict[str, float]:
    """Balanced accuracy on the test brain of the texture and the brightness classifier."""
    brains = training_brains(read_inventory(data), test_brain)
    train = labelled_tiles(data, brains, size=size)
    test = labelled_tiles(data, (test_brain,), size=size)
    return {
        "texture": score(train, test, texture_features),
        "brightness": score(train, test, brightness_features),
        "train_tiles": len(train.labels),
        "test_tiles": len(test.labels),
    }
