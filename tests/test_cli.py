"""The entry points a user types: `python -m islandvae` and `.venv/bin/islandvae`."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_config

ENTRIES = [[sys.executable, "-m", "islandvae"], [str(Path(sys.executable).parent / "islandvae")]]


@pytest.mark.parametrize("entry", ENTRIES)
def test_help_lists_the_commands(entry):
    out = subprocess.run([*entry, "--help"], capture_output=True, text=True, check=True).stdout
    assert "inventory" in out and "stats" in out


def test_inventory_prints_images_and_totals(tmp_path, run_cli, plain_file):
    code, out, err = run_cli("inventory", "--config", write_config(tmp_path, plain_file))
    assert code == 0, err
    assert "B01     0000" in out
    totals = [line for line in out.splitlines() if line.startswith(("B", "all")) and "x" in line]
    assert len(totals) == 5
    assert out.strip().splitlines()[-1].startswith("all")


def test_stats_prints_the_four_numbers(tmp_path, run_cli, plain_file):
    code, out, err = run_cli("stats", "--config", write_config(tmp_path, plain_file))
    assert code == 0, err
    assert "test brain B20 held out" in out
    assert all(word in out for word in ("min", "max", "mean", "std"))


def test_data_option_overrides_the_config(tmp_path, run_cli, plain_file):
    config = write_config(tmp_path, tmp_path / "absent.h5")
    code, out, err = run_cli("inventory", "--totals", "--config", config, "--data", plain_file)
    assert code == 0, err
    assert "plain.h5" in out


def test_data_generates_a_missing_synthetic_file_once(tmp_path, run_cli):
    config = write_config(tmp_path, tmp_path / "d" / "syn.h5", data_extra='synthetic = "tiny"\nseed = 2')
    code, out, err = run_cli("inventory", "--config", config)
    assert code == 2 and "make data" in err
    code, out, err = run_cli("data", "--config", config)
    assert code == 0, err
    assert "generated" in out and (tmp_path / "d" / "syn.h5").is_file() and (tmp_path / "d" / "syn.truth.h5").is_file()
    code, out, err = run_cli("data", "--config", config)
    assert code == 0 and "is there" in out


def test_data_does_not_invent_a_missing_real_file(tmp_path, run_cli):
    code, out, err = run_cli("data", "--config", write_config(tmp_path, tmp_path / "cell_data.h5"))
    assert code == 2 and "cell_data.h5" in err and "configs/real.toml" in err
    assert not (tmp_path / "cell_data.h5").exists()


def test_calibration_prints_both_tables(tmp_path, run_cli, plain_file):
    code, out, err = run_cli("calibration", "--config", write_config(tmp_path, plain_file))
    assert code == 0, err
    assert "course mean" in out and "B07" in out and "p95" in out and "Mpx" in out
