"""A cold `islandvae analyse` of trained runs, timed by step, with its results compared against the warm ones.

    .venv/bin/python bench/analysis_speed.py [--config configs/default.toml] [--reference DIR] [--keep DIR]
    .venv/bin/python bench/analysis_speed.py --config configs/real.toml --plan-only

Copies the config's finished run folders (checkpoints and metrics only, none of chapter 5's caches) into a
temporary folder, points a copy of the config there (runs, cache, figures and results), and runs
`python -m islandvae analyse` on it: every embedding, 2-D map and island score is computed from the
checkpoints as on a fresh clone (training statistics and UMAP's compiled code on disk are the machine's, as
after `make train`). Prints the CPU, each step's seconds as analyse prints them, the total, and then whether
the results (discovery.json, islands.json, latent-sizes.json, midpoints.json, the island catalogue) are the
same as those of the config's own runs folder (or of --reference, a runs folder kept from an earlier commit):
'identical', or the first differences. Needs `make train` first; nothing of the project's own folders is
written. Timings are only meaningful with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from islandvae.config import load_config
from islandvae.errors import UserError
from islandvae.machine import describe_cpu

KEPT = ("best.pt", "last.pt", "metrics.csv", "config.json")  # a trained run, before any analysis
COMPARED = ("discovery.json", "islands.json", "latent-sizes.json", "midpoints.json")


def toml_value(value) -> str:
    return (
        json.dumps(str(value))
        if isinstance(value, (str, Path))
        else str(value).lower()
        if isinstance(value, bool)
        else repr(value)
    )


def copied_config(config, source: Path, into: Path) -> Path:
    """The config file rewritten for `into`: data where it is, runs, cache, figures and results inside `into`."""
    import tomllib

    table = tomllib.loads(source.read_text())
    table.setdefault("data", {})["path"] = str(config.data.path)
    table["paths"] = {name: str(into / name) for name in ("runs", "cache", "figures", "results")}
    table.setdefault("name", source.stem)
    lines = [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for section, values in table.items():
        if isinstance(values, dict):
            lines += [f"[{section}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    path = into / source.name
    path.write_text("\n".join(lines) + "\n")
    return path


def differences(new: Path, old: Path) -> list[str]:
    """Result files that differ between two runs folders of the same config (cache keys left out)."""
    out = []
    for name in COMPARED:
        a, b = new / name, old / name
        if not (a.is_file() and b.is_file()):
            out.append(f"{name}: missing in {'the new' if not a.is_file() else 'the reference'} run")
            continue
        va, vb = (json.loads(p.read_text()) for p in (a, b))
        va, vb = (v.get("value", v) if isinstance(v, dict) else v for v in (va, vb))
        if va != vb:
            out.append(f"{name}: differs")
    return out


def print_plan(config) -> None:
    """The analysis plan of islands/plan.py: encoder passes per part (upper bounds), FLOPs, hours per GPU class."""
    from islandvae.islands.plan import analysis_plan

    plan = analysis_plan(config)
    print(
        f"analysis plan of config {config.name} (upper bounds, from the file's metadata; "
        f"{plan['GFLOP per pass']:.3g} GFLOP per encoder pass):"
    )
    for part, n in plan["passes"].items():
        print(f"  {n:>12,} passes  {part}")
    print(f"  {sum(plan['passes'].values()):>12,} passes in all, {plan['PFLOP']:.3g} PFLOP")
    for name, hours in plan["hours"].items():
        span = (
            f"{hours:.1f} h" if hours >= 1 else f"{60 * hours:.1f} min" if hours >= 1 / 60 else f"{3600 * hours:.1f} s"
        )
        print(f"  {name}: {span} at its assumed sustained rate (model/speed.py GPU_CLASSES)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--reference", type=Path, help="runs/<config> folder whose results to compare with")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR (must not exist) and keep it")
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="print the analysis plan (encoder passes, FLOPs, hours per GPU class) and stop",
    )
    args = parser.parse_args()
    try:
        config = load_config(args.config)
        if args.plan_only:
            print_plan(config)
            return 0
    except UserError as err:
        print(f"analysis_speed: {err}", file=sys.stderr)
        return 2
    runs = config.paths.runs
    folders = sorted(p for p in runs.glob(f"{config.name}*") if (p / "best.pt").is_file())
    if not folders:
        print(
            f"analysis_speed: no trained run of config {config.name} in {runs}; run make train first", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="analysis-speed-") as scratch:
        tmp = args.keep or Path(scratch)
        if args.keep:
            tmp.mkdir(parents=True)
        for folder in folders:
            (tmp / "runs" / folder.name).mkdir(parents=True)
            for path in folder.iterdir():
                if path.name in KEPT or path.name.startswith("step-"):
                    shutil.copy2(path, tmp / "runs" / folder.name / path.name)
        shutil.copytree(config.paths.cache, tmp / "cache", ignore=shutil.ignore_patterns("pixel-pca-*"))
        path = copied_config(config, Path(args.config), tmp)
        print(f"cold islandvae analyse of config {config.name} on {describe_cpu()}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "islandvae", "analyse", "--config", str(path)], check=False)
        print(f"total {time.perf_counter() - start:.0f} s (process start included)")
        if done.returncode:
            return done.returncode
        reference = args.reference or runs / config.name
        found = differences(tmp / "runs" / config.name, reference)
        catalogue = f"islands-{config.name}.csv"
        ours, theirs = (
            (folder / catalogue).read_text().splitlines() for folder in (tmp / "results", config.paths.results)
        )
        if ours != theirs:
            first = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
            found.append(f"{catalogue}: differs from line {first + 1} ({len(ours)} against {len(theirs)} lines)")
        print(f"results against {reference}: " + ("identical" if not found else "; ".join(found)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
