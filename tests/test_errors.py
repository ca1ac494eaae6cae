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
    "rgb image": (
        _h5(lambda f: (_images(f), _images(f, "B02", shape=(40, 50, 3)))),
        ["dataset 'B02/0000'", "shape (40, 50, 3)", "2-D"],
    ),
    "1-D image": (_h5(lambda f: (_images(f), _images(f, "B02", shape=(40,)))), ["dataset 'B02/0000'", "2-D"]),
    "float pixels": (
        _h5(lambda f: (_images(f), _images(f, "B02", dtype=np.float32))),
        ["dataset 'B02/0000'", "float32", "uint8"],
    ),
    "signed pixels": (_h5(lambda f: (_images(f), _images(f, "B02", dtype=np.int16))), ["dataset 'B02/0000'", "int16"]),
    "empty image": (_h5(lambda f: (_images(f), _images(f, "B02", shape=(0, 5)))), ["dataset 'B02/0000'", "empty"]),
    "16-bit pixels": (
        _h5(lambda f: (_images(f), _images(f, "B02", dtype=np.uint16))),
        ["dataset 'B02/0000'", "uint16", "scale it to 0-255"],
    ),
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
        f.create_group("B01").create_dataset(
            "0000", shape=(30, 30), dtype="u1", external=[(str(tmp_path / "gone.raw"), 0, h5py.h5f.UNLIMITED)]
        )
    code, out, err = run_cli("stats", "--config", write_config(tmp_path, data))
    _check_one_line_error(code, out, err, ["dataset 'B01/0000'", "ext.h5", "corrupt"])
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", ["inventory", "stats", "analyse"])
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


# Degenerate data: refused or reported with a reason; anything skipped in the file is named once.


def test_training_pixels_without_spread_are_refused(tmp_path, run_cli):
    data = tmp_path / "flat.h5"
    with h5py.File(data, "w") as f:
        for brain in ("B01", "B02", "B20"):
            f.create_group(brain).create_dataset("0000", data=np.full((40, 50), 128, np.uint8))
    code, out, err = run_cli("stats", "--config", write_config(tmp_path, data))
    _check_one_line_error(code, out, err, ["flat.h5", "no spread", "every pixel is 128"])


def test_objects_that_are_not_images_are_named_once_in_a_warning(tmp_path, run_cli):
    data = tmp_path / "nested.h5"
    with h5py.File(data, "w") as f:
        _images(f, "B01")
        _images(f, "B20")
        f["B01"].create_group("thumbnails").create_dataset("0000", data=np.zeros((4, 4), np.uint8))
        f.create_dataset("notes", data=np.zeros(3, np.uint8))
    code, out, err = run_cli("inventory", "--data", data)
    assert code == 0
    warnings = [line for line in err.splitlines() if "skipped" in line]
    assert len(warnings) == 1 and "B01/thumbnails (a group inside a brain)" in warnings[0] and "/notes" in warnings[0]


def test_images_of_glass_only_are_named_when_tiles_are_drawn():
    from islandvae.data.hdf5 import ImageInfo
    from islandvae.tiles.sampler import TileSampler
    from islandvae.tiles.tissue import TissueMap

    infos = [ImageInfo("B05", "0000", 64, 64, "uint8"), ImageInfo("B05", "0001", 64, 64, "uint8")]
    tissue = TissueMap(blocks=[np.ones((4, 4), bool), np.zeros((4, 4), bool)], means=[np.zeros((4, 4))] * 2)
    with pytest.warns(UserWarning, match=r"1 image\(s\) of B05 hold no tissue .*0001"):
        TileSampler(infos, tile_size=32, tiles=8, strategy="tissue", tissue=tissue, seed=11)


# Folders the project writes to: a file in the way, no permission, a full disk; never half a file.


def _trained_paths_config(tmp_path, plain_file, **paths):
    """A config whose [paths] are `paths` (cache and runs default to folders in tmp_path)."""
    paths = {"cache": tmp_path / "cache", "runs": tmp_path / "runs", **paths}
    config = tmp_path / "paths.toml"
    config.write_text(
        f'name = "test"\n[data]\npath = "{plain_file}"\n[paths]\n' + "".join(f'{k} = "{v}"\n' for k, v in paths.items())
    )
    return config


@pytest.mark.parametrize(
    "option, command", [("cache", ["stats"]), ("runs", ["train"]), ("figures", None), ("results", None)]
)
def test_a_configured_folder_that_is_a_file_is_one_clear_line(tmp_path, run_cli, plain_file, option, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    config = _trained_paths_config(tmp_path, plain_file, **{option: blocker})
    if command is None:  # written by chapters and levers: through the same helper
        from islandvae.errors import UserError
        from islandvae.files import folder

        with pytest.raises(UserError, match="blocker is a file, not a folder"):
            folder(blocker, option)
        return
    code, out, err = run_cli(*command, "--config", config)
    _check_one_line_error(code, out, err, ["blocker", "file", "point the config"])
    assert blocker.read_text() == "not a folder"


def test_an_unwritable_folder_is_one_clear_line(tmp_path, run_cli, plain_file):
    import os

    if os.geteuid() == 0:
        pytest.skip("running as root: permissions do not stop root, so an unwritable folder cannot be made")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, out, err = run_cli("stats", "--config", _trained_paths_config(tmp_path, plain_file, cache=locked / "c"))
        _check_one_line_error(code, out, err, ["locked", "not writable"])
    finally:
        locked.chmod(0o700)


def test_a_full_disk_leaves_no_partial_file_and_says_so(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from islandvae.errors import UserError
    from islandvae.files import write_atomic

    target = tmp_path / "out" / "checkpoint.pt"
    write_atomic(target, b"the good old one")

    original = Path.write_bytes

    def full(self, data):
        original(self, data[: len(data) // 2])  # half written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(UserError, match="checkpoint.pt .*No space left.*free some space"):
        write_atomic(target, b"a new checkpoint of many bytes")
    monkeypatch.undo()
    assert target.read_bytes() == b"the good old one"
    assert [p.name for p in target.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left


def test_an_output_folder_that_is_a_file_stops_the_render_in_one_line(tmp_path, run_cli):
    blocker = tmp_path / "out"
    blocker.write_text("x")
    doc = tmp_path / "doc.qmd"
    doc.write_text("---\ntitle: t\n---\n\nText.\n")
    code, out, err = run_cli("render", doc, "--output-dir", blocker)
    _check_one_line_error(code, out, err, ["out", "is a file, not a folder"])


def test_a_hand_in_folder_that_is_a_file_is_refused(tmp_path):
    from islandvae.errors import UserError
    from islandvae.files import folder

    (tmp_path / "handin").write_text("x")
    with pytest.raises(UserError, match="hand-in folder .*handin is a file"):
        folder(tmp_path / "handin", "hand-in")


def test_a_folder_without_write_permission_is_one_clear_line_even_as_root(tmp_path, run_cli, plain_file, monkeypatch):
    import errno
    from pathlib import Path

    original = Path.mkdir

    def refused(self, *args, **kwargs):  # what a folder without write permission answers a non-root user
        if self.name == "cache":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused)
    code, out, err = run_cli("stats", "--config", _trained_paths_config(tmp_path, plain_file))
    _check_one_line_error(code, out, err, ["cache", "Permission denied", "not writable"])


# Files around the data file, and names that become paths (issue 25) ----------------------------------------------


def test_a_truth_file_that_is_not_hdf5_is_one_line_naming_it_and_what_to_do(tmp_path):
    from islandvae.data.truth import TruthFile
    from islandvae.errors import UserError

    path = tmp_path / "d.truth.h5"
    path.write_text("brain,image\n")
    with pytest.raises(UserError) as caught:
        TruthFile(path)
    message = str(caught.value)
    assert "truth file" in message and "d.truth.h5" in message and "not an HDF5 file" in message
    assert "islandvae synth --force" in message and "\n" not in message


def test_a_data_path_that_is_a_loop_of_symbolic_links_is_one_line(tmp_path, run_cli):
    (tmp_path / "a.h5").symlink_to(tmp_path / "b.h5")
    (tmp_path / "b.h5").symlink_to(tmp_path / "a.h5")
    for command in ("inventory", "stats"):
        code, out, err = run_cli(command, "--config", write_config(tmp_path, tmp_path / "a.h5"))
        _check_one_line_error(code, out, err, ["data.path", "a.h5", "loop of symbolic links"])


def test_a_config_name_that_would_leave_the_runs_folder_is_refused_before_anything_is_written(
    tmp_path, run_cli, plain_file
):
    config = write_config(tmp_path, plain_file)
    config.write_text(config.read_text().replace('name = "test"', 'name = "../../escape"'))
    for command in ("stats", "train"):
        code, out, err = run_cli(command, "--config", config)
        _check_one_line_error(code, out, err, ["test.toml", "name", "'../../escape'", "cannot name a folder"])
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("name", ["ok-name_1.2", "a"])
def test_ordinary_names_pass_the_path_check(name):
    from islandvae.files import path_name

    assert path_name(name, "name") == name


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "/abs", "", "a b", "x" * 81, "a\\b"])
def test_names_that_are_not_plain_file_names_are_refused(name):
    from islandvae.errors import UserError
    from islandvae.files import path_name

    with pytest.raises(UserError, match="cannot name a folder or file"):
        path_name(name, "config name")


def test_a_damaged_cache_is_recomputed_with_a_warning(tmp_path):
    from islandvae.caches import cached, cached_json

    npz, js = tmp_path / "c.npz", tmp_path / "c.json"
    npz.write_bytes(b"PK\x03\x04 not a whole zip")
    js.write_text('{"key": "k", "value": ')
    with pytest.warns(UserWarning, match="is damaged"):
        arrays = cached(npz, "k", lambda: {"a": np.arange(3)})
    with pytest.warns(UserWarning, match="is damaged"):
        value = cached_json(js, "k", lambda: {"b": 1})
    assert arrays["a"].tolist() == [0, 1, 2] and value == {"b": 1}
    assert cached(npz, "k", lambda: pytest.fail("recomputed again"))["a"].tolist() == [0, 1, 2]  # rewritten whole
    assert cached_json(js, "k", lambda: pytest.fail("recomputed again")) == {"b": 1}


def test_a_damaged_statistics_cache_is_recomputed(tmp_path, plain_file):
    from islandvae.data.stats import training_stats

    first = training_stats(plain_file, "B20", cache_dir=tmp_path, progress=False)
    for entry in tmp_path.glob("stats-*.json"):
        entry.write_text("{broken")
    with pytest.warns(UserWarning, match="statistics cache"):
        again = training_stats(plain_file, "B20", cache_dir=tmp_path, progress=False)
    assert again == first


def test_a_damaged_training_log_is_one_line_naming_it(tmp_path):
    from islandvae.errors import UserError
    from islandvae.model.runs import Run, read_metrics

    run = Run(tmp_path)
    run.metrics.write_bytes(b"\xff\xfe not text")
    with pytest.raises(UserError, match=r"training log .*not text .*train again"):
        read_metrics(run)
