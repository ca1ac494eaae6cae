"""Training: a loop that logs each loss term, evaluates on the test brain, checkpoints, resumes, stops by rule.

A run lives in runs/<config name>/: config.json (the resolved config), metrics.csv, tb/ (TensorBoard),
last.pt and best.pt. `train` resumes from last.pt when it exists: the sampler regenerates the epoch's
locations and skips the batches already used, and the noise generator's state is restored, so on the
CPU an interrupted run ends with the same weights as an uninterrupted one. `load_or_train` is what
the report calls: it trains only when the run is missing or unfinished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from islandvae import files
from islandvae.config import Config
from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains
from islandvae.data.stats import PixelStats, training_stats
from islandvae.errors import Interrupted, UserError
from islandvae.files import show
from islandvae.model import checkpoint
from islandvae.model.device import distributed_setup, pick_device, pick_precision
from islandvae.model.runs import Logger, Run, training_lock
from islandvae.model.vae import VAE, check_model, loss_terms
from islandvae.tiles.dataset import TileDataset, corrupt, identity_collate
from islandvae.tiles.imaging import imaging_spread, vary_imaging
from islandvae.tiles.sampler import TileBatchSampler, TileSampler, evaluation_keys
from islandvae.tiles.tissue import tissue_map

ACTIVE = 0.01  # a latent unit is active when its posterior mean varies by more than this over test tiles
EVAL_BATCH = 64  # test tiles evaluated at a time, channels-last, no autograd graph: a batch whose activations stay
# in cache (512 tiles 0.57 s, against 0.77 s at 256 with autograd on; timed by hand on a 2-core AVX-512 EPYC)


def check_train(config: Config) -> None:
    """Training values that cannot work: one message each."""
    t = config.train
    for key in ("max_steps", "eval_every", "eval_tiles", "patience", "log_every"):
        if getattr(t, key) < 1:
            raise UserError(f"train.{key} must be at least 1, got {getattr(t, key)}")
    if not (t.lr > 0 and math.isfinite(t.lr)):
        raise UserError(f"train.lr must be a positive number, got {t.lr}")
    if not t.checkpoint_minutes > 0:
        raise UserError(f"train.checkpoint_minutes must be a positive number, got {t.checkpoint_minutes}")
    if t.beta < 0 or t.l2 < 0 or t.warmup_steps < 0 or t.min_delta < 0:
        raise UserError("train.beta, train.l2, train.warmup_steps and train.min_delta must not be negative")
    check_model(config.model, config.sampling.tile_size)


class Data:
    """The training loader and the test brain's fixed evaluation tiles for a config."""

    def __init__(self, config: Config, device: torch.device, *, rank: int = 0):
        s = config.sampling
        inventory = read_inventory(config.data.path)
        brains = training_brains(inventory, config.data.test_brain)
        self.stats = training_stats(config.data.path, config.data.test_brain, cache_dir=config.paths.cache,
                                    progress=False)
        images = InMemoryImages(config.data.path, brains, progress=False, limit=s.images_per_brain)
        on_gpu = device.type == "cuda" and images.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]
        self.dataset = TileDataset(images, self.stats, augment=s.augment, device=device if on_gpu else "cpu")
        tissue = tissue_map(images, self.stats)
        sampler = TileSampler(images.infos(), tile_size=s.tile_size, tiles=s.tiles_per_epoch,
                              seed=s.seed + 1000 * rank, strategy=s.strategy, tissue=tissue)
        # the imaging augmentation's ranges, from how the training sections differ (tiles/imaging.py)
        self.imaging = imaging_spread(images, tissue, tile=s.tile_size, seed=s.seed) if s.imaging else None
        self.batches = TileBatchSampler(sampler, s.batch_size, drop_last=True)
        if len(self.batches) == 0:
            raise UserError(f"sampling.tiles_per_epoch {s.tiles_per_epoch} is less than one batch "
                            f"({s.batch_size}); raise it")
        self.workers = config.train.workers

    def epoch(self, epoch: int, start: int = 0):
        """The batches of one epoch from batch `start` on."""
        self.batches.set_epoch(epoch)
        loader = DataLoader(self.dataset, batch_sampler=self.batches, collate_fn=identity_collate,
                            num_workers=self.workers, persistent_workers=False)
        for k, batch in enumerate(loader):
            if k >= start:
                yield batch


def test_tiles(config: Config, stats: PixelStats, count: int) -> torch.Tensor:
    """The first `count` of the test brain's fixed evaluation tiles, standardised (count, 1, s, s)."""
    s = config.sampling
    images = InMemoryImages(config.data.path, [config.data.test_brain], progress=False)
    keys = evaluation_keys(images, stats, tile_size=s.tile_size, count=s.test_tiles, seed=s.seed)
    return TileDataset(images, stats).__getitems__(keys[:count])


@torch.no_grad()
@torch.inference_mode()
def evaluate(model: VAE, tiles: torch.Tensor, *, beta: float, device: torch.device, batch: int = EVAL_BATCH) -> dict:
    """Test-brain reconstruction MSE per pixel, KL per tile, test loss (recon sum + beta KL), active units."""
    was = model.training
    model.eval()
    sq, kl, means = 0.0, 0.0, []
    for start in range(0, len(tiles), batch):
        x = tiles[start:start + batch].to(device).contiguous(memory_format=torch.channels_last)
        recon, mean, logvar = model(x)
        terms = loss_terms(x, recon, mean, logvar, model=model, beta=beta, l2=0.0, variational=model.variational)
        sq += float(terms["recon"]) * len(x)
        kl += float(terms["kl"]) * len(x)
        means.append(mean.float().cpu())
    model.train(was)
    n, pixels = len(tiles), tiles[0].numel()
    active = int((torch.cat(means).var(0) > ACTIVE).sum())
    return {"test_mse": sq / n / pixels, "test_kl": kl / n, "test_loss": (sq + beta * kl) / n, "active_units": active}


def build_model(config: Config, device: torch.device) -> VAE:
    torch.manual_seed(config.train.seed)
    # Channels-last on every device: on this CPU a training step takes 0.30 s instead of 0.39 s and decoding is
    # 3 times faster (bench/train_speed.py); on CUDA it is what bf16 convolutions want.
    return VAE(config.model, config.sampling.tile_size).to(device).to(memory_format=torch.channels_last)


@dataclass
class Progress:
    """What a run must remember across an interruption besides the weights: where it is and how it is doing."""

    step: int = 0
    best: float = math.inf  # lowest test loss so far (best.pt)
    floor: float = math.inf  # test loss at the last improvement by more than min_delta
    stall: int = 0  # evaluations since then (after the warm-up)
    seconds: float = 0.0  # training time before this process
    done: bool = False
    reason: str = ""

    def judge(self, test_loss: float, t) -> bool:
        """Update with an evaluation; True when test_loss is a new best. Sets done by the stopping rule."""
        better = test_loss < self.best
        self.best = min(self.best, test_loss)
        if test_loss < self.floor * (1 - t.min_delta):
            self.floor, self.stall = test_loss, 0
        elif self.step > t.warmup_steps:
            self.stall += 1
        if self.stall >= t.patience:
            self.done, self.reason = True, "converged"
        elif self.step >= t.max_steps:
            self.done, self.reason = True, "max_steps"
        return better


def train(config: Config, *, progress: bool = True, stop_at: int | None = None) -> Run:
    """Train (or resume) the run of `config`; `stop_at` ends early as if killed after that step (tests)."""
    check_train(config)
    t = config.train
    device = pick_device(config)
    rank, world = distributed_setup(device)
    if world > 1 and device.type == "cuda":  # one GPU per process under torchrun
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    precision = pick_precision(config, device)  # before anything is read or written: a refused precision leaves nothing
    run = Run.of(config)
    files.folder(run.folder, "run")
    with training_lock(run) if rank == 0 else contextlib.nullcontext():  # one training per run folder at a time
        return _train_run(config, run, device, precision, rank=rank, world=world, progress=progress, stop_at=stop_at)


def _train_run(config: Config, run: Run, device: torch.device, precision, *, rank: int, world: int, progress: bool,
               stop_at: int | None) -> Run:
    """`train`'s loop, with the run folder held: resume from last.pt, step, log, evaluate, checkpoint."""
    t = config.train
    data = Data(config, device, rank=rank)
    model = build_model(config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr)
    noise = torch.Generator(device=device).manual_seed(t.seed + 7919 * rank)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)  # disabled: loss and step pass unchanged
    state = Progress()
    if run.last.is_file():
        saved = checkpoint.load(run.last, config, map_location=device)
        if saved.get("done"):
            return run
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if precision.scaler and "scaler" in saved:  # the scale reached, so a resumed float16 run goes on as it was
            scaler.load_state_dict(saved["scaler"])
        noise.set_state(saved["generator"].cpu())
        state = Progress(**saved["progress"])
    if rank == 0:
        ran_on = precision.record(device)
        imaging = {"imaging spread": data.imaging.as_dict()} if data.imaging else {}
        (run.folder / "config.json").write_text(json.dumps({**checkpoint.run_signature(config), "ran on": ran_on,
                                                            **imaging}, indent=1))
        if progress:
            print(f"training {config.name} on {ran_on['device']}: {precision.name} ({precision.why})", flush=True)
    logger = Logger(run, resume_step=state.step) if rank == 0 else None
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=None if device.index is None
                                                            else [device.index])
    if t.compile:
        trained = torch.compile(trained)
    test = test_tiles(config, data.stats, t.eval_tiles)
    sums, count, started = dict.fromkeys(("recon", "texture", "kl", "l2", "total"), 0.0), 0, time.perf_counter()
    bar = tqdm(total=t.max_steps, initial=state.step, desc=f"training {config.name}", unit="step",
               disable=not progress or rank != 0)
    saved_at = time.perf_counter()  # when last.pt was last written: a cut session loses at most checkpoint_minutes

    def save_last(seconds: float) -> None:  # the resumable checkpoint: weights, optimizer, noise and progress
        nonlocal saved_at
        saved = dataclasses.replace(state, seconds=seconds)
        checkpoint.save(run.last, model=model, optimizer=optimizer, step=state.step, generator_state=noise.get_state(),
                        config=config, extra={"progress": dataclasses.asdict(saved), "done": state.done,
                                              "reason": state.reason, "seconds": seconds,
                                              **({"scaler": scaler.state_dict()} if precision.scaler else {})})
        saved_at = time.perf_counter()

    with StopRequest() if world == 1 else contextlib.nullcontext(lambda: False) as asked:
        while not state.done and state.step < (stop_at or t.max_steps):
            epoch, start = divmod(state.step, len(data.batches))
            for x in data.epoch(epoch, start):
                if asked():  # Ctrl-C: the last step is whole; save where we are so that a rerun resumes bit for bit
                    bar.close()
                    save_last(state.seconds + time.perf_counter() - started)
                    if logger is not None:
                        logger.close()
                    raise Interrupted(f"training {config.name} stopped after step {state.step:,}; {show(run.last)} is "
                                      "saved and `make train` resumes from it")
                beta = t.beta * min(1.0, (state.step + 1) / t.warmup_steps) if t.warmup_steps else t.beta
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                seen = None
                if config.sampling.corrupt or data.imaging:  # seeded by the step: a resumed run sees the same
                    g = torch.Generator().manual_seed(config.sampling.seed * 1_000_003 + state.step + 7 * rank)
                    seen = vary_imaging(x, data.imaging, data.stats, generator=g) if data.imaging else x
                    if config.sampling.corrupt:
                        seen = corrupt(seen, strength=config.sampling.corrupt, generator=g)
                    seen = seen.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=precision.dtype or torch.float32,
                                    enabled=precision.dtype is not None):
                    recon, mean, logvar = trained(x, noise, seen)
                terms = loss_terms(x, recon, mean, logvar, model=model, beta=beta, l2=t.l2, variational=model.variational,
                                   texture=t.texture)
                if not torch.isfinite(terms["total"]):
                    raise UserError(f"step {state.step + 1}: the loss is not finite (recon {terms['recon'].item():.3g}, "
                                    f"KL {terms['kl'].item():.3g}); likely a learning rate too high for this model "
                                    f"(train.lr = {t.lr}); the last good checkpoint {show(run.last)} is kept")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(terms["total"]).backward()
                scaler.step(optimizer)  # float16: skipped, and the scale lowered, where a gradient overflowed
                scaler.update()
                state.step += 1
                bar.update(1)
                for k in sums:
                    sums[k] += float(terms[k].detach())
                count += 1
                if stop_at is not None and state.step >= stop_at:
                    break  # as if killed here: nothing of this step is written
                evaluating = state.step % t.eval_every == 0 or state.step == t.max_steps
                if rank == 0 and not evaluating and time.perf_counter() - saved_at >= 60 * t.checkpoint_minutes:
                    save_last(state.seconds + time.perf_counter() - started)  # between evaluations, by the clock
                if rank == 0 and state.step == t.comparison_steps and config.model.kind == "vae" and t.max_steps > state.step:
                    checkpoint.save(run.snapshot(state.step), model=model, optimizer=None, step=state.step,
                                    generator_state=noise.get_state(), config=config)  # same budget as the comparisons,
                    # on any step (also one that is neither logged nor evaluated)
                if state.step % t.log_every and not evaluating:
                    continue
                row = {"step": state.step, "epoch": epoch, "lr": t.lr, "beta": beta,
                       "seconds": round(state.seconds + time.perf_counter() - started, 2),
                       **{k: v / count for k, v in sums.items()}}
                sums, count = dict.fromkeys(sums, 0.0), 0
                bar.set_postfix(loss=f"{row['total']:.1f}")
                if evaluating:
                    stop = torch.zeros(1, device=device)
                    if rank == 0:
                        scores = evaluate(model, test, beta=t.beta, device=device)
                        row.update(scores)
                        if state.judge(scores["test_loss"], t):
                            checkpoint.save(run.best, model=model, optimizer=None, step=state.step,
                                            generator_state=noise.get_state(), config=config, extra=scores)
                        save_last(row["seconds"])
                        stop[0] = float(state.done)
                    if world > 1:
                        torch.distributed.broadcast(stop, 0)
                    state.done = bool(stop[0])
                if logger is not None:
                    logger.write(row)
                if state.done or state.step >= t.max_steps:
                    break
    bar.close()
    if logger is not None:
        logger.close()
    return run


class StopRequest:
    """Whether Ctrl-C (SIGINT) was pressed while training: the first press asks the loop to stop after the step it
    is in (one line on stderr), a second stops at once. Its handler is set for the `with` block only, and only in
    the main thread (no signal handler can be set elsewhere)."""

    def __init__(self):
        self.pressed, self.previous, self.pid = False, None, os.getpid()

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def __call__(self) -> bool:
        return self.pressed

    def _handler(self, signum, frame):
        import sys

        if os.getpid() != self.pid:  # a DataLoader worker forked from here: the main process decides
            return
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        print("\nislandvae: stopping after this step and saving (Ctrl-C again to stop at once)", file=sys.stderr)


def load_model(path: Path, config: Config, device: torch.device | str = "cpu") -> VAE:
    """A trained model from a checkpoint, in eval mode."""
    state = checkpoint.load(path, config, map_location=device)
    model = VAE(config.model, config.sampling.tile_size).to(device).to(memory_format=torch.channels_last)
    model.load_state_dict(state["model"])
    return model.eval()


def load_or_train(config: Config, *, progress: bool = True) -> tuple[VAE, Run]:
    """The best model of the config's run, training (or resuming) only when the run is missing or unfinished."""
    check_train(config)
    run = Run.of(config)
    if not run.done(config):
        train(config, progress=progress)
    return load_model(run.best, config), run


