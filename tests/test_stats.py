import json

import h5py
import numpy as np
import pytest

from islandvae.data import stats as stats_module
from islandvae.data.stats import brain_histograms, training_stats


def _reference(path, brains):
    with h5py.File(path) as f:
        pixels = np.concatenate([f[b][n][()].ravel().astype(np.float64) for b in brains for n in f[b]])
    return pixels.min(), pixels.max(), pixels.mean(), pixels.std(), pixels.size


def test_streaming_stats_equal_a_float64_reference(plain_file, tmp_path, monkeypatch):
    monkeypatch.setattr(stats_module, "BLOCK_PIXELS", 50_000)  # many blocks per image
    result = training_stats(plain_file, "B20", cache_dir=tmp_path, progress=False)
    lo, hi, mean, std, count = _reference(plain_file, ["B01", "B02", "B05", "B07"])
    assert result.brains == ("B01", "B02", "B05", "B07")
    assert result.count == count
    assert (result.min, result.max) == (lo, hi)
    assert result.mean == pytest.approx(mean, rel=1e-9)
    assert result.std == pytest.approx(std, rel=1e-9)


def test_other_test_brain_changes_the_training_set(plain_file, tmp_path):
    result = training_stats(plain_file, "B01", cache_dir=tmp_path, progress=False)
    assert result.brains == ("B02", "B05", "B07", "B20")
    assert result.mean == pytest.approx(_reference(plain_file, result.brains)[2], rel=1e-9)


def test_second_call_reads_the_cache_and_no_pixel(plain_file, tmp_path, monkeypatch):
    first = training_stats(plain_file, "B20", cache_dir=tmp_path, progress=False)
    [record] = tmp_path.glob("stats-*.json")
    assert json.loads(record.read_text())["stats"]["mean"] == first.mean

    def fail(*args, **kwargs):
        raise AssertionError("pixels were read again")

    monkeypatch.setattr(stats_module, "_count", fail)
    assert training_stats(plain_file, "B20", cache_dir=tmp_path, progress=False) == first


def test_a_changed_file_is_recomputed(tmp_path):
    path = tmp_path / "f.h5"
    for value in (10, 200):
        with h5py.File(path, "w") as f:
            pixels = np.full((8, 8), value, np.uint8)
            pixels[0, :2] = (value - 5, value + 5)  # some spread, the same mean
            f.create_group("A").create_dataset("0", data=pixels)
            f.create_group("T").create_dataset("0", data=np.zeros((8, 8), np.uint8))
        assert training_stats(path, "T", cache_dir=tmp_path / "c", progress=False).mean == value


def test_histograms_cover_the_test_brain_too(plain_file, tmp_path):
    hists = brain_histograms(plain_file, ["B20"], cache_dir=tmp_path, progress=False)
    assert hists["B20"].shape == (256,)
    assert hists["B20"].sum() == _reference(plain_file, ["B20"])[4]
