"""The hand-in: the team file, and the zip `project01_USER1_USER2_USER3[_USER4].zip`.

`read_team` checks `team.toml` (3 or 4 members, each with name, student ID and university username,
usernames fit for a file name). `build_zip` packs one folder of the zip's own name: the rendered
report and summary at the top, the rendered chapters, the sources (code, chapters, configs, tests,
bench, Makefile ...), the figures, and per run its metrics; the main model's trained state dict.
An existing zip is never overwritten: the next is `_v2`, then `_v3`. The zip is written to a
temporary file and renamed, so a failure leaves no half-written zip.
"""

from __future__ import annotations

import io
import os
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from islandvae import files
from islandvae.config import PROJECT_ROOT, Config
from islandvae.errors import UserError
from islandvae.files import show

PROJECT = "project01"
TEAM_FILE = PROJECT_ROOT / "team.toml"
TEAM_ENV = "ISLANDVAE_TEAM"  # another team file, e.g. for a test
EXAMPLE_USERNAMES = {"emuster", "mmuster", "jdoe"}  # the shipped team.toml's placeholders
MEMBER_KEYS = ("name", "student_id", "username")
SIZE_WARNING_MB = 100

# What goes into the zip from the project root: whole folders (filtered) and single files.
SOURCE_FOLDERS = ("code", "chapters", "configs", "tests", "bench", "figures", "results", "docs", "notebooks", ".ci")
SOURCE_FILES = (
    "report.qmd",
    "summary.qmd",
    "_quarto.yml",
    "README.md",
    "Makefile",
    "pyproject.toml",
    "environment.yml",
    "team.toml",
    ".gitignore",
    "CHANGELOG.md",
)
SKIPPED = re.compile(r"(^|/)(__pycache__|\.pytest_cache|[^/]*\.egg-info|\.ipynb_checkpoints)(/|$)|\.pyc$")


@dataclass(frozen=True)
class Member:
    name: str
    student_id: str
    username: str


def team_path() -> Path:
    return Path(os.environ[TEAM_ENV]) if os.environ.get(TEAM_ENV) else TEAM_FILE


def read_team(path: Path | None = None) -> list[Member]:
    """The members listed in the team file, checked; a one-line error naming the file otherwise."""
    path = Path(path) if path else team_path()
    where = f"team file {show(path)}"
    if not path.is_file():
        raise UserError(f"{where} not found; copy the shipped team.toml there and fill in your team")
    try:
        table = tomllib.loads(files.read_text(path, "team file", "fix it (see team.toml in the repository)"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{where} is not valid TOML ({err}); fix it") from None
    unknown = set(table) - {"member"}
    if unknown:
        raise UserError(f"{where}: unknown key '{sorted(unknown)[0]}'; only [[member]] tables belong there")
    members = table.get("member", [])
    if not isinstance(members, list) or not 3 <= len(members) <= 4:
        count = len(members) if isinstance(members, list) else "no"
        raise UserError(f"{where} lists {count} members; a team has 3 or 4 ([[member]] tables)")
    out = []
    for k, m in enumerate(members, start=1):
        for key in MEMBER_KEYS:
            value = m.get(key)
            if not isinstance(value, str) or not value.strip():
                raise UserError(f'{where}: member {k} has no {key}; add {key} = "..."')
        extra = set(m) - set(MEMBER_KEYS)
        if extra:
            raise UserError(
                f"{where}: member {k} has unknown key '{sorted(extra)[0]}' (known: {', '.join(MEMBER_KEYS)})"
            )
        files.path_name(m["username"], f"{where}: member {k}'s username", longest=32)  # it names the zip
        out.append(Member(m["name"].strip(), m["student_id"].strip(), m["username"]))
    names = [m.username.lower() for m in out]
    if len(set(names)) < len(names):
        raise UserError(f"{where}: a username appears twice; each member has their own")
    return out


def is_example(team: list[Member]) -> bool:
    return any(m.username in EXAMPLE_USERNAMES for m in team)


def zip_stem(team: list[Member]) -> str:
    return "_".join([PROJECT, *(m.username for m in team)])


def next_zip(folder: Path, stem: str) -> Path:
    """`stem.zip`, or `stem_v2.zip`, `stem_v3.zip`, ... : the first that does not exist."""
    path, version = folder / f"{stem}.zip", 1
    while path.exists():
        version += 1
        path = folder / f"{stem}_v{version}.zip"
    return path


def contents(config: Config, output: Path) -> list[tuple[str, Path | bytes]]:
    """(name inside the folder, file or bytes) for everything the zip holds."""
    from islandvae.model.runs import Run

    report = output / "report.pdf"
    if not report.is_file():
        raise UserError(f"rendered report {show(report)} not found; run `make report` first")
    items: list[tuple[str, Path | bytes]] = []
    for name in ("report.pdf", "summary.pdf", "report.html", "summary.html"):  # what a grader opens first
        if (output / name).is_file():
            items.append((name, output / name))
    chapters = output / "chapters"
    if chapters.is_dir():
        items += [(f"rendered/chapters/{p.name}", p) for p in sorted(chapters.iterdir()) if p.is_file()]
    for folder in SOURCE_FOLDERS:
        root = PROJECT_ROOT / folder
        if root.is_dir():
            items += [
                (p.relative_to(PROJECT_ROOT).as_posix(), p)
                for p in sorted(root.rglob("*"))
                if p.is_file() and not SKIPPED.search(p.relative_to(PROJECT_ROOT).as_posix())
            ]
    items += [(name, PROJECT_ROOT / name) for name in SOURCE_FILES if (PROJECT_ROOT / name).is_file()]
    for kept in (f"islands-{config.name}.csv", f"robustness-{config.name}.json", f"levers-{config.name}.json"):
        path = config.paths.results / kept  # a config whose results folder lies elsewhere: its tables too
        if path.is_file() and f"results/{kept}" not in {name for name, _ in items}:
            items.append((f"results/{kept}", path))
    runs = config.paths.runs
    if runs.is_dir():  # every run of this config: its metrics and chapter 5's scores
        for run in sorted(p for p in runs.iterdir() if p.name == config.name or p.name.startswith(config.name + "-")):
            items += [
                (f"runs/{run.name}/{f}", run / f) for f in ("metrics.csv", "measures.json") if (run / f).is_file()
            ]
    main = Run.of(config)
    if not main.best.is_file():
        raise UserError(f"trained model {show(main.best)} not found; run `make report` (it trains) first")
    items.append((f"runs/{config.name}/model_state_dict.pt", _state_dict(main.best, config)))
    return items


def _state_dict(path: Path, config: Config) -> bytes:
    """The model's weights alone (torch.load-able into islandvae.model.vae.VAE), without optimizer or noise state."""
    import torch

    from islandvae.model import checkpoint

    buffer = io.BytesIO()
    torch.save(checkpoint.load(path, config)["model"], buffer)
    return buffer.getvalue()


def build_zip(config: Config, *, team: list[Member], output: Path, folder: Path, warn=print) -> Path:
    """Write the hand-in zip into `folder`; return its path."""
    items = contents(config, output)
    files.folder(folder, "hand-in")
    path = next_zip(folder, zip_stem(team))
    top = path.stem
    partial = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, item in items:
                if isinstance(item, bytes):
                    z.writestr(f"{top}/{name}", item)
                else:
                    z.write(item, f"{top}/{name}")
        os.replace(partial, path)
    except OSError as err:
        raise files.problem(err, path) from None
    finally:
        partial.unlink(missing_ok=True)
    size = path.stat().st_size / 1e6
    if size > SIZE_WARNING_MB:
        warn(f"warning: {show(path)} is {size:.0f} MB, above {SIZE_WARNING_MB} MB; check what it holds")
    return path
