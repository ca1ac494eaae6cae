"""The pip-only renderer: a smoke render of every document, caching, single chapters, bad input."""

import re
import warnings

import pytest
from pypdf import PdfReader

from conftest import QUICK_TRAINING, write_config
from islandvae.config import PROJECT_ROOT
from islandvae.errors import UserError
from islandvae.render import project_documents, render
from islandvae.render.execute import render_key
from islandvae.render.qmd import parse
from islandvae.synth import generate

pytestmark = pytest.mark.slow


# Four members with the longest names and IDs a team plausibly has: the summary must still be one page.
LONGEST_TEAM = "".join(
    f'[[member]]\nname = "{name}"\nstudent_id = "{sid}"\nusername = "{user}"\n'
    for name, sid, user in [
        ("Maximiliane Alexandra Theodora von Hohenzollern-Sigmaringen", "2023-00123456", "mvonhohenzoll"),
        ("Bartholomew Christopher Fitzgerald-Montgomery", "2023-00234567", "bfitzgeraldm"),
        ("Nguyen Thi Thanh Huong Phuong-Anh", "2023-00345678", "nthphuonganh"),
        ("Oluwaseun Adebayo Oluwadamilare Akinwumi", "2023-00456789", "oakinwumi1")])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Every document rendered once on tiny data, into a temporary output, cache and figures folder."""
    folder = tmp_path_factory.mktemp("smoke")
    data = generate(folder / "tiny.h5", preset="tiny", progress=False)
    config = write_config(folder, data, data_extra='synthetic = "tiny"', extra=QUICK_TRAINING)
    config.write_text(config.read_text().replace('runs = "runs"', 'runs = "runs"\nfigures = "figures"'))
    team = folder / "team.toml"
    team.write_text(LONGEST_TEAM)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISLANDVAE_CONFIG", str(config))
        mp.setenv("ISLANDVAE_TEAM", str(team))
        log = []
        render(output_dir=folder / "out", cache_dir=folder / "cache", log=log.append)
        yield dict(folder=folder, out=folder / "out", cache=folder / "cache", log=log, config=config, team=team)


@pytest.fixture(autouse=True)
def _smoke_config(request, monkeypatch):
    """Tests that use the smoke render keep its config (conftest clears ISLANDVAE_CONFIG per test)."""
    if "smoke" in request.fixturenames:
        monkeypatch.setenv("ISLANDVAE_CONFIG", str(request.getfixturevalue("smoke")["config"]))
        monkeypatch.setenv("ISLANDVAE_TEAM", str(request.getfixturevalue("smoke")["team"]))


def _pdfs(out):
    return sorted(out.rglob("*.pdf"))


def test_every_document_has_html_and_pdf_with_pages(smoke):
    names = {p.relative_to(smoke["out"]).with_suffix("").as_posix() for p in _pdfs(smoke["out"])}
    assert names == {"report", "summary", *(f"chapters/{p.stem}" for p in project_documents() if p.parent.name == "chapters")}
    for pdf in _pdfs(smoke["out"]):
        assert len(PdfReader(pdf).pages) >= 1
        assert pdf.with_suffix(".html").is_file()


def test_summary_is_one_a4_page_of_12pt_text(smoke):
    reader = PdfReader(smoke["out"] / "summary.pdf")
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4 in points
    sizes = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            sizes[round(size * tm[0], 1)] = sizes.get(round(size * tm[0], 1), 0) + len(text)

    page.extract_text(visitor_text=visit)
    assert max(sizes, key=sizes.get) == 12.0, sizes  # the body text


def test_summary_shows_the_team_and_numbers_from_the_results(smoke):
    text = PdfReader(smoke["out"] / "summary.pdf").pages[0].extract_text()
    assert "Oluwaseun Adebayo" in text and "2023-00456789" in text
    assert "synthetic stand-in" in text
    assert "pixel PCA" in text and "linear probe" in text  # the measures table, from the cached results
    metrics = (smoke["folder"] / "runs" / "test" / "metrics.csv").read_text().splitlines()
    assert f"{int(metrics[-1].split(',')[0]):,} steps" in text


def test_zip_follows_the_scheme_and_a_second_call_writes_v2(smoke, run_cli, tmp_path):
    import torch
    import zipfile

    from islandvae.config import load_config
    from islandvae.model import VAE

    args = ("zip", "--output-dir", smoke["out"], "--out", tmp_path)
    code, out, err = run_cli(*args)
    assert code == 0, err
    stem = "project01_mvonhohenzoll_bfitzgeraldm_nthphuonganh_oakinwumi1"
    first = tmp_path / f"{stem}.zip"
    with zipfile.ZipFile(first) as z:
        names = z.namelist()
        assert {n.split("/")[0] for n in names} == {stem}  # one folder of the zip's name
        top = {n.split("/", 1)[1] for n in names if n.count("/") == 1}
        assert {"report.pdf", "summary.pdf", "report.html", "README.md", "Makefile"} <= top
        assert f"{stem}/code/islandvae/model.py" in names and f"{stem}/chapters/_05-analysis.qmd" in names
        assert f"{stem}/runs/test/metrics.csv" in names
        assert not [n for n in names if re.search(r"\.venv/|__pycache__|\.h5$|/cache/|\.pyc$|last\.pt|best\.pt", n)]
        state = torch.load(z.open(f"{stem}/runs/test/model_state_dict.pt"), weights_only=True)
    VAE(load_config().model, load_config().sampling.tile_size).load_state_dict(state)  # the trained weights
    code, out, err = run_cli(*args)
    assert code == 0 and (tmp_path / f"{stem}_v2.zip").is_file(), err
    with zipfile.ZipFile(tmp_path / f"{stem}_v2.zip") as z:
        assert {n.split("/")[0] for n in z.namelist()} == {f"{stem}_v2"}
    assert first.stat().st_size > 0 and sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.zip", f"{stem}_v2.zip"]


def test_zip_warns_above_the_size_limit(smoke, run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr("islandvae.handin.SIZE_WARNING_MB", 0)
    code, out, err = run_cli("zip", "--output-dir", smoke["out"], "--out", tmp_path)
    assert code == 0 and "above 0 MB" in err


def test_zip_without_a_rendered_report_is_refused(smoke, run_cli, tmp_path):
    code, out, err = run_cli("zip", "--output-dir", tmp_path / "nothing", "--out", tmp_path / "zips")
    assert code == 2 and "make report" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "zips").exists() or not list((tmp_path / "zips").iterdir())


def test_html_is_self_contained(smoke):
    for html in smoke["out"].rglob("*.html"):
        text = html.read_text()
        assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text), html


def test_every_labelled_figure_is_in_the_output(smoke):
    for path in project_documents():
        labels = [p.label for p in parse(path, PROJECT_ROOT).parts if hasattr(p, "label") and p.label.startswith("fig-")]
        relative = path.relative_to(PROJECT_ROOT)
        html = (smoke["out"] / relative.with_suffix(".html")).read_text()
        for label in labels:
            assert f'id="{label}"' in html and "data:image/png;base64" in html, (path, label)
    assert (smoke["folder"] / "figures" / "images-per-brain.png").is_file()


def test_second_render_is_a_cache_hit_for_every_document(smoke):
    log = []
    render(output_dir=smoke["out"], cache_dir=smoke["cache"], log=log.append)
    assert not [line for line in log if "executing" in line], log
    assert sum("cache hit" in line for line in log) == len(project_documents())


def test_one_chapter_renders_alone(smoke):
    chapter = next(p for p in project_documents() if p.name.startswith("01"))
    report = smoke["out"] / "report.pdf"
    before = report.stat().st_mtime_ns
    log = []
    render([chapter], output_dir=smoke["out"], cache_dir=smoke["cache"], log=log.append)
    assert len([line for line in log if line.startswith("rendering")]) == 1, log
    assert report.stat().st_mtime_ns == before


def test_a_changed_data_file_changes_the_render_key(smoke, tmp_path):
    key = render_key()
    data = smoke["folder"] / "tiny.h5"
    data.write_bytes(data.read_bytes())  # same bytes, new modification time
    assert render_key() != key


def test_an_included_file_is_one_notebook_shared_by_every_document_that_includes_it(smoke, tmp_path):
    (tmp_path / "_part.qmd").write_text("## Part\n\n```{python}\n#| label: part\nprint(6 * 7)\n```\n")
    whole = _doc(tmp_path, "```{python}\nprint('own')\n```\n\n{{< include _part.qmd >}}\n", name="whole.qmd")
    alone = _doc(tmp_path, "{{< include _part.qmd >}}\n", name="alone.qmd")
    origins = [p.origin for p in parse(whole, PROJECT_ROOT).parts if hasattr(p, "origin")]
    assert origins[0].endswith("whole.qmd") and origins[1].endswith("_part.qmd")
    log = []
    render([whole, alone], output_dir=tmp_path / "out", cache_dir=tmp_path / "cache", log=log.append)
    assert sum("executing" in line for line in log) == 2, log  # whole's own chunk, then the part once
    assert "  alone.qmd: cache hit, nothing executed" in log
    assert "42" in (tmp_path / "out" / "alone.html").read_text()


def _doc(folder, body, name="bad.qmd"):
    path = folder / name
    path.write_text("---\ntitle: Bad\n---\n\nText.\n\n" + body)
    return path


def test_a_raising_chunk_stops_with_document_and_label_and_keeps_old_output(smoke, tmp_path):
    good = _doc(tmp_path, "```{python}\n#| label: fine\nprint(1)\n```\n")
    render([good], output_dir=tmp_path / "out", cache_dir=tmp_path / "c", log=lambda s: None)
    old = (tmp_path / "out" / "bad.pdf").read_bytes()
    _doc(tmp_path, "```{python}\n#| label: boom\nraise ValueError('no good')\n```\n")
    with pytest.raises(UserError) as err:
        render([good], output_dir=tmp_path / "out", cache_dir=tmp_path / "c", log=lambda s: None)
    assert "bad.qmd" in str(err.value) and "'boom'" in str(err.value) and "ValueError" in str(err.value)
    assert (tmp_path / "out" / "bad.pdf").read_bytes() == old


def test_a_chunk_marked_error_true_renders_its_error(smoke, tmp_path):
    path = _doc(tmp_path, "```{python}\n#| label: shown\n#| error: true\nraise ValueError('on purpose')\n```\n")
    render([path], output_dir=tmp_path / "out", cache_dir=tmp_path / "c", log=lambda s: None)
    assert "on purpose" in (tmp_path / "out" / "bad.html").read_text()


def test_missing_document_is_refused(run_cli, tmp_path):
    code, out, err = run_cli("render", tmp_path / "nope.qmd")
    assert code == 2 and "nope.qmd" in err and "not found" in err


def test_unknown_chunk_option_warns(tmp_path):
    path = _doc(tmp_path, "```{python}\n#| label: x\n#| fig-width: 5\nprint(1)\n```\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parse(path, tmp_path)
    assert any("fig-width" in str(w.message) for w in caught)


def test_the_latent_explorer_is_in_the_html_only(smoke):
    html = (smoke["out"] / "chapters" / "05-analysis.html").read_text()
    assert 'class="lx-tile"' in html and "<script>" in html
    text = "".join(page.extract_text() for page in PdfReader(smoke["out"] / "chapters" / "05-analysis.pdf").pages)
    assert "hover a point" not in text and "Measures" in text
