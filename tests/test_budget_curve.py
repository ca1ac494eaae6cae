"""bench/budget_curve.py: a curve point started from the previous point's finished run is the run trained
straight to its budget, bit for bit (the curve's cost rests on it)."""

import dataclasses

import pytest
import torch
from conftest import QUICK_TRAINING, load_bench, write_config

from islandvae.config import load_config
from islandvae.data.synth import generate
from islandvae.model import checkpoint
from islandvae.model.runs import Run
from islandvae.model.train import train


def _bench():
    return load_bench("budget_curve")


@pytest.mark.slow
def test_a_curve_point_continued_from_the_previous_one_is_the_run_trained_straight(tmp_path):
    bench = _bench()
    data = tmp_path / "tiny.h5"
    generate(data, preset="tiny", seed=5, progress=False)
    config = load_config(write_config(tmp_path, data, extra=QUICK_TRAINING))
    straight = dataclasses.replace(bench.curve_config(config, 12), name="straight")
    train(straight, progress=False)
    first, second = bench.curve_config(config, 6), bench.curve_config(config, 12)
    train(first, progress=False)
    assert checkpoint.load(Run.of(first).last, first)["step"] == 6
    bench.continued(first, second)
    assert not Run.of(second).done(second)  # re-signed for the larger budget, and not finished
    train(second, progress=False)
    a = checkpoint.load(Run.of(straight).last, straight)
    b = checkpoint.load(Run.of(second).last, second)
    assert a["step"] == b["step"] == 12 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (
        checkpoint.load(Run.of(second).best, second)["step"] == checkpoint.load(Run.of(straight).best, straight)["step"]
    )


def test_a_curve_with_another_schedule_or_rate_trains_in_folders_of_its_own(tmp_path):
    bench = _bench()
    config = load_config(write_config(tmp_path, tmp_path / "any.h5", extra=QUICK_TRAINING))
    plain, cosine = bench.curve_config(config, 500), bench.curve_config(config, 500, schedule="cosine", lr=0.002)
    assert (plain.train.schedule, plain.train.lr) == ("constant", config.train.lr)
    assert (cosine.train.schedule, cosine.train.lr, cosine.train.max_steps) == ("cosine", 0.002, 500)
    assert cosine.name == f"{plain.name}-cosine-lr-0.002" and Run.of(cosine).folder != Run.of(plain).folder
    assert bench.curve_config(config, 500, lr=config.train.lr).name == plain.name  # the config's own rate: no suffix
