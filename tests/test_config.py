from pathlib import Path

import pytest

from islandvae.config import PROJECT_ROOT, load_config
from islandvae.errors import UserError


def test_default_config_points_at_the_stand_in():
    config = load_config(PROJECT_ROOT / "configs" / "default.toml")
    assert config.name == "default"
    assert config.data.test_brain == "B20"
    assert config.data.path == PROJECT_ROOT / "data" / "synthetic-small.h5"
    assert config.data.synthetic == "small"


@pytest.mark.parametrize("name", ["real", "real-long"])
def test_real_config_points_at_the_course_file(name):
    config = load_config(PROJECT_ROOT / "configs" / f"{name}.toml")
    assert config.data.path == PROJECT_ROOT / "data" / "cell_data.h5"
    assert config.data.synthetic == ""  # never generated: a missing course file is an error
    assert config.data.test_brain == "B20"


def test_relative_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "x.toml"
    path.write_text('[data]\npath = "../d/file.h5"\n[paths]\ncache = "c"\n')
    monkeypatch.chdir(PROJECT_ROOT)
    config = load_config(path)
    assert config.data.path == tmp_path / "d" / "file.h5"
    assert config.paths.cache == tmp_path / "sub" / "c"
    assert config.name == "x"  # the file's stem when no name is given


def test_environment_variable_selects_the_config(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text('[data]\npath = "f.h5"\ntest_brain = "B07"\n')
    monkeypatch.setenv("ISLANDVAE_CONFIG", str(path))
    assert load_config().data.test_brain == "B07"


def test_make_variable_selects_the_config():
    import subprocess

    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "show-config", "CONFIG=configs/real.toml"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(out.strip()) == PROJECT_ROOT / "configs" / "real.toml"


@pytest.mark.parametrize(
    "text, words",
    [
        ('[data]\npath = "f.h5"\ntest_brian = "B20"\n', ["unknown key 'data.test_brian'", "test_brain"]),
        ('colour = 1\n[data]\npath = "f.h5"\n', ["unknown key 'colour'"]),
        ("[data]\npath = 3\n", ["'data.path' must be a path"]),
        ('[paths]\ncache = "c"\n', ["missing key 'data'"]),
        ('[data\npath = "f.h5"\n', ["not valid TOML"]),
    ],
)
def test_bad_config_is_refused_with_its_name(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_config(path)
    message = str(err.value)
    assert "bad.toml" in message and "\n" not in message
    for word in words:
        assert word in message


def test_every_config_but_the_default_keeps_its_figures_apart(tmp_path):
    """Rendering the course file (or any other config) must not replace the stand-in's committed figures: a config
    that names no figures folder gets figures/<name>/, and no config of the project writes to figures/ itself."""
    default = load_config(PROJECT_ROOT / "configs" / "default.toml")
    assert default.own_folder == "" and default.paths.figures == PROJECT_ROOT / "figures"
    for path in sorted((PROJECT_ROOT / "configs").glob("*.toml")):
        config = load_config(path)
        if config.name != "default":
            assert config.own_folder == config.name
            assert config.paths.figures != default.paths.figures, path.name
    mine = tmp_path / "second.toml"
    mine.write_text('[data]\npath = "f.h5"\n')
    assert load_config(mine).paths.figures == PROJECT_ROOT / "figures" / "second"
    mine.write_text('[data]\npath = "f.h5"\n[paths]\nfigures = "mine"\n')  # a folder of its own choosing stays
    assert load_config(mine).paths.figures == tmp_path / "mine"


def test_a_second_config_renders_and_zips_into_folders_of_its_own(run_cli):
    for config, folder in (("configs/default.toml", "_output"), ("configs/real.toml", "_output/real")):
        status, out, _ = run_cli("render", "--print-output-dir", "--config", config)
        assert status == 0 and out.strip() == folder


def test_the_long_config_is_the_default_trained_to_its_budget():
    """configs/long.toml is the budget curve's 4,000-step point (bench/budget_curve.py): the default's run in all
    but the budget and a patience that cannot end it first."""
    from islandvae.model.checkpoint import run_signature

    default, long = (load_config(PROJECT_ROOT / "configs" / f"{n}.toml") for n in ("default", "long"))
    a, b = run_signature(default), run_signature(long)
    assert {k: v for k, v in b["train"].items() if k not in ("max_steps", "patience")} == {
        k: v for k, v in a["train"].items() if k not in ("max_steps", "patience")
    }
    assert {s: b[s] for s in b if s != "train"} == {s: a[s] for s in a if s != "train"}
    t = long.train
    assert t.max_steps == 4000 and (t.patience + 1) * t.eval_every > t.max_steps  # the first stop: after the budget
    assert long.data.path == default.data.path and long.paths.runs == default.paths.runs


def test_islands_typed_on_the_imaging_model_name_its_run_and_a_wrong_model_is_refused(tmp_path):
    from islandvae.model.checkpoint import run_signature
    from islandvae.model.runs import typing_config

    path = tmp_path / "typing.toml"
    path.write_text('[data]\npath = "f.h5"\n[islands]\ntyping = "imaging"\n')
    config = load_config(path)
    other = typing_config(config)
    assert other.name == "typing-imaging" and other.sampling.imaging and typing_config(other) is None
    plain = load_config(path.write_text('[data]\npath = "f.h5"\n') and path)
    assert typing_config(plain) is None and run_signature(plain) == run_signature(config)  # the main run is the same
    path.write_text('[data]\npath = "f.h5"\n[islands]\ntyping = "stain"\n')
    with pytest.raises(UserError) as err:
        typing_config(load_config(path))
    assert "islands.typing must be one of main, imaging, got 'stain'" in str(err.value) and "\n" not in str(err.value)


def test_the_finders_clusterings_are_a_setting_and_none_is_refused_in_one_line(tmp_path, monkeypatch):
    from islandvae.islands import discovery
    from islandvae.islands.discovery import Discovery, discovery_key
    from islandvae.latent.analysis import Analysis

    monkeypatch.setattr(discovery, "data_identity", lambda path: "the data")  # no data file needed for the key
    path = tmp_path / "starts.toml"
    path.write_text('[data]\npath = "f.h5"\n[islands]\nstarts = 1\n')
    config = load_config(path)
    assert config.islands.starts == 1
    plain = load_config(path.write_text('[data]\npath = "f.h5"\n') and path)
    assert plain.islands.starts == 9 and discovery_key(plain) != discovery_key(config)  # a cache of its own
    assert load_config(PROJECT_ROOT / "configs" / "default.toml").islands.starts == 9  # written out there
    path.write_text('[data]\npath = "f.h5"\n[islands]\nstarts = 0\n')
    with pytest.raises(UserError) as err:
        Discovery(Analysis(load_config(path)))
    assert "islands.starts must be at least 1, got 0" in str(err.value) and "starts.toml" in str(err.value)
    assert "\n" not in str(err.value)
