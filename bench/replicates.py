"""Replicates: each set's run trained again with other training seeds, to say how far one run's figures move.

    .venv/bin/python bench/replicates.py [--config configs/default.toml] [--seeds 0 1 2] [--starts 9] [--json FILE]
        [--sets default "seed 3" "sections imaged differently (seed 6)" "coarser scan (seed 7)"]

A row of the robustness panel, or of a lever table, is one training run. train.seed sets the weights' start, the
order of the training tiles and the island pipeline's own draws (mixtures, resamples), so another seed is another
run of the same method on the same data: the spread over seeds is what a lever must beat before one run with it
and one without can tell it apart. Each replicate is a run of its own (runs/<set>-train-seed-<n>; the set's own
run is seed 0, its config's), trained where missing (about 4 to 7 minutes on 2 cores) and scored as the lever
runs are (budget_curve.point: recall, number of types, pipeline ARI with its interval, how the typing axis follows
the true type and the sections, the VAE's and pooled VAE's ARI on the true islands) and with the number of types
as the median over section resamples (types.consensus_types "median", two_readouts.own_typing). The seeds run in
the outer loop, so a stopped bench has one replicate of every set before the second of any. `--starts`: every
run's island pipeline with islands.starts (the finder's clusterings that vote, finder.py) instead of the config's
(the run's own cached pipeline is put back afterwards): the finder's lever measured over the same replicates.

Prints a line per run, then per set the range over its seeds (min, median, max) of recall and of the pipeline ARI
under each rule; with --json, the figures after every run (a rerun scores the trained runs again from the cache).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from islandvae.model.runs import Run

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets, set_parser  # noqa: E402  (benches beside this one)
from imaging_lever import interval, measured, present_sets, save_figures  # noqa: E402
from imaging_lever import line as lever_line  # noqa: E402
from two_readouts import typed_elsewhere  # noqa: E402

CACHED = ("discovery.json", "discovery.npz")  # a run's island pipeline (discovery.py)
DEFAULT_SETS = ("default", "seed 3", "sections imaged differently (seed 6)", "coarser scan (seed 7)")


def replicate_config(config, seed: int):
    """The config trained with train.seed = `seed` in a run folder of its own; the config itself where that is its
    seed already."""
    if seed == config.train.seed:
        return config
    return dataclasses.replace(
        config, name=f"{config.name}-train-seed-{seed}", train=dataclasses.replace(config.train, seed=seed)
    )


def replicate(config, starts: int) -> dict:
    """One run's figures: the lever runs' (trained first where missing) and the pipeline ARI with the median rule;
    with `starts` other than the config's, the island pipeline run with islands.starts = `starts` and the run's own
    cached pipeline put back afterwards (the run is the same, so its cache files are too)."""
    if starts == config.islands.starts:
        p = measured(config)
        p["median rule"] = typed_elsewhere(config, config)["median"]
        return p
    if not Run.of(config).done(config):
        measured(config)  # trained (and its own pipeline cached) first
    other = dataclasses.replace(config, islands=dataclasses.replace(config.islands, starts=starts))
    folder = Run.of(config).folder
    with tempfile.TemporaryDirectory() as aside:
        kept = [shutil.copy2(f, aside) for f in (folder / n for n in CACHED) if f.is_file()]
        try:
            return replicate(other, starts)
        finally:
            for f in kept:
                shutil.copy2(f, folder)


def spread(values: list[float]) -> str:
    """min / median / max of a set's replicates."""
    if not values:
        return "-"
    return f"{min(values):.2f} / {np.median(values):.2f} / {max(values):.2f}"


def summary(rows: dict[str, dict]) -> list[str]:
    """Per set, the range over its replicates of recall and of the pipeline ARI under each rule (no ARI: 0)."""
    out = []
    for label, by_seed in rows.items():
        recall = [p["recall"] for p in by_seed.values()]
        mode = [p["pipeline ARI"][0] if p["pipeline ARI"] else 0.0 for p in by_seed.values()]
        median = [
            p["median rule"]["pipeline ARI"][0] if p["median rule"]["pipeline ARI"] else 0.0 for p in by_seed.values()
        ]
        types = ", ".join(str(p["types"]) for p in by_seed.values())
        out.append(
            f"{label:38s} {len(by_seed)} runs: recall {spread(recall)}; types {types}; pipeline ARI {spread(mode)}; "
            f"median rule {spread(median)}"
        )
    return out


def line(label: str, seed: int, p: dict) -> str:
    m = p["median rule"]
    return f"{lever_line(label, f'seed {seed}', p)}; median rule {m['types']} types, {interval(m['pipeline ARI'])}"


def main(argv=None) -> int:
    parser = set_parser(__doc__, DEFAULT_SETS, "write the figures to this file after every run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (0: the set's own run)")
    parser.add_argument(
        "--starts", type=int, help="islands.starts of every run's island pipeline (default: the config's)"
    )
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/replicates.py")
    if every is None:
        return 2
    present = list(present_sets(every, args.sets))
    rows: dict[str, dict] = {label: {} for label, _ in present}
    for seed in dict.fromkeys(args.seeds):
        for label, c in present:
            starts = c.islands.starts if args.starts is None else args.starts
            rows[label][str(seed)] = p = replicate(replicate_config(c, seed), starts)
            print(line(label, seed, p), flush=True)
            save_figures(args.json, rows)
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
