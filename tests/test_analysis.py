"""Chapter 5's package side: scores with intervals, the cached analysis of a trained run, the explorer, bad input."""

import re

import numpy as np
import pytest

from islandvae.config import load_config
from islandvae.errors import UserError
from islandvae.explorer import explorer_html
from islandvae.measures import bootstrap, compare, formatted, probes
from islandvae.synth import generate
from islandvae.train import comparison_configs, train

from conftest import QUICK_TRAINING, write_config


def test_bootstrap_interval_brackets_the_score_and_resamples_whole_images():
    rng = np.random.default_rng(0)
    images = np.repeat(np.arange(20), 10)
    values = rng.normal(images * 0.1, 0.01)  # tiles of one image alike, images differ
    full, lo, hi = bootstrap(lambda i: values[i].mean(), images)
    assert lo < full < hi
    assert hi - lo > 0.2  # between-image spread, not the tiny within-image noise


def test_probes_tell_separable_labels_apart_and_random_ones_not():
    rng = np.random.default_rng(1)
    labels = np.array(["granular", "parvicellular", "plain"])[rng.integers(0, 3, 600)]
    signal = (labels[:, None] == np.array(["granular", "parvicellular", "plain"])).astype(float)
    images = np.repeat(np.arange(30), 10)
    good = probes(signal[:300] + rng.normal(0, 0.1, (300, 3)), labels[:300],
                  signal[300:] + rng.normal(0, 0.1, (300, 3)), labels[300:], images)
    noise = probes(rng.normal(size=(300, 3)), labels[:300], rng.normal(size=(300, 3)), labels[300:], images)
    assert good["linear probe"][0] > 0.95 and good["kNN"][0] > 0.95
    assert noise["linear probe"][0] < 0.5


def test_overlapping_intervals_are_reported_as_ties():
    rows = [{"features": "A", "m": (0.80, 0.75, 0.85)}, {"features": "B", "m": (0.78, 0.70, 0.82)},
            {"features": "C", "m": (0.50, 0.45, 0.55)}]
    assert "tied within the intervals with B" in compare(rows, "m")
    assert "outside" in compare(rows[::2], "m")
    assert formatted([{"features": "A", "m": (0.8, 0.7, 0.9)}, {"features": "B"}])[1]["m"] == "-"


def test_the_explorer_is_self_contained():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    page = explorer_html(xy, np.full((30, 16, 16), 128.0), ["#000"] * 30, [f"tile {k}" for k in range(30)])
    assert page.count("<circle") == 30 and "data:image/jpeg;base64," in page
    assert not re.search(r"(src|href)=\"https?:", page)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    data = generate(folder / "tiny.h5", preset="tiny", seed=2, progress=False)
    config = load_config(write_config(folder, data, extra=QUICK_TRAINING.replace("test_tiles = 128", "test_tiles = 96")))
    train(config, progress=False)
    return config


def test_without_a_trained_model_the_analysis_says_so(tmp_path, trained):
    from islandvae.analysis import Analysis

    other = load_config(write_config(tmp_path, trained.data.path))
    assert not Analysis(other).available


def test_the_analysis_scores_every_feature_space_and_caches_them(trained):
    from islandvae.analysis import Analysis, pick_pairs

    a = Analysis(trained, train_missing=True)
    assert set(a.comparisons) == {"latent 128", *comparison_configs(trained)}
    rows = a.measures()
    names = [r["features"] for r in rows]
    assert names[0].startswith("VAE") and names[1].startswith("autoencoder") and "tile mean + std" in names
    assert any(n.startswith("pixel PCA") for n in names)
    for row in rows:
        lo, hi = row["linear probe"][1:]
        assert lo <= row["linear probe"][0] <= hi or np.isnan(lo)
    again = Analysis(trained).measures()  # from the cache: the same numbers
    assert again == rows
    within, across = pick_pairs(a.test)
    assert a.test.image[within[1]] == a.test.image[within[2]] and a.test.image[across[1]] != a.test.image[across[2]]
    sizes = {r["model"]: r for r in a.latent_sizes()}
    assert sizes["latent 2"]["active units"] <= 2 and sizes["latent 4096"]["latent"] == 4096


def test_too_many_test_tiles_for_the_test_brain_is_an_error(trained, tmp_path):
    from islandvae.latent import tile_sets

    config = load_config(write_config(tmp_path, trained.data.path, extra="[sampling]\ntest_tiles = 100000000\n"))
    with pytest.raises(UserError, match="sampling.test_tiles 100000000 exceeds"):
        tile_sets(config)


def test_without_truth_the_label_measures_are_left_out(plain_file, tmp_path):
    from islandvae.analysis import Analysis

    config = load_config(write_config(tmp_path, plain_file, extra=QUICK_TRAINING.replace("comparison_steps = 6", "comparison_steps = 20")))
    train(config, progress=False)
    rows = Analysis(config).measures()
    assert all("linear probe" not in r and "brain probe" in r for r in rows)


def test_each_lever_changes_exactly_one_setting(trained):
    import dataclasses

    from islandvae.checkpoint import run_signature
    from islandvae.levers import lever_configs

    base = run_signature(trained)
    variants = lever_configs(trained)
    assert len(variants) == 5 and len({c.name for c in variants.values()}) == 5
    for label, config in variants.items():
        sig = run_signature(config)
        changed = [(s, k) for s in base for k in base[s] if base[s][k] != sig[s][k]]
        assert len(changed) == 1, (label, changed)
        assert config.name.startswith(trained.name + "-lever-")
    assert dataclasses.asdict(trained) == dataclasses.asdict(load_config(trained.source))  # the original untouched


def test_the_lever_table_scores_finished_runs_and_belongs_to_its_config(trained, tmp_path):
    import dataclasses

    from islandvae.levers import lever_configs, lever_effects, lever_findings, measure_levers, read_levers

    config = dataclasses.replace(trained, paths=dataclasses.replace(trained.paths, results=tmp_path))
    beta = next(c for label, c in lever_configs(config).items() if label.startswith("beta"))
    train(beta, progress=False)  # one lever run; the others are missing and left out
    said = []
    table = measure_levers(config, progress=said.append)
    assert [r["features"] for r in table["rows"]] == ["as configured", f"beta {beta.train.beta:g}"]
    assert sum("left out" in line for line in said) == 4
    assert {b["features"] for b in table["baselines"]} == {"pixel PCA-128", "tile mean + std"}
    saved = read_levers(config)
    assert saved["rows"] == [{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()} for r in table["rows"]]
    effects = lever_effects(saved)
    assert effects[0]["lever"] == "as configured" and "(" in effects[1]["linear probe"]
    assert effects[-1]["lever"] == "tile mean + std, tile 64"
    assert "Per measure: recon MSE:" in lever_findings(saved) and "linear probe:" in lever_findings(saved)
    other = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=2e-3))
    assert read_levers(other) is None  # measured with other settings: not shown as this config's


def test_the_main_model_stands_in_for_itself_when_the_comparison_budget_is_its_whole_run(trained, tmp_path):
    import dataclasses
    import shutil

    from islandvae.analysis import Analysis

    shutil.copytree(trained.paths.runs / trained.name, tmp_path / trained.name)  # the main run alone
    whole = dataclasses.replace(trained, train=dataclasses.replace(trained.train, comparison_steps=12),
                                paths=dataclasses.replace(trained.paths, runs=tmp_path))
    a = Analysis(whole)  # no step-12 snapshot: the run itself ended at step 12
    assert list(a.comparisons) == [f"latent {whole.model.latent}"]
    assert a.comparisons[f"latent {whole.model.latent}"][2] == a.run.best


def test_the_cli_analyses_a_trained_run_and_refuses_a_missing_one(trained, run_cli, tmp_path):
    code, out, err = run_cli("analyse", "--config", trained.source)
    assert code == 0, err
    assert (trained.paths.runs / trained.name / "measures.json").is_file()
    assert (trained.paths.runs / trained.name / "reductions.npz").is_file()
    code, out, err = run_cli("analyse", "--config", write_config(tmp_path, trained.data.path))
    assert code == 2 and "no finished run" in err and "make train" in err


def test_lever_findings_name_what_moved_outside_the_intervals():
    from islandvae.levers import lever_findings

    row = lambda name, probe, brain, tile=64, **k: {"features": name, "linear probe": probe, "brain probe": brain,
                                                    "tile": tile, **k}
    table = {"rows": [row("as configured", (0.60, 0.55, 0.65), (0.70, 0.65, 0.75), steps=10),
                      row("beta 0.5", (0.80, 0.75, 0.85), (0.695, 0.64, 0.74), steps=10)],
             "baselines": [row("pixel PCA-8", (0.50, 0.45, 0.55), (0.60, 0.55, 0.66)),
                           row("tile mean + std", (0.62, 0.57, 0.67), (0.65, 0.60, 0.70))]}
    text = lever_findings(table)
    assert text.startswith("Outside the intervals, the levers moved only: linear probe (beta 0.5).")
    assert "linear probe: beta 0.5 improved it most, 0.60 to 0.80 (outside the intervals), ahead of the strongest " \
           "baseline at tile 64, tile mean + std (0.62)" in text
    assert "brain probe: no lever improved it by 0.01 or more" in text and "tied with the strongest baseline" in text
