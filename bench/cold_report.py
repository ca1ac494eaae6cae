"""A cold `make report`, timed by stage: a fresh clone of the committed project (no .venv, data, run or cache).

    python3 bench/cold_report.py [--keep DIR] [--config configs/default.toml]

Runs, in a clone of HEAD, the stages `make report` runs in order (make venv, data, train, analysis,
then report with the earlier targets marked done, so that it only renders) and prints the seconds of each and the
total, then a second, warm `make report` in the same clone. It names the CPU first (model, cores, native
bfloat16 or not). Standard library only: it runs before any virtual environment exists. Output of the make
calls goes to <clone>/cold-report.log. Timings are only meaningful with nothing else running on the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    ("set-up", "venv"),
    ("data", "data"),
    ("training", "train"),
    ("analysis", "analysis"),
    ("rendering", "report"),
)
DONE = ["-o", ".venv/.ready", "-o", "data", "-o", "train", "-o", "analysis"]  # the last stage only renders


def cpu() -> str:
    """The processor, from /proc/cpuinfo: model, cores usable here, and whether it has bfloat16 in hardware."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown CPU"
    model = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown model"
    )
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {vector}, {'native' if native else 'no native'} bfloat16"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="clone into DIR (must not exist) and keep it")
    parser.add_argument("--config", default="configs/default.toml")
    args = parser.parse_args()
    parent = None if args.keep else tempfile.TemporaryDirectory(prefix="cold-report-")
    clone = Path(args.keep) if args.keep else Path(parent.name) / "islandvae"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout
    print(f"cold make report of commit {commit.strip()} in {clone} (config {args.config}) on {cpu()}", flush=True)
    times = {}
    with open(clone / "cold-report.log", "w") as log:
        for stage, target in STAGES:
            start = time.perf_counter()
            done = subprocess.run(
                ["make", *(DONE if target == "report" else []), target, f"CONFIG={args.config}"],
                cwd=clone,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            times[stage] = time.perf_counter() - start
            print(f"{stage:<10} make {target:<9} {times[stage]:7.0f} s", flush=True)
            if done.returncode:
                print(f"make {target} failed (exit {done.returncode}); see {clone / 'cold-report.log'}")
                return 1
        total = sum(times.values())
        print(f"{'total':<10} {'':<14} {total:7.0f} s = {total / 60:.1f} min", flush=True)
        start = time.perf_counter()
        subprocess.run(
            ["make", "report", f"CONFIG={args.config}"], cwd=clone, stdout=log, stderr=subprocess.STDOUT, check=True
        )
        print(f"{'warm':<10} make report    {time.perf_counter() - start:7.0f} s (a second call, nothing changed)")
    chunks = re.findall(r"chunk '([^']+)': (\d+) s", (clone / "cold-report.log").read_text())
    slowest = sorted(((int(t), name) for name, t in chunks), reverse=True)[:5]
    print("slowest chunks of the cold render: " + (", ".join(f"{n} {t} s" for t, n in slowest) or "none over 5 s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
