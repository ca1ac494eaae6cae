"""Every bad input gets one line naming the file or dataset and what to do, exit 2, nothing written."""

import shutil

import h5py
import numpy as np
import pytest

from conftest import write_config


def _images(f, brain="B01", shape=(40, 50), dtype=np.uint8, names=("0000",)):
    group = f.create_group(brain)
    for name in names:
        group.create_dataset(name, data=np.zeros(shape, dtype))


def _h5(build):
    def make(path):
        with h5py.File(path, "w") as f:
            build(f)
    return make


def _truncated(path, source):
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_FILES = {
    "not hdf5": (lambda p: p.write_text("brain,image\nB01,0000\n"), ["is not an HDF5 file"]),
    "no groups": (_h5(lambda f: f.create_dataset("0000", data=np.zeros((4, 4), np.uint8))), ["holds no groups"]),
    "empty group": (_h5(lambda f: (_images(f), f.create_group("B02"))), ["group 'B02'", "holds no images"]),
    "rgb image": (_h5(lambda f: (_images(f), _images(f, "B02", shape=(40, 50, 3)))),
                  ["dataset 'B02/0000'", "shape (40, 50, 3)", "2-D"]),
    "1-D image": (_h5(lambda f: (_images(f), _images(f, "B02", shape=(40,)))), ["dataset 'B02/0000'", "2-D"]),
    "float pixels": (_h5(lambda f: (_images(f), _images(f, "B02", dtype=np.float32))),
                     ["dataset 'B02/0000'", "float32", "uint8 or uint16"]),
    "signed pixels": (_h5(lambda f: (_images(f), _images(f, "B02", dtype=np.int16))),
                      ["dataset 'B02/0000'", "int16"]),
    "empty image": (_h5(lambda f: (_images(f), _images(f, "B02", shape=(0, 5)))), ["dataset 'B02/0000'", "empty"]),
    "mixed types": (_h5(lambda f: (_images(f), _images(f, "B02", dtype=np.uint16))), ["mixes pixel types"]),
}


def _check_one_line_error(code, out, err, words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("islandvae: error: ")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", ["inventory", "stats"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_refused(tmp_path, run_cli, command, case):
    make, words = BAD_FILES[case]
    data = tmp_path / "bad.h5"
    make(data)
    config = write_config(tmp_path, data)
    code, out, err = run_cli(command, "--config", config)
    _check_one_line_error(code, out, err, ["bad.h5", *words])
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", ["inventory", "stats"])
def test_truncated_file_is_refused(tmp_path, run_cli, plain_file, command):
    data = tmp_path / "cut.h5"
    _truncated(data, plain_file)
    code, out, err = run_cli(command, "--config", write_config(tmp_path, data))
    _check_one_line_error(code, out, err, ["cut.h5", "truncated or corrupt", "copy it again"])
    assert not (tmp_path / "cache").exists()


def test_corrupt_pixels_are_refused_by_stats(tmp_path, run_cli):
    # Metadata intact, pixel bytes gone: the external raw file the dataset points to is missing.
    data = tmp_path / "ext.h5"
    with h5py.File(data, "w") as f:
        _images(f, "B20")
        f.create_group("B01").create_dataset("0000", shape=(30, 30), dtype="u1",
                                             external=[(str(tmp_path / "gone.raw"), 0, h5py.h5f.UNLIMITED)])
    code, out, err = run_cli("stats", "--config", write_config(tmp_path, data))
    _check_one_line_error(code, out, err, ["dataset 'B01/0000'", "ext.h5", "corrupt"])
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", ["inventory", "stats"])
def test_missing_file_says_where_the_course_file_goes(tmp_path, run_cli, command):
    config = write_config(tmp_path, tmp_path / "nowhere.h5")
    code, out, err = run_cli(command, "--config", config)
    _check_one_line_error(code, out, err, ["nowhere.h5", "not found", "data/cell_data.h5", "configs/real.toml"])


def test_directory_instead_of_file(tmp_path, run_cli):
    code, out, err = run_cli("inventory", "--data", tmp_path)
    _check_one_line_error(code, out, err, ["is a directory"])


def test_test_brain_not_in_the_file(tmp_path, run_cli, plain_file):
    config = write_config(tmp_path, plain_file, test_brain="B99")
    code, out, err = run_cli("stats", "--config", config)
    _check_one_line_error(code, out, err, ["data.test_brain 'B99'", "plain.h5", "B01, B02, B05, B07, B20"])
    assert not (tmp_path / "cache").exists()


def test_unknown_config_key(tmp_path, run_cli, plain_file):
    config = write_config(tmp_path, plain_file, extra="[modle]\nlatent = 128\n")
    code, out, err = run_cli("stats", "--config", config)
    _check_one_line_error(code, out, err, ["test.toml", "unknown key 'modle'"])
    config = write_config(tmp_path, plain_file, extra="[model]\nlatnet = 128\n")
    code, out, err = run_cli("stats", "--config", config)
    _check_one_line_error(code, out, err, ["test.toml", "unknown key 'model.latnet'"])
    assert not (tmp_path / "cache").exists()


def test_missing_config_file(tmp_path, run_cli):
    code, out, err = run_cli("inventory", "--config", tmp_path / "none.toml")
    _check_one_line_error(code, out, err, ["none.toml", "not found"])


def test_a_good_file_copy_is_accepted(tmp_path, run_cli, plain_file):
    # The control for the cases above: the same route with a sound file succeeds and writes its cache.
    shutil.copy(plain_file, tmp_path / "good.h5")
    code, out, err = run_cli("stats", "--config", write_config(tmp_path, tmp_path / "good.h5"))
    assert code == 0, err
    assert "mean" in out and list((tmp_path / "cache").glob("stats-*.json"))
