"""How fast the tile loader is: the project's loader against the assignment's plain per-item recipe.

The plain loader is the recipe done the obvious way: a Dataset whose __getitem__ slices one tile from a
dict of 2-D arrays and standardises it, a Sampler yielding tuples from Python's random, and the
DataLoader's default collate. Both run in the calling process (0 workers); `loader_rates` measures
them on the same data in the same run. Used by bench/loader_speed.py and chapter 2.
"""

from __future__ import annotations

import random
import time

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from islandvae.data import InMemoryImages
from islandvae.stats import PixelStats
from islandvae.tiles import TileBatchSampler, TileDataset, TileSampler, identity_collate


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
            yield (info.brain, info.name, self.random.randint(0, info.height - self.size),
                   self.random.randint(0, info.width - self.size), self.size)


def rate(loader: DataLoader) -> float:
    """Tiles per second over one pass of `loader` (after one warm-up batch), holding each batch like a training loop."""
    it = iter(loader)
    next(it)
    start, n = time.perf_counter(), 0
    for batch in it:
        n += batch.shape[0]
    return n / (time.perf_counter() - start)


def loader_rates(images: InMemoryImages, stats: PixelStats, *, sizes=(64, 128), batch_size: int = 64,
                 batches: int = 200) -> list[dict]:
    """Per tile size: tiles/s of the project's loader and of the plain per-item loader, on one core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = []
        infos = [i for i in images.infos() if min(i.height, i.width) >= max(sizes)]  # the plain recipe cannot pad
        for size in sizes:
            n = batch_size * batches
            plain = rate(DataLoader(PlainDataset(images, stats), batch_size=batch_size,
                                    sampler=PlainSampler(infos, size, n)))
            sampler = TileBatchSampler(TileSampler(images.infos(), tile_size=size, tiles=n), batch_size)
            ours = rate(DataLoader(TileDataset(images, stats), batch_sampler=sampler, collate_fn=identity_collate))
            rows.append({"tile": size, "batch": batch_size, "project loader (tiles/s)": round(ours),
                         "plain per-item (tiles/s)": round(plain), "speed-up": ours / plain})
        return rows
    finally:
        torch.set_num_threads(threads)


def streaming_bound(size: int) -> float:
    """Tiles/s if a tile cost only streaming its bytes (uint8 read, float32 written) at this core's copy rate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        src = torch.randint(0, 255, (2**26,), dtype=torch.uint8)
        dst = torch.empty(src.shape, dtype=torch.float32)
        dst.copy_(src)
        start = time.perf_counter()
        for _ in range(3):
            dst.copy_(src)
        per_pixel = (time.perf_counter() - start) / (3 * src.numel())
        return 1 / (per_pixel * size * size)
    finally:
        torch.set_num_threads(threads)
