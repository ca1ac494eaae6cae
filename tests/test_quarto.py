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
    labels = [p.label for p in parse(PROJECT_ROOT / "report.qmd", PROJECT_ROOT).parts
              if isinstance(p, Chunk) and p.label.startswith(("fig-", "tbl-"))]
    assert len(labels) == len(set(labels))
