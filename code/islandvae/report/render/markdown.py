"""Executed chunks back into pandoc markdown: text, tables, and figures written as files.

A chunk labelled `fig-x` with `fig-cap` becomes a pandoc figure with identifier `fig-x` (so `@fig-x`
can point at it); a chunk labelled `tbl-x` with `tbl-cap` gets a table caption with that identifier.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from islandvae.report.render.qmd import Chunk, Document

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _fence(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


def _attr(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def chunk_markdown(chunk: Chunk, outputs: list, figures: Path, link: str, *, echo: bool, warning: bool) -> str:
    """Markdown for one chunk; images are written under `figures` and linked as `link/<name>`."""
    if chunk.options.get("include") is False:
        return ""
    blocks = [_fence(chunk.source, "python")] if chunk.options.get("echo", echo) is True else []
    if chunk.options.get("output", True) is False:
        return "\n\n".join(blocks)
    label = chunk.label
    images = 0
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            if output.get("name") == "stderr" and not chunk.options.get("warning", warning):
                continue
            blocks.append(_fence(ANSI.sub("", output.get("text", ""))))
        elif kind == "error":
            blocks.append(_fence(ANSI.sub("", "\n".join(output.get("traceback", [])))))
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            if "image/png" in data:
                images += 1
                name = f"{label or 'chunk'}-{images}.png"
                figures.mkdir(parents=True, exist_ok=True)
                (figures / name).write_bytes(base64.b64decode(data["image/png"]))
                blocks.append(_figure(chunk, f"{link}/{name}", first=images == 1))
            elif "text/markdown" in data:
                blocks.append(data["text/markdown"])
            elif "text/html" in data:  # raw HTML: kept by the HTML writer, dropped by Typst
                blocks.append(f"```{{=html}}\n{data['text/html']}\n```")
            elif "text/plain" in data:
                blocks.append(_fence(data["text/plain"]))
    if label.startswith("tbl-") and chunk.options.get("tbl-cap") and any(b.lstrip().startswith("|") for b in blocks):
        blocks.append(f": {chunk.options['tbl-cap']} {{#{label}}}")  # only under a table: never a stray caption
    return "\n\n".join(blocks)


def _figure(chunk: Chunk, path: str, *, first: bool) -> str:
    caption = str(chunk.options.get("fig-cap", ""))
    alt = str(chunk.options.get("fig-alt", caption))
    ident = f"#{chunk.label} " if chunk.label.startswith("fig-") and first else ""
    width = f' width="{_attr(str(chunk.options["out-width"]))}"' if chunk.options.get("out-width") else ""
    return f'![{caption}]({path}){{{ident}fig-alt="{_attr(alt)}" alt="{_attr(alt)}"{width}}}'


def document_markdown(
    document: Document, outputs: list[list], figures: Path, link: str, *, echo: bool, warning: bool
) -> str:
    """The whole document as pandoc markdown (without front matter)."""
    blocks, results = [], iter(outputs)
    for part in document.parts:
        if isinstance(part, str):
            blocks.append(part)
        elif part.options.get("eval", True) is False:
            if part.options.get("echo", echo) is True:
                blocks.append(_fence(part.source, "python"))
        else:
            blocks.append(chunk_markdown(part, next(results), figures, link, echo=echo, warning=warning))
    return "\n\n".join(b for b in blocks if b) + "\n"
