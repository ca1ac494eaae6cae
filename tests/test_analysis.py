"""Chapter 5's package side: scores with intervals, the cached analysis of a trained run, the explorer, bad input."""

import re

import numpy as np
import pytest
import torch
from conftest import QUICK_TRAINING, write_config

from islandvae.bootstrap import bootstrap
from islandvae.config import load_config
from islandvae.data.synth import generate
from islandvae.errors import UserError
from islandvae.latent.explorer import explorer_html
from islandvae.latent.measures import compare, formatted, probes
from islandvae.model.runs import comparison_configs
from islandvae.model.train import train


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
    good = probes(
        signal[:300] + rng.normal(0, 0.1, (300, 3)),
        labels[:300],
        signal[300:] + rng.normal(0, 0.1, (300, 3)),
        labels[300:],
        images,
    )
    noise = probes(rng.normal(size=(300, 3)), labels[:300], rng.normal(size=(300, 3)), labels[300:], images)
    assert good["linear probe"][0] > 0.95 and good["kNN"][0] > 0.95
    assert noise["linear probe"][0] < 0.5


def test_one_pass_gives_the_latents_and_reconstructions_of_separate_passes():
    import torch

    from islandvae.config import ModelConfig
    from islandvae.latent.codes import batches, posterior, readout
    from islandvae.model.vae import VAE

    torch.manual_seed(0)
    model = VAE(ModelConfig(normalise=True, latent_map=True), 32).to(memory_format=torch.channels_last).eval()
    tiles = torch.randn(40, 1, 32, 32)
    seen = posterior(model, tiles, batch=16, mse=True)
    with torch.inference_mode():
        means = torch.cat([model.encode(x)[0] for x in batches(tiles, 16)]).numpy()
        mse = torch.cat([(model(x)[0] - x).pow(2).flatten(1).mean(1) for x in batches(tiles, 16)]).numpy()
    assert np.array_equal(seen["mean"], means) and np.array_equal(seen["mse"], mse)
    assert np.array_equal(readout(model, tiles, 16), readout(model, tiles, codes=seen))
    assert readout(model, tiles[:0]).shape == (0, 1) and posterior(model, tiles[:0], mse=True)["mse"].shape == (0,)


def test_the_batch_size_does_not_change_the_posterior():
    """latent.BATCH is a speed setting: any batch size, a last batch that is not full included, gives the same
    latents and errors (bit for bit on the CPUs measured; float rounding is all a CPU may change)."""
    import torch

    from islandvae.config import ModelConfig
    from islandvae.latent.codes import BATCH, posterior
    from islandvae.model.vae import VAE

    tiles = torch.randn(70, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    for config in (ModelConfig(normalise=True, latent_map=True), ModelConfig(kind="ae", latent=2)):
        torch.manual_seed(0)
        model = VAE(config, 32).to(memory_format=torch.channels_last).eval()
        whole = posterior(model, tiles, batch=len(tiles), mse=True)
        for batch in (16, BATCH):
            parts = posterior(model, tiles, batch=batch, mse=True)
            for key in ("mean", "logvar", "mse"):
                assert parts[key].shape == whole[key].shape
                np.testing.assert_allclose(parts[key], whole[key], rtol=0, atol=1e-5)


def test_the_fast_ari_and_nmi_equal_scikit_learns_exactly():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from islandvae.latent.measures import adjusted_rand, normalised_mutual_information

    rng = np.random.default_rng(4)
    names = np.array(["granular", "parvicellular", "plain"])
    cases = [
        (names[rng.integers(0, k, n)], rng.integers(0, c, n))
        for n in (1, 2, 7, 60, 500)
        for k in (1, 2, 3)
        for c in (1, 2, 3, 5)
    ]
    cases.append((names[np.arange(90) % 3], np.arange(90) % 3))  # perfect agreement
    codes = rng.integers(0, 3, 300)
    cases.append((names[codes], np.where(rng.random(300) < 0.2, rng.integers(0, 3, 300), codes)))  # partial
    for truth, predicted in cases:
        assert adjusted_rand(truth, predicted) == adjusted_rand_score(truth, predicted)
        assert normalised_mutual_information(truth, predicted) == normalized_mutual_info_score(truth, predicted)
    assert 0.3 < adjusted_rand(*cases[-1]) < 0.9 and 0.3 < normalised_mutual_information(*cases[-1]) < 0.9


def test_scores_on_integer_codes_equal_the_scores_on_the_names():
    from islandvae.latent.measures import adjusted_rand, balanced_accuracy, codes, normalised_mutual_information

    rng = np.random.default_rng(5)
    names = np.array(["granular", "parvicellular", "plain"])
    truth, predicted = names[rng.integers(0, 3, 400)], names[rng.integers(0, 2, 400)]  # 'plain' never predicted
    t, q = codes(truth, predicted)
    assert t.dtype.kind == "i" and len(t) == len(truth) and len(q) == len(predicted)
    assert balanced_accuracy(t, q) == balanced_accuracy(truth, predicted)
    assert adjusted_rand(t, q) == adjusted_rand(truth, predicted)
    assert normalised_mutual_information(t, q) == normalised_mutual_information(truth, predicted)
    assert (t == q).tolist() == (truth == predicted).tolist()  # one code per name across both arrays


def test_the_pooled_readout_reuses_a_given_first_view_and_is_otherwise_the_same():
    import torch

    from islandvae.config import ModelConfig
    from islandvae.latent.codes import pooled_readout, readout
    from islandvae.model.vae import VAE

    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=64, width=8, max_width=16, depth=2, latent_map=True), 32).eval()
    tiles = torch.randn(70, 1, 32, 32)
    plain = readout(model, tiles)
    pooled = pooled_readout(model, tiles)
    np.testing.assert_array_equal(pooled_readout(model, tiles, first=plain), pooled)
    assert not np.allclose(pooled, plain)  # the other seven views do change it
    assert not np.allclose(pooled_readout(model, tiles, first=np.zeros_like(plain)), pooled)  # `first` is used


def test_overlapping_intervals_are_reported_as_ties():
    rows = [
        {"features": "A", "m": (0.80, 0.75, 0.85)},
        {"features": "B", "m": (0.78, 0.70, 0.82)},
        {"features": "C", "m": (0.50, 0.45, 0.55)},
    ]
    assert "tied within the intervals with B" in compare(rows, "m")
    assert "outside" in compare(rows[::2], "m")
    assert formatted([{"features": "A", "m": (0.8, 0.7, 0.9)}, {"features": "B"}])[1]["m"] == "-"


def test_umap_distances_are_the_ones_umap_computes_itself():
    from sklearn.metrics import pairwise_distances
    from umap.distances import euclidean

    from islandvae.latent.analysis import umap_distances

    x = np.random.default_rng(2).normal(size=(150, 16)).astype(np.float32)
    own = pairwise_distances(x, metric=euclidean)  # what umap does below 4,096 points, a pair at a time
    assert np.array_equal(umap_distances(x), own) and umap_distances(x).dtype == np.float32
    assert np.array_equal(
        umap_distances(x.astype(np.float64)), pairwise_distances(x.astype(np.float64), metric=euclidean)
    )


@pytest.mark.slow
def test_the_umap_map_from_precomputed_distances_is_umaps_own():
    import warnings

    from umap import UMAP

    from islandvae.latent.analysis import umap_distances

    x = np.random.default_rng(3).normal(size=(200, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_epochs=50).fit_transform(x)
        ours = UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_epochs=50, metric="precomputed").fit_transform(
            umap_distances(x)
        )
    assert np.array_equal(own, ours)


def test_the_explorer_is_self_contained():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    page = explorer_html(xy, np.full((30, 16, 16), 128.0), ["#000"] * 30, [f"tile {k}" for k in range(30)])
    assert page.count("<circle") == 30 and "data:image/jpeg;base64," in page
    assert not re.search(r"(src|href)=\"https?:", page)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    data = generate(folder / "tiny.h5", preset="tiny", seed=2, progress=False)
    extra = QUICK_TRAINING.replace("test_tiles = 128", "test_tiles = 96")
    config = load_config(write_config(folder, data, extra=extra))
    train(config, progress=False)
    return config


@pytest.mark.slow
def test_without_a_trained_model_the_analysis_says_so(tmp_path, trained):
    from islandvae.latent.analysis import Analysis

    other = load_config(write_config(tmp_path, trained.data.path))
    assert not Analysis(other).available


@pytest.mark.slow
def test_the_analysis_scores_every_feature_space_on_islands_and_caches_it(trained):
    import json

    from islandvae.islands.discovery import Discovery, read_discovery, scores_path
    from islandvae.latent.analysis import Analysis, pick_pairs

    a = Analysis(trained, train_missing=True)
    assert set(a.comparisons) == {"latent 128", *comparison_configs(trained)}
    result = Discovery(a).result()
    names = [r["features"] for r in result.truth.measures]
    assert names[0].startswith("VAE") and names[1] == "orientation-pooled VAE" and names[2].startswith("autoencoder")
    baselines = {"untrained encoder", "pixel PCA-128", "tile mean + std", "texture statistics", "measured cells"}
    assert baselines <= set(names)
    assert list(result.truth.island_scores) == names  # one design: every space on the same islands
    for row in result.truth.measures:
        value, lo, hi = row["brain probe"]
        assert lo <= value <= hi
    assert read_discovery(trained).to_json() == json.loads(json.dumps(result.to_json()))  # the cache: the same numbers
    table = json.loads(scores_path(trained).read_text())
    assert set(names) < set(table) and all(set(v) == {"ari", "balanced accuracy"} for v in table.values())
    assert all(len(v["ari"]) == 3 for v in table.values())
    assert any(k.startswith("supervised island probe") for k in table)
    within, across = pick_pairs(a.test)
    assert a.test.image[within[1]] == a.test.image[within[2]] and a.test.image[across[1]] != a.test.image[across[2]]
    sizes = {r["model"]: r for r in a.latent_sizes()}
    assert sizes["latent 2"]["active units"] <= 2 and sizes["latent 4096"]["latent"] == 4096


@pytest.mark.slow
def test_a_second_analysis_reads_every_cache_without_the_training_brains(trained, monkeypatch):
    from islandvae.islands import discovery
    from islandvae.islands.discovery import Discovery
    from islandvae.latent import analysis
    from islandvae.latent.analysis import Analysis

    first = Analysis(trained)
    first.reductions(), first.latent_sizes(), first.midpoint_distances(), Discovery(first).result()
    monkeypatch.setattr(analysis, "train_tiles", lambda *a, **k: pytest.fail("training tiles read again"))
    monkeypatch.setattr(discovery, "enriched_sets", lambda *a, **k: pytest.fail("training brains read again"))
    a = Analysis(trained)
    a.reductions(), a.latent_sizes(), a.midpoint_distances(), Discovery(a).result()


@pytest.fixture
def true_islands_found(monkeypatch):
    """The finder made to find pieces of about 5 tiles of the true islands (the tiny stand-in's briefly trained
    model finds no island, and it holds two): what is typed, and on which model, is then the test's point."""
    import numpy as np

    from islandvae.islands import discovery
    from islandvae.islands.finder import find_islands
    from islandvae.islands.grid import island_crop, true_islands
    from islandvae.islands.morphology import region_measures

    def found(grid, features, images, **kw):
        out = find_islands(grid, features, images, **kw)
        true, pieces = true_islands(grid)[0], []
        for k in range(true.max() + 1):
            tiles = np.flatnonzero(true == k)
            pieces += np.array_split(tiles, max(1, len(tiles) // 5))
        island = np.full(len(true), -1)
        for k, tiles in enumerate(pieces):
            island[tiles] = k
        crops = [island_crop(images, grid, island, k, margin=0) for k in range(len(pieces))]
        return out | {
            "island": island,
            "core": island >= 0,
            "morphology": [region_measures(*crop, scale=kw["scale"]) for crop in crops],
        }

    def forget(folder):  # the run's cached pipeline, found by the real finder before or by this one after
        for name in ("discovery.json", "discovery.npz"):
            (folder / name).unlink(missing_ok=True)

    monkeypatch.setattr(discovery, "find_islands", found)
    yield forget
    monkeypatch.undo()


@pytest.mark.slow
def test_islands_typed_on_the_imaging_model_are_the_same_islands_typed_on_its_readout(trained, true_islands_found):
    from islandvae.model.runs import Run

    true_islands_found(Run.of(trained).folder)
    try:
        typed_on_imaging(trained)
    finally:
        true_islands_found(Run.of(trained).folder)


def typed_on_imaging(trained):
    import dataclasses

    import numpy as np

    from islandvae.islands.discovery import Discovery, discovery_key, pooled_features
    from islandvae.islands.types import island_types
    from islandvae.latent.analysis import Analysis
    from islandvae.model.runs import Run, typing_config

    config = dataclasses.replace(trained, islands=dataclasses.replace(trained.islands, typing="imaging"))
    other = typing_config(config)
    assert other.sampling.imaging and other.name == f"{trained.name}-imaging" and typing_config(other) is None
    with pytest.raises(UserError, match="islands.typing = 'imaging'.*no finished run; run `make train`"):
        Discovery(Analysis(config)).result()  # the imaging model is not trained, and this analysis may not train it
    main = Discovery(Analysis(trained)).result()
    a = Analysis(config, train_missing=True)
    result = Discovery(a).result()  # trains runs/<name>-imaging first
    assert Run.of(other).done(other) and discovery_key(config) != discovery_key(trained)
    assert result.found.islands == main.found.islands >= 8 and result.truth.match == main.truth.match
    with np.load(Run.of(config).folder / "discovery.npz") as saved:
        island, core = saved["island"], saved["core"]
    # typed on the imaging model's readout of the islands' core tiles, pooled over 8 orientations
    typed = np.flatnonzero(core & (island >= 0))
    grid = Discovery(a)._grid_arrays()[1]
    features = pooled_features(a, a.typing_model, grid, typed)
    again = island_types(
        features,
        np.where(core, island, -1),
        seed=config.train.seed,
        typed=np.array(result.types.type) >= 0,
        sections=np.array(result.sections.section),
    )
    assert np.ptp(result.types.axis) > 0  # placed on an axis (not too few islands to type)
    assert again["type"].tolist() == result.types.type and np.allclose(again["axis"], result.types.axis)
    mains = pooled_features(a, Analysis(trained).model, grid, typed)
    assert not np.allclose(features[typed], mains[typed])  # another model
    bad = dataclasses.replace(trained, islands=dataclasses.replace(trained.islands, typing="stain"))
    with pytest.raises(UserError, match="islands.typing must be one of main, imaging, got 'stain'"):
        typing_config(bad)


@pytest.mark.slow
def test_too_many_test_tiles_for_the_test_brain_is_an_error(trained, tmp_path):
    from islandvae.data.hdf5 import InMemoryImages
    from islandvae.data.stats import training_stats
    from islandvae.latent.codes import test_tiles

    config = load_config(write_config(tmp_path, trained.data.path, extra="[sampling]\ntest_tiles = 100000000\n"))
    images = InMemoryImages(config.data.path, ["B20"], progress=False)
    stats = training_stats(config.data.path, "B20", cache_dir=tmp_path, progress=False)
    with pytest.raises(UserError, match="sampling.test_tiles 100000000 exceeds"):
        test_tiles(config, images, stats)


@pytest.mark.slow
def test_without_truth_the_islands_are_found_and_described_but_not_scored(plain_file, tmp_path):
    from islandvae.islands import discovery
    from islandvae.islands import text as island_text
    from islandvae.latent.analysis import Analysis

    extra = QUICK_TRAINING.replace("comparison_steps = 6", "comparison_steps = 20")
    config = load_config(write_config(tmp_path, plain_file, extra=extra))
    train(config, progress=False)
    result = discovery.Discovery(Analysis(config)).result()
    assert result.truth is None  # no truth file: nothing is scored
    assert result.found.islands == 0  # noise images: no cluster is clearly denser than the rest
    texts = (island_text.finding_text(result), island_text.types_text(result), island_text.differences_text(result))
    for text in texts:
        assert text.endswith(".")
    assert not discovery.scores_path(config).exists()


@pytest.mark.slow
def test_each_lever_changes_exactly_one_setting(trained):
    import dataclasses

    from islandvae.islands.levers import lever_configs
    from islandvae.model.checkpoint import run_signature

    base = run_signature(trained)
    variants = lever_configs(trained)
    assert len(variants) == 9 and len({c.name for c in variants.values()}) == 9
    assert {c.train.max_steps for label, c in variants.items() if label.endswith("steps")} == {500, 2000, 4000}
    for label, config in variants.items():
        sig = run_signature(config)
        changed = [(s, k) for s in base for k in base[s] if base[s][k] != sig[s][k]]
        assert len(changed) == 1, (label, changed)
        assert config.name.startswith(trained.name + "-lever-")
    assert dataclasses.asdict(trained) == dataclasses.asdict(load_config(trained.source))  # the original untouched


@pytest.mark.slow
def test_the_lever_table_scores_finished_runs_and_belongs_to_its_config(trained, tmp_path):
    import dataclasses
    import json

    from islandvae.islands.levers import (
        lever_configs,
        lever_effects,
        lever_findings,
        measure_levers,
        read_levers,
    )

    config = dataclasses.replace(trained, paths=dataclasses.replace(trained.paths, results=tmp_path))
    beta = next(c for label, c in lever_configs(config).items() if label.startswith("beta"))
    train(beta, progress=False)  # one lever run; the others are missing and left out
    said = []
    table = measure_levers(config, progress=said.append)
    from islandvae.islands.levers import FINE_LABEL

    assert [r["features"] for r in table["rows"]] == [
        "as configured",
        "8 orientations pooled",
        FINE_LABEL,
        f"beta {beta.train.beta:g}",
    ]
    fine = table["rows"][2]
    assert fine["islands"] >= 1 and fine["tiles"] >= fine["islands"] and len(fine["island ARI"]) == 3
    assert sum("left out" in line for line in said) == len(lever_configs(config)) - 1
    assert {b["features"] for b in table["baselines"]} == {
        "pixel PCA-128",
        "tile mean + std",
        "texture statistics",
        "measured cells",
    }
    saved = read_levers(config)
    assert json.dumps(saved["rows"]) == json.dumps(table["rows"])  # as written (text: nan is not equal to nan)
    effects = lever_effects(saved)
    assert effects[0]["lever"] == "as configured" and isinstance(effects[0]["island ARI"], float)
    change = effects[1]["island balanced accuracy"]  # (value, change or 'tie') against the run as configured
    assert change[1] == "tie" or change[1][0] in "+\u2212"
    assert effects[-1]["lever"] == "measured cells"
    assert "Per measure: island ARI:" in lever_findings(saved) and "brain probe:" in lever_findings(saved)
    other = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=2e-3))
    assert read_levers(other) is None  # measured with other settings: not shown as this config's


@pytest.mark.slow
def test_the_main_model_stands_in_for_itself_when_the_comparison_budget_is_its_whole_run(trained, tmp_path):
    import dataclasses
    import shutil

    from islandvae.latent.analysis import Analysis

    shutil.copytree(trained.paths.runs / trained.name, tmp_path / trained.name)  # the main run alone
    whole = dataclasses.replace(
        trained,
        train=dataclasses.replace(trained.train, comparison_steps=12),
        paths=dataclasses.replace(trained.paths, runs=tmp_path),
    )
    a = Analysis(whole)  # no step-12 snapshot: the run itself ended at step 12
    assert list(a.comparisons) == [f"latent {whole.model.latent}"]
    assert a.comparisons[f"latent {whole.model.latent}"][2] == a.run.best


@pytest.mark.slow
def test_the_cli_analyses_a_trained_run_and_refuses_a_missing_one(trained, run_cli, tmp_path):
    (trained.paths.runs / trained.name / "discovery.json").unlink(missing_ok=True)  # the island pipeline runs again
    code, out, err = run_cli("analyse", "--config", trained.source)
    assert code == 0, err
    for part in ("every grid tile encoded", "islands found", "feature space: texture statistics"):
        assert part in out, out  # the island pipeline says what it has done, part by part (minutes at scale)
    for name in ("discovery.json", "reductions.npz", "islands.json"):
        assert (trained.paths.runs / trained.name / name).is_file(), name
    code, out, err = run_cli("analyse", "--config", write_config(tmp_path, trained.data.path))
    assert code == 2 and "no finished run" in err and "make train" in err


def test_lever_findings_name_what_moved_outside_the_intervals():
    from islandvae.islands.levers import lever_findings

    row = lambda name, ari, brain, **k: {"features": name, "island ARI": ari, "brain probe": brain, **k}
    table = {
        "rows": [
            row("as configured", (0.60, 0.55, 0.65), (0.70, 0.65, 0.75), steps=10),
            row("beta 0.5", (0.80, 0.75, 0.85), (0.695, 0.64, 0.74), steps=10),
            row("flat latent", (0.30, 0.25, 0.35), (0.90, 0.85, 0.95), steps=10),
        ],
        "baselines": [
            row("pixel PCA-8", (0.50, 0.45, 0.55), (0.60, 0.55, 0.66)),
            row("tile mean + std", (0.62, 0.57, 0.67), (0.65, 0.60, 0.70)),
        ],
    }
    text = lever_findings(table)
    assert text.startswith(
        "Outside the intervals, levers improved: island ARI (beta 0.5). Outside the intervals, "
        "flat latent made island ARI, brain probe worse."
    )
    assert (
        "island ARI: beta 0.5 improved it most, 0.60 to 0.80 (outside the intervals), ahead of the strongest "
        "baseline, tile mean + std (0.62)" in text
    )
    assert "brain probe: no lever improved it by 0.01 or more" in text and "tied with the strongest baseline" in text


def test_the_chapter_has_a_sentence_for_no_island_one_type_and_too_few_islands():
    import dataclasses

    from islandvae.islands import features as island_features
    from islandvae.islands import text as island_text
    from islandvae.islands.records import Clusters, Found, GridSize, IslandResult, TruthScores, Typing

    base = {
        "grid": GridSize(tiles=40, images=1, tile=64, stride=32),
        "clusters": Clusters(
            k=2, density=[10.0, 12.0], rank=[float("nan"), 0.6], tiles=[20, 20], tissue_density=11.0, threshold=14.0
        ),
    }
    none = IslandResult(**base, found=Found(islands=0, tiles=0, candidates=0), types=Typing(k=0))
    assert "No island was found" in island_text.finding_text(none)
    assert "too few" in island_text.types_text(none)
    measures = {m: (50.0, 45.0, 55.0) for m in island_features.MEASURES}
    one = IslandResult(
        **base,
        found=Found(islands=9, tiles=40, candidates=10),
        types=Typing(k=1, bic={1: 10.0, 2: 12.0}, type=[0] * 9, axis=[0.0] * 9),
        described=[{"type": 1, "islands": 9, **measures}],
    )
    assert "do not split into types" in island_text.types_text(one)
    assert "With one type" in island_text.differences_text(one)
    two = dataclasses.replace(
        one,
        described=[
            {"type": 1, "islands": 5, **measures, "cell diameter (px)": (7.5, 7.3, 7.7)},
            {"type": 2, "islands": 4, **measures, "cell diameter (px)": (9.0, 8.5, 9.5)},
        ],
    )
    assert "type 1 against type 2: smaller (cell diameter" in island_text.differences_text(two)
    single = IslandResult(truth=TruthScores(true_islands={"granular": 4, "parvicellular": 0}))
    assert not island_text.measurable(single)
    assert "4 granular, 0 parvicellular" in island_text.not_measurable_text(single)


def test_chapter5s_sentences_come_from_the_package():
    """The chunks moved out of chapter 5 (latent/text.py, explorer_block, lever_tables): what they say follows the
    numbers they are given."""
    from types import SimpleNamespace

    import torch

    from islandvae.islands.levers import ISLAND_COLUMNS, TILE_COLUMNS, lever_tables
    from islandvae.latent import text
    from islandvae.latent.explorer import explorer_block

    mid = {"midpoint to nearest real": 1.0, "reconstruction to nearest real": 0.95, "real to nearest other real": 0.8}
    assert "as close to real tiles as reconstructions" in text.midpoints_text(mid)
    assert "farther from real tiles" in text.midpoints_text({**mid, "midpoint to nearest real": 2.0})
    test = SimpleNamespace(
        keys=[("B1", "s1", 0, 0, 8), ("B1", "s2", 8, 16, 8)], tiles=torch.zeros(2, 1, 8, 8), label=["granular", "plain"]
    )
    assert "s1 at (0, 0) to s2 at (8, 16)" in text.pairs_text(test, [("same section", 0, 1)])
    stats = SimpleNamespace(mean=100.0, std=20.0)
    xy = np.array([[0.0, 0.0], [1.0, 1.0]])
    labelled = explorer_block(xy, test, stats, labelled=True)
    assert labelled.startswith("```{=html}") and "#d62728" in labelled and "granular" in labelled
    assert "granular" not in explorer_block(xy, test, stats, labelled=False)  # no truth: no label shown
    table = {
        "rows": [
            {"features": "as configured", "steps": 10, "island ARI": [0.5, 0.4, 0.6], "recon MSE": [0.2, 0.1, 0.3]}
        ],
        "baselines": [],
    }
    island_rows, tile_rows = lever_tables(table)
    assert set(island_rows[0]) <= set(ISLAND_COLUMNS) and "island ARI" in island_rows[0]
    assert set(tile_rows[0]) <= set(TILE_COLUMNS) and "recon MSE" in tile_rows[0] and "island ARI" not in tile_rows[0]


def test_encoder_passes_in_a_gpus_precision_agree_with_float32_within_tolerance():
    """The analysis runs every encoder pass where the model is, in the precision the training rule picks there
    (bfloat16 autocast on a GPU with it in hardware, float16 before). Through the same code path on the CPU: the
    readout in bfloat16 autocast agrees with float32 within READOUT_TOLERANCE of the readout's spread, and a model
    that `load_model` puts on the CPU runs in float32 exactly as before."""
    from islandvae.config import ModelConfig
    from islandvae.latent.codes import on_cpu, readout
    from islandvae.model.vae import VAE

    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=16, width=8, depth=3, normalise=True, latent_map=True), 32).eval()
    tiles = torch.randn(24, 1, 32, 32)
    exact = readout(model, tiles)
    model.inference_dtype = torch.bfloat16  # what load_model sets on a GPU with bfloat16 in hardware
    rounded = readout(model, tiles)
    assert rounded.dtype == exact.dtype and rounded.shape == exact.shape
    assert np.abs(rounded - exact).max() <= READOUT_TOLERANCE * exact.std()
    assert not np.array_equal(rounded, exact)  # the autocast path was taken
    assert on_cpu(model) is model


READOUT_TOLERANCE = 0.05  # bfloat16 keeps 8 bits of mantissa: a readout differs from float32's by about 1 % of its
# spread; the island pipeline's types and scores are decided at far coarser differences


def test_the_analysis_plan_bounds_the_grid_and_stops_a_run_too_long_for_this_device(tmp_path):
    """islands/plan.py counts the encoder passes from the file's metadata (the grid at least as large as the one
    the pipeline encodes) and, like training, stops `analyse` before it starts where the plan exceeds
    train.max_hours here; within it nothing is measured."""
    from islandvae.data.hdf5 import InMemoryImages
    from islandvae.data.stats import training_stats
    from islandvae.islands.grid import tissue_grid
    from islandvae.islands.plan import analysis_plan, check_analysis_plan
    from islandvae.tiles.tissue import tissue_map

    data = generate(tmp_path / "tiny.h5", preset="tiny", progress=False)
    config = load_config(write_config(tmp_path, data, extra=QUICK_TRAINING))
    plan = analysis_plan(config)
    images = InMemoryImages(data, [config.data.test_brain], progress=False)
    stats = training_stats(data, config.data.test_brain, cache_dir=tmp_path / "cache", progress=False)
    s = config.sampling.tile_size
    encoded = tissue_grid(images.infos(), tissue_map(images, stats), tile=s, stride=s // 2)
    assert len(encoded) <= plan["grid tiles"] == plan["passes"]["test brain's grid, one view"]
    assert plan["PFLOP"] > 0 and all(h > 0 for h in plan["hours"].values())
    check_analysis_plan(config, torch.device("cpu"))  # far within 4 h: returns
    extra = QUICK_TRAINING.replace("[train]", "[train]\nmax_hours = 1e-9")
    hasty = load_config(write_config(tmp_path, data, extra=extra))
    with pytest.raises(UserError, match=r"analysing test here would take about .* h by its plan .*max_hours"):
        check_analysis_plan(hasty, torch.device("cpu"))


def test_the_finding_says_how_many_clusterings_voted_and_that_the_clusters_shown_are_the_first_ones():
    from islandvae.islands import text as island_text
    from islandvae.islands.finder import AGREE
    from islandvae.islands.records import Clusters, Found, GridSize, IslandResult, Typing

    grid = GridSize(tiles=40, images=1, tile=64, stride=32)
    found = Found(islands=3, tiles=12, candidates=4)
    cores = Clusters(k=2, density=[10.0, 30.0], rank=[float("nan"), 0.95], tiles=[30, 10], island_clusters=[1])

    def text(clusters):
        return island_text.finding_text(IslandResult(grid=grid, clusters=clusters, found=found, types=Typing(k=1)))

    one = text(cores)
    assert "clusterings" not in one and "makes the islands' cores" in one
    nine = text(Clusters(**{**cores.__dict__, "starts": 9}))
    assert ", in the first of the 9 clusterings" in nine and f"at least {AGREE} of the 9 clusterings" in nine
    # the first clustering has no clearly denser cluster, the vote still found islands: no "no island" sentence
    plain = text(Clusters(k=2, density=[10.0, 12.0], rank=[float("nan"), 0.6], tiles=[30, 10], starts=9))
    assert "holds no island" not in plain and "in that clustering" in plain and "are the found islands" in plain
