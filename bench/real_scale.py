"""What a machine needs for the course file: the whole `make report` journey on a course-size stand-in, each
stage timed, and the course-size plan's hours per GPU class.

    .venv/bin/python bench/real_scale.py [--steps 100] [--dir /tmp/islandvae-real-scale] [--keep]
    .venv/bin/python bench/real_scale.py --stages [--only STAGE ...] [--model real] [--steps 20]

The journey (default): a config for a course-size synthetic stand-in (the `full` preset: 1,348 images in the
course file's per-brain counts and size distribution, about 2.5 Gpx, with islands), configs/real.toml's tiles of
128 px and a short training budget (--steps; the default model with one stage more, which fits a CPU), run
through the Makefile exactly as a student runs `make report CONFIG=... && make zip`: `make data` (generates the
file once), `make train` (overfitting check, VAE, chapter 5's three comparison models), `make analysis`, `make
report` (the render of all documents; the stages before it are cached by then) and `make zip`. Per stage it prints
the wall time and the peak resident memory of its largest process, with the make output in a log file. Then the
plan of the full course-file journey from this file's layout: configs/real.toml's training (model/speed.py
training_plan) and analysis (islands/plan.py analysis_plan) in PFLOP and hours per GPU class (assumed rates), plus
the stages that do not run on the GPU as measured here.

`--stages` times the stages one by one in fresh processes on a plain file of the course layout (noise pixels):
inventory, statistics, loading the training brains, their tissue maps, chapter 5's tile sets, a short training
run (`--model real`: configs/real.toml's model), the island pipeline on the whole test brain, and the pip-only
renders of chapters 1 and 2 (with the renders' peak against the training pixels: target at most 1.5 x).

The journey's run folders, caches, figures and results go to a temporary folder and its documents and zip to
_output/<name>/ and handin/<name>/, all removed afterwards (--keep keeps them and the data file). Nothing else
should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each stage is Python run in a fresh interpreter; `config` is the path of a config for the file.
STAGES = {
    "inventory": "from islandvae.data.hdf5 import read_inventory; read_inventory(config.data.path).totals()",
    "statistics": (
        "from islandvae.data.stats import training_stats; "
        "training_stats(config.data.path, 'B20', cache_dir=config.paths.cache, progress=False)"
    ),
    "load the training brains": (
        "from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains; "
        "InMemoryImages(config.data.path, training_brains(read_inventory(config.data.path), 'B20'), progress=False)"
    ),
    "tissue maps of the training brains": (
        "from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains; "
        "from islandvae.data.stats import training_stats; from islandvae.tiles.tissue import tissue_map; "
        "images = InMemoryImages(config.data.path, training_brains(read_inventory(config.data.path), 'B20'), "
        "progress=False); tissue_map(images, training_stats(config.data.path, 'B20', cache_dir=config.paths.cache, "
        "progress=False))"
    ),
    "chapter 5's tile sets": (
        "from islandvae.data.hdf5 import InMemoryImages; from islandvae.latent.codes import test_tiles, train_tiles; "
        "from islandvae.data.stats import training_stats; "
        "stats = training_stats(config.data.path, 'B20', cache_dir=config.paths.cache, progress=False); "
        "test_tiles(config, InMemoryImages(config.data.path, ['B20'], progress=False), stats); "
        "train_tiles(config, stats)"
    ),
    "train briefly (128 px tiles)": "from islandvae.model.train import train; train(config, progress=False)",
    "chapter 5's island pipeline (the whole test brain)": (
        "from islandvae.latent.analysis import Analysis; from islandvae.islands.discovery import Discovery; "
        "Discovery(Analysis(config)).result()"
    ),
    "render chapters 1 and 2": (
        "from islandvae.config import PROJECT_ROOT; from islandvae.report.render import render; "
        "render([PROJECT_ROOT / 'chapters/01-exploration.qmd', PROJECT_ROOT / 'chapters/02-sampling.qmd'], "
        "config.paths.cache / 'out', cache_dir=config.paths.cache / 'jupyter', log=lambda s: None)"
    ),
}

# The journey: the Makefile's targets in the order a student runs them (`make report` runs data, train and analysis
# first; each is its own stage here, so `make report` is left with the render)
JOURNEY = {
    "make data (generate the course-size stand-in)": "data",
    "make train (overfitting check, VAE, 3 comparison models)": "train",
    "make analysis (chapter 5's embeddings, maps, island pipeline)": "analysis",
    "make report (render every document; the rest cached)": "report",
    "make zip": "zip",
}
# configs/real.toml's tiles with a model that fits a CPU: the default model with one stage more
CPU_MODEL = "[model]\nnormalise = true\nlatent_map = true\ndepth = 5\n"

# Runs a command (a JSON list) and prints its wall time and the peak resident memory of its largest descendant.
WRAPPER = """
import json, os, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(json.loads(sys.argv[1]), check=True, env=os.environ, stdout=sys.stderr)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak MB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e6}))
"""


def timed(command: list[str], env: dict, log: Path | None = None) -> dict | None:
    """Wall time of `command` run under WRAPPER, the peak memory of its largest process and of all its processes
    together (sampled); None (with the output's tail printed) on failure. With `log`, its output goes there."""
    from islandvae.machine import PeakMemory

    with open(log, "a") if log else tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, json.dumps(command)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            cwd=ROOT,
        )
        with PeakMemory(process.pid, every=0.5) as peak:
            printed, _ = process.communicate()
    if process.returncode:
        tail = log.read_text()[-3000:] if log else ""
        print(f"failed (exit {process.returncode}){': see ' + str(log) if log else ''}\n{tail}", flush=True)
        return None
    return json.loads(printed.strip().splitlines()[-1]) | {"all MB": peak.bytes / 1e6}


def config_text(name: str, data: str, work: Path, model: str, steps: int) -> str:
    """A config for the file: configs/real.toml's tiles, a short budget, every folder but the outputs in `work`."""
    folders = "".join(f'{f} = "{work / f}"\n' for f in ("cache", "runs", "figures", "results"))
    return (
        f'name = "{name}"\n[data]\n{data}test_brain = "B20"\n[paths]\n{folders}'
        f"[sampling]\ntile_size = 128\nbatch_size = 16\ntiles_per_epoch = 640\n{model}"
        f"[train]\nmax_steps = {steps}\nwarmup_steps = {max(1, steps // 5)}\neval_every = {steps}\n"
        f"eval_tiles = 64\ncomparison_steps = {max(2, steps // 4)}\nworkers = 0\n"
    )


def journey(args) -> int:
    """The `make report CONFIG=... && make zip` journey on a course-size stand-in, stage by stage."""
    from islandvae.config import load_config
    from islandvae.machine import describe_cpu
    from islandvae.model.runs import Run

    args.dir.mkdir(parents=True, exist_ok=True)
    data = args.dir / f"synthetic-{args.preset}.h5"
    work = args.work or Path(tempfile.mkdtemp(prefix="course-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "course-scale.toml"
    setting = f'path = "{data}"\nsynthetic = "{args.preset}"\nseed = 0\ndifficulty = 0.3\n'
    config.write_text(config_text("course-scale", setting, work, CPU_MODEL, args.steps))
    env = {**os.environ, "ISLANDVAE_CONFIG": str(config)}
    log = work / "make.log"
    print(f"{describe_cpu()}; make output in {log}", flush=True)
    results = {}
    for stage, target in JOURNEY.items():
        print(f"{stage} ...", flush=True)
        result = timed(["make", "--no-print-directory", target, f"CONFIG={config}"], env, log)
        if result is None:
            return 1
        results[stage] = result
        print(
            f"  {result['seconds']:8.1f} s   peak {result['peak MB']:8,.0f} MB in one process, "
            f"{result['all MB']:8,.0f} MB in all",
            flush=True,
        )
    loaded = load_config(config)
    grid_line(Run.of(loaded).folder / "discovery.json")
    # what runs on the notebook's CPU whatever its GPU: the render and the zip (the course file needs no generating)
    elsewhere = sum(results[s]["seconds"] for s, target in JOURNEY.items() if target in ("report", "zip"))
    course_plan(data, elsewhere)
    if not args.keep and not args.work:
        for folder in (ROOT / "_output" / loaded.own_folder, ROOT / "handin" / loaded.own_folder, work):
            shutil.rmtree(folder, ignore_errors=True)
        data.unlink(missing_ok=True)
        data.with_name(data.stem + ".truth.h5").unlink(missing_ok=True)
    return 0


def grid_line(found: Path) -> None:
    """Chapter 5's grid and what the island pipeline found there, from its cached result (when there is one)."""
    from islandvae.islands.records import IslandResult

    if found.is_file():
        r = IslandResult.from_json(json.loads(found.read_text())["value"])
        print(
            f"chapter 5's grid: {r.grid.tiles:,} tissue tiles of {r.grid.images} test images (tile {r.grid.tile} px, "
            f"stride {r.grid.stride} px), {r.clusters.k} clusters, {r.found.islands} islands found, {r.types.k} types"
        )


def course_plan(data: Path, elsewhere: float) -> None:
    """configs/real.toml's whole journey on a file of `data`'s layout: training and analysis by their plans at each
    GPU class's assumed rate, and `elsewhere` seconds (the render and zip as measured here) on top."""
    import dataclasses

    from islandvae.config import load_config
    from islandvae.islands.plan import analysis_plan
    from islandvae.model.speed import GPU_CLASSES, plan_hours, training_plan

    real = load_config(ROOT / "configs" / "real.toml")
    real = dataclasses.replace(real, data=dataclasses.replace(real.data, path=data))
    plan = training_plan(real)
    analysis = analysis_plan(real)
    print(
        f"configs/real.toml on this layout: training {sum(r['PFLOP'] for r in plan):.3g} PFLOP, "
        f"analysis {analysis['PFLOP']:.3g} PFLOP "
        f"({analysis['grid tiles']:,} grid tiles; encoder passes at most "
        f"{sum(analysis['passes'].values()):,}); render and zip as measured here {elsewhere / 60:.1f} min"
    )
    for name, c in GPU_CLASSES.items():
        hours = plan_hours(plan, c["sustained"])
        total = hours + analysis["hours"][name] + elsewhere / 3600
        print(
            f"  {name} at {c['sustained']:g} TFLOP/s (assumed): training {hours:.2f} h, analysis "
            f"{60 * analysis['hours'][name]:.1f} min, the whole journey {total:.2f} h",
            flush=True,
        )


def write_file(path: Path) -> None:
    from islandvae.data.layout import REAL_COUNTS, write_plain_file

    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    pixels = write_plain_file(partial, REAL_COUNTS, seed=0)
    partial.rename(path)
    print(
        f"wrote {path}: {sum(REAL_COUNTS.values()):,} images, {pixels / 1e9:.2f} Gpx, "
        f"{path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s",
        flush=True,
    )


def stages(args) -> int:
    """Each stage of STAGES in a fresh process on a plain file of the course layout."""
    from islandvae.data.hdf5 import read_inventory, training_brains

    plain = args.dir / "real.h5"
    if not plain.is_file():
        write_file(plain)
    inventory = read_inventory(plain)
    training = sum(i.pixels for i in inventory.images if i.brain in training_brains(inventory, "B20"))
    work = Path(tempfile.mkdtemp(prefix="real-scale-"))
    config = work / "real-scale.toml"
    real = (ROOT / "configs" / "real.toml").read_text()
    model = real[real.index("[model]") : real.index("[train]")] if args.model == "real" else CPU_MODEL
    config.write_text(config_text("real-scale", f'path = "{plain}"\n', work, model, args.steps))
    env = {**os.environ, "ISLANDVAE_CONFIG": str(config)}
    print(
        f"{plain}: {len(inventory.images):,} images; training brains {training / 1e9:.2f} Gpx "
        f"({training / 1e6:,.0f} MB as uint8); {sys.platform}, Python {sys.version.split()[0]}",
        flush=True,
    )
    results = {}
    for stage, code in STAGES.items():
        if args.only and not any(stage.startswith(w) for w in args.only):
            continue
        program = f"from islandvae.config import load_config; config = load_config(); {code}"
        result = timed([sys.executable, "-c", program], env)
        if result is None:
            print(f"{stage}: failed")
            return 1
        results[stage] = result
        print(f"{stage:<36} {result['seconds']:7.1f} s   peak {result['peak MB']:8,.0f} MB", flush=True)
    if "render chapters 1 and 2" in results:
        render = results["render chapters 1 and 2"]["peak MB"]
        print(f"render peak / training pixels: {render * 1e6 / training:.2f} x (target at most 1.5 x)")
    grid_line(work / "runs" / "real-scale" / "discovery.json")
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        plain.unlink()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/islandvae-real-scale"), help="where the data file goes")
    parser.add_argument("--keep", action="store_true", help="keep the data file (and the journey's outputs)")
    parser.add_argument(
        "--work", type=Path, help="the journey's folder (kept): a second run there finds what the first made"
    )
    parser.add_argument("--steps", type=int, default=100, help="training steps of the short run (default 100)")
    parser.add_argument(
        "--preset", choices=("full", "small", "tiny"), default="full", help="the stand-in (full: the course's size)"
    )
    parser.add_argument("--stages", action="store_true", help="time the stages one by one on a plain file instead")
    parser.add_argument(
        "--model",
        choices=("default", "real"),
        default="default",
        help="with --stages, the model for 128 px tiles: the default one with one stage more (fits a CPU), or "
        "configs/real.toml's (about 30 x the work per tile: a GPU's)",
    )
    parser.add_argument("--only", nargs="*", help="with --stages, run only the stages whose names start with these")
    args = parser.parse_args()
    if args.steps < 4:
        parser.error(f"--steps {args.steps} is too short to train; give at least 4")
    return stages(args) if args.stages else journey(args)


if __name__ == "__main__":
    sys.exit(main())
