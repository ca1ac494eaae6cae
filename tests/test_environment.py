"""pyproject.toml is the one list of dependencies; environment.yml must say the same."""

import re
import tomllib

import yaml

from islandvae.config import PROJECT_ROOT

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_NAMES.get(name, name), spec.replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_split(r) for r in requirements)


def _environment() -> dict[str, str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    result = {}
    for item in env["dependencies"]:
        for requirement in item["pip"] if isinstance(item, dict) else [item]:
            if requirement.startswith("-"):  # "-e ." installs the project itself
                continue
            name, spec = _split(requirement)
            if name not in ("python", "pip"):
                result[name] = spec
    return result


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert _environment() == _pyproject()


def test_environment_python_satisfies_requires_python():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    minimum = re.match(r">=\s*3\.(\d+)", project["requires-python"]).group(1)
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert int(re.search(r"3\.(\d+)", python).group(1)) >= int(minimum)


def test_an_unknown_installer_stops_the_set_up_before_it_starts(tmp_path):
    """`make venv INSTALLER=...` takes uv or pip; anything else is a one-line error and no .venv is made."""
    import shutil
    import subprocess

    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "venv", "INSTALLER=conda"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "INSTALLER=conda is unknown; use uv or pip" in done.stderr
    assert not (tmp_path / ".venv").exists()


def test_torch_is_named_in_one_place_that_the_makefile_pyproject_and_environment_agree_with(tmp_path):
    """[tool.islandvae] torch is the version `make` installs first; it satisfies pyproject's and environment.yml's
    torch requirement, and no other file names a version of its own."""
    import shutil
    import subprocess

    pin = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["islandvae"]["torch"]
    minimum = tuple(int(x) for x in re.match(r">=(\d+)\.(\d+)", _pyproject()["torch"]).groups())
    assert tuple(int(x) for x in pin.split(".")[:2]) >= minimum and _environment()["torch"] == _pyproject()["torch"]
    assert pin not in (PROJECT_ROOT / "Makefile").read_text()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    planned = subprocess.run(["make", "-n", "venv"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert f'install --no-compile "torch=={pin}"' in planned
