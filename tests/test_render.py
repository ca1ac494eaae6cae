"""The pip-only renderer: a smoke render of every document, caching, single chapters, bad input."""

import re
import warnings
from pathlib import Path

import pytest
from conftest import QUICK_TRAINING, write_config
from pypdf import PdfReader

from islandvae import cli
from islandvae.config import PROJECT_ROOT
from islandvae.data.synth import generate
from islandvae.errors import UserError
from islandvae.report.render import project_documents, render
from islandvae.report.render.execute import render_key
from islandvae.report.render.qmd import parse

pytestmark = pytest.mark.slow


# Four members with the longest names and IDs a team plausibly has: the summary must still be one page.
LONGEST_TEAM = "".join(
    f'[[member]]\nname = "{name}"\nstudent_id = "{sid}"\nusername = "{user}"\n'
    for name, sid, user in [
        ("Maximiliane Alexandra Theodora von Hohenzollern-Sigmaringen", "2023-00123456", "mvonhohenzoll"),
        ("Bartholomew Christopher Fitzgerald-Montgomery", "2023-00234567", "bfitzgeraldm"),
        ("Nguyen Thi Thanh Huong Phuong-Anh", "2023-00345678", "nthphuonganh"),
        ("Oluwaseun Adebayo Oluwadamilare Akinwumi", "2023-00456789", "oakinwumi1"),
    ]
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Every document rendered once on tiny data, into a temporary output, cache and figures folder."""
    folder = tmp_path_factory.mktemp("smoke")
    data = generate(folder / "tiny.h5", preset="tiny", progress=False)
    config = write_config(folder, data, data_extra='synthetic = "tiny"', extra=QUICK_TRAINING)
    team = folder / "team.toml"
    team.write_text(LONGEST_TEAM)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISLANDVAE_CONFIG", str(config))
        mp.setenv("ISLANDVAE_TEAM", str(team))
        for command in (["train", "--overfit"], ["train"], ["train", "--comparisons"], ["analyse"]):
            assert cli.main(command) == 0  # what `make report` does before it renders
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
    chapters = {f"chapters/{p.stem}" for p in project_documents() if p.parent.name == "chapters"}
    assert names == {"report", "summary", *chapters}
    for pdf in _pdfs(smoke["out"]):
        assert len(PdfReader(pdf).pages) >= 1
        assert pdf.with_suffix(".html").is_file()


def _typst_options(pdf: Path, out: Path) -> dict:
    """The typst options the document behind `pdf` rendered with (_quarto.yml's, then its front matter's)."""
    from islandvae.report.render import _metadata

    relative = pdf.relative_to(out).with_suffix(".qmd")
    return _metadata(parse(PROJECT_ROOT / relative, PROJECT_ROOT).meta, "typst")


def test_no_pdf_table_breaks_a_word_wraps_a_cell_or_runs_into_its_neighbour(smoke):
    from pdf_layout import body_size, table_problems, table_size_factor

    factor = table_size_factor(PROJECT_ROOT)
    problems = [
        p
        for pdf in _pdfs(smoke["out"])
        for p in table_problems(pdf, factor, body_size(_typst_options(pdf, smoke["out"])))
    ]
    assert problems == []


def test_no_line_of_any_pdf_runs_past_the_text_block(smoke):
    from pdf_layout import margin_problems, margin_x

    problems = [
        p for pdf in _pdfs(smoke["out"]) for p in margin_problems(pdf, margin_x(_typst_options(pdf, smoke["out"])))
    ]
    assert problems == []


def test_every_saved_figure_prints_its_smallest_text_legibly(smoke):
    from PIL import Image

    from islandvae.figures import LEGIBLE_PT, PRINT_FONT_KEY

    figures = sorted((smoke["folder"] / "figures").glob("*.png"))
    assert len(figures) >= 10
    small = {f.name: Image.open(f).text.get(PRINT_FONT_KEY) for f in figures}
    assert all(v is not None and float(v) >= LEGIBLE_PT - 0.01 for v in small.values()), small


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


# Room the summary keeps below its last line: two lines of its 12 pt text. Both renderers lay out the title and
# contents blocks alike (report/render/article.typst); this is the margin for what else Quarto's template could
# still set taller (docs/rendering.md), so that a sentence or a figure a little larger cannot push it to two pages.
SUMMARY_SPARE_PT = 2 * 12 * 1.5


def test_summary_keeps_room_below_its_last_line(smoke):
    import pdfplumber
    from pdf_layout import length_pt

    options = _typst_options(smoke["out"] / "summary.pdf", smoke["out"])
    with pdfplumber.open(smoke["out"] / "summary.pdf") as doc:
        assert len(doc.pages) == 1
        page = doc.pages[0]
        bottom = float(page.height) - length_pt(options["margin"]["y"])  # where the text block ends
        content = [w for w in page.extract_words() if w["bottom"] <= bottom]  # the page number sits below it
        last = max([w["bottom"] for w in content] + [float(i["bottom"]) for i in page.images])
    assert bottom - last >= SUMMARY_SPARE_PT, f"{bottom - last:.0f} pt left below the summary's last line"


def test_summary_shows_the_team_and_numbers_from_the_results(smoke):
    text = PdfReader(smoke["out"] / "summary.pdf").pages[0].extract_text()
    assert "Oluwaseun Adebayo" in text and "2023-00456789" in text
    assert "synthetic stand-in" in text
    # the scores from chapter 5's cache, or (the tiny data's test brain lacks a type) the sentence saying why not
    assert ("pixel PCA" in text and "island ARI" in text and "brain probe" in text) or "cannot be measured" in text
    metrics = (smoke["folder"] / "runs" / "test" / "metrics.csv").read_text().splitlines()
    assert f"{int(metrics[-1].split(',')[0]):,} steps" in text


def test_zip_follows_the_scheme_and_a_second_call_writes_v2(smoke, run_cli, tmp_path):
    import zipfile

    import torch

    from islandvae.config import load_config
    from islandvae.model.vae import VAE

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
        assert f"{stem}/code/islandvae/model/vae.py" in names and f"{stem}/chapters/_05-analysis.qmd" in names
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
    monkeypatch.setattr("islandvae.report.handin.SIZE_WARNING_MB", 0)
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


ISLAND_FIGURES = {
    "fig-found-islands",
    "fig-bic",
    "fig-typing-axis",
    "fig-typing-sections",
    "fig-type-measures",
    "fig-type-examples",
    "fig-summary",
}
NO_ISLAND_FIGURES = {"fig-summary-training"}  # the summary's figure where no island was found


def test_every_labelled_figure_is_in_the_output(smoke):
    for path in project_documents():
        labels = [
            p.label for p in parse(path, PROJECT_ROOT).parts if hasattr(p, "label") and p.label.startswith("fig-")
        ]
        relative = path.relative_to(PROJECT_ROOT)
        html = (smoke["out"] / relative.with_suffix(".html")).read_text()
        for label in labels:
            none = "No island was found in the test brain" in " ".join(html.split())  # pandoc wraps lines
            if (label in ISLAND_FIGURES and none) or (label in NO_ISLAND_FIGURES and not none):
                continue  # the chapter says why there is nothing to show (the figures: test_island_figures)
            assert f'id="{label}"' in html and "data:image/png;base64" in html, (path, label)
    assert (smoke["folder"] / "figures" / "images-per-brain.png").is_file()


def test_second_render_is_a_cache_hit_for_every_document(smoke):
    log = []
    render(output_dir=smoke["out"], cache_dir=smoke["cache"], log=log.append)
    assert not [line for line in log if "executing" in line], log
    assert sum("cache hit" in line for line in log) == len(project_documents())


def test_make_reports_render_runs_each_chunk_file_once(smoke):
    executed = [line.split(" of ")[-1] for line in smoke["log"] if "executing" in line]
    assert sorted(executed) == sorted(set(executed)), smoke["log"]  # the chapters are cache hits after the report
    assert {f"chapters/_0{k}-" in " ".join(executed) for k in range(1, 6)} == {True}


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


def test_ctrl_c_during_a_render_keeps_the_previous_outputs(smoke, tmp_path):
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    shutil.copytree(smoke["out"], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    env = {
        **os.environ,
        "ISLANDVAE_CONFIG": str(smoke["config"]),
        "ISLANDVAE_TEAM": str(smoke["team"]),
        "PYTHONUNBUFFERED": "1",
    }
    # A fresh chunk cache: the chapter's chunks must run in a kernel again, which takes seconds.
    script = (
        "import sys; from pathlib import Path; from islandvae.report.render import render; "
        "from islandvae.errors import Interrupted\n"
        "try:\n    render([Path(sys.argv[1])], Path(sys.argv[2]), cache_dir=Path(sys.argv[3]))\n"
        "except Interrupted as err:\n    sys.exit(f'interrupted: {err}')"
    )
    job = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            str(PROJECT_ROOT / "chapters" / "01-exploration.qmd"),
            str(out),
            str(tmp_path / "cache"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert job.stdout.readline().startswith("rendering")
    time.sleep(1.0)  # inside the kernel's start or its chunks
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 1 and err.strip().splitlines() == [  # one line, no traceback of nbclient's
        "interrupted: rendering 01-exploration.qmd stopped; the previous outputs in _output/ are kept (a later "
        "render makes them anew)"
    ], err
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # every previous output as it was, and no temporary file left behind


def test_a_chunk_marked_error_true_renders_its_error(smoke, tmp_path):
    path = _doc(tmp_path, "```{python}\n#| label: shown\n#| error: true\nraise ValueError('on purpose')\n```\n")
    render([path], output_dir=tmp_path / "out", cache_dir=tmp_path / "c", log=lambda s: None)
    assert "on purpose" in (tmp_path / "out" / "bad.html").read_text()


def test_kernel_sockets_go_to_jupyters_runtime_folder_not_the_project():
    from jupyter_core.paths import jupyter_runtime_dir

    from islandvae.report.render.execute import LocalKernelManager

    manager = LocalKernelManager()
    assert manager.transport == "ipc"
    assert Path(manager.ip).parent == Path(jupyter_runtime_dir()) and PROJECT_ROOT not in Path(manager.ip).parents


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
    assert "hover a point" not in text and "Scores on the stand-in" in text


# The HTML as a reader's browser shows it: headless Chromium, the page opened from disk, the network blocked.


def _browser():
    """A headless Chromium driven through chromedriver, with every network address unreachable; or a skip."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium "
            "chromium-driver; .ci/run installs them)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--window-size=1400,1000",
        "--allow-file-access-from-files",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    import os

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers on the network
    driver = _browser()
    yield driver
    driver.quit()


def _open(browser, path):
    """Load a file, wait for it, and return the URLs it requested."""
    import json

    browser.get_log("performance")  # drop what earlier pages logged
    browser.get(path.as_uri())
    browser.execute_script("return document.readyState")
    requests = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return requests


def _screenshot_folder(smoke):
    import os

    folder = Path(os.environ.get("ISLANDVAE_SCREENSHOTS") or smoke["folder"] / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_html_page_loads_nothing_from_the_network_and_its_images_decode(smoke, browser):
    for html in sorted(smoke["out"].rglob("*.html")):
        requests = _open(browser, html)
        external = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert not external, (html.name, external)
        broken = browser.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        assert broken == 0, html.name
        assert browser.execute_script("return document.images.length") > 0 or html.stem == "03-model", html.name


def test_formulas_are_mathml_drawn_by_the_browser(smoke, browser):
    _open(browser, smoke["out"] / "chapters" / "03-model.html")
    assert browser.execute_script("return document.querySelectorAll('math').length") >= 1
    text = browser.execute_script("return document.body.innerText")
    assert "\\frac" not in text and "\\[" not in text  # no TeX left as text


def test_the_report_page_is_a_readable_column_with_its_contents_beside_it(smoke, browser):
    _open(browser, smoke["out"] / "report.html")
    width = browser.execute_script("return document.querySelector('p').getBoundingClientRect().width")
    assert 500 < width < 900  # a column of readable width on a 1400 px window, not the whole window
    assert browser.execute_script("return getComputedStyle(document.querySelector('nav#TOC')).position") == "fixed"
    assert browser.execute_script("return document.querySelectorAll('nav#TOC a').length") > 5
    browser.save_screenshot(str(_screenshot_folder(smoke) / "report-first-page.png"))


# Per table of a page: how many cells hold text on more than one line, and whether the table is wider than the column.
TABLE_LAYOUT = """
return [...document.querySelectorAll('table')].map(t => {
  const wrapped = [...t.querySelectorAll('td, th')].filter(c => {
    const r = document.createRange(); r.selectNodeContents(c);
    const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
    return tops.size > 1;
  }).map(c => c.textContent.trim());
  return {wrapped: wrapped, overflow: t.scrollWidth > t.clientWidth + 1, width: t.getBoundingClientRect().width};
});
"""


def test_every_html_table_keeps_each_cell_on_one_line_within_the_column(smoke, browser):
    from selenium.webdriver.common.by import By

    shown = 0
    for html in sorted(smoke["out"].rglob("*.html")):
        _open(browser, html)
        for k, table in enumerate(browser.execute_script(TABLE_LAYOUT)):
            assert table["wrapped"] == [] and not table["overflow"], (html.name, k, table)
            shown += 1
    assert shown >= 10
    _open(browser, smoke["out"] / "chapters" / "05-analysis.html")
    tables = browser.find_elements(By.CSS_SELECTOR, "table")
    tables[0].screenshot(str(_screenshot_folder(smoke) / "analysis-first-table.png"))


def test_the_latent_explorer_shows_a_tile_under_the_pointer(smoke, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open(browser, smoke["out"] / "chapters" / "05-analysis.html")
    tile = browser.find_element(By.CSS_SELECTOR, "#lx .lx-tile")
    caption = browser.find_element(By.CSS_SELECTOR, "#lx .lx-caption")
    assert tile.value_of_css_property("visibility") == "hidden"
    circles = browser.find_elements(By.CSS_SELECTOR, "#lx circle")
    assert len(circles) > 10
    point = circles[len(circles) // 2]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", point)
    ActionChains(browser).move_to_element(point).perform()
    assert tile.value_of_css_property("visibility") == "visible"
    import math

    from islandvae.latent.explorer import TILE

    k, columns = int(point.get_attribute("data-k")), math.ceil(math.sqrt(len(circles)))
    assert caption.text.startswith("B20/") and " at (" in caption.text  # the tile's name and place
    x, y = -(k % columns) * TILE, -(k // columns) * TILE  # the tile's place in the sprite sheet
    assert tile.value_of_css_property("background-position") == f"{x}px {y}px"
    browser.find_element(By.ID, "lx").screenshot(str(_screenshot_folder(smoke) / "explorer-hover.png"))


def test_a_second_config_renders_without_touching_the_default_figures(tmp_path, monkeypatch):
    """A config other than the default (here one that names no figures folder, as configs/real.toml) saves its
    figures under figures/<name>/: the stand-in's committed figures/ stays byte for byte as it was."""
    import hashlib
    import shutil

    data = generate(tmp_path / "tiny.h5", preset="tiny", progress=False)
    config = tmp_path / "second.toml"
    config.write_text(
        f'name = "second-config-test"\n[data]\npath = "{data}"\ntest_brain = "B20"\n'
        '[paths]\ncache = "cache"\nruns = "runs"\nresults = "results"\n'
    )
    own = PROJECT_ROOT / "figures" / "second-config-test"
    before = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in (PROJECT_ROOT / "figures").glob("*.png")}
    monkeypatch.setenv("ISLANDVAE_CONFIG", str(config))
    try:
        render(
            [PROJECT_ROOT / "chapters" / "01-exploration.qmd"],
            tmp_path / "out",
            cache_dir=tmp_path / "jc",
            log=lambda m: None,
        )
        assert (own / "images-per-brain.png").is_file()  # chapter 1 saved its figures there
    finally:
        shutil.rmtree(own, ignore_errors=True)
    after = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in (PROJECT_ROOT / "figures").glob("*.png")}
    assert after == before
