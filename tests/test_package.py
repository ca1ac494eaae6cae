"""The package's layout: one folder per stage, imports that run one way, modules one can read in a sitting."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "code" / "islandvae"
STAGES = ["data", "tiles", "model", "latent", "islands", "report"]  # the report's order (code/islandvae/README.md)
ON_TOP = {"cli", "commands", "__main__"}  # the commands may call every stage
LONGEST = 350  # lines


def modules() -> dict[str, Path]:
    """Dotted name under islandvae -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    return found


def imported(path: Path) -> set[str]:
    """The islandvae modules (dotted, under islandvae) that a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "islandvae":
            base = node.module[len("islandvae.") :] if node.module != "islandvae" else ""
            for alias in node.names:  # `from islandvae.islands import grid` imports the module islands.grid
                names.add(f"{base}.{alias.name}".strip(".") if f"{base}.{alias.name}".strip(".") in modules() else base)
        elif isinstance(node, ast.Import):
            names |= {a.name[len("islandvae.") :] for a in node.names if a.name.startswith("islandvae.")}
    return {n for n in names if n}


def stage_of(name: str) -> int | None:
    """The index of the stage a module belongs to, or None for a shared module."""
    head = name.split(".")[0]
    return STAGES.index(head) if head in STAGES else None


def wrong_way(name: str, path: Path) -> list[str]:
    """The imports of `name` that run against the stages' order."""
    own = stage_of(name)
    if name in ON_TOP:
        return []
    bad = []
    for target in sorted(imported(path)):
        other = stage_of(target)
        if other is not None and (own is None or other > own):
            bad.append(f"{name} -> {target}")
    return bad


def test_imports_run_one_way_only():
    bad = [line for name, path in modules().items() for line in wrong_way(name, path)]
    assert not bad, "a stage imports a later stage, or a shared module imports a stage: " + "; ".join(bad)


def test_the_check_sees_an_import_that_runs_back_up(tmp_path):
    source = tmp_path / "grid.py"
    source.write_text("def f():\n    from islandvae.report import summary\n    from islandvae.latent.codes import x\n")
    assert wrong_way("islands.grid", source) == ["islands.grid -> report.summary"]
    assert wrong_way("tables", source) == ["tables -> latent.codes", "tables -> report.summary"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_says_what_it_takes_in_and_hands_on(stage):
    init = PACKAGE / stage / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert "Takes in:" in doc and "Hands on:" in doc, f"{init}: the docstring says what the stage takes in and hands on"
    assert len(tree.body) == 1, f"{init}: the stage's face only, no code (import from its modules)"


def readme_rows(text: str) -> dict[str, set[str]]:
    """The package README's drawing of the stages: per row ('data', ..., 'shared') the words it names, its
    continuation lines (indented) included."""
    drawing = text.split("```")[1]
    rows: dict[str, set[str]] = {}
    row = None
    for line in drawing.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            row = line.split()[0].rstrip("/")
            rows[row] = set()
        if row is not None:
            rows[row] |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line))
    return rows


def undescribed(text: str, names) -> list[str]:
    """The modules (dotted names under islandvae) that the README's row for their stage does not name as a word:
    a stage's modules in its own row, the shared ones in 'shared' (data/synth's sit in its own README)."""
    rows = readme_rows(text)
    missing = []
    for name in names:
        if name in ("", "__main__") or name.startswith("data.synth."):
            continue
        parts = name.split(".")
        row = parts[0] if parts[0] in STAGES else "shared"
        if parts[-1] not in rows.get(row, set()):
            missing.append(name)
    return missing


def test_the_package_readme_names_every_module():
    missing = undescribed((PACKAGE / "README.md").read_text(), modules())
    assert not missing, f"code/islandvae/README.md does not name: {', '.join(missing)}"


@pytest.mark.parametrize("module", ["islands.data", "model.io", "tiles.model", "shared_thing", "report.render.tiles"])
def test_the_package_readme_test_finds_a_module_it_does_not_describe(module):
    """A module named like a word the README uses elsewhere (a stage, 'io') is still found undescribed: the README
    must name it in its own stage's row."""
    assert undescribed((PACKAGE / "README.md").read_text(), [*modules(), module]) == [module]


def test_every_module_reads_in_a_sitting():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > LONGEST}
    assert not long, f"modules over {LONGEST} lines (split them along their seams): {long}"


def test_the_code_passes_ruff():
    """The lint rules of pyproject.toml's [tool.ruff] (pyflakes, pycodestyle at 120 characters, import order,
    bugbear, pyupgrade) and its formatter hold for the package, the tests and the benchmarks."""
    import subprocess
    import sys

    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "code", "tests", "bench"],
            cwd=PACKAGE.parents[1],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"ruff {' '.join(command)}: " + done.stdout[-3000:] + done.stderr[-1000:]
