"""The command line: `python -m islandvae <command>` (or `.venv/bin/islandvae`).

Each command is a thin driver over the package (commands.py); this module builds the parser and runs one.
A user's mistake ends in one line on stderr and exit status 2 (UserError); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from islandvae import __version__
from islandvae.commands import (
    cmd_analyse,
    cmd_calibration,
    cmd_data,
    cmd_inventory,
    cmd_levers,
    cmd_render,
    cmd_robustness,
    cmd_stats,
    cmd_synth,
    cmd_train,
    cmd_zip,
)
from islandvae.config import ENV_VAR
from islandvae.errors import Interrupted, UserError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="TOML", help=f"experiment config (default: ${ENV_VAR}, else configs/default.toml)"
    )
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", metavar="H5", help="HDF5 file to read instead of the config's data.path")

    parser = argparse.ArgumentParser(
        prog="islandvae",
        description="A VAE on tiles of cell-body-stained brain sections: data, training, latent analysis.",
    )
    parser.add_argument("--version", action="version", version=f"islandvae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, help: str, parents: list) -> argparse.ArgumentParser:
        """A sub-command that runs `run`, described by its docstring."""
        p = commands.add_parser(name, parents=parents, help=help, description=run.__doc__)
        p.set_defaults(run=run)
        return p

    p = command("inventory", cmd_inventory, "list the images of the data file", [common, data])
    p.add_argument("--totals", action="store_true", help="print only the per-brain totals")

    p = command("stats", cmd_stats, "pixel statistics of the training brains", [common, data])
    p.add_argument("--recompute", action="store_true", help="ignore the cached result")

    p = command("synth", cmd_synth, "write a synthetic stand-in and its truth file", [])
    p.add_argument("--preset", default="small", help="tiny (tests), small (the report's default), full (real scale)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives byte-identical files")
    p.add_argument("--out", required=True, metavar="H5", help="data file to write; the truth goes beside it")
    p.add_argument(
        "--difficulty",
        type=float,
        default=0.3,
        help="0 easy .. 1 parvicellular islands nearly like granular ones (default 0.3)",
    )
    p.add_argument(
        "--island-density",
        type=float,
        default=1.0,
        help="robustness sets: island cells at this share of the usual count (default 1)",
    )
    p.add_argument(
        "--cell-scale", type=float, default=1.0, help="robustness sets: every cell this many times as large (default 1)"
    )
    p.add_argument(
        "--section-imaging",
        type=float,
        default=0.0,
        help="robustness sets: every section stained and scanned on its own, 1 about as much as brains "
        "differ (default 0)",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=1.0,
        help="robustness sets: a scan this many times coarser, cells smaller in px (default 1)",
    )
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.add_argument("--workers", type=int, default=None, help="processes drawing images (default: up to 2)")

    command("data", cmd_data, "generate the configured data file if it is synthetic and missing", [common])

    command("calibration", cmd_calibration, "compare the data with the course file's published figures", [common, data])

    p = command("train", cmd_train, "train the config's model (resumes an unfinished run)", [common])
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--overfit",
        action="store_true",
        help="instead: the overfitting check of chapter 4 (two images per brain, its own run)",
    )
    which.add_argument(
        "--comparisons",
        action="store_true",
        help="instead: chapter 5's comparison models (autoencoder, latent 2 and 4096), short budget",
    )
    which.add_argument(
        "--levers",
        action="store_true",
        help="instead: chapter 5's lever runs, one setting changed each (tile normalisation, latent "
        "map, texture term, encoder input, sampling, beta) and the budget curve",
    )

    command("analyse", cmd_analyse, "cache chapter 5's embeddings, 2-D maps and scores", [common])

    command("levers", cmd_levers, "score the main run and the lever runs; write results/levers-<name>.json", [common])

    p = command(
        "robustness",
        cmd_robustness,
        "train and score the pipeline on eight other stand-ins; write results/robustness-<name>.json",
        [common],
    )
    p.add_argument(
        "--sets",
        nargs="+",
        metavar="NAME",
        help='measure only these sets, by their names in the table (e.g. "sparse islands (seed 4)"); the other '
        "rows are kept",
    )

    p = command("zip", cmd_zip, "pack the hand-in zip from the rendered report", [common])
    p.add_argument("--team", metavar="TOML", help="team file (default: team.toml, or ${ISLANDVAE_TEAM})")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where the zip goes (default: handin/, handin/<name>/ for a config other than the default)",
    )
    p.add_argument(
        "--output-dir",
        help="the rendered report's folder (default: _output/ from _quarto.yml, "
        "_output/<name>/ for a config other than the default)",
    )

    p = command("render", cmd_render, "render the report without Quarto (HTML and PDF)", [])
    p.add_argument("documents", nargs="*", metavar="QMD", help="documents to render (default: the project's list)")
    p.add_argument(
        "--output-dir",
        help="where HTML and PDF go (default: _output/ from _quarto.yml, _output/<name>/ "
        "for a config other than the default)",
    )
    p.add_argument("--print-output-dir", action="store_true", help="only print where the documents would go")
    p.add_argument(
        "--config",
        metavar="TOML",
        help="config file (default: ${ISLANDVAE_CONFIG} or configs/default.toml); the chunks read the same",
    )
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
        print(
            "islandvae: interrupted; nothing half-written is left (a training run resumes from its last checkpoint, "
            "a render keeps the previous outputs)",
            file=sys.stderr,
        )
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
