"""The pip-only renderer: the report's Quarto sources to HTML and PDF where `quarto` is missing.

For each document: parse (qmd.py), run the chunks in a fresh kernel from the project root with
jupyter-cache in front (execute.py), turn the outputs into pandoc markdown with figure files
(markdown.py), then pandoc makes a self-contained HTML file and a Typst file that the typst package
compiles to PDF, laid out by article.typst as Quarto's typst format lays out its pages. Cross-references go
through crossref.lua. Outputs are written under temporary names
and renamed at the end, so a failed render keeps the previous good output.
"""

from __future__ import annotations

import functools
import glob
import os
import tempfile
from pathlib import Path

import pypandoc
import typst
import yaml

from islandvae.config import PROJECT_ROOT, quarto_project
from islandvae.data.stats import cache_key
from islandvae.errors import UserError
from islandvae.files import folder, problem, show, write_atomic
from islandvae.report.render.execute import execute, render_key
from islandvae.report.render.markdown import document_markdown
from islandvae.report.render.qmd import parse

FILTER = Path(__file__).with_name("crossref.lua")
CSS = Path(__file__).with_name("page.css")  # the page's look: a readable column, the contents beside it
TEMPLATE = Path(__file__).with_name("article.typst")  # the PDF's page geometry: Quarto's typst format's
HTML_KEYS = ("title", "subtitle", "author", "date", "abstract", "toc", "toc-depth", "toc-title", "lang")
TYPST_KEYS = (*HTML_KEYS, "papersize", "fontsize", "margin", "section-numbering", "columns", "mainfont")


@functools.lru_cache(maxsize=1)
def output_root() -> Path:
    """Where rendered documents go: project.output-dir of _quarto.yml (default _output/)."""
    return PROJECT_ROOT / (quarto_project().get("project", {}).get("output-dir") or "_output")


def project_documents() -> list[Path]:
    """The documents the project renders (project.render in _quarto.yml), in order."""
    paths = []
    for pattern in quarto_project().get("project", {}).get("render", ["*.qmd"]):
        paths += sorted(Path(p) for p in glob.glob(str(PROJECT_ROOT / pattern)) if not Path(p).name.startswith("_"))
    return paths


def _metadata(meta: dict, fmt: str) -> dict:
    """Pandoc metadata for one format: _quarto.yml format options, then the document's own."""
    options = dict(quarto_project().get("format", {}).get(fmt) or {})
    options.update({k: v for k, v in meta.items() if k != "format"})
    options.update((meta.get("format") or {}).get(fmt) or {})
    keys = TYPST_KEYS if fmt == "typst" else HTML_KEYS
    return {k: v for k, v in options.items() if k in keys}


def _header_includes(meta: dict, build: Path) -> list[Path]:
    """The typst format's include-in-header entries (a path from the project root, {file: path} or {text: ...}),
    as files for pandoc; project entries first, then the document's, as Quarto merges them."""
    entries = []
    project, own = quarto_project().get("format", {}).get("typst"), (meta.get("format") or {}).get("typst")
    for options in (project or {}, own or {}):
        value = options.get("include-in-header") or []
        entries += value if isinstance(value, list) else [value]
    paths = []
    for k, entry in enumerate(entries):
        if isinstance(entry, dict) and "text" in entry:
            path = build / f"header-{k}.typ"
            path.write_text(str(entry["text"]))
        else:
            path = PROJECT_ROOT / str(entry["file"] if isinstance(entry, dict) else entry)
            if not path.is_file():
                raise UserError(
                    f"_quarto.yml or the document's front matter: include-in-header file {show(path)} "
                    "not found; fix the path (from the project root)"
                )
        paths.append(path)
    return paths


def _html(source: Path, build: Path, meta: dict, path: Path) -> None:
    """pandoc: the markdown `source` to a self-contained build/out.html."""
    toc = ["--toc"] if _metadata(meta, "html").get("toc") else []
    pypandoc.convert_file(
        str(source),
        "html",
        outputfile=str(build / "out.html"),
        extra_args=[
            "-s",
            "--embed-resources",
            "--mathml",
            f"--css={CSS}",
            *toc,
            f"--lua-filter={FILTER}",
            f"--resource-path={build}",
        ],
    )


def _pdf(source: Path, build: Path, meta: dict, path: Path) -> None:
    """pandoc, then Typst: the markdown `source` to build/out.pdf, with the typst include-in-header entries."""
    headers = [f"--include-in-header={h}" for h in _header_includes(meta, build)]
    pypandoc.convert_file(
        str(source),
        "typst",
        outputfile=str(build / "out.typ"),
        extra_args=["-s", f"--template={TEMPLATE}", f"--lua-filter={FILTER}", *headers],
    )
    try:
        typst.compile(str(build / "out.typ"), output=str(build / "out.pdf"), root=str(build))
    except Exception as err:  # typst raises its own error types
        raise UserError(f"{show(path)}: Typst could not make the PDF ({str(err).splitlines()[0]})") from None


def markdown_pdf(body: str, pdf: Path, meta: dict | None = None) -> Path:
    """A PDF of pandoc markdown `body` as the project renders its documents (the typst format options of
    _quarto.yml, then `meta`): for checking how a table or a page of the report comes out."""
    meta = meta or {}
    with tempfile.TemporaryDirectory() as build:
        build = Path(build)
        source = build / "page.typst.md"
        source.write_text("---\n" + yaml.safe_dump(_metadata(meta, "typst")) + "---\n\n" + body)
        _pdf(source, build, meta, source)
        os.replace(build / "out.pdf", pdf)
    return pdf


def render_document(path: Path, output_dir: Path, cache_dir: Path, *, log=print) -> tuple[Path, Path]:
    """Render one .qmd to HTML and PDF under `output_dir` (mirroring its place in the project)."""
    document = parse(path, PROJECT_ROOT)
    path = path.resolve()
    relative = path.relative_to(PROJECT_ROOT) if PROJECT_ROOT in path.parents else Path(path.name)
    execute_options = {**(quarto_project().get("execute") or {}), **(document.meta.get("execute") or {})}
    outputs = execute(document, cache_dir, log=log)

    target = output_dir / relative.parent
    folder(target, "output")
    html, pdf = target / f"{relative.stem}.html", target / f"{relative.stem}.pdf"
    # What the two files are made from: if it is what made the files there, they are left as they are.
    made_from = cache_dir / "outputs" / relative.with_suffix(".key")
    key = cache_key(
        "outputs-2",
        render_key(),
        str(output_dir.resolve()),
        quarto_project(),
        FILTER.read_text(),
        CSS.read_text(),
        TEMPLATE.read_text(),
        document.meta,
        document.parts,
        outputs,
    )  # and the page look
    if html.is_file() and pdf.is_file() and made_from.is_file() and made_from.read_text() == key:
        log(f"  {show(html)} and {show(pdf)} are up to date")
        return html, pdf
    with tempfile.TemporaryDirectory(dir=target, prefix=f".{relative.stem}-") as build:
        build = Path(build)
        body = document_markdown(
            document,
            outputs,
            build / "figures",
            "figures",
            echo=execute_options.get("echo", False) is True,
            warning=execute_options.get("warning", True) is not False,
        )
        for fmt, make in (("html", _html), ("typst", _pdf)):
            source = build / f"{relative.stem}.{fmt}.md"
            source.write_text("---\n" + yaml.safe_dump(_metadata(document.meta, fmt)) + "---\n\n" + body)
            make(source, build, document.meta, path)
        try:
            os.replace(build / "out.html", html)
            os.replace(build / "out.pdf", pdf)
        except OSError as err:
            raise problem(err, html) from None
    write_atomic(made_from, key.encode())
    log(f"  wrote {show(html)} and {show(pdf)}")
    return html, pdf


def render(
    paths: list[Path] | None = None, output_dir: Path | None = None, *, cache_dir: Path | None = None, log=print
) -> list[Path]:
    """Render the given documents (default: the whole project) to HTML and PDF; chunk results cached."""
    output_dir = output_dir or output_root()
    cache_dir = cache_dir or PROJECT_ROOT / ".jupyter_cache"
    documents = [Path(p).resolve() for p in paths] if paths else project_documents()
    for path in documents:
        if not path.is_file():
            raise UserError(
                f"document {show(path)} not found; name a .qmd file of the project (report.qmd, chapters/...)"
            )
    written = []
    for path in documents:
        log(f"rendering {show(path)}")
        written += render_document(path, output_dir, cache_dir, log=log)
    return written


__all__ = ["markdown_pdf", "project_documents", "render", "render_document"]
