"""The report's one table style, for HTML and PDF alike: rows of numbers, scores and text as a pandoc pipe table.

The label column and other text left, numbers right with the same decimals per column, a value and its interval
on one line ("0.74 (0.56–0.95)": a no-break space and a word joiner keep it whole), a true minus sign. Tables whose
markdown lines fit pandoc's 72 columns are sized to their content; wider ones take the text width, shared out by
each column's estimated printed width (the separator's dashes, pandoc's relative widths), so that no column is
narrower than its widest cell. _quarto.yml's include-in-header sets the PDF's table text (a size below the body,
never hyphenated); the PDF tests check every rendered table for broken words and cells that run into each other.
"""

from __future__ import annotations

import numpy as np

NBSP, WORD_JOINER, MINUS, DASH = "\u00a0", "\u2060", "\u2212", "\u2013"
MISSING = "-"
NARROW = set("ijlrtf.,:;'()[]|!/ ")  # characters printed at about half the width of a digit
WIDE = set("mwMW%")


def number(value, digits: int) -> str:
    """A number as a table shows it: thousands separated, `digits` decimals for a float, a true minus sign."""
    text = f"{value:,}" if isinstance(value, (int, np.integer)) else f"{value:,.{digits}f}"
    return text.replace("-", MINUS)


def cell_text(value, digits: int) -> str:
    """One cell: text as it is; an int or a float; (value, low, high) as 'value (low–high)'; (value, note) as
    'value (note)'; None as '-'."""
    if value is None:
        return MISSING
    if isinstance(value, (tuple, list)):
        first = number(value[0], digits)
        if len(value) == 3:
            return f"{first}{NBSP}({span(value[1], value[2], digits)})"
        return f"{first}{NBSP}({value[1]})"
    if isinstance(value, (bool, str)):
        return str(value)
    return number(value, digits)


def _numeric(values: list) -> bool:
    """Whether a column holds numbers (right-aligned): every cell a number, a score, missing, or text that starts
    with a digit or a sign ('0.89/0.92', '0 of 63')."""

    def numeric(v):
        if v is None or isinstance(v, (int, float, np.number, tuple, list)) and not isinstance(v, bool):
            return True
        return isinstance(v, str) and (
            v in (MISSING, "") or v[:1].isdigit() or v[:2].lstrip("-+" + MINUS)[:1].isdigit()
        )

    return all(numeric(v) for v in values)


def printed_width(text: str) -> float:
    """A cell's printed width in digit widths (about half an em), from its characters: an estimate, used only to
    share a wide table's width out between its columns."""
    text = text.replace(WORD_JOINER, "")
    return sum(0.55 if c in NARROW else 1.5 if c in WIDE else 1.25 if c.isupper() else 1.0 for c in text)


def markdown_table(rows: list[dict], *, digits: int | dict = 1, caption: str = "", label: str = ""):
    """A list of dicts as a pandoc pipe table in the report's one table style, displayed as markdown in both
    renderers. `digits`: decimals of the float columns, one number or {column: decimals} (others 2).

    With `caption` (and `label`, e.g. "tbl-levers") the caption is part of the output (pandoc's `: caption
    {#tbl-x}` line), for tables a chunk shows only sometimes: a chunk option `tbl-cap` would leave its caption
    and label behind when the chunk shows no table."""
    from IPython.display import Markdown

    headers = list(dict.fromkeys(h for r in rows for h in r))
    places = digits if isinstance(digits, dict) else {}
    default = 2 if isinstance(digits, dict) else digits
    texts = [[cell_text(r.get(h), places.get(h, default)).replace("|", "\\|") for h in headers] for r in rows]
    numeric = [k > 0 and _numeric([r.get(h) for r in rows]) for k, h in enumerate(headers)]
    widths = [max([printed_width(h)] + [printed_width(t[k]) for t in texts]) + 2 for k, h in enumerate(headers)]
    lines = ["| " + " | ".join(headers) + " |"]
    lines += ["| " + " | ".join(t) + " |" for t in texts]
    if max(len(line) for line in lines) <= 72:  # pandoc sizes the table to its content: keep the rule short too
        dashes = [3] * len(headers)
    else:
        dashes = [max(3, round(w)) for w in widths]
    rule = (
        "|"
        + "|".join(("-" * (d - 1) + ":") if right else (":" + "-" * (d - 1)) for d, right in zip(dashes, numeric))
        + "|"
    )
    lines.insert(1, rule)
    if caption:
        lines += ["", f": {caption}" + (f" {{#{label}}}" if label else "")]
    return Markdown("\n".join(lines))


def span(low, high, digits: int) -> str:
    """A range as one unbreakable cell, '40,704–113,920'."""
    return f"{number(low, digits)}{DASH}{WORD_JOINER}{number(high, digits)}"


def change(delta: float, digits: int = 2) -> str:
    """A signed difference with a true minus, '+0.03' or '−0.70'."""
    return f"{delta:+.{digits}f}".replace("-", MINUS)


def by(height: int, width: int) -> str:
    """An image's size as one unbreakable cell, '484 × 484'."""
    return f"{height:,}{NBSP}\u00d7{NBSP}{width:,}"
