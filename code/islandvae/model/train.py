"""Training: a loop that logs each loss term, evaluates on the test brain, checkpoints, resumes, stops by rule.

A run lives in runs/<config name>/: config.json (the resolved config), metrics.csv, tb/ (TensorBoard),
last.pt and best.pt. `train` resumes from last.pt when it exists: the sampler regenerates the epoch's
locations and skips the batches already used, and the noise generator's state is restored, so on the
CPU an interrupted run ends with the same weights as an uninterrupted one. `load_or_train` is what
the report calls: it trains only when the run is missing or unfinished.

Each concern reads alone: the loop (`_train_run`); one step, its precision and gradient scaler (model/steps.py:
`encoder_input`, `optimise`, `RunningMeans` for the logged means); the checkpoints, the comparison snapshot and
the stopping rule (model/saver.py: `Saver`, `Progress.judge`) with the evaluation (`judged`); Ctrl-C
(model/interrupt.py: `StopRequest`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from islandvae import files
from islandvae.config import Config
from islandvae.errors import Interrupted, UserError
from islandvae.files import show
from islandvae.model import checkpoint
from islandvae.model.device import distributed_setup, pick_device, pick_precision
from islandvae.model.interrupt import StopRequest
from islandvae.model.runs import Logger, Run, training_lock
from islandvae.model.saver import Progress, Saver, finished_steps
from islandvae.model.speed import check_run_plan
from islandvae.model.steps import (
    RANK_NOISE,
    SCHEDULES,
    Data,
    RunningMeans,
    build_model,
    encoder_input,
    evaluate,
    evaluation_tiles,
    learning_rate,
    optimise,
    warm_beta,
)
from islandvae.model.vae import VAE, check_model


def check_train(config: Config) -> None:
    """Training values that cannot work: one message each."""
    t = config.train
    for key in ("max_steps", "eval_every", "eval_tiles", "patience", "log_every"):
        if getattr(t, key) < 1:
            raise UserError(f"train.{key} must be at least 1, got {getattr(t, key)}")
    if not (t.lr > 0 and math.isfinite(t.lr)):
        raise UserError(f"train.lr must be a positive number, got {t.lr}")
    if t.schedule not in SCHEDULES:
        raise UserError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {t.schedule!r}")
    if not t.checkpoint_minutes > 0:
        raise UserError(f"train.checkpoint_minutes must be a positive number, got {t.checkpoint_minutes}")
    if t.beta < 0 or t.l2 < 0 or t.warmup_steps < 0 or t.min_delta < 0 or t.pull < 0:
        raise UserError("train.beta, train.l2, train.warmup_steps, train.min_delta and train.pull must not be negative")
    check_model(config.model, config.sampling.tile_size)


def train(config: Config, *, progress: bool = True, stop_at: int | None = None) -> Run:
    """Train (or resume) the run of `config`; `stop_at` ends early as if killed after that step (tests)."""
    check_train(config)
    device = pick_device(config)
    rank, world = distributed_setup(device)
    if world > 1 and device.type == "cuda":  # one GPU per process under torchrun
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    precision = pick_precision(config, device)  # before anything is read or written: a refused precision leaves nothing
    run = Run.of(config)
    check_run_plan(config, device, done=lambda: finished_steps(run, config))  # no silent days: too long here stops
    files.folder(run.folder, "run")
    with training_lock(run) if rank == 0 else contextlib.nullcontext():  # one training per run folder at a time
        return _train_run(config, run, device, precision, rank=rank, world=world, progress=progress, stop_at=stop_at)


def _train_run(
    config: Config,
    run: Run,
    device: torch.device,
    precision,
    *,
    rank: int,
    world: int,
    progress: bool,
    stop_at: int | None,
) -> Run:
    """`train`'s loop, with the run folder held: resume from last.pt, step, log, evaluate, checkpoint."""
    t = config.train
    data = Data(config, device, rank=rank)
    model = build_model(config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr)
    noise = torch.Generator(device=device).manual_seed(t.seed + RANK_NOISE * rank)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)  # disabled: loss and step pass unchanged
    saver = Saver(config, run, model, optimizer, noise, scaler if precision.scaler else None)
    state = saver.resume(device)
    if state.done:
        return run
    if rank == 0:
        ran_on = precision.record(device)
        imaging = {"imaging spread": data.imaging.as_dict()} if data.imaging else {}
        (run.folder / "config.json").write_text(
            json.dumps({**checkpoint.run_signature(config), "ran on": ran_on, **imaging}, indent=1)
        )
        if progress:
            print(f"training {config.name} on {ran_on['device']}: {precision.name} ({precision.why})", flush=True)
    logger = Logger(run, resume_step=state.step) if rank == 0 else None
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=None if device.index is None else [device.index]
        )
    if t.compile:
        trained = torch.compile(trained)
    test = evaluation_tiles(config, data.stats, t.eval_tiles)
    means, started = RunningMeans(), time.perf_counter()
    bar = tqdm(
        total=t.max_steps,
        initial=state.step,
        desc=f"training {config.name}",
        unit="step",
        disable=not progress or rank != 0,
    )

    def seconds() -> float:  # training time of the run so far, this process's included
        return state.seconds + time.perf_counter() - started

    with StopRequest() if world == 1 else contextlib.nullcontext(lambda: False) as asked:
        while not state.done and state.step < (stop_at or t.max_steps):
            epoch, start = divmod(state.step, len(data.batches))
            for x in data.epoch(epoch, start):
                if asked():  # Ctrl-C: the last step is whole; save where we are so that a rerun resumes bit for bit
                    bar.close()
                    saver.last(state, seconds())
                    if logger is not None:
                        logger.close()
                    raise Interrupted(
                        f"training {config.name} stopped after step {state.step:,}; {show(run.last)} is "
                        "saved and `make train` resumes from it"
                    )
                beta, lr = warm_beta(t, state.step), learning_rate(t, state.step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                terms = optimise(
                    trained,
                    model,
                    x,
                    encoder_input(config, data, x, state.step, rank),
                    noise=noise,
                    optimizer=optimizer,
                    scaler=scaler,
                    precision=precision,
                    device=device,
                    beta=beta,
                    t=t,
                    step=state.step,
                    last=run.last,
                )
                state.step += 1
                bar.update(1)
                means.add(terms)
                if stop_at is not None and state.step >= stop_at:
                    break  # as if killed here: nothing of this step is written
                evaluating = state.step % t.eval_every == 0 or state.step == t.max_steps
                if rank == 0 and not evaluating and saver.due():
                    saver.last(state, seconds())  # between evaluations, by the clock
                if (
                    rank == 0
                    and state.step == t.comparison_steps
                    and config.model.kind == "vae"
                    and t.max_steps > state.step
                ):
                    saver.snapshot(state.step)  # the comparisons' budget, on any step (logged or not)
                if state.step % t.log_every and not evaluating:
                    continue
                row = {
                    "step": state.step,
                    "epoch": epoch,
                    "lr": lr,
                    "beta": beta,
                    "seconds": round(seconds(), 2),
                    **means.take(),
                }
                bar.set_postfix(loss=f"{row['total']:.1f}")
                if evaluating:
                    row.update(
                        judged(state, saver, model, test, t, device, rank=rank, world=world, when=row["seconds"])
                    )
                if logger is not None:
                    logger.write(row)
                if state.done or state.step >= t.max_steps:
                    break
    bar.close()
    if logger is not None:
        logger.close()
    return run


def judged(
    state: Progress,
    saver: Saver,
    model: VAE,
    test: torch.Tensor,
    t,
    device: torch.device,
    *,
    rank: int,
    world: int,
    when: float,
) -> dict:
    """An evaluation (on rank 0): the test scores, best.pt at a new best, last.pt, and whether the stopping rule
    ends the run (shared with every process). Returns the scores for the log."""
    stop = torch.zeros(1, device=device)
    scores = {}
    if rank == 0:
        scores = evaluate(model, test, beta=t.beta, device=device)
        if state.judge(scores["test_loss"], t):
            saver.best(state, scores)
        saver.last(state, when)
        stop[0] = float(state.done)
    if world > 1:
        torch.distributed.broadcast(stop, 0)
    state.done = bool(stop[0])
    return scores


def load_model(path: Path, config: Config, device: torch.device | str = "cpu") -> VAE:
    """A trained model from a checkpoint on `device`, in eval mode, with the precision its encoder passes run in
    there (`inference_dtype`: the training rule's automatic choice, float32 on the CPU; latent.codes.posterior)."""
    device = torch.device(device)
    state = checkpoint.load(path, config, map_location=device)
    model = VAE(config.model, config.sampling.tile_size).to(device).to(memory_format=torch.channels_last)
    model.load_state_dict(state["model"])
    automatic = dataclasses.replace(config, train=dataclasses.replace(config.train, precision="auto"))
    model.inference_dtype = pick_precision(automatic, device).dtype
    return model.eval()


def load_or_train(config: Config, *, progress: bool = True) -> tuple[VAE, Run]:
    """The best model of the config's run, training (or resuming) only when the run is missing or unfinished."""
    check_train(config)
    run = Run.of(config)
    if not run.done(config):
        train(config, progress=progress)
    return load_model(run.best, config), run
