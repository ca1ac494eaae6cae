"""Checkpoints of a training run: written atomically, checked against the config before use.

A checkpoint holds the model and optimizer state, the step, the noise generator's state, the
resolved config (the sections that define the run) and the package version. Loading one that was
made with another config or checkpoint format, or that is not a readable checkpoint, is refused
with a message that says what to do.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import torch

from islandvae import __version__
from islandvae.config import Config, DataConfig
from islandvae.errors import UserError
from islandvae.files import read_problem, show, write_atomic

FORMAT = 1  # bump when the checkpoint layout changes
RUN_SECTIONS = ("data", "sampling", "model", "train")  # what defines a run; paths may move


def run_signature(config: Config) -> dict:
    """The config sections that define a run, as plain values (paths as strings)."""

    def plain(v):
        return str(v) if isinstance(v, Path) else v

    out = {}
    for section in RUN_SECTIONS:
        values = dataclasses.asdict(getattr(config, section))
        out[section] = {k: plain(v) for k, v in values.items()}
    out["train"].pop("device", None)  # the same run may continue on another device
    out["train"].pop("workers", None)
    out["train"].pop("checkpoint_minutes", None)  # when last.pt is written changes nothing that is learnt
    out["train"].pop("comparison_steps", None)  # only decides which snapshot is kept
    out["train"].pop("max_hours", None)  # only decides whether a run may start
    out["data"].pop("path", None)  # the same file may sit elsewhere; its identity is not the point here
    return out


def with_defaults(signature: dict) -> dict:
    """A stored signature with the settings added since it was written filled in at their defaults: a setting
    at its default does what the code did before it existed, so such a run still belongs to the config."""
    defaults = run_signature(Config(data=DataConfig(path=Path("."))))
    return {s: {**defaults.get(s, {}), **v} if s in RUN_SECTIONS else v for s, v in signature.items()}


def save(
    path: Path, *, model, optimizer, step: int, generator_state: torch.Tensor, config: Config, extra: dict | None = None
) -> None:
    """Write a checkpoint atomically (temporary file, then rename): a crash never leaves half a file."""
    state = {
        "format": FORMAT,
        "version": __version__,
        "signature": run_signature(config),
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "generator": generator_state,
        **(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load(path: Path, config: Config, *, map_location="cpu") -> dict:
    """Read a checkpoint and check that it belongs to `config`; a clear error otherwise."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except (OSError, RuntimeError) as err:
        if isinstance(err, OSError) or "loop" in str(err).lower():  # missing, a folder, unreadable, a link loop
            raise read_problem(err, path, "checkpoint", "train again (`make train`) or choose another run") from None
        raise UserError(
            f"checkpoint {show(path)} cannot be read ({type(err).__name__}); it is damaged or not a "
            "checkpoint: delete it (training then starts again or resumes from the other checkpoint)"
        ) from None
    except Exception as err:  # torch raises several types for a damaged file
        raise UserError(
            f"checkpoint {show(path)} cannot be read ({type(err).__name__}); it is damaged or not a "
            "checkpoint: delete it (training then starts again or resumes from the other checkpoint)"
        ) from None
    if not isinstance(state, dict) or "format" not in state:
        raise UserError(f"checkpoint {show(path)} is not an islandvae checkpoint; delete it or choose another run")
    if state["format"] != FORMAT:
        raise UserError(
            f"checkpoint {show(path)} has format {state['format']} (package {state.get('version')}), "
            f"this package {__version__} reads format {FORMAT}; retrain (delete the run folder)"
        )
    mine = run_signature(config)
    state["signature"] = with_defaults(state["signature"])
    if state["signature"] != mine:
        theirs = state["signature"]
        diffs = [
            f"{s}.{k}: {theirs.get(s, {}).get(k, 'unset')!r} there, {mine[s].get(k, 'unset')!r} here"
            for s in RUN_SECTIONS
            for k in dict.fromkeys([*mine[s], *theirs.get(s, {})])
            if theirs.get(s, {}).get(k, "unset") != mine[s].get(k, "unset")
        ]
        raise UserError(
            f"checkpoint {show(path)} was made with a different config ({'; '.join(diffs[:3])}); "
            f"give this config another name, or delete {show(path.parent)} to retrain"
        )
    return state
