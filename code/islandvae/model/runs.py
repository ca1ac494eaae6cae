"""A run: the folder a config's training writes (runs/<name>/: config.json, metrics.csv and TensorBoard logs,
last.pt and best.pt, step-<n>.pt), the training log and how it is read, and the runs derived from a config
(chapter 5's comparison models, chapter 4's overfitting check)."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

from islandvae import files
from islandvae.config import Config
from islandvae.errors import UserError
from islandvae.model import checkpoint

FIELDS = (
    "step",
    "epoch",
    "seconds",
    "lr",
    "beta",
    "recon",
    "texture",
    "kl",
    "l2",
    "total",
    "test_mse",
    "test_kl",
    "test_loss",
    "active_units",
)
OVERFIT_STEPS = 120


@dataclass
class Run:
    """Where a config's run lives."""

    folder: Path

    @classmethod
    def of(cls, config: Config) -> Run:
        return cls(config.paths.runs / files.path_name(config.name, "run name"))  # never a folder outside runs/

    last = property(lambda self: self.folder / "last.pt")
    best = property(lambda self: self.folder / "best.pt")
    metrics = property(lambda self: self.folder / "metrics.csv")

    def snapshot(self, step: int) -> Path:
        return self.folder / f"step-{step}.pt"

    def done(self, config: Config) -> bool:
        return self.last.is_file() and bool(checkpoint.load(self.last, config).get("done"))


class Logger:
    """metrics.csv (rows after the resumed step dropped) and TensorBoard scalars, one row per log step."""

    def __init__(self, run: Run, *, resume_step: int):
        from torch.utils.tensorboard import SummaryWriter

        kept = kept_rows(run, resume_step) if run.metrics.is_file() and resume_step else []
        self.file = open(run.metrics, "w", newline="")
        self.csv = csv.DictWriter(self.file, fieldnames=FIELDS)
        self.csv.writeheader()
        self.csv.writerows(kept)
        self.tb = SummaryWriter(str(run.folder / "tb"), purge_step=resume_step + 1 if resume_step else None)

    def write(self, row: dict) -> None:
        self.csv.writerow({k: row.get(k, "") for k in FIELDS})
        self.file.flush()
        for k, v in row.items():
            if k not in ("step", "epoch"):
                self.tb.add_scalar(k, v, row["step"])

    def close(self) -> None:
        self.file.close()
        self.tb.close()


def kept_rows(run: Run, resume_step: int, warn=None) -> list[dict]:
    """The log's rows up to the step a run resumes from, one per step. A damaged line (an editor, a sync tool, a
    crash mid-write: a step that is no number, a cell that is no number, too many or too few cells) is left out
    with one line on stderr naming the file and the lines; the damaged log is kept beside it as
    metrics.damaged.csv, so nothing is lost."""
    import shutil
    import sys

    rows, damaged = {}, []
    with open(run.metrics, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames is not None and "step" in reader.fieldnames
        for row in reader if header else []:
            try:
                if None in row or None in row.values():  # cells beyond the header, or missing
                    raise ValueError(row)
                step = int(row["step"])
                [float(v) for v in row.values() if v != ""]
            except (ValueError, TypeError):
                damaged.append(reader.line_num)
                continue
            if step <= resume_step:
                rows[step] = {k: v for k, v in row.items() if k in FIELDS}  # a step logged twice: the later row
        if not header:
            damaged.append(1)
    if damaged:
        backup = run.metrics.with_name("metrics.damaged.csv")
        shutil.copyfile(run.metrics, backup)
        lines = ", ".join(map(str, damaged[:5])) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        (warn or (lambda text: print(text, file=sys.stderr, flush=True)))(
            f"{files.show(run.metrics)}: line{'s' * (len(damaged) > 1)} {lines} damaged and left out; the run resumes "
            f"from step {resume_step:,} with the {len(rows)} good rows before it (the damaged log is kept as "
            f"{files.show(backup)})"
        )
    return [rows[k] for k in sorted(rows)]


@contextlib.contextmanager
def training_lock(run: Run):
    """Hold the run folder for one training: a second training of the same run, from another terminal or a
    notebook cell run twice, is refused with one line naming the first. The lock is the operating system's
    (flock on training.lock): it goes with the process that holds it, so a killed training leaves no stale lock.
    Where the file system has no flock (some network drives) the folder is not held."""
    import fcntl
    import os
    import time

    path = run.folder / "training.lock"
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(
                f"{files.show(run.folder)} is being trained by {holder}: wait for that training to end "
                "or stop it (two trainings would write the same checkpoint and log)"
            ) from None
        except OSError:  # no flock here: train unheld
            pass
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {os.uname().nodename}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def read_metrics(run: Run) -> list[dict]:
    """metrics.csv as dicts of floats (empty cells as None)."""
    text = files.read_text(
        run.metrics,
        "training log",
        "it is written by training: move the run folder away and train again (`make train`)",
    )
    try:
        return [{k: (float(v) if v != "" else None) for k, v in r.items()} for r in csv.DictReader(io.StringIO(text))]
    except (ValueError, TypeError, AttributeError) as err:
        raise files.read_problem(
            ValueError(f"it is not the training log's CSV ({err})"),
            run.metrics,
            "training log",
            "move the run folder away and train again (`make train`)",
        ) from None


def comparison_configs(config: Config) -> dict[str, Config]:
    """Chapter 5's comparison models, each trained for train.comparison_steps: the autoencoder and latent sizes 2
    and 4096 (runs of their own). The main model at the same budget is its run's step-<n>.pt snapshot."""
    n = config.train.comparison_steps
    short = dataclasses.replace(config.train, max_steps=n, patience=n)
    variants = {
        "autoencoder": dict(kind="ae"),
        "latent 2": dict(latent=2, latent_map=False),  # 2 numbers: no map
        "latent 4096": dict(latent=4096),
    }
    return {
        label: dataclasses.replace(
            config,
            name=f"{config.name}-{label.replace(' ', '')}",
            train=short,
            model=dataclasses.replace(config.model, **change),
        )
        for label, change in variants.items()
    }


TYPING_MODELS = ("main", "imaging")  # islands.typing


def typing_config(config: Config) -> Config | None:
    """The config of the model the found islands are typed on where it is not the main one (islands.typing
    "imaging": the same VAE trained with sampling.imaging at the same budget, runs/<name>-imaging), else None."""
    if config.islands.typing not in TYPING_MODELS:
        raise UserError(
            f"config {config.name}: islands.typing must be one of {', '.join(TYPING_MODELS)}, got "
            f"{config.islands.typing!r}; fix it in {files.show(config.source) if config.source else 'the config file'}"
        )
    if config.islands.typing == "main" or config.sampling.imaging:  # the main model is trained so already
        return None
    return dataclasses.replace(
        config,
        name=f"{config.name}-imaging",
        sampling=dataclasses.replace(config.sampling, imaging=True),
        islands=dataclasses.replace(config.islands, typing="main"),
    )


def typed_on_itself(config: Config) -> Config:
    """The config with its islands typed on its own model (a lever's or a budget's run: no second model each)."""
    return dataclasses.replace(config, islands=dataclasses.replace(config.islands, typing="main"))


def debug_config(config: Config, *, steps: int = OVERFIT_STEPS) -> Config:
    """The config of the overfitting check (4b): a run of its own, no KL warm-up, no augmentation, no early stop;
    never longer than the config's own run."""
    steps = min(steps, config.train.max_steps)
    return dataclasses.replace(
        config,
        name=f"{config.name}-overfit",
        sampling=dataclasses.replace(config.sampling, augment=False, images_per_brain=2),
        train=dataclasses.replace(
            config.train, max_steps=steps, warmup_steps=0, eval_every=max(1, steps // 4), patience=steps
        ),
    )
