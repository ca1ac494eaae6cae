"""The command line: `python -m islandvae <command>` (or `.venv/bin/islandvae`).

Each command is a thin driver over the package. A user's mistake ends in one line on stderr
and exit status 2 (UserError); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from islandvae import __version__
from islandvae.config import ENV_VAR, PROJECT_ROOT, Config, load_config
from islandvae.errors import Interrupted, UserError
from islandvae.files import show


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _data_path(args: argparse.Namespace, config: Config) -> Path:
    if args.data:
        return Path(args.data)
    if config.data.synthetic and not config.data.path.exists():
        raise UserError(f"data file {show(config.data.path)} not found; generate the synthetic stand-in with "
                        f"`make data` (or `islandvae data`)")
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
        print(f"{r['brain']:<8}{r['images']:>7}{r['pixels']:>16,}{r['bytes'] / 1e6:>9.1f}  "
              f"{f'{small.height}x{small.width}':<16}{f'{large.height}x{large.width}':<16}")
    total_pixels = sum(r["pixels"] for r in rows)
    total_bytes = sum(r["bytes"] for r in rows)
    print(f"{'all':<8}{sum(r['images'] for r in rows):>7}{total_pixels:>16,}{total_bytes / 1e6:>9.1f}  "
          f"dtype {inventory.dtype.name}")


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

    out = generate(args.out, preset=args.preset, seed=args.seed, difficulty=args.difficulty, force=args.force,
                   workers=args.workers, options=options_of(args))
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
    generate(data.path, preset=data.synthetic, seed=data.seed, difficulty=data.difficulty,
             options=options_of(data))
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
    """Train the config's model, or resume its unfinished run; a finished run is left as it is."""
    from islandvae.model.runs import comparison_configs, debug_config

    config = _config(args)
    if args.comparisons or args.levers:
        from islandvae.islands.levers import lever_configs

        for variant in (comparison_configs(config) if args.comparisons else lever_configs(config)).values():
            _train_once(variant)
        return
    _train_once(debug_config(config) if args.overfit else config)


def cmd_analyse(args: argparse.Namespace) -> None:
    """Compute and cache chapter 5's embeddings, 2-D maps, island pipeline and scores (the report then reads them)."""
    import time

    from islandvae.islands.discovery import Discovery, read_discovery
    from islandvae.islands.plan import check_analysis_plan
    from islandvae.latent.analysis import Analysis
    from islandvae.model.device import pick_device

    config = _config(args)
    start = time.perf_counter()
    print(f"analysing the runs of config {config.name}")
    if read_discovery(config) is None:  # the island pipeline is the bulk: with it cached, nothing long is left
        check_analysis_plan(config, pick_device(config))  # no silent days: a plan too long here stops
    analysis = Analysis(config, train_missing=True)
    if not analysis.available:
        raise UserError(f"config {config.name} has no finished run to analyse; run `make train` first")
    steps = (("embeddings of the fixed tiles", lambda: (analysis.latent, analysis.comparisons)),
             ("2-D maps (PCA, UMAP) and their trustworthiness", analysis.reductions),
             ("interpolation midpoints", analysis.midpoint_distances),
             ("latent sizes", analysis.latent_sizes),
             ("islands: found, typed, described" + (" and scored against the truth" if analysis.has_truth else ""),
              lambda: Discovery(analysis).result()))
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
    """Generate, train and score the eight robustness stand-ins (each step kept once done); write the table."""
    from islandvae.islands.robustness import measure_robustness

    measure_robustness(_config(args))


def cmd_zip(args: argparse.Namespace) -> None:
    """Pack the hand-in zip project01_<usernames>.zip (the _v2, _v3 ... version when it exists already)."""
    from islandvae.report.handin import build_zip, is_example, read_team
    from islandvae.report.render import output_root

    config = _config(args)
    team = read_team(Path(args.team) if args.team else None)
    if is_example(team):
        print("islandvae: warning: team.toml still lists the example members; put your team there before "
              "handing in", file=sys.stderr)
    output = Path(args.output_dir) if args.output_dir else output_root() / config.own_folder
    folder = Path(args.out) if args.out else PROJECT_ROOT / "handin" / config.own_folder
    path = build_zip(config, team=team, output=output, folder=folder,
                     warn=lambda m: print(f"islandvae: {m}", file=sys.stderr))
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="TOML",
                        help=f"experiment config (default: ${ENV_VAR}, else configs/default.toml)")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", metavar="H5", help="HDF5 file to read instead of the config's data.path")

    parser = argparse.ArgumentParser(
        prog="islandvae",
        description="A VAE on tiles of cell-body-stained brain sections: data, training, latent analysis.",
    )
    parser.add_argument("--version", action="version", version=f"islandvae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("inventory", parents=[common, data], help="list the images of the data file",
                            description=cmd_inventory.__doc__)
    p.add_argument("--totals", action="store_true", help="print only the per-brain totals")
    p.set_defaults(run=cmd_inventory)

    p = commands.add_parser("stats", parents=[common, data], help="pixel statistics of the training brains",
                            description=cmd_stats.__doc__)
    p.add_argument("--recompute", action="store_true", help="ignore the cached result")
    p.set_defaults(run=cmd_stats)

    p = commands.add_parser("synth", help="write a synthetic stand-in and its truth file",
                            description=cmd_synth.__doc__)
    p.add_argument("--preset", default="small", help="tiny (tests), small (the report's default), full (real scale)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives byte-identical files")
    p.add_argument("--out", required=True, metavar="H5", help="data file to write; the truth goes beside it")
    p.add_argument("--difficulty", type=float, default=0.3,
                   help="0 easy .. 1 parvicellular islands nearly like granular ones (default 0.3)")
    p.add_argument("--island-density", type=float, default=1.0,
                   help="robustness sets: island cells at this share of the usual count (default 1)")
    p.add_argument("--cell-scale", type=float, default=1.0,
                   help="robustness sets: every cell this many times as large (default 1)")
    p.add_argument("--section-imaging", type=float, default=0.0,
                   help="robustness sets: every section stained and scanned on its own, 1 about as much as brains "
                        "differ (default 0)")
    p.add_argument("--pixel-size", type=float, default=1.0,
                   help="robustness sets: a scan this many times coarser, cells smaller in px (default 1)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.add_argument("--workers", type=int, default=None, help="processes drawing images (default: up to 2)")
    p.set_defaults(run=cmd_synth)

    p = commands.add_parser("data", parents=[common], help="generate the configured data file if it is synthetic "
                            "and missing", description=cmd_data.__doc__)
    p.set_defaults(run=cmd_data)

    p = commands.add_parser("calibration", parents=[common, data], help="compare the data with the course file's "
                            "published figures", description=cmd_calibration.__doc__)
    p.set_defaults(run=cmd_calibration)

    p = commands.add_parser("train", parents=[common], help="train the config's model (resumes an unfinished run)",
                            description=cmd_train.__doc__)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--overfit", action="store_true",
                       help="instead: the overfitting check of chapter 4 (two images per brain, its own run)")
    which.add_argument("--comparisons", action="store_true",
                       help="instead: chapter 5's comparison models (autoencoder, latent 2 and 4096), short budget")
    which.add_argument("--levers", action="store_true",
                       help="instead: chapter 5's lever runs, one setting changed each (tile normalisation, latent "
                       "map, texture term, encoder input, sampling, beta) and the budget curve")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("analyse", parents=[common], help="cache chapter 5's embeddings, 2-D maps and scores",
                            description=cmd_analyse.__doc__)
    p.set_defaults(run=cmd_analyse)

    p = commands.add_parser("levers", parents=[common], help="score the main run and the lever runs; write "
                            "results/levers-<name>.json", description=cmd_levers.__doc__)
    p.set_defaults(run=cmd_levers)

    p = commands.add_parser("robustness", parents=[common], help="train and score the pipeline on eight other "
                            "stand-ins; write results/robustness-<name>.json", description=cmd_robustness.__doc__)
    p.set_defaults(run=cmd_robustness)

    p = commands.add_parser("zip", parents=[common], help="pack the hand-in zip from the rendered report",
                            description=cmd_zip.__doc__)
    p.add_argument("--team", metavar="TOML", help="team file (default: team.toml, or ${ISLANDVAE_TEAM})")
    p.add_argument("--out", metavar="DIR", help="where the zip goes (default: handin/, handin/<name>/ for a config "
                   "other than the default)")
    p.add_argument("--output-dir", help="the rendered report's folder (default: _output/ from _quarto.yml, "
                   "_output/<name>/ for a config other than the default)")
    p.set_defaults(run=cmd_zip)

    p = commands.add_parser("render", help="render the report without Quarto (HTML and PDF)",
                            description=cmd_render.__doc__)
    p.add_argument("documents", nargs="*", metavar="QMD", help="documents to render (default: the project's list)")
    p.add_argument("--output-dir", help="where HTML and PDF go (default: _output/ from _quarto.yml, _output/<name>/ "
                   "for a config other than the default)")
    p.add_argument("--print-output-dir", action="store_true", help="only print where the documents would go")
    p.add_argument("--config", metavar="TOML", help="config file (default: ${ISLANDVAE_CONFIG} or "
                   "configs/default.toml); the chunks read the same")
    p.set_defaults(run=cmd_render)
    return parser


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"islandvae: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (2 for a user's mistake)."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _warn  # one line per warning, without the source line
    try:
        args.run(args)
    except Interrupted as err:
        print(f"islandvae: interrupted: {err}", file=sys.stderr)
        return 130
    except UserError as err:
        print(f"islandvae: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("islandvae: interrupted; nothing half-written is left (a training run resumes from its last checkpoint, "
              "a render keeps the previous outputs)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: stop quietly
        sys.stderr.close()
        return 0
    except OSError as err:  # a full disk, a folder that is a file, no permission: the user's to fix, not a bug
        from islandvae.files import problem, user_problem

        if not (user_problem(err) and err.filename):
            raise
        print(f"islandvae: error: {problem(err, err.filename)}", file=sys.stderr)
        return 2
    return 0
