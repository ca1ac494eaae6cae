"""The finder's own spread: one run's tile features clustered again from other seeds, and two ways to steady it.

    .venv/bin/python bench/finder_seeds.py [--config configs/default.toml] [--seeds 0 1 2 3 4] [--inits 5]
        [--starts 9] [--runs 0 1 2] [--json FILE] [--sets default "seed 3" ...]

Which islands a set's pipeline finds moves from run to run (bench/replicates.py). Part of that is the training, part
the finder itself: its Gaussian mixtures of the tile features start from a random draw (and fit on a random draw of
FIT_TILES tiles), and a mixture fit ends in a local optimum. Here the finder (finder.find_islands) is replayed on
the pipeline's saved tile features and cell counts (runs/<run>/discovery.npz: nothing is encoded or trained) with
the pipeline seeds `--seeds`, in three ways: as the pipeline runs it ("n_init 1": one clustering, each mixture fitted
from one start); each mixture the likeliest of `--inits` starts (scikit-learn's n_init); and `--starts` clusterings
from consecutive seeds that vote, a tile core or border where finder.AGREE of them call it so (islands.starts).
`--runs`: the training seeds whose runs are replayed (the set's own is its config's; the others are
bench/replicates.py's, named and skipped where not trained).

Prints per set, run, way and seed: the islands found, recall and precision against the true islands
(finder.match_found) and the share of the run's own found island tiles found again (Jaccard; the pipeline's way
with the run's own seed reproduces the pipeline: 1.00); then per set and way the range (min / median / max) of
recall and precision over seeds and runs. About 5 to 10 s a clustering on 2 cores (the density test reads images).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from islandvae.data.hdf5 import InMemoryImages
from islandvae.islands.finder import find_islands, match_found
from islandvae.islands.grid import Grid
from islandvae.model.runs import Run

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets, set_parser  # noqa: E402  (benches beside this one)
from imaging_lever import present_sets, save_figures  # noqa: E402
from replicates import replicate_config, spread  # noqa: E402

DEFAULT_SETS = ("default", "seed 3", "sections imaged differently (seed 6)", "coarser scan (seed 7)")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Overlap of two sets of tiles (boolean per tile): shared over either; 1 where both are empty."""
    either = (a | b).sum()
    return float((a & b).sum() / either) if either else 1.0


def ways(inits: list[int], starts: list[int]) -> list[tuple[str, int, int]]:
    """(row name, inits, starts): each number of starts per mixture fit with one clustering, then each number of
    clusterings that vote (finder.AGREE of them) with one start per fit; the pipeline's way first."""
    rows = [(f"n_init {n}", n, 1) for n in dict.fromkeys([1, *inits])]
    return rows + [(f"{k} clusterings vote", 1, k) for k in dict.fromkeys(starts) if k > 1]


def replays(config, images, seeds: list[int], rows: list[tuple[str, int, int]]) -> dict:
    """The finder replayed on `config`'s saved pipeline arrays: {row: {"seed <s>": figures}}."""
    with np.load(Run.of(config).folder / "discovery.npz") as saved:
        arrays = {k: saved[k] for k in saved.files}
    grid = Grid.of_arrays(images.infos(), config.sampling.tile_size, arrays)
    own = arrays["island"] >= 0
    scale = float(arrays["blob"][1])
    out = {}
    for name, inits, starts in rows:
        for seed in seeds:
            found = find_islands(
                grid,
                arrays["features"],
                images,
                seed=seed,
                measures=arrays["measures"],
                scale=scale,
                inits=inits,
                starts=starts,
            )
            m = match_found(found["island"], arrays["true"])
            out.setdefault(name, {})[f"seed {seed}"] = {
                "found islands": int(found["island"].max()) + 1,
                "recall": m["recall"],
                "precision": m["precision"],
                "own tiles found again": jaccard(found["island"] >= 0, own),
            }
    return out


def main(argv=None) -> int:
    parser = set_parser(__doc__, DEFAULT_SETS, "write the figures to this file after every run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="pipeline seeds of the finder")
    parser.add_argument("--inits", nargs="+", type=int, default=[5], help="starts of each mixture fit (n_init)")
    parser.add_argument("--starts", nargs="+", type=int, default=[9], help="clusterings that vote (islands.starts)")
    parser.add_argument("--runs", nargs="+", type=int, default=[0], help="training seeds of the runs replayed")
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/finder_seeds.py")
    if every is None:
        return 2
    table: dict[str, dict] = {}
    rows = ways(args.inits, args.starts)
    for label, c in present_sets(every, args.sets):
        images = InMemoryImages(c.data.path, [c.data.test_brain], progress=False)
        for run in (replicate_config(c, s) for s in args.runs):
            if not (Run.of(run).folder / "discovery.npz").is_file():
                print(f"{label}: {Run.of(run).folder} has no island pipeline; train it with bench/replicates.py")
                continue
            figures = table.setdefault(label, {})[f"train.seed {run.train.seed}"] = replays(
                run, images, args.seeds, rows
            )
            for way, by_seed in figures.items():
                for seed, p in by_seed.items():
                    print(
                        f"{label:38s} train.seed {run.train.seed} {way:20s} {seed}: "
                        f"{p['found islands']} found, recall {p['recall']:.2f}, precision {p['precision']:.2f}, "
                        f"own tiles found again {p['own tiles found again']:.2f}",
                        flush=True,
                    )
            save_figures(args.json, table)
        for way, _, _ in rows:
            recall = [p["recall"] for run in table.get(label, {}).values() for p in run[way].values()]
            precision = [p["precision"] for run in table.get(label, {}).values() for p in run[way].values()]
            print(f"{label:38s} {way:20s} over seeds and runs: recall {spread(recall)}, precision {spread(precision)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
