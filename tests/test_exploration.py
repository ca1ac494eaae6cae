"""Chapter 1's package side: per-brain tables, the test-brain argument, figures; and the loader-speed table."""

import numpy as np
import pytest
import torch

from islandvae.config import PROJECT_ROOT
from islandvae.data.exploration import (
    argue_test_brain,
    brain_table,
    extreme_images_figure,
    histogram_figure,
    island_counts,
    size_figure,
    wasserstein,
)
from islandvae.data.hdf5 import InMemoryImages, read_inventory
from islandvae.data.stats import training_stats
from islandvae.data.synth import generate
from islandvae.data.truth import TruthFile, truth_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("explore") / "tiny.h5"
    generate(path, preset="tiny", seed=3, progress=False)
    return path


def test_wasserstein_of_a_shifted_histogram_is_the_shift():
    a = np.zeros(256)
    a[100:110] = 1
    assert wasserstein(a, np.roll(a, 7)) == pytest.approx(7)
    assert wasserstein(a, a) == 0


def test_brain_table_counts_images_pixels_and_islands(tiny, tmp_path):
    inventory = read_inventory(tiny)
    rows = brain_table(tiny, inventory, cache_dir=tmp_path)
    assert [r["brain"] for r in rows] == list(inventory.brains)
    assert sum(r["pixels %"] for r in rows) == pytest.approx(100)
    assert [r["images"] for r in rows] == [len(inventory.of(b)) for b in inventory.brains]
    with TruthFile(truth_path(tiny)) as truth:
        granular = sum(truth.info(i.brain, i.name)["island_types"].count("granular") for i in inventory.of("B20"))
    assert next(r for r in rows if r["brain"] == "B20")["granular"] == granular
    assert island_counts(tiny, inventory)["B20"]["granular"] == granular


def test_brain_table_without_truth_has_no_island_columns(plain_file, tmp_path):
    rows = brain_table(plain_file, read_inventory(plain_file), cache_dir=tmp_path)
    assert "granular" not in rows[0] and all(r["distance to others"] >= 0 for r in rows)


def test_test_brain_argument_is_worked_out_from_the_table():
    rows = [
        {
            "brain": b,
            "images": n,
            "pixels %": p,
            "mean": m,
            "std": 40.0,
            "distance to others": d,
            "granular": g,
            "parvicellular": 3,
        }
        for b, n, p, m, d, g in [
            ("B01", 30, 30.0, 140.0, 10.0, 4),
            ("B07", 25, 25.0, 190.0, 40.0, 5),
            ("B20", 10, 10.0, 120.0, 30.0, 0),
        ]
    ]
    text = argue_test_brain(rows, "B20")
    assert "10 images" in text and "90 %" in text and "1st darkest" in text and "2nd largest" in text
    assert "choose another test brain" in text  # no granular island in B20 here
    assert "both types" in argue_test_brain(rows, "B01")


def test_figures_show_every_brain(tiny, tmp_path):
    inventory = read_inventory(tiny)
    assert len(extreme_images_figure(tiny, inventory).axes) == 4 * len(inventory.brains)
    assert len(histogram_figure(tiny, inventory, cache_dir=tmp_path).axes[0].lines) == len(inventory.brains)
    assert len(size_figure(inventory).axes) == 2


def test_plain_and_project_loaders_cut_the_same_tile_and_both_are_timed(tiny, tmp_path):
    from islandvae.tiles.dataset import TileDataset
    from islandvae.tiles.speed import PlainDataset, loader_rates

    images = InMemoryImages(tiny, ["B01", "B02"], progress=False)
    stats = training_stats(tiny, "B20", cache_dir=tmp_path, progress=False)
    info = images.infos()[0]
    key = (info.brain, info.name, 5, 9, 32)
    np.testing.assert_allclose(
        PlainDataset(images, stats)[key].numpy(), TileDataset(images, stats)[key].numpy(), atol=1e-5
    )
    rows = loader_rates(images, stats, sizes=(32,), batch_size=8, seconds=0.05)
    assert rows[0]["tile"] == 32 and rows[0]["project loader"] > 0 and rows[0]["plain per-item"] > 0


def test_measurements_are_bounded_by_time_not_by_work():
    from islandvae.machine import for_seconds

    calls = []
    timed, seconds = for_seconds(lambda: calls.append(1), 0.05)
    assert timed == len(calls) - 1 and seconds >= 0.05  # one warm-up call, then calls until the budget is spent


@pytest.mark.slow
def test_bf16_is_reported_not_timed_on_a_cpu_without_it(monkeypatch):
    from islandvae import machine
    from islandvae.config import load_config
    from islandvae.model import speed

    monkeypatch.setattr(machine, "native_bf16", lambda: False)
    monkeypatch.setattr(speed, "native_bf16", lambda: False)
    config = load_config(PROJECT_ROOT / "configs" / "smoke.toml")
    rows = speed.speed_table(config, speed.flops_per_tile(config), seconds=0.05)
    assert [r["precision"] for r in rows] == ["fp32", "bf16 autocast"]
    assert rows[0]["tiles/s"] > 0 and "no native bf16" in rows[1]["tiles/s"]
    assert speed.matmul_rate(torch.bfloat16, seconds=0.05) is None
    assert "no native bfloat16" in machine.describe_cpu()
