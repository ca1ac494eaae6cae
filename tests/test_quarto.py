"""The Quarto-facing contract, checked without Quarto: what `quarto render` would make of the sources.

Quarto merges _quarto.yml with each document's front matter; a document-level `format:` replaces the
project's list of formats (options merge only for the formats it names). So every document must end up with
html and typst, every option must be one Quarto documents (tests/quarto-options.yml, with its sources), the HTML
must draw math offline (html-math-method), and no inline code may appear (Quarto refuses inline expressions
when `execute: cache` is on).
"""

import re
from pathlib import Path

import pytest
import yaml

from islandvae.config import PROJECT_ROOT, quarto_project
from islandvae.report.render import project_documents
from islandvae.report.render.qmd import Chunk, parse, split_front_matter

DOCUMENTED = yaml.safe_load((Path(__file__).with_name("quarto-options.yml")).read_text())
SOURCES = sorted(PROJECT_ROOT.glob("*.qmd")) + sorted((PROJECT_ROOT / "chapters").glob("*.qmd"))


def _front(path: Path) -> dict:
    return split_front_matter(path.read_text(encoding="utf-8"), path)[0]


def merged_formats(path: Path) -> dict[str, dict]:
    """The formats Quarto renders a document to, with their options (project's, then the document's)."""
    project_formats = quarto_project().get("format", {})
    own = _front(path).get("format")
    names = list(own) if own else list(project_formats)
    return {name: {**(project_formats.get(name) or {}), **((own or {}).get(name) or {})} for name in names}


@pytest.mark.parametrize("path", project_documents(), ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_every_document_renders_to_html_and_typst_with_offline_math(path):
    formats = merged_formats(path)
    assert {"html", "typst"} <= set(formats), formats
    assert formats["html"].get("html-math-method") == "mathml"
    assert formats["html"].get("embed-resources") is True


def test_the_project_uses_only_documented_options():
    config = quarto_project()
    assert set(config) <= {"project", "execute", "format"}
    assert set(config["project"]) <= set(DOCUMENTED["project"])
    assert set(config["execute"]) <= set(DOCUMENTED["execute"])
    for name, options in config["format"].items():
        assert set(options or {}) <= set(DOCUMENTED[name]), name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_documents_use_only_documented_options(path):
    front = _front(path)
    allowed = set(DOCUMENTED["document"]) | set(DOCUMENTED["html"]) | set(DOCUMENTED["typst"])
    assert set(front) <= allowed, set(front) - allowed
    for name, options in (front.get("format") or {}).items():
        assert name in ("html", "typst") and set(options or {}) <= set(DOCUMENTED[name]), (name, options)
    chunks = [p for p in parse(path, PROJECT_ROOT).parts if isinstance(p, Chunk)]
    for chunk in chunks:
        assert set(chunk.options) <= set(DOCUMENTED["cell"]), (chunk.label, set(chunk.options))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_no_inline_code(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(?<!`)`\{python\}[^`\n]*`", text), "inline code: Quarto refuses it with execute: cache"
    assert not re.search(r"(?<!`)`r [^`\n]+`", text)


def test_a_document_format_key_would_replace_the_project_formats(tmp_path):
    # The check above is real: a document naming one format loses the other under Quarto's merge.
    doc = tmp_path / "probe.qmd"
    doc.write_text("---\ntitle: x\nformat:\n  typst:\n    toc: false\n---\n")
    assert set(merged_formats(doc)) == {"typst"}


def test_figure_and_table_labels_are_unique_across_the_report():
    labels = [
        p.label
        for p in parse(PROJECT_ROOT / "report.qmd", PROJECT_ROOT).parts
        if isinstance(p, Chunk) and p.label.startswith(("fig-", "tbl-"))
    ]
    assert len(labels) == len(set(labels))


def test_the_pip_only_pdf_lays_out_title_and_contents_as_quartos_typst_template(tmp_path):
    """Quarto 1.11's typst template (typst-template.typ): the title centred in a block with a 2 em inset at the top
    of the page, the contents headed by toc-title after it. Pandoc's own template set the title at the top margin,
    with nothing around it, and headed the contents "Contents": the summary and the report then broke their pages
    earlier than under Quarto (issue 38)."""
    import pdfplumber
    from pdf_layout import length_pt

    from islandvae.report.render import markdown_pdf

    typst = quarto_project()["format"]["typst"]
    pdf = markdown_pdf(
        "# First\n\nText.\n\n# Second\n\nMore text.\n", tmp_path / "page.pdf", {"title": "Title words", "toc": True}
    )
    with pdfplumber.open(pdf) as doc:
        lines = doc.pages[0].extract_text_lines()
    title = next(line for line in lines if line["text"] == "Title words")
    inset = title["top"] - length_pt(typst["margin"]["y"])
    body = 11.0  # Typst's default size, which the project keeps for all but the summary
    # 2 em, less what the glyphs' box reaches above the line (pandoc's template: about 0)
    assert 1.5 * body <= inset <= 3 * body, f"title {inset:.1f} pt below the top margin"
    heading = lines[lines.index(title) + 1]
    assert heading["text"] == typst["toc-title"] and heading["top"] - title["bottom"] >= 2 * body  # the 2 em inset
