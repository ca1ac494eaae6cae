"""What a training run keeps across an interruption: its progress (step, best and stalled test loss, seconds, the
stopping rule's verdict: `Progress`) and the checkpoints the loop writes (`Saver`: last.pt, best.pt and the
comparison snapshot).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from islandvae.config import Config
from islandvae.model import checkpoint
from islandvae.model.runs import Run
from islandvae.model.vae import VAE


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


class Saver:
    """A run's checkpoints as training writes them: last.pt (weights, optimizer, noise, gradient scaler and
    progress: what a resumed run needs to go on bit for bit) at every evaluation and by the clock, best.pt at a
    new best, and the comparison snapshot step-<n>.pt."""

    def __init__(self, config: Config, run: Run, model: VAE, optimizer, noise: torch.Generator, scaler):
        self.config, self.run, self.model, self.optimizer, self.noise, self.scaler = (
            config,
            run,
            model,
            optimizer,
            noise,
            scaler,
        )
        self.saved_at = time.perf_counter()

    def resume(self, device: torch.device) -> Progress:
        """The progress of last.pt, with the weights, optimizer, scaler and noise restored; a fresh start without
        one (a finished run: its progress, done)."""
        if not self.run.last.is_file():
            return Progress()
        saved = checkpoint.load(self.run.last, self.config, map_location=device)
        if saved.get("done"):
            return Progress(done=True)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scaler is not None and "scaler" in saved:  # the scale reached: a resumed float16 run goes on as it was
            self.scaler.load_state_dict(saved["scaler"])
        self.noise.set_state(saved["generator"].cpu())
        return Progress(**saved["progress"])

    def due(self) -> bool:
        """Whether train.checkpoint_minutes have passed since last.pt was written."""
        return time.perf_counter() - self.saved_at >= 60 * self.config.train.checkpoint_minutes

    def last(self, state: Progress, seconds: float) -> None:
        saved = dataclasses.replace(state, seconds=seconds)
        checkpoint.save(
            self.run.last,
            model=self.model,
            optimizer=self.optimizer,
            step=state.step,
            generator_state=self.noise.get_state(),
            config=self.config,
            extra={
                "progress": dataclasses.asdict(saved),
                "done": state.done,
                "reason": state.reason,
                "seconds": seconds,
                **({"scaler": self.scaler.state_dict()} if self.scaler else {}),
            },
        )
        self.saved_at = time.perf_counter()

    def best(self, state: Progress, scores: dict) -> None:
        checkpoint.save(
            self.run.best,
            model=self.model,
            optimizer=None,
            step=state.step,
            generator_state=self.noise.get_state(),
            config=self.config,
            extra=scores,
        )

    def snapshot(self, step: int) -> None:
        checkpoint.save(
            self.run.snapshot(step),
            model=self.model,
            optimizer=None,
            step=step,
            generator_state=self.noise.get_state(),
            config=self.config,
        )


def finished_steps(run: Run, config: Config) -> int:
    """The steps a run already holds in last.pt (0 without one; a finished run: its whole budget)."""
    if not run.last.is_file():
        return 0
    saved = checkpoint.load(run.last, config)
    return config.train.max_steps if saved.get("done") else int(saved["step"])
