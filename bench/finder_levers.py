"""The finder's found islands as units: a minimum core size as a lever, and how often found islands join true ones.

    .venv/bin/python bench/finder_levers.py [--config configs/default.toml] [--sets default "coarser scan (seed 7)"]

Needs the trained runs and the cached island pipeline of `make report` and `make robustness` (a set without them
is named and skipped; nothing is trained or encoded). Per data set, from the pipeline's cache (runs/<set>/
discovery.json and .npz):

- "min core N": the found islands kept only when their core spans at least N tiles (the pipeline keeps N =
  finder.MIN_CORE, 2), scored against the true islands (finder.match_found: recall, precision);
- "null": the sizes of connected regions that the same number of core-cluster tiles would form on each image if
  they lay at random (20 permutations of the core clusters' tiles within each image): the 95th and 99th
  percentiles, a minimum core size that a permutation null would give;
- "joined": how many true islands each found island holds tiles of, and how many found islands hold tiles of
  both types (a found island that joins islands of two types cannot be typed right as one unit).

Prints one block per set; a few seconds a set.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from scipy import ndimage

from islandvae.config import load_config
from islandvae.islands.finder import match_found
from islandvae.islands.grid import EIGHT, TYPES
from islandvae.islands.records import IslandResult
from islandvae.islands.robustness import each_set
from islandvae.model.runs import Run

MIN_CORES = (2, 3, 4, 5, 6, 8)
PERMUTATIONS = 20


def null_sizes(arrays: dict, member: np.ndarray, seed: int) -> np.ndarray:
    """Sizes of the connected regions (8-neighbourhood) of `member` tiles permuted at random within each image."""
    rng, sizes = np.random.default_rng(seed), []
    for _ in range(PERMUTATIONS):
        for k in np.unique(arrays["image"]):
            on = np.flatnonzero(arrays["image"] == k)
            plane = np.zeros((arrays["gy"][on].max() + 1, arrays["gx"][on].max() + 1), dtype=bool)
            plane[arrays["gy"][on], arrays["gx"][on]] = rng.permutation(member[on])
            numbered, _ = ndimage.label(plane, EIGHT)
            sizes.extend(np.bincount(numbered.ravel())[1:])
    return np.array(sizes)


def set_units(config) -> dict | None:
    """The figures of one data set, or None where its cached pipeline (with truth and found islands) is missing."""
    folder = Run.of(config).folder
    path = folder / "discovery.json"
    result = IslandResult.from_json(json.loads(path.read_text())["value"]) if path.is_file() else None
    if result is None or result.found.islands < 2 or result.truth is None:
        return None
    with np.load(folder / "discovery.npz") as saved:
        arrays = {k: saved[k] for k in ("island", "core", "label", "true", "cluster", "image", "gy", "gx")}
    island, core, true, label = arrays["island"], arrays["core"], arrays["true"], arrays["label"]
    n = int(island.max()) + 1
    cores = np.bincount(island[core & (island >= 0)], minlength=n)
    out = {"min core": {}}
    for size in MIN_CORES:
        renumber = np.full(n + 1, -1)
        renumber[np.flatnonzero(cores >= size)] = np.arange(int((cores >= size).sum()))
        m = match_found(renumber[island], true)
        out["min core"][size] = {k: m[k] for k in ("found islands", "recall", "precision")}
    member = np.isin(arrays["cluster"], result.clusters.island_clusters)
    out["null"] = [float(q) for q in np.percentile(null_sizes(arrays, member, config.train.seed), [95, 99])]
    both = (island >= 0) & (true >= 0)
    joined = np.array([len(np.unique(true[both & (island == k)])) for k in range(n)])
    kinds = np.array([len(set(label[(island == k) & np.isin(label, TYPES)])) for k in range(n)])
    out["joined"] = {
        "found islands": n,
        "holding no true island": int((joined == 0).sum()),
        "holding 2 or more true islands": int((joined >= 2).sum()),
        "holding both types": int((kinds == 2).sum()),
    }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--sets", nargs="+", help="data sets by name (default: every set with a cached pipeline)")
    args = parser.parse_args(argv)
    config = load_config(args.config)

    def measure(c):
        label = "default" if c.name == config.name else next(k for k, v in robust.items() if v.name == c.name)
        return set_units(c) if not args.sets or label in args.sets else None

    from islandvae.islands.robustness import robustness_configs

    robust = robustness_configs(config)
    for label, row in each_set(config, measure, progress=lambda line: None):
        print(f"{label}: null region sizes 95th / 99th percentile {row['null'][0]:.0f} / {row['null'][1]:.0f}")
        for size, m in row["min core"].items():
            scores = f"recall {m['recall']:.2f}, precision {m['precision']:.2f}"
            print(f"  min core {size}: {m['found islands']} found, {scores}")
        print("  " + ", ".join(f"{k} {v}" for k, v in row["joined"].items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
