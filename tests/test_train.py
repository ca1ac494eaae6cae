"""The model and its training: shapes, the loss, resume, load_or_train, distributed training, and bad input."""

import csv
import dataclasses
import os
import socket

import pytest
import torch
from conftest import write_config

from islandvae.config import PROJECT_ROOT, Config, DataConfig, ModelConfig, TrainConfig, load_config
from islandvae.data.synth import generate
from islandvae.errors import UserError
from islandvae.model import checkpoint
from islandvae.model.device import pick_device
from islandvae.model.runs import Run
from islandvae.model.steps import learning_rate, pull_term
from islandvae.model.train import check_train, load_or_train, train
from islandvae.model.vae import VAE, Decoder, Encoder, architecture, loss_terms

SMALL_RUN = """
[sampling]
tile_size = 32
batch_size = 8
tiles_per_epoch = 96
test_tiles = 32
[model]
width = 8
depth = 3
latent = 16
[train]
max_steps = 24
eval_every = 8
eval_tiles = 32
log_every = 4
warmup_steps = 8
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("train-data") / "tiny.h5"
    generate(path, preset="tiny", seed=5, progress=False)
    return path


@pytest.fixture
def config(tiny, tmp_path):
    return load_config(write_config(tmp_path, tiny, extra=SMALL_RUN))


@pytest.mark.parametrize("tile, latent, depth", [(32, 2, 3), (64, 128, 4), (128, 4096, 5)])
def test_encoder_and_decoder_work_alone_at_every_size(tile, latent, depth):
    config = ModelConfig(latent=latent, depth=depth)
    x = torch.randn(3, 1, tile, tile)
    mean, logvar = Encoder(config, tile)(x)
    assert mean.shape == logvar.shape == (3, latent) and logvar.abs().max() <= 8
    assert Decoder(config, tile)(mean).shape == (3, 1, tile, tile)


@pytest.mark.parametrize("tile, latent, depth", [(32, 64, 3), (64, 128, 4), (128, 4096, 5)])
def test_a_latent_map_has_its_channels_at_every_position(tile, latent, depth):
    config = ModelConfig(latent=latent, depth=depth, latent_map=True)
    encoder, decoder = Encoder(config, tile), Decoder(config, tile)
    x = torch.randn(2, 1, tile, tile)
    mean, _ = encoder(x)
    assert mean.shape == (2, latent) and decoder(mean).shape == (2, 1, tile, tile)
    # The map is laid out channel by channel over side x side positions: the bottom-right position's channels
    # answer to a change in the tile's bottom-right corner.
    side = tile // 2**depth
    y = x.clone()
    y[..., -tile // 4 :, -tile // 4 :] += 5
    per = mean.view(2, -1, side, side)
    assert not torch.allclose(encoder(y)[0].view(2, -1, side, side)[..., -1, -1], per[..., -1, -1])


def test_a_latent_that_is_no_map_size_is_refused():
    with pytest.raises(UserError, match="not a multiple of the latent map"):
        VAE(ModelConfig(latent=2, latent_map=True), 64)


def test_tile_normalisation_leaves_no_brightness_in_the_latent():
    torch.manual_seed(0)
    model = VAE(ModelConfig(normalise=True), 64).eval()
    x = torch.randn(4, 1, 64, 64)
    brighter = 1.7 * x + 0.8  # another stain: brighter and with more contrast
    torch.testing.assert_close(model.encode(brighter)[0], model.encode(x)[0], atol=1e-4, rtol=1e-4)
    recon, _, _ = model(brighter)
    torch.testing.assert_close(recon, 1.7 * model(x)[0] + 0.8, atol=1e-3, rtol=1e-3)  # scaled back per tile


def test_the_texture_term_ignores_where_the_structure_lies():
    from islandvae.model.vae import band_energy

    torch.manual_seed(0)
    model = VAE(ModelConfig(), 64)
    x = torch.randn(2, 1, 64, 64)
    same = loss_terms(x, x.clone(), torch.zeros(2, 128), torch.zeros(2, 128), model=model, beta=0.1, l2=0, texture=1)
    assert float(same["texture"]) == 0
    shifted = torch.roll(x, 5, dims=3)  # the same texture elsewhere: a large error, a small texture difference
    moved = loss_terms(x, shifted, torch.zeros(2, 128), torch.zeros(2, 128), model=model, beta=0.1, l2=0, texture=1)
    flat = loss_terms(
        x, torch.zeros_like(x), torch.zeros(2, 128), torch.zeros(2, 128), model=model, beta=0.1, l2=0, texture=1
    )
    assert float(moved["texture"]) < 0.5 * float(flat["texture"]) and float(moved["recon"]) > float(flat["recon"])
    assert band_energy(x).shape == (2, 3, 64, 64)


def test_the_corrupted_encoder_input_is_reproducible_and_blurs():
    from islandvae.tiles.dataset import corrupt

    x = torch.randn(6, 1, 32, 32)
    a = corrupt(x, strength=1.5, generator=torch.Generator().manual_seed(3))
    b = corrupt(x, strength=1.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    assert float((a[:, :, 1:] - a[:, :, :-1]).abs().mean()) < float((x[:, :, 1:] - x[:, :, :-1]).abs().mean())


def test_architecture_table_adds_up_to_the_parameters():
    model = VAE(ModelConfig(), 64)
    rows = architecture(model)
    assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[-1]["output"] == "1\u00a0\u00d7\u00a064\u00a0\u00d7\u00a064"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(latent=0), "model.latent 0"),
        (dict(depth=7), "cannot be halved"),
        (dict(width=12), "multiples of 8"),
        (dict(kind="gan"), "model.kind"),
    ],
)
def test_impossible_models_are_refused(change, message):
    with pytest.raises(UserError, match=message):
        VAE(ModelConfig(**change), 64)


def test_loss_terms_follow_the_stated_reductions():
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=4), 32)
    x, recon = torch.randn(5, 1, 32, 32), torch.randn(5, 1, 32, 32)
    mean, logvar = torch.randn(5, 4), torch.randn(5, 4)
    terms = loss_terms(x, recon, mean, logvar, model=model, beta=0.5, l2=1e-3)
    recon_sum = ((x - recon) ** 2).sum() / 5  # summed over pixels, averaged over the batch
    kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum() / 5
    squares = sum((p**2).sum() for p in model.parameters())
    torch.testing.assert_close(terms["recon"], recon_sum)
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["total"], recon_sum + 0.5 * kl + 1e-3 * squares)
    assert float(loss_terms(x, recon, mean, logvar, model=model, beta=1, l2=0, variational=False)["kl"]) == 0


@pytest.mark.slow
def test_a_run_logs_every_term_checkpoints_and_learns(config):
    run = train(config, progress=False)
    rows = list(__import__("csv").DictReader(open(run.metrics)))
    assert [int(r["step"]) for r in rows] == list(range(4, 25, 4))
    assert all(r[k] != "" for r in rows for k in ("recon", "kl", "l2", "total", "lr", "beta"))
    evals = [r for r in rows if r["test_mse"]]
    assert [int(r["step"]) for r in evals] == [8, 16, 24]
    assert float(rows[-1]["recon"]) < float(rows[0]["recon"])
    state = checkpoint.load(run.last, config)
    assert state["step"] == 24 and state["done"] and run.best.is_file() and (run.folder / "tb").is_dir()


def test_the_comparison_snapshot_is_written_on_a_step_neither_logged_nor_evaluated(tiny, tmp_path):
    config = load_config(write_config(tmp_path, tiny, extra=SMALL_RUN + "comparison_steps = 7\n"))
    run = train(config, progress=False)  # step 7: not a multiple of log_every (4) nor of eval_every (8)
    snapshot = checkpoint.load(run.snapshot(7), config)
    assert snapshot["step"] == 7
    assert not any(
        torch.equal(snapshot["model"][k], v)
        for k, v in checkpoint.load(run.last, config)["model"].items()
        if v.is_floating_point() and v.numel() > 1
    )  # the weights of step 7, not of the end


def test_the_learning_rate_schedules():
    constant = TrainConfig(lr=2e-3, max_steps=1000)
    assert {learning_rate(constant, s) for s in range(0, 1000, 7)} == {2e-3}
    cosine = dataclasses.replace(constant, schedule="cosine")  # rises over 50 steps, falls to 0 at step 1,000
    rates = [learning_rate(cosine, s) for s in range(1000)]
    assert rates[0] == pytest.approx(2e-3 / 50) and rates[49] == pytest.approx(2e-3)
    assert all(a < b for a, b in zip(rates[:49], rates[1:50]))  # the rise
    assert all(a >= b for a, b in zip(rates[49:], rates[50:])) and rates[-1] < 1e-7  # the fall, to 0
    assert learning_rate(cosine, 525) == pytest.approx(1e-3, rel=1e-2)  # half way down half way through the fall
    with pytest.raises(UserError, match="train.schedule must be one of constant, cosine, got 'linear'"):
        check_train(Config(data=DataConfig(path=PROJECT_ROOT), train=dataclasses.replace(cosine, schedule="linear")))


def test_the_pull_term_is_a_distance_to_the_unvaried_tiles_means(tiny, tmp_path):
    mean, target = torch.randn(5, 16, requires_grad=True), torch.randn(5, 16)
    assert pull_term(target, target) == 0
    assert pull_term(mean, target).item() == pytest.approx(((mean - target) ** 2).sum(1).mean().item())
    runs = {}
    for name, extra in [("plain", ""), ("pull", "pull = 1.0\n"), ("varied", "V"), ("varied-pull", "V pull = 1.0\n")]:
        (tmp_path / name).mkdir()
        text = SMALL_RUN.replace("[sampling]\n", "[sampling]\ncorrupt = 1.0\n") if "V" in extra else SMALL_RUN
        config = load_config(write_config(tmp_path / name, tiny, extra=text + extra.replace("V", "").strip() + "\n"))
        runs[name] = checkpoint.load(train(config, progress=False).last, config)["model"]
    same = lambda a, b: all(torch.equal(runs[a][k], runs[b][k]) for k in runs[a])  # noqa: E731
    assert same("plain", "pull")  # without a varied view there is nothing to pull
    assert not same("varied", "varied-pull")
    with pytest.raises(UserError, match="train.pull must not be negative"):
        check_train(Config(data=DataConfig(path=PROJECT_ROOT), train=TrainConfig(pull=-1.0)))


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_an_interrupted_run_resumes_to_the_same_weights(tiny, tmp_path, schedule):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    extra = SMALL_RUN + f'schedule = "{schedule}"\n'
    whole = load_config(write_config(tmp_path / "a", tiny, extra=extra))
    broken = load_config(write_config(tmp_path / "b", tiny, extra=extra))
    train(whole, progress=False)
    train(broken, progress=False, stop_at=13)  # killed after step 13: steps 9-13 are lost
    assert checkpoint.load(Run.of(broken).last, broken)["step"] == 8
    train(broken, progress=False)
    a = checkpoint.load(Run.of(whole).last, whole)["model"]
    b = checkpoint.load(Run.of(broken).last, broken)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [line.split(",")[0] for line in Run.of(broken).metrics.read_text().splitlines()[1:]]
    assert steps == [str(s) for s in range(4, 25, 4)]  # no duplicated rows from the lost steps
    logged = [(int(r["step"]), float(r["lr"])) for r in csv.DictReader(open(Run.of(broken).metrics))]
    assert all(lr == pytest.approx(learning_rate(broken.train, s - 1)) for s, lr in logged)  # each row's last step
    assert len({lr for _, lr in logged}) == (1 if schedule == "constant" else len(logged))


@pytest.mark.slow
def test_load_or_train_never_retrains_a_finished_run(config, monkeypatch):
    train(config, progress=False)
    import islandvae.model.train as module

    monkeypatch.setattr(module, "train", lambda *a, **k: pytest.fail("retrained"))
    model, run = load_or_train(config, progress=False)
    assert not model.training and run.best.is_file()


@pytest.mark.slow
def test_a_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(config, monkeypatch):
    import islandvae.model.steps as module  # where a training step computes its loss

    real = module.loss_terms
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += kwargs["l2"] > 0  # training steps only (evaluation passes l2=0)
        terms = real(*args, **kwargs)
        if calls["n"] == 11:
            terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.setattr(module, "loss_terms", poisoned)
    with pytest.raises(UserError, match="step 11: the loss is not finite.*last good checkpoint"):
        train(config, progress=False)
    assert checkpoint.load(Run.of(config).last, config)["step"] == 8


@pytest.mark.slow
def test_checkpoints_of_another_config_or_damaged_are_refused(config, tiny, tmp_path):
    run = train(config, progress=False)
    other = load_config(write_config(tmp_path, tiny, extra=SMALL_RUN.replace("latent = 16", "latent = 32")))
    with pytest.raises(UserError, match="different config.*model.latent"):
        checkpoint.load(run.last, other)
    run.best.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        checkpoint.load(run.best, config)
    state = torch.load(run.last, weights_only=False)
    state["format"] = 99
    torch.save(state, run.last)
    with pytest.raises(UserError, match="format 99"):
        checkpoint.load(run.last, config)


def test_cuda_asked_for_but_absent_is_an_error(tiny, tmp_path):
    config = load_config(write_config(tmp_path, tiny, extra='[train]\ndevice = "cuda"\n'))
    if torch.cuda.is_available():
        assert pick_device(config).type == "cuda"
    else:
        with pytest.raises(UserError, match="no CUDA device"):
            pick_device(config)


@pytest.mark.slow
def test_the_cli_trains_once(config, run_cli):
    code, out, _ = run_cli("train", "--config", config.source)
    assert code == 0 and "wrote" in out
    code, out, _ = run_cli("train", "--config", config.source)
    assert code == 0 and "nothing to do" in out


def _ddp_worker(rank, world, port, config_path):
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train(load_config(config_path), progress=False)
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_train_together_with_gloo(tiny, tmp_path):
    path = write_config(tmp_path, tiny, extra=SMALL_RUN.replace("max_steps = 24", "max_steps = 8"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, str(path)), nprocs=2, join=True)
    config = load_config(path)
    assert checkpoint.load(Run.of(config).last, config)["step"] == 8


@pytest.mark.parametrize("name", sorted(p.stem for p in (PROJECT_ROOT / "configs").glob("*.toml")))
def test_every_shipped_config_builds_its_model(name):
    from islandvae.model.train import check_train

    config = load_config(PROJECT_ROOT / "configs" / f"{name}.toml")
    check_train(config)
    s = config.sampling.tile_size
    mean, logvar = VAE(config.model, s).encode(torch.zeros(1, 1, s, s))
    assert mean.shape == logvar.shape == (1, config.model.latent)


LONGER_RUN = SMALL_RUN.replace("max_steps = 24", "max_steps = 64")  # long enough to be stopped twice


def _runs(tiny, tmp_path, names=("whole", "stopped")):
    import subprocess
    import sys

    configs = []
    for name in names:
        (tmp_path / name).mkdir()
        configs.append(load_config(write_config(tmp_path / name, tiny, extra=LONGER_RUN)))
    command = [sys.executable, "-m", "islandvae", "train", "--config"]
    subprocess.run(command + [str(configs[0].source)], check=True, capture_output=True)
    return configs, command


def _same_weights_and_log(whole, stopped):
    a = checkpoint.load(Run.of(whole).last, whole)
    b = checkpoint.load(Run.of(stopped).last, stopped)
    assert a["step"] == b["step"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    steps = [line.split(",")[0] for line in Run.of(stopped).metrics.read_text().splitlines()[1:]]
    assert len(steps) == len(set(steps))  # no metric row twice
    assert steps == [line.split(",")[0] for line in Run.of(whole).metrics.read_text().splitlines()[1:]]


def _wait(job, ready, what):
    import time

    while not ready() and job.poll() is None:
        time.sleep(0.02)
    assert job.poll() is None, f"the run ended before {what}"


@pytest.mark.slow
def test_a_training_process_killed_twice_resumes_to_the_same_weights(tiny, tmp_path):
    import signal
    import subprocess

    (whole, config), command = _runs(tiny, tmp_path)
    last = Run.of(config).last
    for after in (8, 24):  # the first checkpoint, then a later one of the resumed run
        job = subprocess.Popen(command + [str(config.source)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(
            job, lambda after=after: last.is_file() and checkpoint.load(last, config)["step"] >= after, f"step {after}"
        )
        job.send_signal(signal.SIGKILL)
        job.wait()
        assert job.returncode == -signal.SIGKILL
    assert checkpoint.load(last, config)["step"] < config.train.max_steps
    subprocess.run(command + [str(config.source)], check=True, capture_output=True)
    _same_weights_and_log(whole, config)


@pytest.mark.slow
def test_ctrl_c_saves_where_training_is_and_the_rerun_resumes_bit_for_bit(tiny, tmp_path):
    import signal
    import subprocess

    (whole, config), command = _runs(tiny, tmp_path)
    metrics = Run.of(config).metrics
    job = subprocess.Popen(command + [str(config.source)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait(job, lambda: metrics.is_file() and len(metrics.read_text().splitlines()) >= 4, "Ctrl-C")  # a few log rows
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("islandvae: interrupted: training") and "resumes from it" in lines[-1], err
    assert "Traceback" not in err
    step = checkpoint.load(Run.of(config).last, config)["step"]
    assert 0 < step < config.train.max_steps  # saved where it stopped, not at the last evaluation only
    subprocess.run(command + [str(config.source)], check=True, capture_output=True)
    _same_weights_and_log(whole, config)


def test_a_run_too_long_for_this_device_stops_before_it_starts_and_a_finished_one_never_does(tiny, tmp_path):
    """No silent days: a run whose plan exceeds train.max_hours on the device found is refused in one line with the
    estimate and the ways on, before anything is written; a finished run is loaded whatever its plan says."""
    from islandvae.model.speed import run_estimate

    hasty = load_config(write_config(tmp_path, tiny, extra=SMALL_RUN + "max_hours = 1e-9\n"))
    with pytest.raises(
        UserError,
        match=r"would take about .* h by its plan .*TFLOP/s.*train\.max_hours = 1e-09; "
        r"train on a GPU .*if you mean it",
    ):
        train(hasty, progress=False)
    assert not Run.of(hasty).folder.exists()
    patient = load_config(write_config(tmp_path, tiny, extra=SMALL_RUN))
    assert run_estimate(patient, torch.device("cpu")) is None  # far below the limit: nothing is measured
    train(patient, progress=False)
    assert run_estimate(hasty, torch.device("cpu"), done=lambda: hasty.train.max_steps)["hours"] == 0
    train(hasty, progress=False)  # the same run, finished: no refusal, nothing trained
