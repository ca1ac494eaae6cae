"""The finder's found islands as units: a minimum core size as a lever, and how often found islands join true ones.

    .venv/bin/python bench/finder_levers.py [--config configs/default.toml] [--sets default "coarser scan (seed 7)"]
                                            [--regions] [--imaging]

Needs the trained runs and the cached island pipeline of `make report` and `make robustness` (a set without them
is named and skipped; nothing is trained or encoded). Per data set, from the pipeline's cache (runs/<set>/
discovery.json and .npz):

- "min core N": the found islands kept only when their core spans at least N tiles (the pipeline keeps N =
  finder.MIN_CORE, 2), scored against the true islands (finder.match_found: recall, precision);
- "null": the sizes of connected regions that the same number of core-cluster tiles would form on each image if
  they lay at random (20 permutations of the core clusters' tiles within each image): the 95th and 99th
  percentiles, a minimum core size that a permutation null would give;
- "recall by size": recall over the true islands of at least 1, 3, 5 and 10 tiles, and the sizes (tiles) of the
  true islands missed (which islands the recall misses: fragments at the size of the stride, or whole islands);
- "joined": how many true islands each found island holds tiles of, and how many found islands hold tiles of
  both types (a found island that joins islands of two types cannot be typed right as one unit);
- "grown": islands grown through the border clusters (hysteresis, as an edge detector keeps weak edges joined to
  strong ones): every connected region of tiles of border-rank clusters (finder.BORDER_RANK) that holds a core
  tile, kept with at least MIN_CORE core tiles, against the pipeline's one ring of border tiles taken the same way
  ("ring"); both without the pipeline's density test on the core's pixels (it reads the images);
- with --imaging, every set's run trained with imaging augmentation (runs/<set>-imaging, bench/imaging_lever.py)
  in place of its own;
- with --regions, "core regions": islands as connected regions of core tiles alone, each border tile attached to
  a neighbouring core region (the pipeline takes connected regions of core and border tiles together, so two
  islands whose borders touch are one), kept with at least MIN_CORE core tiles; both ways typed again as the
  pipeline types (types.island_types on the core tiles' readout pooled over 8 orientations, encoded here, with the
  islands' sections; no island set apart), with recall, precision, ARI against the true type most of each
  island's tiles have, and |r| of the typing axis with it.

Prints one block per set; a few seconds a set (with --regions about 20 s more: the islands' tiles are encoded).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from islandvae.config import load_config
from islandvae.islands.finder import BORDER_RANK, CORE_RANK, MIN_CORE, majority_types, match_found, next_to
from islandvae.islands.grid import EIGHT, TYPES
from islandvae.islands.grid import regions as connected_regions
from islandvae.islands.records import IslandResult
from islandvae.islands.robustness import each_set
from islandvae.islands.types import agreement, axis_follows, island_types
from islandvae.model.runs import Run

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets  # noqa: E402  (benches beside this one)
from imaging_lever import with_imaging  # noqa: E402
from typing_levers import Places  # noqa: E402

MIN_CORES = (2, 3, 4, 5, 6, 8)
TRUE_SIZES = (1, 3, 5, 10)  # recall over the true islands of at least this many tiles
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


def core_regions(arrays: dict) -> np.ndarray:
    """Per tile, its island as a connected region of core tiles with its border tiles attached (-1 outside)."""
    island, core = arrays["island"], arrays["core"]
    border = (island >= 0) & ~core
    out, first = np.full(len(island), -1), 0
    for k in np.unique(arrays["image"][core]):
        on = np.flatnonzero(arrays["image"] == k)
        y, x = arrays["gy"][on], arrays["gx"][on]
        plane = np.zeros((y.max() + 1, x.max() + 1), dtype=bool)
        plane[y, x] = core[on]
        numbered, count = ndimage.label(plane, EIGHT)
        grown = ndimage.grey_dilation(numbered, footprint=EIGHT)  # a border tile joins a neighbouring core region
        region = np.where(core[on], numbered[y, x], np.where(border[on], grown[y, x], 0))
        out[on] = np.where(region > 0, region - 1 + first, -1)
        first += count
    n = int(out.max()) + 1
    kept = np.bincount(out[core & (out >= 0)], minlength=n) >= MIN_CORE
    renumber = np.full(n + 1, -1)
    renumber[np.flatnonzero(kept)] = np.arange(int(kept.sum()))
    return renumber[out]


def grown_units(arrays: dict, rank: list) -> dict:
    """The found islands taken with one ring of border tiles ("ring", as the pipeline takes them) and grown through
    every connected border tile ("grown"), each kept with at least MIN_CORE core tiles, scored against the truth
    (no density test on the core's pixels for either)."""
    ranked = np.array([-1.0 if r is None or r != r else r for r in rank])  # the tissue cluster has no rank
    tiles = Places(arrays)
    core = ranked[arrays["cluster"]] >= CORE_RANK
    border = ranked[arrays["cluster"]] >= BORDER_RANK
    connected = connected_regions(tiles, border)
    holds_core = np.bincount(connected[core & (connected >= 0)], minlength=int(connected.max()) + 1) > 0
    out = {}
    for way, member in (
        ("ring", core | (border & next_to(tiles, core))),
        ("grown", (connected >= 0) & holds_core[connected]),
    ):
        units = connected_regions(tiles, member)
        kept = np.bincount(units[core & (units >= 0)], minlength=int(units.max()) + 1) >= MIN_CORE
        renumber = np.full(len(kept) + 1, -1)  # kept units numbered 0, 1, ...; -1 (outside) maps to the last
        renumber[np.flatnonzero(kept)] = np.arange(int(kept.sum()))
        m = match_found(renumber[units], arrays["true"])
        out[way] = {k: m[k] for k in ("found islands", "recall", "precision")}
    return out


def typed_units(arrays: dict, units: np.ndarray, pooled: np.ndarray, seed: int) -> dict:
    """Found islands (`units`) scored against the true islands and typed on their core tiles' pooled readout."""
    n = int(units.max()) + 1
    majority = majority_types(units, arrays["label"])
    section = np.array([arrays["image"][units == k][0] for k in range(n)])
    typing = island_types(pooled, np.where(arrays["core"], units, -1), seed=seed, sections=section)
    known = majority != ""
    m = match_found(units, arrays["true"])
    return {
        "found islands": n,
        "recall": m["recall"],
        "precision": m["precision"],
        "types": typing["k"],
        "ari": list(agreement(typing["type"][known], majority[known])["ari"]),
        "axis ~ type |r|": axis_follows(typing["axis"][known], majority[known]),
    }


def pooled_readout(config, arrays: dict) -> np.ndarray:
    """The readout pooled over 8 orientations of the tiles in found islands (zeros elsewhere)."""
    from islandvae.islands.features import features_of
    from islandvae.latent.analysis import Analysis

    analysis = Analysis(config)
    infos = analysis.test_images.infos()
    need = np.flatnonzero(arrays["island"] >= 0)
    keys = [
        (infos[arrays["image"][t]].brain, infos[arrays["image"][t]].name, int(arrays["row"][t]), int(arrays["col"][t]))
        for t in need
    ]
    keys = [key + (config.sampling.tile_size,) for key in keys]
    out = np.zeros_like(arrays["features"])
    out[need] = features_of(
        analysis.model, analysis.test_images, keys, analysis.stats, pooled=True, first=arrays["features"][need]
    )
    return out


def set_units(config, regions: bool = False) -> dict | None:
    """The figures of one data set, or None where its cached pipeline (with truth and found islands) is missing."""
    folder = Run.of(config).folder
    path = folder / "discovery.json"
    result = IslandResult.from_json(json.loads(path.read_text())["value"]) if path.is_file() else None
    if result is None or result.found.islands < 2 or result.truth is None:
        return None
    with np.load(folder / "discovery.npz") as saved:
        arrays = {k: saved[k] for k in saved.files}
    island, core, true, label = arrays["island"], arrays["core"], arrays["true"], arrays["label"]
    n = int(island.max()) + 1
    cores = np.bincount(island[core & (island >= 0)], minlength=n)
    out = {"min core": {}}
    for size in MIN_CORES:
        renumber = np.full(n + 1, -1)
        renumber[np.flatnonzero(cores >= size)] = np.arange(int((cores >= size).sum()))
        m = match_found(renumber[island], true)
        out["min core"][size] = {k: m[k] for k in ("found islands", "recall", "precision")}
    sizes = np.bincount(true[true >= 0])
    out["recall by size"] = {}
    for size in TRUE_SIZES:
        renumber = np.full(len(sizes) + 1, -1)
        renumber[np.flatnonzero(sizes >= size)] = np.arange(int((sizes >= size).sum()))
        out["recall by size"][size] = (int((sizes >= size).sum()), match_found(island, renumber[true])["recall"])
    hit = [match_found(island, np.where(true == t, 0, -1))["recall"] == 1 for t in range(len(sizes))]
    out["missed sizes"] = sorted(int(sizes[t]) for t in range(len(sizes)) if not hit[t])
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
    out["grown"] = grown_units(arrays, result.clusters.rank)
    if regions:
        pooled = pooled_readout(config, arrays)
        out["regions"] = {
            "pipeline's islands": typed_units(arrays, island, pooled, config.train.seed),
            "core regions": typed_units(arrays, core_regions(arrays), pooled, config.train.seed),
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--sets", nargs="+", help="data sets by name (default: every set with a cached pipeline)")
    parser.add_argument("--regions", action="store_true", help="also the found islands as core regions, typed again")
    parser.add_argument("--imaging", action="store_true", help="the runs trained with imaging augmentation instead")
    args = parser.parse_args(argv)
    if args.sets and named_sets(args.config, args.sets, "bench/finder_levers.py") is None:
        return 2
    config = load_config(args.config)

    def measure(c):
        label = "default" if c.name == config.name else next(k for k, v in robust.items() if v.name == c.name)
        if args.sets and label not in args.sets:
            return None
        return set_units(with_imaging(c) if args.imaging else c, args.regions)

    from islandvae.islands.robustness import robustness_configs

    robust = robustness_configs(config)
    for label, row in each_set(config, measure, progress=lambda line: None):
        print(f"{label}: null region sizes 95th / 99th percentile {row['null'][0]:.0f} / {row['null'][1]:.0f}")
        for size, m in row["min core"].items():
            scores = f"recall {m['recall']:.2f}, precision {m['precision']:.2f}"
            print(f"  min core {size}: {m['found islands']} found, {scores}")
        by_size = ", ".join(f">= {k} tiles {r:.2f} ({n})" for k, (n, r) in row["recall by size"].items())
        print(f"  recall over true islands of {by_size}; missed: {row['missed sizes']} tiles")
        print("  " + ", ".join(f"{k} {v}" for k, v in row["joined"].items()), flush=True)
        print(
            "  "
            + "; ".join(
                f"{way}: {m['found islands']} found, recall {m['recall']:.2f}, precision {m['precision']:.2f}"
                for way, m in row["grown"].items()
            ),
            flush=True,
        )
        for way, v in row.get("regions", {}).items():
            ari = f"{v['ari'][0]:.2f} [{v['ari'][1]:.2f}, {v['ari'][2]:.2f}]"
            print(
                f"  {way}: {v['found islands']} found, recall {v['recall']:.2f}, precision {v['precision']:.2f}, "
                f"{v['types']} types, ARI {ari}, axis ~ type |r| {v['axis ~ type |r|']:.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
