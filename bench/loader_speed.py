"""Tiles per second of the project's training loader against a plain per-item loader, same data, same run.

    .venv/bin/python bench/loader_speed.py [--data data/synthetic-small.h5] [--batches 200]

The plain loader (islandvae.model.speed) is the assignment's recipe done the obvious way: per-item slicing
from a dict of 2-D arrays, Python's random, the default collate. Both run on one core (torch threads 1,
0 workers). The streaming bound is the rate if a tile cost only its bytes (uint8 in, float32 out).
Targets (issue 5): at least 3 x the plain rate; 200,000 tiles/s at tile 64 and 50,000 at tile 128.
Also prints peak RSS of a loader run with 0 and with 2 workers, and how much of a worker's memory is its own
(private) rather than the images shared with the main process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains
from islandvae.data.stats import training_stats
from islandvae.tiles.speed import loader_rates, streaming_bound

WORKER_RUN = r"""
import re, sys, torch
from torch.utils.data import DataLoader
from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains
from islandvae.data.stats import training_stats
from islandvae.tiles.sampler import TileBatchSampler, TileSampler
from islandvae.tiles.dataset import TileDataset, identity_collate

def memory(pid, lo, hi):
    # (resident MB, private MB, private MB inside [lo, hi)) of a process, from /proc/<pid>/smaps
    rss = private = inside = 0
    for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", open(f"/proc/{pid}/smaps").read()):
        start, end = (int(x, 16) for x in block.split()[0].split("-"))
        kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(Rss|Private_Clean|Private_Dirty):(.*)$", block, re.M)}
        own = kb["Private_Clean"] + kb["Private_Dirty"]
        rss, private = rss + kb["Rss"], private + own
        inside += own if start < hi and end > lo else 0
    return rss / 1e3, private / 1e3, inside / 1e3

path, workers = sys.argv[1], int(sys.argv[2])
brains = training_brains(read_inventory(path), "B20")
images = InMemoryImages(path, brains, progress=False)
stats = training_stats(path, "B20", cache_dir="cache", progress=False)
loader = DataLoader(TileDataset(images, stats), num_workers=workers, collate_fn=identity_collate,
                    batch_sampler=TileBatchSampler(TileSampler(images.infos(), tile_size=64, tiles=64 * 300), 64))
lo = images.buffer.ctypes.data
hi = lo + images.buffer.nbytes
it, peak = iter(loader), [(0.0, 0.0, 0.0)] * workers
for k, batch in enumerate(it):
    if k % 20 == 0:
        now = [memory(w.pid, lo, hi) for w in getattr(it, "_workers", [])]
        peak = [tuple(map(max, a, b)) for a, b in zip(peak, now)]
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1e3  # ru_maxrss counts the parent
print(images.nbytes / 1e6, hwm, *[x for p in peak for x in p])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synthetic-small.h5")
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    brains = training_brains(read_inventory(args.data), "B20")
    images = InMemoryImages(args.data, brains, progress=False)
    stats = training_stats(args.data, "B20", cache_dir="cache", progress=False)
    print(f"data: {args.data}, training brains {' '.join(brains)}, {images.nbytes / 1e6:.0f} MB in RAM; one core")
    for row in loader_rates(images, stats, sizes=(64, 128), batches=args.batches):
        print(
            f"tile {row['tile']}, batch 64: project loader {row['project loader']:,} tiles/s, "
            f"plain per-item {row['plain per-item']:,} tiles/s ({row['speed-up']:.1f} x); "
            f"streaming bound {streaming_bound(row['tile']):,.0f} tiles/s"
        )
    for workers in (0, 2):
        out = [
            float(x)
            for x in subprocess.run(
                [sys.executable, "-c", WORKER_RUN, args.data, str(workers)], capture_output=True, text=True, check=True
            ).stdout.split()
        ]
        line = f"{workers} workers: pixels {out[0]:.0f} MB, peak RSS main process {out[1]:.0f} MB"
        for k in range(workers):
            rss, private, copied = out[2 + 3 * k : 5 + 3 * k]
            line += (
                f"; worker {k + 1}: resident {rss:.0f} MB, private {private:.0f} MB, "
                f"private inside the image buffer {copied:.0f} MB"
            )
        print(line)


if __name__ == "__main__":
    main()
