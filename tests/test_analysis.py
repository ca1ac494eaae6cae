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
