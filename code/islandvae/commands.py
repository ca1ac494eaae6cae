"""The commands of the command line (cli.py), one function each: a thin driver over the package that reads the
parsed arguments and prints what it did. A user's mistake raises UserError, which cli.main turns into one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from islandvae.config import ENV_VAR, PROJECT_ROOT, Config, load_config
from islandvae.errors import UserError
from islandvae.files import show


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _data_path(args: argparse.Namespace, config: Config) -> Path:
    if args.data:
        return Path(args.data)
    if config.data.synthetic and not config.data.path.exists():
        raise UserError(
            f"data file {show(config.data.path)} not found; generate the synthetic stand-in with "
            f"`make data` (or `islandvae data`)"
        )
    return config.data.path


def cmd_inventory(args: argparse.Namespace) -> None:
    """Print every image (brain, name, shape, dtype, pixels) and per-brain totals; reads no pixel."""
    from islandvae.data.hdf5 import read_inventory

    config = _config(args)
    inventory = read_inventory(_data_path(args, config))
    print(f"file: {show(inventory.path)}")
    if not args.totals:
        print(f"{'brain':<8}{'image':<10}{'height':>8}{'width':>8}  {'dtype':<7}{'pixels':>13}")
        for i in inventory.images:
            print(f"{i.brain:<8}{i.name:<10}{i.height:>8}{i.width:>8}  {i.dtype:<7}{i.pixels:>13,}")
        print()
    print(f"{'brain':<8}{'images':>7}{'pixels':>16}{'MB':>9}  {'smallest (HxW)':<16}{'largest (HxW)':<16}")
    rows = inventory.totals()
    for r in rows:
        small, large = r["smallest"], r["largest"]
        print(
            f"{r['brain']:<8}{r['images']:>7}{r['pixels']:>16,}{r['bytes'] / 1e6:>9.1f}  "
            f"{f'{small.height}x{small.width}':<16}{f'{large.height}x{large.width}':<16}"
        )
    total_pixels = sum(r["pixels"] for r in rows)
    total_bytes = sum(r["bytes"] for r in rows)
    print(
        f"{'all':<8}{sum(r['images'] for r in rows):>7}{total_pixels:>16,}{total_bytes / 1e6:>9.1f}  "
        f"dtype {inventory.dtype.name}"
    )


def cmd_stats(args: argparse.Namespace) -> None:
    """Print min, max, mean, std of the training brains (all but the test brain); cached."""
    from islandvae.data.stats import training_stats

    config = _config(args)
    path = _data_path(args, config)
    stats = training_stats(path, config.data.test_brain, cache_dir=config.paths.cache, recompute=args.recompute)
    print(f"file: {show(path)}")
    print(f"training brains: {' '.join(stats.brains)} (test brain {config.data.test_brain} held out)")
    print(f"pixels: {stats.count:,}")
    print(f"min {stats.min:g}  max {stats.max:g}  mean {stats.mean:.4f}  std {stats.std:.4f}")


def cmd_synth(args: argparse.Namespace) -> None:
    """Write a synthetic stand-in in the course layout, and its truth file beside it."""
    from islandvae.data.synth import generate, options_of
    from islandvae.data.truth import truth_path

    out = generate(
        args.out,
        preset=args.preset,
        seed=args.seed,
        difficulty=args.difficulty,
        force=args.force,
        workers=args.workers,
        options=options_of(args),
    )
    print(f"wrote {show(out)} and {show(truth_path(out))}")


def cmd_data(args: argparse.Namespace) -> None:
    """Make sure the configured data file exists: generate it if the config names a synthetic preset."""
    from islandvae.data.synth import generate, options_of

    data = _config(args).data
    if data.path.exists():
        print(f"data file {show(data.path)} is there")
        return
    if not data.synthetic:
        from islandvae.data.hdf5 import open_h5

        open_h5(data.path)  # raises the missing-file message with the course-file hint
    generate(data.path, preset=data.synthetic, seed=data.seed, difficulty=data.difficulty, options=options_of(data))
    print(f"generated {show(data.path)} (synthetic stand-in, preset {data.synthetic}, seed {data.seed})")


def cmd_calibration(args: argparse.Namespace) -> None:
    """Compare the data file with the course file's published figures: grey values and image sizes."""
    from islandvae.data.calibration import (
        format_table,
        grey_table,
        image_summaries,
        size_table,
    )

    path = _data_path(args, _config(args))
    summaries = image_summaries(path)
    print(f"file: {show(path)}\n")
    print("grey values per brain (mean of image means, mean of image standard deviations):")
    print(format_table(grey_table(summaries)))
    print("\nimage sizes over all images (px; Mpx):")
    print(format_table(size_table(summaries)))


def cmd_render(args: argparse.Namespace) -> None:
    """Render documents to HTML and PDF without Quarto (the pip-only path); default: the whole project."""
    from islandvae.report.render import output_root, render

    output = Path(args.output_dir) if args.output_dir else output_root() / _config(args).own_folder
    if args.print_output_dir:  # for the Makefile: where `quarto render --output-dir` writes this config's documents
        print(output.relative_to(PROJECT_ROOT) if output.is_relative_to(PROJECT_ROOT) else output)
        return
    if args.config:  # the chunks' kernels read the config from the environment
        os.environ[ENV_VAR] = str(Path(args.config).resolve())
    render([Path(d) for d in args.documents] or None, output)


def cmd_train(args: argparse.Namespace) -> None:
    """Train the config's model (and the model its islands are typed on, islands.typing), or resume an unfinished
    run; a finished run is left as it is."""
    from islandvae.model.runs import comparison_configs, debug_config, typing_config

    config = _config(args)
    typing = typing_config(config)  # a wrong islands.typing is named before anything trains
    if args.comparisons or args.levers:
        from islandvae.islands.levers import lever_configs

        for variant in (comparison_configs(config) if args.comparisons else lever_configs(config)).values():
            _train_once(variant)
        return
    if args.overfit:
        _train_once(debug_config(config))
        return
    for c in filter(None, (config, typing)):
        _train_once(c)


def cmd_analyse(args: argparse.Namespace) -> None:
    """Compute and cache chapter 5's embeddings, 2-D maps, island pipeline and scores (the report then reads them)."""
    import time

    from islandvae.data.hdf5 import open_h5
    from islandvae.islands.discovery import Discovery, read_discovery
    from islandvae.islands.plan import check_analysis_plan
    from islandvae.latent.analysis import Analysis
    from islandvae.model.device import pick_device

    config = _config(args)
    start = time.perf_counter()
    print(f"analysing the runs of config {config.name}")
    open_h5(config.data.path).close()  # a missing or unreadable data file: its one line, before any cache is keyed
    if read_discovery(config) is None:  # the island pipeline is the bulk: with it cached, nothing long is left
        check_analysis_plan(config, pick_device(config))  # no silent days: a plan too long here stops
    analysis = Analysis(config, train_missing=True)
    if not analysis.available:
        raise UserError(f"config {config.name} has no finished run to analyse; run `make train` first")
    steps = (
        ("embeddings of the fixed tiles", lambda: (analysis.latent, analysis.comparisons)),
        ("2-D maps (PCA, UMAP) and their trustworthiness", analysis.reductions),
        ("interpolation midpoints", analysis.midpoint_distances),
        ("latent sizes", analysis.latent_sizes),
        (
            "islands: found, typed, described" + (" and scored against the truth" if analysis.has_truth else ""),
            lambda: Discovery(analysis, progress=lambda line: print(f"    {line}", flush=True)).result(),
        ),
    )
    for what, step in steps:  # each cached: a second call only reads
        tick = time.perf_counter()
        step()
        print(f"  {what}: {time.perf_counter() - tick:.0f} s", flush=True)
    print(f"  done in {time.perf_counter() - start:.0f} s; cached in {show(analysis.run.folder)}")


def cmd_levers(args: argparse.Namespace) -> None:
    """Score the main run and every finished lever run (`islandvae train --levers`) as chapter 5 does."""
    from islandvae.islands.levers import measure_levers

    measure_levers(_config(args))


def cmd_robustness(args: argparse.Namespace) -> None:
    """Generate, train and score the eight robustness stand-ins, or those of --sets (each step kept once done);
    write the table."""
    from islandvae.islands.robustness import measure_robustness

    measure_robustness(_config(args), sets=args.sets)


def cmd_zip(args: argparse.Namespace) -> None:
    """Pack the hand-in zip project01_<usernames>.zip (the _v2, _v3 ... version when it exists already)."""
    from islandvae.report.handin import build_zip, is_example, read_team
    from islandvae.report.render import output_root

    config = _config(args)
    team = read_team(Path(args.team) if args.team else None)
    if is_example(team):
        print(
            "islandvae: warning: team.toml still lists the example members; put your team there before handing in",
            file=sys.stderr,
        )
    output = Path(args.output_dir) if args.output_dir else output_root() / config.own_folder
    folder = Path(args.out) if args.out else PROJECT_ROOT / "handin" / config.own_folder
    path = build_zip(
        config, team=team, output=output, folder=folder, warn=lambda m: print(f"islandvae: {m}", file=sys.stderr)
    )
    print(f"wrote {show(path)} ({path.stat().st_size / 1e6:.1f} MB)")


def _train_once(config) -> None:
    from islandvae.model.runs import Run
    from islandvae.model.train import check_train, train

    check_train(config)  # an impossible config is named as such, before any existing run is compared with it
    run = Run.of(config)
    if run.done(config):
        print(f"{show(run.folder)}: finished run found; nothing to do (delete the folder to retrain)")
        return
    print(f"{'resuming' if run.last.is_file() else 'training'} {show(run.folder)}")
    train(config, progress=True)
    print(f"wrote {show(run.best)} and {show(run.metrics)}")
