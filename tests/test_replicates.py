"""bench/replicates.py, typing_ensemble.py and finder_seeds.py: replicate runs, summaries, the mean axis, ways."""

import numpy as np
from conftest import load_bench

from islandvae.config import PROJECT_ROOT, load_config
from islandvae.model.checkpoint import run_signature
from islandvae.model.runs import Run


def test_a_replicate_is_the_same_run_but_for_its_training_seed():
    """Seed 0 is the config's own run; another seed is a run folder of its own whose signature differs from the
    config's in train.seed alone."""
    replicate_config = load_bench("replicates").replicate_config
    config = load_config(PROJECT_ROOT / "configs" / "default.toml")
    assert replicate_config(config, config.train.seed) is config
    other = replicate_config(config, 2)
    assert other.train.seed == 2 and Run.of(other).folder != Run.of(config).folder
    a, b = run_signature(config), run_signature(other)
    differing = {(s, k) for s in a for k in a[s] if a[s][k] != b[s][k]}
    assert differing == {("train", "seed")}


def figures(recall, ari, median_ari, types=2):
    return {"recall": recall, "types": types, "pipeline ARI": ari, "median rule": {"pipeline ARI": median_ari}}


def test_the_summary_gives_each_set_its_range_over_seeds_and_counts_a_missing_typing_as_0():
    summary = load_bench("replicates").summary
    rows = {
        "seed 3": {
            "0": figures(0.82, [0.75, 0.6, 0.9], [0.75, 0.6, 0.9]),
            "1": figures(0.86, None, [0.5, 0.3, 0.7], types=1),
            "2": figures(0.90, [0.60, 0.4, 0.8], None),
        }
    }
    (line,) = summary(rows)
    assert "3 runs" in line and "types 2, 1, 2" in line
    assert "recall 0.82 / 0.86 / 0.90" in line
    assert "pipeline ARI 0.00 / 0.60 / 0.75" in line and "median rule 0.00 / 0.50 / 0.75" in line


def test_the_mean_axis_standardises_each_run_and_turns_it_to_the_first_runs_sign():
    """Three runs place the same islands on axes of other scales, offsets and signs: their mean is the first
    run's places standardised; islands set apart (not typed) shape neither the scale nor the sign."""
    mean_axis = load_bench("typing_ensemble").mean_axis
    rng = np.random.default_rng(0)
    place = rng.normal(size=20)
    typed = np.ones(20, dtype=bool)
    typed[:3] = False
    runs = [place, -3.0 * place + 5.0, 0.5 * place - 1.0]
    runs[1][:3] = 100.0  # an island set apart, far off on one run's axis
    z = (place - place[typed].mean()) / place[typed].std()
    mean = mean_axis(runs, typed)
    assert np.allclose(mean[typed], z[typed])
    assert np.corrcoef(mean_axis([place, -place], typed)[typed], place[typed])[0, 1] > 0.999


def test_the_finder_bench_runs_the_pipelines_way_first_and_each_lever_once():
    bench = load_bench("finder_seeds")
    assert bench.ways([5, 1], [9, 1, 9]) == [("n_init 1", 1, 1), ("n_init 5", 5, 1), ("9 clusterings vote", 1, 9)]
    a, b = np.array([1, 1, 0, 0], dtype=bool), np.array([1, 0, 1, 0], dtype=bool)
    assert bench.jaccard(a, b) == 1 / 3 and bench.jaccard(~(a | b) & a, a & ~a) == 1.0
