"""Faults a user causes without meaning to: a damaged training log, data changed in place under its caches, a data
file locked by a writer or compressed with a filter that is not installed, two trainings of one run at once."""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from conftest import write_config
from test_train import SMALL_RUN

from islandvae.config import load_config
from islandvae.data.stats import data_identity, training_stats
from islandvae.data.synth import generate
from islandvae.errors import UserError
from islandvae.model import checkpoint
from islandvae.model.runs import Run, training_lock
from islandvae.model.train import train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("fault-data") / "tiny.h5"
    generate(path, preset="tiny", seed=5, progress=False)
    return path


@pytest.mark.slow
def test_a_run_whose_log_has_a_damaged_line_resumes_with_one_line_and_keeps_its_steps(tiny, tmp_path, capsys):
    config = load_config(write_config(tmp_path, tiny, extra=SMALL_RUN))
    train(config, progress=False, stop_at=17)  # the checkpoint at step 16, rows for steps 4..16
    run = Run.of(config)
    lines = run.metrics.read_text().splitlines()
    lines[2] = "8x," + lines[2].split(",", 1)[1]  # the row of step 8, damaged as an editor or a crash leaves it
    lines.insert(4, "\x00\x00garbage")
    run.metrics.write_text("\n".join(lines) + "\n")
    damaged = run.metrics.read_bytes()
    train(config, progress=False)
    err = capsys.readouterr().err
    assert "metrics.csv: lines 3, 5 damaged and left out" in err and "metrics.damaged.csv" in err
    assert len(err.strip().splitlines()) == 1
    assert (run.folder / "metrics.damaged.csv").read_bytes() == damaged  # nothing lost
    steps = [int(line.split(",")[0]) for line in run.metrics.read_text().splitlines()[1:]]
    assert steps == [4, 12, 16, 20, 24]  # step 8's row is gone, no step twice, the rest as trained
    assert checkpoint.load(run.last, config)["step"] == 24


def _change_in_place(path, delta):
    """Every pixel moved by `delta`, the file's size and modification time kept (as `rsync -a` keeps them)."""
    st = os.stat(path)
    with h5py.File(path, "r+") as f:
        for brain in f:
            for name in f[brain]:
                ds = f[brain][name]
                ds[...] = np.clip(ds[()].astype(int) + delta, 0, 255).astype(ds.dtype)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size


def test_statistics_follow_pixels_changed_in_place_and_recompute_recomputes(tiny, tmp_path):
    path = tmp_path / "changed.h5"
    path.write_bytes(tiny.read_bytes())
    cache = tmp_path / "cache"
    before = training_stats(path, "B20", cache_dir=cache, progress=False)
    identity = data_identity(path)  # what the tile-set, discovery and render caches are keyed by too
    _change_in_place(path, 40)
    assert data_identity(path)["content"] != identity["content"]
    after = training_stats(path, "B20", cache_dir=cache, progress=False)
    assert after.mean > before.mean + 20  # not the old numbers
    # a histogram cache that lies (same key, other counts) is still replaced by --recompute
    for hist in cache.glob("hist-*.npy"):
        np.save(hist, np.ones(256, dtype=np.int64))
    assert training_stats(path, "B20", cache_dir=cache, progress=False, recompute=True) == after


def _hold_open(path):
    """A process that holds `path` open for writing until its stdin closes."""
    code = f"import h5py, sys; f = h5py.File({str(path)!r}, 'a'); print('open', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    return holder


def test_a_data_file_held_open_for_writing_says_so(tiny, tmp_path, run_cli):
    path = tmp_path / "locked.h5"
    path.write_bytes(tiny.read_bytes())
    holder = _hold_open(path)
    try:
        code, _, err = run_cli("stats", "--config", write_config(tmp_path, path))
    finally:
        holder.stdin.close()
        holder.wait()
    assert code == 2 and "is in use: another process holds it open for writing" in err and "corrupt" not in err
    assert len(err.strip().splitlines()) == 1
    assert run_cli("stats", "--config", write_config(tmp_path, path))[0] == 0  # released: read as before


def test_an_image_compressed_with_a_filter_that_is_not_installed_names_it(tmp_path, run_cli):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    path = tmp_path / "blosc.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for brain in ("B01", "B20"):
            grey = (rng.integers(0, 4, (128, 128)) * 60).astype(np.uint8)  # compressible: Blosc keeps every chunk
            f.create_dataset(f"{brain}/s1", data=grey, chunks=(64, 64), **hdf5plugin.Blosc())
    config = write_config(tmp_path, path)
    assert run_cli("stats", "--config", config, "--recompute")[0] == 0  # with hdf5plugin it reads
    script = textwrap.dedent(f"""
        import sys
        sys.modules["hdf5plugin"] = None  # an installation without hdf5plugin
        from islandvae import cli
        sys.exit(cli.main(["stats", "--config", {str(config)!r}, "--recompute"]))
    """)
    env = os.environ | {"HDF5_PLUGIN_PATH": str(tmp_path / "no-plugins")}  # and no filter plugin found elsewhere
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 2, done.stderr
    assert "compressed with HDF5 filter 32001 (Blosc)" in done.stderr and "pip install hdf5plugin" in done.stderr
    assert "corrupt" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_second_training_of_the_same_run_is_refused_naming_the_first(tiny, tmp_path):
    config = load_config(write_config(tmp_path, tiny, extra=SMALL_RUN))
    run = Run.of(config)
    run.folder.mkdir(parents=True)
    code = (
        f"from pathlib import Path; import sys; from islandvae.model.runs import Run, training_lock\n"
        f"with training_lock(Run(Path({str(run.folder)!r}))):\n    print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"runs/test is being trained by process {holder.pid} on"):
            train(config, progress=False)
        assert not run.last.is_file()  # the refused start wrote nothing
    finally:
        holder.stdin.close()
        holder.wait()
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()  # killed while holding it: the lock goes with the process
    holder.wait()
    with training_lock(run):
        pass
