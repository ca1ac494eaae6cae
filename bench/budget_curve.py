"""The training budget as a curve that runs its steps: the config's VAE trained with early stopping off to 500,
1,000, 2,000, 4,000 and 8,000 steps, each point put through chapter 5's island pipeline.

    .venv/bin/python bench/budget_curve.py [--config configs/default.toml] [--sets default "seed 2" ...]
                                           [--steps 500 1000 2000 4000 8000] [--json FILE]
                                           [--schedule cosine] [--lr 0.003]

The levers table's budget rows keep the stopping rule, so on the default stand-in its 2,000- and 4,000-step runs
both stopped at step 1,600 and the curve said nothing past it. Here every point is a run of its own
(runs/<set>-curve-<n>-steps) with train.patience so large that only the budget ends it; the learning rate is
constant and a resumed run goes on bit for bit, so each point starts from the previous point's finished run
(its last.pt and best.pt re-signed for the larger budget) instead of from step 0: a set's whole curve costs
its longest point's steps. Each point is scored as the lever runs are (discovery.Discovery without baselines):
the test loss of its best checkpoint, the pipeline's found islands (recall, number of types, ARI against the
truth, and how closely the found islands' places on the typing axis follow their true type, types.axis_follows)
and the VAE's and the pooled VAE's island ARI on the true islands, with training seconds. The figures are
printed and, with --json, written after every point (an interrupted curve keeps what it measured and a rerun
resumes it). `--sets`: "default" and the robustness sets by name (islands/robustness.py SETS); the robustness
sets must be generated (`make robustness`). `--schedule cosine` (and `--lr`) trains every point with a
learning rate that falls to 0 at its budget (train.schedule), each point from step 0. About 4.5 minutes per
1,000 steps plus 1.5 minutes per point on a 2-core Xeon.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time

import numpy as np
import torch

from islandvae.config import load_config
from islandvae.files import write_atomic
from islandvae.islands.discovery import Discovery
from islandvae.islands.finder import majority_types
from islandvae.islands.robustness import robustness_configs, vae_name
from islandvae.islands.types import axis_follows
from islandvae.latent.analysis import Analysis
from islandvae.model import checkpoint
from islandvae.model.runs import Run
from islandvae.model.steps import SCHEDULES
from islandvae.model.train import train

NO_STOP = 10**9  # train.patience: evaluations without improvement before stopping; never reached


def curve_config(config, steps: int, *, schedule: str = "constant", lr: float | None = None):
    """The config trained for `steps` steps with early stopping off, in a run folder of its own; `schedule` and
    `lr` (train.schedule, train.lr) other than the config's name the folder too."""
    lr = config.train.lr if lr is None else lr
    t = dataclasses.replace(config.train, max_steps=steps, patience=NO_STOP, schedule=schedule, lr=lr)
    other = (f"-{schedule}" if schedule != config.train.schedule else "") + (
        f"-lr-{lr:g}" if lr != config.train.lr else ""
    )
    return dataclasses.replace(config, name=f"{config.name}-curve-{steps}-steps{other}", train=t)


def continued(previous, config) -> None:
    """Start `config`'s run where `previous`'s finished run ended (the two differ in their budget only): its
    last.pt, re-signed for `config` and not done, and its best.pt, re-signed."""
    source, target = Run.of(previous), Run.of(config)
    target.folder.mkdir(parents=True, exist_ok=True)
    for path, into in ((source.best, target.best), (source.last, target.last)):  # last.pt last: it marks a run
        state = checkpoint.load(path, previous)  # refused unless it is `previous`'s
        state["signature"] = checkpoint.run_signature(config)
        if into == target.last:
            state["done"], state["reason"] = False, ""
            state["progress"] |= {"done": False, "reason": ""}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(into, buffer.getvalue())


def point(config) -> dict:
    """One curve point's figures (the run trained before), with its typing's section confound (sections.py)."""
    run = Run.of(config)
    last, best = checkpoint.load(run.last, config), checkpoint.load(run.best, config)
    result = Discovery(Analysis(config), baselines=False).result()
    scores = result.truth.island_scores
    found = result.truth.found_agreement
    with np.load(run.folder / "discovery.npz") as saved:  # the found islands' true types, as the pipeline took them
        majority = majority_types(saved["island"], saved["label"])
    known = (majority != "") & (np.array(result.types.type) >= 0)
    return {
        "steps": int(last["step"]),
        "seconds": round(float(last["seconds"]), 1),
        "best step": int(best["step"]),
        "test loss": float(best["test_loss"]),
        "recall": result.truth.match["recall"],
        "types": result.types.k,
        "pipeline ARI": list(found["ari"]) if found else None,
        "axis ~ type |r|": axis_follows(np.array(result.types.axis)[known], majority[known]),
        "VAE ARI": list(scores[vae_name(scores)]["ari"]),
        "pooled VAE ARI": list(scores["orientation-pooled VAE"]["ari"]),
        "types ~ sections ARI": result.sections.found.get("types ~ sections ARI"),
        "axis ~ section |r|": result.sections.found.get("axis ~ section |r|"),
    }


def set_parser(doc: str, sets: list[str], json_help: str) -> argparse.ArgumentParser:
    """The options the set benches share: --config, --sets (these by default) and --json (benches beside this one
    add their own)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--sets", nargs="+", default=list(sets))
    parser.add_argument("--json", help=json_help)
    return parser


def named_sets(config_path: str, names: list[str], script: str) -> dict | None:
    """The config's data sets ("default" and the robustness sets) by name; None, with one line naming the first
    unknown name and the valid ones, where a name is not a set (benches beside this one use it too)."""
    config = load_config(config_path)
    every = {"default": config} | robustness_configs(config)
    unknown = [s for s in names if s not in every]
    if unknown:
        print(f"{script}: unknown set {unknown[0]!r}; choose from {', '.join(every)}", file=sys.stderr)
        return None
    return every


def main(argv=None) -> int:
    parser = set_parser(
        __doc__, ["default", "seed 2", "larger cells (seed 5)"], "write the figures to this file after every point"
    )
    parser.add_argument("--steps", nargs="+", type=int, default=[500, 1000, 2000, 4000, 8000])
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="constant",
        help="train.schedule of every point; cosine falls to 0 at each point's budget, so each point trains from 0",
    )
    parser.add_argument("--lr", type=float, help="train.lr of every point (default: the config's)")
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/budget_curve.py")
    if every is None:
        return 2
    table = {}
    for label in args.sets:
        previous = None
        for steps in sorted(args.steps):
            c = curve_config(every[label], steps, schedule=args.schedule, lr=args.lr)
            run = Run.of(c)
            if not run.done(c):
                if previous is not None and args.schedule == "constant" and not run.last.is_file():
                    continued(previous, c)
                started = time.perf_counter()
                train(c, progress=False)
                print(f"{label}: trained to {steps:,} steps in {time.perf_counter() - started:.0f} s", flush=True)
            table.setdefault(label, []).append(point(c))
            p = table[label][-1]
            ari = {
                k: "-" if p[k] is None else f"{p[k][0]:.2f} [{p[k][1]:.2f}, {p[k][2]:.2f}]"
                for k in ("pipeline ARI", "VAE ARI", "pooled VAE ARI")
            }
            print(
                f"{label:24s} {steps:>6,} steps (best at {p['best step']:,}; test loss {p['test loss']:.2f}): "
                f"recall {p['recall']:.2f}, {p['types']} types, pipeline ARI {ari['pipeline ARI']} (axis ~ type |r| "
                f"{'-' if p['axis ~ type |r|'] is None else format(p['axis ~ type |r|'], '.2f')}), VAE "
                f"{ari['VAE ARI']}, pooled {ari['pooled VAE ARI']}; {p['seconds']:.0f} s of training",
                flush=True,
            )
            if args.json:
                write_atomic(
                    args.json,
                    json.dumps(
                        {
                            "measured": time.strftime("%Y-%m-%d"),
                            "schedule": args.schedule,
                            "lr": c.train.lr,
                            "sets": table,
                        },
                        indent=1,
                    ).encode(),
                )
            previous = c
    return 0


if __name__ == "__main__":
    sys.exit(main())
