"""How fast tiles are cut here (chapter 2): the project's loader against the plain per-item recipe, on one core.

The plain loader is the assignment's recipe done the obvious way: a Dataset whose __getitem__ slices
one tile from a dict of 2-D arrays and standardises it, a Sampler yielding tuples from Python's random,
and the DataLoader's default collate. Both loaders run in the calling process (0 workers), each for a
budget of seconds (islandvae.machine).
"""

from __future__ import annotations

import random

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from islandvae.data.hdf5 import InMemoryImages
from islandvae.data.stats import PixelStats
from islandvae.machine import BUDGET, for_seconds, one_core
from islandvae.tiles.dataset import TileDataset, identity_collate
from islandvae.tiles.sampler import TileBatchSampler, TileSampler

ENOUGH = 2**18  # tile locations drawn per pass of a timed loader (it starts again when they run out)


class PlainDataset(Dataset):
    """One tile per call, sliced from the image's 2-D array, converted and standardised."""

    def __init__(self, images: InMemoryImages, stats: PixelStats):
        self.arrays, self.mean, self.std = images.arrays, stats.mean, stats.std

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, key):
        brain, name, row, col, size = key
        tile = self.arrays[(brain, name)][row : row + size, col : col + size]
        return ((torch.from_numpy(tile.astype("float32")) - self.mean) / self.std)[None]


class PlainSampler(Sampler):
    """Uniform image, uniform position, from Python's random."""

    def __init__(self, infos, size: int, n: int, seed: int = 0):
        self.infos, self.size, self.n, self.random = infos, size, n, random.Random(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for _ in range(self.n):
            info = self.random.choice(self.infos)
            yield (
                info.brain,
                info.name,
                self.random.randint(0, info.height - self.size),
                self.random.randint(0, info.width - self.size),
                self.size,
            )


def rate(loader: DataLoader, seconds: float = BUDGET) -> float:
    """Tiles per second of `loader` over `seconds` (after one warm-up batch), holding each batch while the next is
    cut, as a training loop does; the loader starts again when it runs out."""

    def forever():
        while True:
            yield from loader

    batches, held, sizes = forever(), [], []

    def step():
        held[:] = [next(batches)]
        sizes.append(held[0].shape[0])

    calls, elapsed = for_seconds(step, seconds)
    return sum(sizes[1:]) / elapsed  # sizes[0] is the warm-up batch


def loader_rates(
    images: InMemoryImages, stats: PixelStats, *, sizes=(64, 128), batch_size: int = 64, seconds: float = BUDGET
) -> list[dict]:
    """Per tile size: tiles/s of the project's loader and of the plain per-item loader, on one core, each for
    `seconds`."""
    infos = [i for i in images.infos() if min(i.height, i.width) >= max(sizes)]  # the plain recipe cannot pad

    def measure():
        rows = []
        for size in sizes:
            plain = rate(
                DataLoader(
                    PlainDataset(images, stats), batch_size=batch_size, sampler=PlainSampler(infos, size, ENOUGH)
                ),
                seconds,
            )
            sampler = TileBatchSampler(TileSampler(images.infos(), tile_size=size, tiles=ENOUGH), batch_size)
            ours = rate(
                DataLoader(TileDataset(images, stats), batch_sampler=sampler, collate_fn=identity_collate), seconds
            )
            rows.append(
                {
                    "tile": size,
                    "batch": batch_size,
                    "project loader": round(ours),
                    "plain per-item": round(plain),
                    "speed-up": ours / plain,
                }
            )
        return rows

    return one_core(measure)


def streaming_bound(size: int, seconds: float = BUDGET) -> float:
    """Tiles/s if a tile cost only streaming its bytes (uint8 read, float32 written) at this core's copy rate."""
    src = torch.randint(0, 255, (2**24,), dtype=torch.uint8)
    dst = torch.empty(src.shape, dtype=torch.float32)
    calls, elapsed = one_core(lambda: for_seconds(lambda: dst.copy_(src), seconds))
    return calls * src.numel() / elapsed / (size * size)
