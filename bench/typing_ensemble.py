"""The found islands typed on several training runs at once: does an ensemble of runs type more steadily than one?

    .venv/bin/python bench/typing_ensemble.py [--config configs/default.toml] [--seeds 0 1 2] [--json FILE]
        [--sets default "seed 3" "sections imaged differently (seed 6)" "coarser scan (seed 7)"]

bench/replicates.py trains each set's run again with other training seeds (runs/<set>-train-seed-<n>). Here the
islands found by the set's own run (train.seed of its config) are held fixed and typed on each replicate's readout
of their core tiles (pooled over 8 orientations, as discovery.py types): the spread over those rows is the typing's
own run-to-run spread, without the finder's. Two ensembles of the runs, neither using a label:

- "concatenated": the runs' readouts side by side as one feature space, typed by types.island_types;
- "mean axis": each run's typing axis (its islands' places) standardised over the typed islands, turned to agree
  in sign with the first run's, and averaged; the types are read off that mean place (types.types_on_axis).

Each with the number of types as the most frequent (the pipeline's rule) and the median over section resamples.
Prints per set and typing: the number of types, the pipeline ARI with its interval, the typing axis against the
true type (|r|) and the section confound; then the median over the sets per typing. Runs that are not trained are
named (train them with bench/replicates.py); a set with fewer than two is skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from islandvae.islands.types import describe, island_types
from islandvae.model.runs import Run

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets, set_parser  # noqa: E402  (benches beside this one)
from imaging_lever import follows, interval, present_sets, save_figures  # noqa: E402
from replicates import replicate_config  # noqa: E402
from two_readouts import core_features, typing_figures  # noqa: E402

DEFAULT_SETS = ("default", "seed 3", "sections imaged differently (seed 6)", "coarser scan (seed 7)")


def mean_axis(places: list[np.ndarray], typed: np.ndarray) -> np.ndarray:
    """The runs' island places averaged, each standardised over the typed islands and turned to agree in sign
    with the first run's (a run's axis has no sign of its own)."""
    out = []
    for p in places:
        p = np.asarray(p, dtype=float)
        z = (p - p[typed].mean()) / (p[typed].std() or 1.0)
        if out and np.corrcoef(z[typed], out[0][typed])[0, 1] < 0:
            z = -z
        out.append(z)
    return np.mean(out, axis=0)


def ensemble(found_config, typing_configs: list) -> dict:
    """The found islands typed on each run of `typing_configs`, on their readouts side by side, and on the mean
    of their axes: {typing: typing_figures(...)}."""
    seed = found_config.train.seed
    runs = [core_features(found_config, t) for t in typing_configs]
    _, arrays, result = runs[0]
    cores = np.where(arrays["core"], arrays["island"], -1)
    section = np.array(result.sections.section)
    typed = np.array(result.types.type) >= 0
    out, places = {}, []
    for t, (features, _, _) in zip(typing_configs, runs):
        typing = island_types(features, cores, seed=seed, typed=typed, sections=section)
        places.append(typing["axis"])
        out[f"run, train.seed {t.train.seed}"] = typing_figures(typing, describe(features, cores), arrays, result, seed)
    together = np.hstack([features for features, _, _ in runs])
    descriptors = describe(together, cores)
    typing = island_types(together, cores, seed=seed, typed=typed, sections=section)
    out["concatenated"] = typing_figures(typing, descriptors, arrays, result, seed)
    out["mean axis"] = typing_figures({"axis": mean_axis(places, typed)}, descriptors, arrays, result, seed)
    return out


def main(argv=None) -> int:
    parser = set_parser(__doc__, DEFAULT_SETS, "write the figures to this file after every set")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds of the runs")
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/typing_ensemble.py")
    if every is None:
        return 2
    table = {}
    for label, c in present_sets(every, args.sets):
        configs = [replicate_config(c, s) for s in args.seeds]
        trained = [t for t in configs if Run.of(t).done(t)]
        for t in configs:
            if t not in trained:
                print(f"{label}: {Run.of(t).folder} is not trained; train it with bench/replicates.py", flush=True)
        if len(trained) < 2:
            continue
        table[label] = ensemble(c, trained)
        for typing, figures in table[label].items():
            for rule, p in figures.items():
                print(
                    f"{label:38s} {typing:22s} {rule:6s} {p['types']} types, ARI {interval(p['pipeline ARI']):19s} "
                    f"({follows(p)})",
                    flush=True,
                )
        save_figures(args.json, table)
    for typing in dict.fromkeys(k for row in table.values() for k in row):
        for rule in ("mode", "median"):
            scores = [row[typing][rule]["pipeline ARI"] for row in table.values()]
            median = np.median([s[0] if s else 0.0 for s in scores])
            print(f"median ARI over the sets, {typing}, {rule}: {median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
