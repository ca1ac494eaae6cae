"""The robustness sets (islands/robustness.py), the generator options they use, and the island catalogue."""

import dataclasses
import json

import numpy as np
import pytest
from conftest import QUICK_TRAINING, write_config

from islandvae.config import PROJECT_ROOT, load_config
from islandvae.data.synth import Options, generate
from islandvae.data.synth.generate import PRESETS, Preset, parameters
from islandvae.errors import UserError
from islandvae.islands import robustness, robustness_text
from islandvae.islands.records import GridSize, IslandResult, Typing


def test_every_robustness_set_differs_from_the_config_only_in_its_data(tmp_path):
    config = load_config(write_config(tmp_path, tmp_path / "d.h5", data_extra='synthetic = "small"'))
    sets = robustness.robustness_configs(config)
    assert len(sets) == 8 and len({c.name for c in sets.values()}) == 8
    assert len({c.data.path for c in sets.values()} | {config.data.path}) == 9  # none overwrites another file
    for c in sets.values():
        assert dataclasses.replace(c, name=config.name, data=config.data) == config
        assert c.data.path.parent == config.data.path.parent and c.data.synthetic == "small"
    options = {
        (c.data.island_density, c.data.cell_scale, c.data.section_imaging, c.data.pixel_size) for c in sets.values()
    }
    assert options == {
        (1.0, 1.0, 0.0, 1.0),
        (0.2, 1.0, 0.0, 1.0),
        (1.0, 1.5, 0.0, 1.0),
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 1.0, 0.0, 1.5),
    }
    assert sorted(c.data.difficulty for c in sets.values()) == [0.3] * 7 + [0.6]
    real = load_config(write_config(tmp_path, tmp_path / "course.h5"))
    with pytest.raises(UserError, match="not a synthetic stand-in"):
        robustness.robustness_configs(real)


def test_the_generator_options_change_the_islands_and_nothing_else_by_default(tmp_path):
    preset = Preset(counts={"B01": 1, "B02": 1, "B05": 1, "B07": 1, "B20": 1}, max_side=700, scale=1.0)
    assert "options" not in parameters(PRESETS["tiny"], "tiny", 0, 0.3, Options())  # default files unchanged
    plain = generate(tmp_path / "a.h5", preset=preset, seed=1, progress=False)
    sparse = generate(tmp_path / "b.h5", preset=preset, seed=1, progress=False, options=Options(island_density=0.15))
    import h5py

    from islandvae.data.synth.cells import SpriteBank
    from islandvae.data.truth import TruthFile, truth_path
    from islandvae.islands.morphology import cells

    def island_density(path):
        with h5py.File(path) as f, TruthFile(truth_path(path)) as truth:
            counted = [
                cells(f[b][n][()], np.isin(truth.mask(b, n), (1, 2)))
                for b in f
                for n in f[b]
                if np.isin(truth.mask(b, n), (1, 2)).sum() > 5000
            ]
            return np.mean([c["density"] for c in counted])

    assert island_density(sparse) < 0.6 * island_density(plain)

    def area(bank):  # in-focus granule cells: pixels above half their darkest
        return np.mean([(s > 0.5 * s.max()).sum() for s in bank.sprites["granule"][0]])

    assert area(SpriteBank(1, 0.3, cell_scale=1.5)) > 1.8 * area(SpriteBank(1, 0.3))
    with h5py.File(truth_path(sparse)) as t:
        assert json.loads(t.attrs["generator"])["options"] == {
            "island_density": 0.15,
            "cell_scale": 1.0,
            "section_imaging": 0.0,
            "pixel_size": 1.0,
        }
    with pytest.raises(UserError, match="island_density 2"):
        generate(tmp_path / "d.h5", preset=preset, progress=False, options=Options(island_density=2))


def _entry(vae, measured, recall=1.0, precision=0.9, types=2):
    def score(v):
        return {"ari": [v, v - 0.1, v + 0.1], "balanced accuracy": [0.9, 0.8, 1.0]}

    return {
        "scores": {
            "VAE (latent 128)": score(vae),
            "measured cells": score(measured),
            "texture statistics": score(0.8),
            "tile mean + std": score(0.0),
        },
        "ceilings": {"VAE (latent 128)": score(vae + 0.3), "texture statistics": score(0.9)},
        "found": {
            "true islands": 40,
            "found islands": 38 if recall else 0,
            "recall": recall,
            "precision": precision,
            "types": types,
        },
    }


def test_the_robustness_table_and_its_findings_say_where_it_fails():
    hard = _entry(0.8, 0.85) | {"data": {"difficulty": 0.6}}
    table = {
        "sets": {
            "seed 1": _entry(0.9, 0.9),
            "seed 2": hard,
            "sparse islands": _entry(0.3, 0.9, recall=0.0, precision=float("nan"), types=1),
        }
    }
    finding, typing = robustness_text.table_rows(table, default=_entry(0.74, 0.95))
    assert (
        [r["data"] for r in finding]
        == [r["data"] for r in typing]
        == ["default (as reported)", "seed 1", "seed 2", "sparse islands"]
    )
    assert finding[3]["found"] == 0 and finding[3]["true"] == 40 and finding[3]["recall"] is None  # none found
    assert finding[1]["recall"] == 1.0 and finding[1]["found"] == 38
    assert typing[1]["VAE"] == 0.9 and typing[1]["texture ceiling"] == 0.9
    assert typing[1]["pooled"] is None  # a space that was not scored: the table shows '-'
    text = robustness_text.findings(table)
    assert "median ARI 0.80, worst 0.30 (sparse islands)" in text
    assert "no island found in sparse islands" in text
    assert "sparse islands (1)" in text and "measured cells type the true islands better than the VAE on sparse" in text
    assert "below 0.5" in text and "At difficulty 0.6 (seed 2) the VAE reaches ARI 0.80, at least 0.8 times" in text
    assert robustness_text.summary_line(table).startswith("On 3 other stand-ins the VAE types")  # pooled: not scored


def test_the_robustness_table_belongs_to_its_config(tmp_path):
    config = load_config(write_config(tmp_path, tmp_path / "d.h5", data_extra='synthetic = "small"'))
    path = robustness.results_path(config)
    assert robustness.read_robustness(config) is None
    path.parent.mkdir(parents=True)
    from islandvae.model.checkpoint import run_signature

    path.write_text(json.dumps({"signature": run_signature(config), "sets": {"seed 1": _entry(0.9, 0.9)}}))
    assert set(robustness.read_robustness(config)["sets"]) == {"seed 1"}
    other = dataclasses.replace(config, train=dataclasses.replace(config.train, beta=0.5))
    assert robustness.read_robustness(other) is None
    path.write_text("{not json")
    assert robustness.read_robustness(config) is None  # damaged: not shown (make robustness writes it anew)


def test_the_catalogue_lists_every_found_island_with_its_extent_and_type():
    from islandvae.data.hdf5 import ImageInfo
    from islandvae.islands.catalogue import CATALOGUE, catalogue_csv
    from islandvae.islands.features import MEASURES
    from islandvae.islands.text import extent_rows

    infos = [ImageInfo("B20", "0000", 300, 200, "uint8"), ImageInfo("B20", "0001", 100, 100, "uint8")]
    arrays = {
        "island": np.array([0, 0, 1, -1, 2]),
        "image": np.array([0, 0, 0, 0, 1]),
        "row": np.array([0, 32, 200, 0, 60]),
        "col": np.array([0, 0, 100, 64, 60]),
    }
    cells = {m: 1.0 for m in MEASURES}
    result = IslandResult(grid=GridSize(tile=64), types=Typing(type=[0, 1, -1]), morphology=[cells, cells, cells])
    import csv

    lines = list(csv.reader(catalogue_csv(infos, arrays, result).decode().splitlines()))
    assert lines[0] == list(CATALOGUE) and len(lines) == 4
    first = dict(zip(CATALOGUE, lines[1]))
    assert (first["top"], first["left"], first["bottom"], first["right"]) == ("0", "0", "96", "64")
    assert first["area (px)"] == str(96 * 64) and first["tiles"] == "2" and first["type"] == "1"
    last = dict(zip(CATALOGUE, lines[3]))
    assert last["image"] == "0001" and last["bottom"] == "100" and last["area (px)"] == str(40 * 40)
    assert last["type"] == "set apart"
    extent = extent_rows(infos, arrays, result)
    assert [r["type"] for r in extent] == ["type 1", "type 2", "set apart"]
    assert extent[0]["median side"] == 96


def test_the_levers_on_other_stand_ins_are_tabled_beside_the_default():
    def ari(v):
        return {"ari": [v, v - 0.05, v + 0.05], "balanced accuracy": [0.9, 0.8, 1.0]}

    table = {
        "sets": {
            "seed 2": _entry(0.8, 0.8)
            | {
                "levers": {
                    "VAE": ari(0.5),
                    "8 orientations pooled": ari(0.8),
                    "500 steps": ari(0.3),
                    "2,000 steps": ari(0.6),
                }
            },
            "seed 1": _entry(0.1, 0.1),
        }
    }  # not a lever set: no column
    levers = {
        "rows": [
            {"features": "as configured", "island ARI": (0.74, 0.6, 0.9)},
            {"features": "8 orientations pooled", "island ARI": (0.79, 0.6, 0.95)},
            {"features": "4,000 steps", "island ARI": (0.7, 0.5, 0.9)},
            {"features": "beta 0.2 (at abc1234)", "island ARI": (0.1, 0.0, 0.2)},
        ]
    }
    rows = robustness_text.lever_rows(table, levers)
    assert [r["lever"] for r in rows] == ["VAE", "8 orientations pooled", "500 steps", "2,000 steps", "4,000 steps"]
    assert set(rows[0]) == {"lever", "default", "seed 2"}
    assert rows[0]["default"] == 0.74 and rows[1]["seed 2"] == 0.8 and rows[2]["default"] is None
    assert rows[4]["seed 2"] is None  # 4,000 steps measured on the default stand-in only
    text = robustness_text.lever_findings(table, levers)
    assert "seed 2: best 8 orientations pooled (ARI 0.80 against 0.50" in text and "outside the intervals" in text
    assert "one view's budget curve peaks at 2,000 steps" in text  # seed 2: 0.3, 0.5 (configured), 0.6
    assert "default: best 8 orientations pooled (ARI 0.79 against 0.74" in text and "inside the intervals" in text
    assert robustness_text.lever_rows({"sets": {}}, None) == [] and robustness_text.lever_findings({"sets": {}}) == ""


@pytest.mark.slow
def test_make_robustness_generates_trains_and_scores_each_set(tmp_path, monkeypatch):
    monkeypatch.setattr(robustness, "SETS", {"seed 7": {"seed": 7}})
    monkeypatch.setattr(robustness, "LEVER_SETS", ("seed 7",))
    monkeypatch.setattr(robustness, "LEVER_BUDGETS", (6,))  # the budget lever, shorter than the set's own run
    config = load_config(
        write_config(tmp_path, tmp_path / "tiny.h5", data_extra='synthetic = "tiny"', extra=QUICK_TRAINING)
    )
    said = []
    table = robustness.measure_robustness(config, progress=said.append)
    assert list(table["sets"]) == ["seed 7"] and any("generating" in line for line in said)
    row = table["sets"]["seed 7"]
    assert {"VAE (latent 128)", "measured cells", "orientation-pooled VAE", "texture statistics"} <= set(row["scores"])
    assert row["data"]["seed"] == 7 and "supervised" not in json.dumps(row["scores"])
    assert set(row["levers"]) == {
        "VAE",
        "8 orientations pooled",
        "quarter-tile stride, 8 orientations pooled",
        "6 steps",
        "6 steps, 8 orientations pooled",
    }
    assert all(len(v["ari"]) == 3 for v in row["levers"].values())
    assert json.dumps(robustness.read_robustness(config)["sets"]["seed 7"]["found"]) == json.dumps(row["found"])
    again = []
    robustness.measure_robustness(config, progress=again.append)
    assert not any("generating" in line or "training" in line for line in again)  # each step once
    # one set measured again apart: the table keeps when it was measured, the row says when, where and on what
    earlier = robustness.read_robustness(config)
    earlier["measured"], earlier["commit"] = "2000-01-01", "abc1234"
    robustness.results_path(config).write_text(json.dumps(earlier))
    apart = robustness.measure_robustness(config, progress=again.append, sets=["seed 7"])
    assert (apart["measured"], apart["commit"]) == ("2000-01-01", "abc1234")
    assert set(apart["sets"]["seed 7"]["measured"]) == {"date", "commit", "cpu", "islands"}
    assert apart["sets"]["seed 7"]["measured"]["islands"] == dataclasses.asdict(config.islands)
    text = robustness_text.measured_text(apart)
    assert "Measured on 2000-01-01 (commit abc1234)" in text and "measured again apart" in text and "seed 7 on" in text
    assert text.endswith(robustness_text.ANOTHER_CPU)  # and that a run on another CPU is another run
    with pytest.raises(UserError, match="--sets: no robustness set 'seed 9'"):
        robustness.measure_robustness(config, sets=["seed 9"])
    robustness.results_path(config).unlink()
    with pytest.raises(UserError, match="measure every set first"):  # no table to keep the other rows of
        robustness.measure_robustness(config, sets=["seed 7"])


def test_rows_measured_with_other_island_settings_are_named_and_rows_from_before_count_as_one_clustering():
    """[islands] is not in the run signature, so a panel measured with other settings still belongs to the config:
    the chapter says which settings its rows had (a row without them: before they were kept, one clustering)."""
    config = load_config(PROJECT_ROOT / "configs" / "default.toml")
    earlier = {"date": "2026-01-01", "commit": "abc", "cpu": "x"}
    table = {"sets": {"seed 1": {"measured": earlier}, "seed 2": {"measured": earlier | {"islands": {"starts": 9}}}}}
    one = dataclasses.replace(config, islands=dataclasses.replace(config.islands, starts=1))
    nine = dataclasses.replace(config, islands=dataclasses.replace(config.islands, starts=9))
    assert robustness_text.settings_text({"sets": {"seed 1": {"measured": earlier}}}, one) == ""
    text = robustness_text.settings_text(table, nine)
    assert "islands.starts = 1 (1 of 2 sets)" in text and "islands.starts = 9" in text and "\n" not in text
    assert "islands.starts = 9 (1 of 2 sets)" in robustness_text.settings_text(table, one)
