"""Precision by the device (GPUs faked on the CPU by their compute capability), the float16 path with its gradient
scaler trained and resumed on the CPU, last.pt written by the clock between evaluations, and the
course file's training budget in GPU hours (FLOPs counted, rates assumed per GPU class)."""

import json

import pytest
import torch
from conftest import write_config
from test_train import SMALL_RUN

from islandvae.config import load_config
from islandvae.data.synth import generate
from islandvae.errors import UserError
from islandvae.model import checkpoint, device
from islandvae.model.device import Precision, pick_precision
from islandvae.model.runs import Run
from islandvae.model.train import train

GPUS = {
    (3, 5): "Tesla K40",
    (5, 2): "Tesla M60",
    (6, 0): "Tesla P100",
    (6, 1): "Tesla P4",
    (7, 0): "Tesla V100",
    (7, 5): "Tesla T4",
    (8, 0): "A100",
    (8, 6): "RTX A6000",
    (8, 9): "L4",
    (9, 0): "H100",
}
CUDA = torch.device("cuda", 0)


def fake_gpu(monkeypatch, capability, *, hardware_bf16=None):
    """torch.cuda answering as a GPU of this compute capability would (bfloat16 in hardware from 8.0, emulated
    before), with no GPU present."""
    hardware = capability >= (8, 0) if hardware_bf16 is None else hardware_bf16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: GPUS.get(capability, "a GPU"))
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: hardware or including_emulation
    )


def config_with(tmp_path, precision: str):
    return load_config(write_config(tmp_path, tmp_path / "absent.h5", extra=f'[train]\nprecision = "{precision}"\n'))


@pytest.mark.parametrize("capability", sorted(GPUS))
def test_no_gpu_gets_a_precision_it_cannot_run_natively(capability, monkeypatch, tmp_path):
    fake_gpu(monkeypatch, capability)
    chosen = pick_precision(config_with(tmp_path, "auto"), CUDA)
    if capability >= (8, 0):
        assert chosen.dtype == torch.bfloat16 and not chosen.scaler and chosen.name == "bf16 autocast"
    else:
        assert chosen.dtype == torch.float16 and chosen.scaler, f"{GPUS[capability]} got {chosen.name}"
        assert chosen.name == "fp16 autocast + gradient scaler" and "compute capability" in chosen.why
        with pytest.raises(UserError, match=r"train.precision 'bf16'.*no bfloat16 in hardware.*use auto"):
            pick_precision(config_with(tmp_path, "bf16"), CUDA)


def test_emulated_bfloat16_does_not_count(monkeypatch, tmp_path):
    fake_gpu(monkeypatch, (8, 0), hardware_bf16=False)  # capability says yes, torch without emulation says no
    assert pick_precision(config_with(tmp_path, "auto"), CUDA).dtype == torch.float16


def test_asked_precisions_and_the_cpu(monkeypatch, tmp_path):
    fake_gpu(monkeypatch, (9, 0))
    assert pick_precision(config_with(tmp_path, "fp16"), CUDA).name == "fp16 autocast + gradient scaler"
    assert pick_precision(config_with(tmp_path, "fp32"), CUDA).dtype is None
    cpu = torch.device("cpu")
    assert pick_precision(config_with(tmp_path, "auto"), cpu).name == "fp32"
    with pytest.raises(UserError, match="'fp16' is for CUDA GPUs"):
        pick_precision(config_with(tmp_path, "fp16"), cpu)
    monkeypatch.setattr(device, "native_bf16", lambda: False)
    with pytest.raises(UserError, match="'bf16': this CPU .* no bfloat16 instructions"):
        pick_precision(config_with(tmp_path, "bf16"), cpu)
    monkeypatch.setattr(device, "native_bf16", lambda: True)
    assert pick_precision(config_with(tmp_path, "bf16"), cpu).dtype == torch.bfloat16
    with pytest.raises(UserError, match="train.precision 'half' is unknown; use auto, fp32, bf16, fp16"):
        pick_precision(config_with(tmp_path, "half"), cpu)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("precision-data") / "tiny.h5"
    generate(path, preset="tiny", seed=5, progress=False)
    return path


def _config(tiny, folder, extra=""):
    folder.mkdir()
    return load_config(write_config(folder, tiny, extra=SMALL_RUN + extra))


def _weights(config):
    return checkpoint.load(Run.of(config).last, config)["model"]


@pytest.mark.slow
def test_the_float16_path_with_its_scaler_resumes_bit_for_bit(tiny, tmp_path, monkeypatch):
    """What a T4 runs (float16 autocast, a gradient scaler), on the CPU: a session cut after step 13 resumes from
    step 8 with the scaler's state and ends where an uncut run does."""
    import islandvae.model.train as module

    monkeypatch.setattr(module, "pick_precision", lambda config, d: Precision(torch.float16, True, "as on a T4"))
    whole, cut = _config(tiny, tmp_path / "whole"), _config(tiny, tmp_path / "cut")
    train(whole, progress=False)
    train(cut, progress=False, stop_at=13)
    saved = checkpoint.load(Run.of(cut).last, cut)
    assert saved["step"] == 8 and saved["scaler"]["scale"] > 0
    train(cut, progress=False)
    a, b = _weights(whole), _weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)
    ran_on = json.loads((Run.of(cut).folder / "config.json").read_text())["ran on"]
    assert ran_on["precision"] == "fp16 autocast + gradient scaler" and ran_on["device"].startswith("CPU")


@pytest.mark.slow
def test_last_pt_is_written_by_the_clock_between_evaluations(tiny, tmp_path):
    """With checkpoint_minutes shorter than a step, a cut during step 13 loses that step alone."""
    whole = _config(tiny, tmp_path / "whole")
    cut = _config(tiny, tmp_path / "cut", "checkpoint_minutes = 1e-9\n")
    train(whole, progress=False)
    train(cut, progress=False, stop_at=13)
    assert checkpoint.load(Run.of(cut).last, cut)["step"] == 12  # the evaluations are at 8 and 16
    train(cut, progress=False)
    a, b = _weights(whole), _weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_minutes_must_be_positive(tiny, tmp_path):
    with pytest.raises(UserError, match="train.checkpoint_minutes must be a positive number, got 0"):
        train(_config(tiny, tmp_path / "zero", "checkpoint_minutes = 0\n"), progress=False)


def test_a_refused_precision_leaves_no_run_folder(tmp_path):
    config = config_with(tmp_path, "fp16")  # fp16 on the CPU; the data file is not even read
    with pytest.raises(UserError, match="'fp16' is for CUDA GPUs"):
        train(config, progress=False)
    assert not Run.of(config).folder.exists()


# The budget: FLOPs counted by torch (no timing), read at the sustained rate assumed per GPU class.


def test_a_gpu_run_is_timed_in_the_precision_training_picks_there(monkeypatch, tmp_path):
    from islandvae.model.speed import timed_precisions

    config = config_with(tmp_path, "fp32")  # the timing ignores what the config asks: it shows fp32 against auto
    fake_gpu(monkeypatch, (7, 5))
    assert [p.name for p in timed_precisions(config, CUDA)] == ["fp32", "fp16 autocast + gradient scaler"]
    fake_gpu(monkeypatch, (8, 0))
    assert [p.name for p in timed_precisions(config, CUDA)] == ["fp32", "bf16 autocast"]
    assert [p.name for p in timed_precisions(config, torch.device("cpu"))] == ["fp32", "bf16 autocast"]


@pytest.fixture(scope="module")
def plans():
    from islandvae.config import PROJECT_ROOT
    from islandvae.model.speed import training_plan

    return {
        name: training_plan(load_config(PROJECT_ROOT / "configs" / f"{name}.toml")) for name in ("real", "real-long")
    }


def test_the_course_files_run_fits_two_hours_of_a_t4_class_gpu(plans):
    from islandvae.model.speed import GPU_CLASSES, plan_hours

    plan = {r["model"]: r for r in plans["real"]}
    assert list(plan) == ["overfitting check", "VAE", "autoencoder", "latent 2", "latent 4096"]  # all it trains
    assert all(r["PFLOP"] > 0 and r["GFLOP per tile"] > 1 for r in plan.values())  # a GPU-sized model, counted
    for comparison in ("autoencoder", "latent 2", "latent 4096"):  # a fraction of the main budget
        assert plan[comparison]["steps"] <= plan["VAE"]["steps"] / 2
    t4 = next(rate for name, rate in GPU_CLASSES.items() if name.startswith("T4"))
    assert plan_hours(plans["real"], t4["sustained"]) <= 2.0


def test_the_long_run_fits_an_a100_class_session_and_is_the_larger(plans):
    from islandvae.model.speed import GPU_CLASSES, plan_hours

    a100 = next(rate for name, rate in GPU_CLASSES.items() if name.startswith("A100"))
    assert 1.0 < plan_hours(plans["real-long"], a100["sustained"]) <= 4.0
    assert sum(r["PFLOP"] for r in plans["real-long"]) > 5 * sum(r["PFLOP"] for r in plans["real"])


def test_plan_hours_is_the_flop_count_over_the_rate():
    from islandvae.model.speed import plan_hours

    assert plan_hours([{"PFLOP": 18.0}, {"PFLOP": 18.0}], 10.0) == pytest.approx(1.0)  # 36e15 / 10e12 s = 1 h


def test_the_loss_is_summed_in_float32_whatever_autocast_gave():
    from islandvae.model.vae import loss_terms

    mean = torch.full((1, 128), 40.0, dtype=torch.float16)  # KL 128 x 1600 / 2 = 102,400: past float16's 65,504
    logvar = torch.zeros(1, 128, dtype=torch.float16)
    x = torch.zeros(1, 1, 4, 4)
    terms = loss_terms(x, x.half(), mean, logvar, model=torch.nn.Linear(1, 1), beta=1.0, l2=0.0)
    assert torch.isfinite(terms["total"]) and terms["kl"].item() == pytest.approx(0.5 * 128 * 1600)
