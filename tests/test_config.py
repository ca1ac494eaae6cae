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

    out = subprocess.run(["make", "-s", "--no-print-directory", "show-config", "CONFIG=configs/real.toml"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert Path(out.strip()) == PROJECT_ROOT / "configs" / "real.toml"


@pytest.mark.parametrize("text, words", [
    ('[data]\npath = "f.h5"\ntest_brian = "B20"\n', ["unknown key 'data.test_brian'", "test_brain"]),
    ('colour = 1\n[data]\npath = "f.h5"\n', ["unknown key 'colour'"]),
    ('[data]\npath = 3\n', ["'data.path' must be a path"]),
    ('[paths]\ncache = "c"\n', ["missing key 'data'"]),
    ('[data\npath = "f.h5"\n', ["not valid TOML"]),
])
def test_bad_config_is_refused_with_its_name(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_config(path)
    message = str(err.value)
    assert "bad.toml" in message and "\n" not in message
    for word in words:
        assert word in message
