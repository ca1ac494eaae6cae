"""The synthetic stand-in: layout, truth, determinism, bad input."""

import hashlib
import importlib
import json

import h5py
import numpy as np
import pytest

from islandvae.data.hdf5 import read_inventory
from islandvae.data.synth import PRESETS, generate
from islandvae.data.synth.generate import Preset
from islandvae.data.truth import TruthFile, label_from_mask, truth_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    return generate(path, preset="tiny", seed=3, progress=False)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_file_has_exactly_the_real_layout(tiny):
    with h5py.File(tiny) as f:
        assert list(f) == ["B01", "B02", "B05", "B07", "B20"]
        assert dict(f.attrs) == {}
        for brain, count in PRESETS["tiny"].counts.items():
            assert list(f[brain]) == [f"{i:04d}" for i in range(count)]
            assert dict(f[brain].attrs) == {}
            for ds in f[brain].values():
                assert ds.ndim == 2 and ds.dtype == np.uint8 and dict(ds.attrs) == {}
    inventory = read_inventory(tiny)
    assert len({i.shape for i in inventory.images}) > 3  # varied sizes
    assert 1e6 < sum(i.pixels for i in inventory.images) < 1e7  # a few Mpx


def test_truth_file_describes_every_image(tiny):
    inventory = read_inventory(tiny)
    with TruthFile(truth_path(tiny)) as truth:
        assert truth.generator()["preset"] == "tiny" and truth.generator()["seed"] == 3
        kinds = []
        for image in inventory.images:
            mask, flags = truth.mask(image.brain, image.name), truth.flags(image.brain, image.name)
            assert mask.shape == flags.shape == image.shape
            assert set(np.unique(mask)) <= {0, 1, 2, 255}
            info = truth.info(image.brain, image.name)
            assert len(info["island_types"]) == len(info["island_diameters"])
            kinds += info["island_types"]
            for kind in set(info["island_types"]):  # every listed island type is drawn in the mask
                assert (mask == {"granular": 1, "parvicellular": 2}[kind]).any()
            outside = mask == 255
            assert ((flags[outside] & (8 | 1)) > 0).all()  # no tissue is flagged: outside or tear
        assert {"granular", "parvicellular"} <= set(kinds)


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tiny, tmp_path):
    again = generate(tmp_path / "again.h5", preset="tiny", seed=3, workers=1, progress=False)
    assert _digest(again) == _digest(tiny)
    assert _digest(truth_path(again)) == _digest(truth_path(tiny))
    other = generate(tmp_path / "other.h5", preset="tiny", seed=4, progress=False)
    assert _digest(other) != _digest(tiny)


def test_tile_labels_follow_the_truth_rule():
    mask = np.zeros((10, 10), np.uint8)
    assert label_from_mask(mask) == "plain"
    mask[:5] = 1
    assert label_from_mask(mask) == "granular"
    mask[:5] = 2
    assert label_from_mask(mask) == "parvicellular"
    mask[:] = 0
    mask[:2] = 1  # 20 % island: neither plain nor an island
    assert label_from_mask(mask) == "ambiguous"
    mask[:] = 255
    mask[:4] = 1  # tissue is 40 % of the tile: background
    assert label_from_mask(mask) == "background"
    mask[:6] = 0
    mask[:3] = 1  # half the tissue (3 of 6 rows) is granular
    assert label_from_mask(mask) == "granular"


def test_truth_labels_tiles_of_the_file(tiny):
    with TruthFile(truth_path(tiny)) as truth:
        image = read_inventory(tiny).images[0]
        mask = truth.mask(image.brain, image.name)
        assert truth.tile_label(image.brain, image.name, 10, 20, 64) == label_from_mask(mask[10:74, 20:84])


def test_tile_labels_of_many_keys_equal_one_lookup_each(tiny):
    """The grouped lookup gives each key's label in the keys' order, images interleaved, tiles over the edge."""
    rng = np.random.default_rng(0)
    images = read_inventory(tiny).images
    keys = []
    for _ in range(300):
        image = images[rng.integers(len(images))]
        keys.append((image.brain, image.name, int(rng.integers(image.height)), int(rng.integers(image.width)), 64))
    with TruthFile(truth_path(tiny)) as truth:
        labels = truth.tile_labels(keys)
        assert labels == [truth.tile_label(*k) for k in keys]
        assert len(set(labels)) >= 3  # the keys reach several kinds of tile
        assert truth.tile_labels([]) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (dict(preset="huge"), ["unknown preset 'huge'", "tiny, small, full"]),
        (dict(preset="tiny", difficulty=1.5), ["difficulty 1.5", "between 0 and 1"]),
    ],
)
def test_bad_options_are_refused(tmp_path, run_cli, args, words):
    argv = ["synth", "--out", tmp_path / "x.h5", "--preset", args["preset"]]
    if "difficulty" in args:
        argv += ["--difficulty", args["difficulty"]]
    code, out, err = run_cli(*argv)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert all(word in err for word in words)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_forced(tiny, tmp_path, run_cli):
    target = tmp_path / "t.h5"
    target.write_bytes(b"mine")
    code, out, err = run_cli("synth", "--preset", "tiny", "--out", target)
    assert code == 2 and "exists" in err and "--force" in err
    assert target.read_bytes() == b"mine"
    code, out, err = run_cli("synth", "--preset", "tiny", "--seed", "3", "--out", target, "--force")
    assert code == 0, err
    assert _digest(target) == _digest(tiny)


def test_unwritable_path_is_refused(tmp_path, run_cli):
    # Works as root too: a file where a folder should be cannot hold anything.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run_cli("synth", "--preset", "tiny", "--out", blocker / "x.h5")
    assert code == 2 and "cannot write" in err and "--out" in err


def test_an_interrupted_run_leaves_no_file(tmp_path, monkeypatch):
    module = importlib.import_module("islandvae.data.synth.generate")  # the module, not the function

    calls = {"n": 0}
    real = module.render

    def failing(plan, bank):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(plan, bank)

    monkeypatch.setattr(module, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "x.h5", preset="tiny", workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_custom_presets_are_recorded(tmp_path):
    preset = Preset(counts={"B01": 1, "B20": 1}, max_side=500)
    path = generate(tmp_path / "c.h5", preset=preset, seed=1, difficulty=0.7, progress=False)
    with TruthFile(truth_path(path)) as truth:
        params = truth.generator()
    assert params["preset"] == "custom" and params["difficulty"] == 0.7
    assert json.loads(json.dumps(params["counts"])) == {"B01": 1, "B20": 1}


def test_full_preset_plans_the_real_counts_and_scale():
    from islandvae.data.layout import REAL_COUNTS
    from islandvae.data.synth.generate import make_plans

    plans = make_plans(PRESETS["full"], 0, 0.3)
    assert {b: sum(p.brain == b for p in plans) for b in REAL_COUNTS} == REAL_COUNTS
    pixels = sum(p.height * p.width for p in plans)
    assert 2.2e9 < pixels < 2.8e9  # about 2.5 Gpx
    assert abs(np.mean([p.width for p in plans]) - 1222) < 120
    assert abs(np.mean([p.height for p in plans]) - 1162) < 120
    assert min(min(p.height, p.width) for p in plans) >= 484 and max(max(p.height, p.width) for p in plans) <= 5840


def test_strategy_table_gives_each_class_a_row_and_each_group_sums_to_all_tiles(tiny):
    from islandvae.data.hdf5 import InMemoryImages, training_brains
    from islandvae.data.stats import training_stats
    from islandvae.tiles.sampler import STRATEGIES
    from islandvae.tiles.sampling import compare_strategies

    brains = training_brains(read_inventory(tiny), "B20")
    images = InMemoryImages(tiny, brains, progress=False)
    stats = training_stats(tiny, "B20", cache_dir=tiny.parent / "cache", progress=False)
    rows = compare_strategies(images, stats, tiny, tile_size=64, tiles=400)
    assert [r["class"] for r in rows if r["share of tiles by"] == "brain"] == list(images.brains)
    assert [r["class"] for r in rows if r["share of tiles by"] == "content"] == [
        "island",
        "plain",
        "ambiguous",
        "no tissue",
    ]
    for group in ("brain", "image size", "content"):
        for strategy in STRATEGIES:
            assert sum(r[strategy] for r in rows if r["share of tiles by"] == group) == pytest.approx(100)
