"""Shared fixtures: small files of the real layout, written into temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from islandvae import cli
from islandvae.data.layout import scaled_counts, write_plain_file


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch):
    """Tests never pick up the caller's ISLANDVAE_CONFIG (make exports one)."""
    monkeypatch.delenv("ISLANDVAE_CONFIG", raising=False)


@pytest.fixture(scope="session")
def plain_file(tmp_path_factory) -> Path:
    """About 60 noise images of varied sizes in the real layout (B01 B02 B05 B07 B20)."""
    path = tmp_path_factory.mktemp("plain") / "plain.h5"
    write_plain_file(path, scaled_counts(60), seed=1, max_side=900)
    return path


# A training run of a few steps for tests that need a trained model (config sections, for write_config's extra),
# with the default config's model settings.
QUICK_TRAINING = """
[model]
normalise = true
latent_map = true
[sampling]
tiles_per_epoch = 640
test_tiles = 128
[train]
max_steps = 12
warmup_steps = 6
eval_every = 6
eval_tiles = 64
log_every = 3
comparison_steps = 6
"""


def write_config(folder: Path, data: Path, *, test_brain: str = "B20", extra: str = "", data_extra: str = "") -> Path:
    """A config file in `folder` pointing at `data`, with its cache, runs, results and figures in `folder`."""
    path = folder / "test.toml"
    path.write_text(
        f'name = "test"\n{extra}\n[data]\npath = "{data}"\ntest_brain = "{test_brain}"\n{data_extra}\n'
        f'[paths]\ncache = "cache"\nruns = "runs"\nresults = "results"\nfigures = "figures"\n'
    )
    return path


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def load_bench(name: str):
    """A script of bench/ (by file name without .py) imported as a module, for the tests of its functions."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
