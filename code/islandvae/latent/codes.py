"""Chapter 5's data: fixed tile sets, their latent codes and baseline features, cached beside the run.

`test_tiles` gives the test brain's fixed evaluation tiles (the assignment's ~3,000 tiles for the 2-D maps)
and `train_tiles` a fixed set from the training brains (the pixel-PCA fit and the brain probe), read region by
region from the file, so no training brain is held in memory. `embed` encodes them with a trained model;
`readout` is what the island pipeline uses of a model's posterior: for a latent map, per latent channel the
mean and spread of its posterior mean over the map's positions, and of its log-variance (a description of the
tile that does not depend on where in the tile a cell lies). Results are cached as .npz files keyed by the
checkpoint (path, size, mtime) and what defines the tile sets, so a re-render reads them without cutting tiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from islandvae.caches import cached
from islandvae.config import Config
from islandvae.data.hdf5 import (
    ImageSource,
    InMemoryImages,
    LazyImages,
    read_inventory,
    training_brains,
)
from islandvae.data.stats import PixelStats, cache_key, data_identity, file_identity
from islandvae.data.truth import TruthFile, truth_path
from islandvae.errors import UserError
from islandvae.model.vae import VAE, latent_channels
from islandvae.tiles.dataset import Key, TileDataset
from islandvae.tiles.sampler import evaluation_keys, fixed_tiles
from islandvae.tiles.tissue import tissue_map

LABELS = ("granular", "parvicellular", "plain")  # the tile labels the measures use (ambiguous, background left out)
TRAIN_TILES = 2000  # fixed tiles from the training brains for the PCA baseline and the brain probe
BATCH = 64  # tiles encoded at a time (on the CPU): the fastest measured (a batch's activations stay in cache; 512
# took 1.7 times as long); chapter 5's results came out bit for bit the same as with 512
GPU_BATCH_PIXELS = 1024 * 128 * 128  # an encoder pass's batch on a GPU, in pixels (device_batch)
PCA_BLOCK = 1024  # tiles reconstructed at a time by the pixel PCA baseline (its reconstruction error)
GATHER = 4096  # tiles cut from images in RAM at a time (64 MB of float32 at 64 px), then joined: bounded scratch


@dataclass
class TileSet:
    """Tiles (standardised, N x 1 x s x s) with their keys and per-tile facts."""

    keys: list
    tiles: torch.Tensor
    image: np.ndarray  # index of the tile's image
    brain: np.ndarray  # brain name per tile
    grey: np.ndarray  # mean grey value per tile (0..255)
    label: np.ndarray | None  # truth label per tile (str), None without a truth file
    group: np.ndarray | None = None  # the bootstrap's unit per tile (default: the image)

    @property
    def unit(self) -> np.ndarray:
        """What a bootstrap resamples: the group when set, else the image."""
        return self.image if self.group is None else self.group


def sets_key(config: Config) -> list:
    """What defines the fixed tile sets: the data file, the test brain and the sampling settings that cut them."""
    s = config.sampling
    return [
        "sets-2",
        data_identity(config.data.path),
        config.data.test_brain,
        s.tile_size,
        s.test_tiles,
        s.seed,
        TRAIN_TILES,
    ]


def test_tiles(config: Config, images: InMemoryImages, stats: PixelStats) -> TileSet:
    """The test brain's fixed evaluation tiles (`images` holds the test brain)."""
    s = config.sampling
    positions = sum(max(i.height - s.tile_size + 1, 1) * max(i.width - s.tile_size + 1, 1) for i in images.infos())
    if s.test_tiles > positions:
        raise UserError(
            f"sampling.test_tiles {s.test_tiles} exceeds the {positions:,} distinct tile positions of "
            f"test brain {config.data.test_brain}; lower it"
        )
    keys = evaluation_keys(images, stats, tile_size=s.tile_size, count=s.test_tiles, seed=s.seed)
    return tile_set(config, images, keys, stats)


def train_tiles(config: Config, stats: PixelStats) -> TileSet:
    """A fixed set of tissue tiles from the training brains, read region by region from the file."""
    s = config.sampling
    brains = training_brains(read_inventory(config.data.path), config.data.test_brain)
    images = LazyImages(config.data.path, brains)
    try:
        keys = fixed_tiles(
            images.infos(),
            tile_size=s.tile_size,
            count=TRAIN_TILES,
            seed=s.seed + 1,
            strategy="tissue",
            tissue=tissue_map(images, stats),
        )
        return tile_set(config, images, keys, stats)
    finally:
        images.close()


def cut(images: ImageSource, keys: list[Key], stats: PixelStats) -> torch.Tensor:
    """Standardised tiles (N, 1, s, s) of `keys`: one gather from images in RAM, region reads from a file."""
    if isinstance(images, InMemoryImages):
        dataset = TileDataset(images, stats)
        return (
            torch.cat([dataset.__getitems__(keys[k : k + GATHER]) for k in range(0, len(keys), GATHER)])
            if keys
            else torch.zeros(0, 1, 1, 1)
        )
    s = keys[0][4] if keys else 1
    out = torch.zeros(len(keys), 1, s, s)  # pixels beyond a small image stay at the mean: 0 standardised
    for k, (brain, name, row, col, size) in enumerate(keys):
        info = images.inventory.get(brain, name)
        h, w = min(size, info.height - row), min(size, info.width - col)
        block = images.region(brain, name, row, col, h, w).astype(np.float32)
        out[k, 0, :h, :w] = torch.from_numpy((block - stats.mean) / stats.std)
    return out


def tile_set(
    config: Config, images: ImageSource, keys: list, stats: PixelStats, *, group: np.ndarray | None = None
) -> TileSet:
    """The tiles of `keys` with their image index, brain, mean grey value and (with a truth file) label."""
    tiles = cut(images, keys, stats)
    index = {(i.brain, i.name): k for k, i in enumerate(images.infos())}
    image = np.array([index[(k[0], k[1])] for k in keys], dtype=int)
    grey = (tiles.mean(dim=(1, 2, 3)) * stats.std + stats.mean).numpy()
    label = None
    if truth_path(config.data.path).is_file():
        with TruthFile(truth_path(config.data.path)) as truth:
            label = np.array(truth.tile_labels(keys), dtype=str)
    return TileSet(
        keys=keys,
        tiles=tiles,
        image=image,
        brain=np.array([k[0] for k in keys], dtype=str),
        grey=grey,
        label=label,
        group=group,
    )


def batches(tiles: torch.Tensor, batch: int = BATCH, device: torch.device | None = None):
    """Tiles in batches, channels-last (the layout the CPU's convolutions are fastest in, as in training), on
    `device` (default: where they are)."""
    for k in range(0, len(tiles), batch):
        x = tiles[k : k + batch] if device is None else tiles[k : k + batch].to(device, non_blocking=True)
        yield x.contiguous(memory_format=torch.channels_last)


def device_batch(model: VAE, batch: int) -> int:
    """The batch an encoder pass takes on the model's device: `batch` on the CPU (the fastest measured there), on a
    GPU GPU_BATCH_PIXELS worth of tiles (a GPU is busy only with large batches; at 128 px, 1,024 tiles of
    activations stay far below a T4's 16 GB with the real config's model)."""
    device = next(model.parameters()).device
    if device.type != "cuda":
        return batch
    return max(batch, GPU_BATCH_PIXELS // model.tile_size**2)


def on_cpu(model: VAE) -> VAE:
    """The model itself where it is on the CPU, else a float32 copy there: the few decodes of the figures and the
    midpoints run on the CPU with CPU tensors, wherever the analysis put the model."""
    if next(model.parameters()).device.type == "cpu":
        return model
    import copy

    twin = copy.deepcopy(model).cpu()
    twin.inference_dtype = None
    return twin


@torch.inference_mode()
def posterior(model: VAE, tiles: torch.Tensor, batch: int = BATCH, *, mse: bool = False) -> dict:
    """One pass over tiles: posterior means and log-variances (N, latent) and, with `mse`, each tile's mean squared
    error (standardised pixels) of the reconstruction from the latent mean. The reconstruction's forward pass
    yields the posterior too, so the encoder runs once per tile either way. The pass runs where the model is (the
    tiles move a batch at a time), in its `inference_dtype` (model.train.load_model: the precision the training
    rule picks on that device; None: float32); the results come back as float32 on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    dtype = getattr(model, "inference_dtype", None)
    means, logvars, errors = [], [], []
    for x in batches(tiles, device_batch(model, batch), device):
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            if mse:
                recon, mean, logvar = model(x)  # in eval mode the decoder gets the mean
                errors.append((recon.float() - x).pow(2).flatten(1).mean(1).cpu())
            else:
                mean, logvar = model.encode(x)
        means.append(mean.float().cpu())
        logvars.append(logvar.float().cpu())

    def joined(parts: list, *shape: int) -> np.ndarray:  # (0, *shape) for no tiles
        return torch.cat(parts).numpy() if parts else np.zeros((0, *shape), np.float32)

    out = {"mean": joined(means, model.config.latent), "logvar": joined(logvars, model.config.latent)}
    return out | ({"mse": joined(errors)} if mse else {})


def encode(model: VAE, tiles: torch.Tensor, batch: int = BATCH) -> np.ndarray:
    """Posterior means (N, latent) of tiles."""
    return posterior(model, tiles, batch)["mean"]


def reconstruction_mse(model: VAE, tiles: torch.Tensor, batch: int = BATCH) -> np.ndarray:
    """Per-tile mean squared error (standardised pixels) of the reconstruction from the latent mean."""
    return posterior(model, tiles, batch, mse=True)["mse"]


def readout(model: VAE, tiles: torch.Tensor, batch: int = BATCH, *, codes: dict | None = None) -> np.ndarray:
    """The island pipeline's description of each tile from the model's posterior, (N, d); `codes`: the tiles'
    posterior (from `posterior`) when already at hand.

    For a latent map (model.latent_map): per latent channel, the mean and the standard deviation over the map's
    positions of the posterior mean and (for a VAE) of the log-variance: 4 x channels numbers that do not change
    when the cells move within the tile. For a flat latent: the posterior mean (and log-variance)."""
    codes = codes or posterior(model, tiles, batch)
    channels = latent_channels(model.config, model.tile_size)
    parts = [torch.from_numpy(codes["mean"])] + ([torch.from_numpy(codes["logvar"])] if model.variational else [])
    if not len(parts[0]):
        return np.zeros((0, 1))
    if channels:
        parts = [f(c.view(len(c), channels, -1)) for c in parts for f in (lambda a: a.mean(2), lambda a: a.std(2))]
    return torch.cat(parts, dim=1).numpy()


def pooled_readout(
    model: VAE, tiles: torch.Tensor, batch: int = BATCH, *, first: np.ndarray | None = None
) -> np.ndarray:
    """`readout` averaged over the tile's 8 views (4 rotations, each also mirrored): a description that does not
    change when the tissue is turned or flipped (the orientation invariance of O2-VAE, Burgess et al., Nature
    Communications 2024, here by pooling at inference rather than by construction). `first`: the tiles' plain
    readout when already at hand (the first view; the other seven are encoded)."""
    views = []
    for turns in range(4):
        turned = torch.rot90(tiles, turns, dims=(2, 3))
        for view in (turned, torch.flip(turned, dims=(3,))):
            views.append(first if first is not None and not views else readout(model, view.contiguous(), batch))
    return np.mean(views, axis=0)


def embed(config: Config, model: VAE, checkpoint: Path, test: TileSet, train) -> dict:
    """Latent means of both tile sets and per-tile test reconstruction MSE, cached beside the checkpoint;
    `train()` gives the training tile set (called only when they are computed)."""

    def compute():
        train_set = train()
        seen = posterior(model, test.tiles, mse=True)
        return {"test": seen["mean"], "train": encode(model, train_set.tiles), "test_mse": seen["mse"]}

    key = cache_key("embed-2", file_identity(checkpoint), sets_key(config))
    return cached(checkpoint.parent / f"embeddings-{checkpoint.stem}.npz", key, compute)  # one per checkpoint


def pixel_pca(config: Config, test: TileSet, train: TileSet, components: int) -> dict:
    """PCA on the training tiles' pixels: features of both sets and per-tile test reconstruction MSE."""
    from sklearn.decomposition import PCA

    def compute():
        x_train, x_test = train.tiles.flatten(1).numpy(), test.tiles.flatten(1).numpy()
        k = min(components, *x_train.shape)
        pca = PCA(n_components=k, random_state=0).fit(x_train)
        f_test = pca.transform(x_test)
        # the reconstructions a block of tiles at a time: all at once they are several copies of the test tiles
        # (GBs at the course file's scale)
        mse = [
            ((pca.inverse_transform(f_test[i : i + PCA_BLOCK]) - x_test[i : i + PCA_BLOCK]) ** 2).mean(1)
            for i in range(0, len(x_test), PCA_BLOCK)
        ]
        return {
            "test": f_test,
            "train": pca.transform(x_train),
            "test_mse": np.concatenate(mse) if mse else np.zeros(0, dtype=f_test.dtype),
            "explained": np.array(pca.explained_variance_ratio_.sum()),
        }

    key = cache_key(
        "pca-3", sets_key(config), test.keys[:3], len(test.keys), train.keys[:3], len(train.keys), components
    )
    name = f"pixel-pca-{config.sampling.tile_size}-{components}-{cache_key(test.keys[:3], len(test.keys))}.npz"
    return cached(config.paths.cache / name, key, compute)


def trivial_features(tiles: TileSet) -> np.ndarray:
    """Tile mean and standard deviation: the brightness baseline."""
    flat = tiles.tiles.flatten(1)
    return torch.stack([flat.mean(1), flat.std(1)], dim=1).numpy()
