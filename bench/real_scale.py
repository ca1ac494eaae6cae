"""What a machine needs for the course file: time and peak memory of each stage on a file of its size.

    .venv/bin/python bench/real_scale.py [--file /tmp/islandvae-real-scale/real.h5] [--keep]

Writes (once) a plain file of the course file's layout and size (layout.REAL_COUNTS images, the real size
distribution, about 2.5 Gpx of noise pixels), then runs each stage in a fresh process and prints its wall
time and peak resident memory (the process and its children, e.g. a render's kernel): inventory, statistics,
loading the training brains, their tissue maps, chapter 5's tile sets (the test brain in memory, the training
tiles read region by region), a short training run at configs/real.toml's tile size of 128 px (--steps; with
--model real also its model: the real run would take days on 2 CPU cores, a GPU is the way, see the README),
chapter 5's island pipeline on the whole test brain (every tissue tile on the grid encoded, clustered, islands
found, typed and described; the comparison models are left out), and the pip-only renders of chapters 1 and 2.
The last lines
compare the renders' peak with the training pixels (target: at most 1.5 x) and give chapter 5's grid. Nothing
else should run meanwhile.
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

WRAPPER = """
import json, os, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True, env=os.environ)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak MB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e6}))
"""


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=Path("/tmp/islandvae-real-scale/real.h5"))
    parser.add_argument("--keep", action="store_true", help="keep the file for another run")
    parser.add_argument("--steps", type=int, default=20, help="training steps of the short run (default 20)")
    parser.add_argument(
        "--model",
        choices=("default", "real"),
        default="default",
        help="the model for 128 px tiles: the default one with one stage more (fits a CPU), or "
        "configs/real.toml's (about 30 x the work per tile: a GPU's)",
    )
    parser.add_argument("--only", nargs="*", help="run only the stages whose names start with these words")
    args = parser.parse_args()
    if not args.file.is_file():
        write_file(args.file)
    from islandvae.data.hdf5 import read_inventory, training_brains

    inventory = read_inventory(args.file)
    training = sum(i.pixels for i in inventory.images if i.brain in training_brains(inventory, "B20"))
    work = Path(tempfile.mkdtemp(prefix="real-scale-"))
    config = work / "real-scale.toml"
    real = (ROOT / "configs" / "real.toml").read_text()
    model = (
        real[real.index("[model]") : real.index("[train]")]
        if args.model == "real"
        # the GPU model
        else "[model]\nnormalise = true\nlatent_map = true\ndepth = 5\n"
    )  # the default model, one stage more
    config.write_text(
        f'name = "real-scale"\n[data]\npath = "{args.file}"\ntest_brain = "B20"\n'
        f'[paths]\ncache = "{work / "cache"}"\nruns = "{work / "runs"}"\nfigures = "{work / "figures"}"\n'
        f'results = "{work / "results"}"\n'
        f"[sampling]\ntile_size = 128\nbatch_size = 16\ntiles_per_epoch = 640\n{model}"
        f"[train]\nmax_steps = {args.steps}\nwarmup_steps = 4\neval_every = {args.steps}\n"
        f"eval_tiles = 64\ncomparison_steps = {max(2, args.steps // 4)}\nworkers = 0\n"
    )
    env = {**os.environ, "ISLANDVAE_CONFIG": str(config)}
    print(
        f"{args.file}: {len(inventory.images):,} images; training brains {training / 1e9:.2f} Gpx "
        f"({training / 1e6:,.0f} MB as uint8); {sys.platform}, Python {sys.version.split()[0]}",
        flush=True,
    )
    results = {}
    for stage, code in STAGES.items():
        if args.only and not any(stage.startswith(w) for w in args.only):
            continue
        program = f"from islandvae.config import load_config; config = load_config(); {code}"
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, program], env=env, capture_output=True, text=True, cwd=ROOT
        )
        if done.returncode:
            print(f"{stage}: failed\n{done.stderr[-2000:]}")
            return 1
        results[stage] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{stage:<36} {results[stage]['seconds']:7.1f} s   peak {results[stage]['peak MB']:8,.0f} MB", flush=True)
    if "render chapters 1 and 2" in results:
        render = results["render chapters 1 and 2"]["peak MB"]
        print(f"render peak / training pixels: {render * 1e6 / training:.2f} x (target at most 1.5 x)")
    found = work / "runs" / "real-scale" / "discovery.json"
    if found.is_file():
        value = json.loads(found.read_text())["value"]
        print(
            f"chapter 5's grid: {value['grid']['tiles']:,} tissue tiles of {value['grid']['images']} test images "
            f"(tile {value['grid']['tile']} px, stride {value['grid']['stride']} px), {value['clusters']['k']} "
            f"clusters, {value['found']['islands']} islands found"
        )
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        args.file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
