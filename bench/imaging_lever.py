"""Imaging augmentation in training (sampling.imaging) as a lever: each set trained with and without it, at the
config's budget, and put through chapter 5's island pipeline.

    .venv/bin/python bench/imaging_lever.py [--config configs/default.toml]
                                            [--sets default "seed 1" "seed 3" "sections imaged differently (seed 6)"]
                                            [--pull 1.0 [--pull-only]] [--json FILE]

"Without" is the set's own run (runs/<set>, trained by `make report` or `make robustness`; trained here when it is
missing); "with" is the same config with `sampling.imaging = true` (tiles/imaging.py: the encoder sees each tile as
another section would have shown it, the decoder reconstructs the tile as it was), in runs/<set>-imaging; with
`--pull W` a third run, "pull W": imaging augmentation and train.pull = W (the latent means of the varied tile
pulled towards those of the tile as it was), in runs/<set>-imaging-pull-W (`--pull-only`: that run alone). Each is
scored as bench/budget_curve.py scores a point (the pipeline's found islands: recall, number of types, ARI against
the truth and how closely the typing axis follows the true type; the VAE's and the pooled VAE's typing of the true
islands), with the typing's section confound from the pipeline's result (types ~ sections ARI, typing axis ~
section |r|, sections.py). About 7 minutes of training per set and 2 of pipeline per run on a 2-core AMD EPYC.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from islandvae.files import write_atomic
from islandvae.machine import describe_cpu
from islandvae.model.runs import Run
from islandvae.model.train import train

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets, point, set_parser  # noqa: E402  (a bench beside this one)

DEFAULT_SETS = ("default", "seed 1", "seed 3", "sections imaged differently (seed 6)")


def with_imaging(config, pull: float = 0.0):
    """The config trained with imaging augmentation (and train.pull), in a run folder of its own."""
    return dataclasses.replace(
        config,
        name=f"{config.name}-imaging" + (f"-pull-{pull:g}" if pull else ""),
        sampling=dataclasses.replace(config.sampling, imaging=True),
        train=dataclasses.replace(config.train, pull=pull),
    )


def measured(config) -> dict:
    """One run's figures (budget_curve.point), trained first where the run is missing."""
    if not Run.of(config).done(config):
        started = time.perf_counter()
        train(config, progress=False)
        print(f"{config.name}: trained in {time.perf_counter() - started:.0f} s", flush=True)
    return point(config)


def figure(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def interval(v) -> str:
    """A score with its 95 % interval, [value, low, high] ("-" for none)."""
    return "-" if v is None else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def follows(p: dict) -> str:
    """How a typing's axis follows the true type, and how the typing follows the sections."""
    return (
        f"axis ~ type |r| {figure(p['axis ~ type |r|'])}; types ~ sections ARI {figure(p['types ~ sections ARI'])}, "
        f"axis ~ section |r| {figure(p['axis ~ section |r|'])}"
    )


def line(label: str, way: str, p: dict) -> str:
    return (
        f"{label:38s} {way:8s} test loss {p['test loss']:.1f}: recall {p['recall']:.2f}, {p['types']} types, "
        f"pipeline ARI {interval(p['pipeline ARI'])} ({follows(p)}), VAE {interval(p['VAE ARI'])}, pooled "
        f"{interval(p['pooled VAE ARI'])}"
    )


def main(argv=None) -> int:
    parser = set_parser(__doc__, DEFAULT_SETS, "write the figures to this file after every set")
    parser.add_argument("--pull", type=float, help="also train with imaging augmentation and this train.pull")
    parser.add_argument("--pull-only", action="store_true", help="with --pull: the pull runs alone")
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/imaging_lever.py")
    if every is None:
        return 2
    table = {}
    for label, c in present_sets(every, args.sets):
        pull = [(f"pull {args.pull:g}", with_imaging(c, args.pull))] if args.pull else []
        ways = pull if args.pull_only and pull else [("without", c), ("with", with_imaging(c)), *pull]
        table[label] = {way: measured(run) for way, run in ways}
        for way, p in table[label].items():
            print(line(label, way, p), flush=True)
        save_figures(args.json, table)
    return 0


def present_sets(every: dict, names: list[str]):
    """(label, config) of the named sets whose data file exists; a missing one is named and skipped."""
    for label in names:
        c = every[label]
        if not c.data.path.is_file():
            print(f"{label}: {c.data.path} is missing; generate the robustness sets (`make robustness`)", flush=True)
            continue
        yield label, c


def save_figures(path: str | None, table: dict) -> None:
    """The figures so far, with the date and the CPU, written to `path` (none: nothing written)."""
    if path:
        figures = {"measured": time.strftime("%Y-%m-%d"), "cpu": describe_cpu(), "sets": table}
        write_atomic(path, json.dumps(figures, indent=1).encode())


if __name__ == "__main__":
    sys.exit(main())
