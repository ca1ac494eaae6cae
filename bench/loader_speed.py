"""Tiles per second of the project's training loader against a plain per-item loader, same data, same run.

    .venv/bin/python bench/loader_speed.py [--data data/synthetic-small.h5] [--batches 200]

The plain loader is the assignment's recipe done the obvious way: a Dataset whose __getitem__ slices
one tile from a dict of 2-D arrays and standardises it, a Sampler yielding tuples from Python's
random, and DataLoader's default collate. Both run on one core (torch threads 1, 0 workers).
Targets (issue 5): at least 3 x the plain rate; 200,000 tiles/s at tile 64 and 50,000 at tile 128.
Also prints peak RSS of a loader run with 0 and with 2 workers.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from islandvae.data import InMemoryImages, read_inventory, training_brains
from islandvae.stats import training_stats
from islandvae.tiles import TileBatchSampler, TileDataset, TileSampler, identity_collate


class PlainDataset(Dataset):
    def __init__(self, images: InMemoryImages, mean: float, std: float):
        self.arrays, self.mean, self.std = images.arrays, mean, std

    def __len__(self):
        return len(self.arrays)

    def __getitem__(self, key):
        brain, name, row, col, size = key
        tile = self.arrays[(brain, name)][row : row + size, col : col + size]
        return ((torch.from_numpy(tile.astype("float32")) - self.mean) / self.std)[None]


class PlainSampler(Sampler):
    def __init__(self, infos, size: int, n: int):
        self.infos, self.size, self.n = infos, size, n

    def __len__(self):
        return self.n

    def __iter__(self):
        for _ in range(self.n):
            info = random.choice(self.infos)
            yield (info.brain, info.name, random.randint(0, info.height - self.size),
                   random.randint(0, info.width - self.size), self.size)


def rate(loader: DataLoader) -> float:
    """Tiles per second over one pass (after one warm-up batch)."""
    it = iter(loader)
    next(it)
    start, n = time.perf_counter(), 0
    for batch in it:
        n += batch.shape[0]
    return n / (time.perf_counter() - start)


WORKER_RUN = """
import resource, sys, torch
from torch.utils.data import DataLoader
from islandvae.data import InMemoryImages, read_inventory, training_brains
from islandvae.stats import training_stats
from islandvae.tiles import TileBatchSampler, TileDataset, TileSampler, identity_collate
path, workers = sys.argv[1], int(sys.argv[2])
brains = training_brains(read_inventory(path), "B20")
images = InMemoryImages(path, brains, progress=False)
stats = training_stats(path, "B20", cache_dir="cache", progress=False)
loader = DataLoader(TileDataset(images, stats), num_workers=workers, collate_fn=identity_collate,
                    batch_sampler=TileBatchSampler(TileSampler(images.infos(), tile_size=64, tiles=64 * 300), 64))
for batch in loader:
    pass
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3
print(f"{images.nbytes / 1e6:.0f} {own:.0f} {children:.0f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synthetic-small.h5")
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    brains = training_brains(read_inventory(args.data), "B20")
    images = InMemoryImages(args.data, brains, progress=False)
    stats = training_stats(args.data, "B20", cache_dir="cache", progress=False)
    infos = images.infos()
    print(f"data: {args.data}, training brains {' '.join(brains)}, {images.nbytes / 1e6:.0f} MB in RAM; one core")
    for size in (64, 128):
        n = 64 * args.batches
        plain = rate(DataLoader(PlainDataset(images, stats.mean, stats.std), batch_size=64,
                                sampler=PlainSampler(infos, size, n)))
        ours = rate(DataLoader(TileDataset(images, stats), collate_fn=identity_collate,
                               batch_sampler=TileBatchSampler(TileSampler(infos, tile_size=size, tiles=n), 64)))
        print(f"tile {size}, batch 64: project loader {ours:,.0f} tiles/s, plain per-item {plain:,.0f} tiles/s "
              f"({ours / plain:.1f} x)")
    for workers in (0, 2):
        out = subprocess.run([sys.executable, "-c", WORKER_RUN, args.data, str(workers)], capture_output=True,
                             text=True, check=True).stdout.split()
        print(f"{workers} workers: pixels {out[0]} MB, peak RSS main process {out[1]} MB, "
              f"largest worker {out[2]} MB" if workers else f"0 workers: pixels {out[0]} MB, peak RSS {out[1]} MB")



if __name__ == "__main__":
    main()
