"""A rendered PDF read the way a reader checks its layout: every word with its position and size (pdfplumber).

Table text is told from the rest by its size: _quarto.yml's include-in-header sets the tables a size below the
body (the factor is read from there), and code is set in a monospaced font, which is left out. On that text:
- a word broken by hyphenation ends in a hyphen at a line's end ("accu-");
- a cell that wraps puts two lines of table text closer together than two rows are (rows stand apart by their
  cells' insets, lines inside a cell by the leading alone);
- a cell that spills over runs into its neighbour: two words on one line that touch or overlap.
And on every word of every page: none may run past the text block (the document's margins).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import yaml

from islandvae.figures import length_in, margin_x_in

HYPHENS = ("-", "\u2010", "\u00ad")
PUNCTUATION = set(".,;:)]\"'-\u2010\u2013\u2019\u201d")


def table_size_factor(project: Path) -> float:
    """The table text's size relative to the body, from the `#show table: set text(size: ...em)` rule in
    _quarto.yml's typst include-in-header."""
    typst = yaml.safe_load((project / "_quarto.yml").read_text())["format"]["typst"]
    entries = typst.get("include-in-header") or []
    entries = entries if isinstance(entries, list) else [entries]
    text = " ".join(e["text"] if isinstance(e, dict) else str(e) for e in entries)
    found = re.search(r"show table: set text\([^)]*size: ([0-9.]+)em", text)
    assert found, "_quarto.yml's typst include-in-header sets no table text size"
    return float(found.group(1))


def margin_x(typst_options: dict) -> float:
    """The left and right margin in points of a document with these typst options."""
    return 72 * margin_x_in(typst_options)


def project_margin_x(project: Path) -> float:
    """The margin of a document that sets none itself: _quarto.yml's."""
    return margin_x(yaml.safe_load((project / "_quarto.yml").read_text())["format"]["typst"])


def length_pt(value) -> float:
    """'2.2cm' (or a number of points) in points."""
    return float(value) if isinstance(value, (int, float)) else 72 * length_in(value)


def words(pdf: Path) -> tuple[list[list[dict]], list[tuple[float, float]]]:
    """Per page, its words (x0, x1, top, bottom, size, fontname), and the pages' (width, height) in points."""
    import pdfplumber

    with pdfplumber.open(pdf) as doc:
        return (
            [page.extract_words(extra_attrs=["size", "fontname"]) for page in doc.pages],
            [(float(page.width), float(page.height)) for page in doc.pages],
        )


def body_size(typst_options: dict) -> float:
    """The body text's size in points of a document with these typst options (11 pt, Typst's pandoc template
    default, where none is set)."""
    return length_pt(typst_options.get("fontsize", "11pt"))


def _lines(table_words: list[dict]) -> list[list[dict]]:
    """Words on one baseline (tops within 1 pt), top to bottom, each line left to right."""
    lines: list[list[dict]] = []
    for w in sorted(table_words, key=lambda w: (w["top"], w["x0"])):
        if lines and abs(lines[-1][0]["top"] - w["top"]) < 1.0:
            lines[-1].append(w)
        else:
            lines.append([w])
    return [sorted(line, key=lambda w: w["x0"]) for line in lines]


def table_problems(pdf: Path, factor: float, body: float = 11.0) -> list[str]:
    """What is wrong with the PDF's tables (text at `factor` times the `body` size in points): broken words,
    wrapped cells, cells that run into each other."""
    pages, _ = words(pdf)
    problems = []
    for number, page in enumerate(pages, start=1):
        table = [w for w in page if abs(w["size"] / body - factor) < 0.02 and "mono" not in w["fontname"].lower()]
        lines = _lines(table)
        for line in lines:
            for w in line:
                if len(w["text"]) > 1 and w["text"].endswith(HYPHENS):
                    problems.append(f"{pdf.name} p{number}: table word broken by hyphenation: {w['text']!r}")
            for a, b in itertools.pairwise(line):
                if b["x0"] - a["x1"] < 0.1 * a["size"]:
                    problems.append(
                        f"{pdf.name} p{number}: table cells run into each other: {a['text']!r} {b['text']!r}"
                    )
        for upper, lower in itertools.pairwise(lines):
            size = upper[0]["size"]
            if lower[0]["top"] - upper[0]["top"] < 1.5 * size:
                for a in upper:
                    below = [b for b in lower if b["x0"] < a["x1"] and a["x0"] < b["x1"]]
                    if below:
                        problems.append(
                            f"{pdf.name} p{number}: a table cell wraps: {a['text']!r} over {below[0]['text']!r}"
                        )
                        break
    return problems


def margin_problems(pdf: Path, margin_x: float) -> list[str]:
    """Words that run past the text block, `margin_x` points in from each side of the page."""
    pages, sizes = words(pdf)
    problems = []
    for number, (page, (width, _)) in enumerate(zip(pages, sizes), start=1):
        for w in page:
            # Typst lets a line's last punctuation or hyphen hang into the margin (text overhang): allowed
            hang = 0.3 * w["size"] if w["text"][-1:] in PUNCTUATION else 1.0
            if w["x1"] > width - margin_x + hang or w["x0"] < margin_x - 1.0:
                problems.append(
                    f"{pdf.name} p{number}: {w['text']!r} runs past the text block "
                    f"(x {w['x0']:.0f}-{w['x1']:.0f} pt of {width:.0f}, margins {margin_x:.0f} pt)"
                )
    return problems
