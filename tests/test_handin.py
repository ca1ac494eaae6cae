"""The team file and the hand-in zip's name: every bad team file is refused in one line, and nothing is written."""

import pytest

from islandvae.errors import UserError
from islandvae.report.handin import next_zip, read_team, zip_stem


def member(name="Ada Lovelace", sid="1234567", user="alovelace", extra=""):
    lines = [
        f'name = "{name}"' if name is not None else "",
        f'student_id = "{sid}"' if sid is not None else "",
        f'username = "{user}"' if user is not None else "",
        extra,
    ]
    return "[[member]]\n" + "\n".join(line for line in lines if line) + "\n"


def team(*members):
    return "".join(members)


THREE = [member(user="ada"), member(user="bob"), member(user="cyd")]


def write(tmp_path, text):
    path = tmp_path / "team.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_three_and_four_members_are_read_in_order(tmp_path):
    assert [m.username for m in read_team(write(tmp_path, team(*THREE)))] == ["ada", "bob", "cyd"]
    four = read_team(write(tmp_path, team(*THREE, member(name="Đặng Thị Ngọc Hân", user="d.han-2"))))
    assert four[3].name == "Đặng Thị Ngọc Hân"
    assert zip_stem(four) == "project01_ada_bob_cyd_d.han-2"


def test_the_shipped_team_file_is_valid():
    assert len(read_team()) in (3, 4)


@pytest.mark.parametrize(
    "text, words",
    [
        (team(*THREE[:2]), "lists 2 members"),
        (team(*THREE, member(user="dan"), member(user="eve")), "lists 5 members"),
        ("", "lists 0 members"),
        (team(*THREE[:2], member(user=None)), "member 3 has no username"),
        (team(*THREE[:2], member(sid=None, user="x")), "member 3 has no student_id"),
        (team(*THREE[:2], member(name="  ", user="x")), "member 3 has no name"),
        (team(*THREE[:2], member(user="a/b")), "cannot name a folder or file"),
        (team(*THREE[:2], member(user="max mustermann")), "cannot name a folder or file"),
        (team(*THREE[:2], member(user="..")), "cannot name a folder or file"),
        (team(*THREE[:2], member(user="ADA")), "appears twice"),
        (team(*THREE[:2], member(user="x", extra='email = "x@y"')), "unknown key 'email'"),
        ('title = "x"\n' + team(*THREE), "unknown key 'title'"),
        ("[[member]\nname=", "not valid TOML"),
    ],
)
def test_bad_team_files_are_refused_and_nothing_is_written(tmp_path, run_cli, text, words):
    path = write(tmp_path, text)
    with pytest.raises(UserError, match=words):
        read_team(path)
    code, out, err = run_cli("zip", "--team", path, "--out", tmp_path / "zips")
    assert code == 2 and words in err and str(path.name) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "zips").exists()


def test_a_missing_team_file_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="not found; copy the shipped team.toml"):
        read_team(tmp_path / "team.toml")


def test_versions_count_up_and_never_overwrite(tmp_path):
    assert next_zip(tmp_path, "p").name == "p.zip"
    (tmp_path / "p.zip").write_bytes(b"1")
    assert next_zip(tmp_path, "p").name == "p_v2.zip"
    (tmp_path / "p_v2.zip").write_bytes(b"2")
    assert next_zip(tmp_path, "p").name == "p_v3.zip"
