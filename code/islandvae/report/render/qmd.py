"""Reading a Quarto document: front matter, includes, and ```{python} chunks with their `#|` options.

Only what the report uses is understood; anything else in a chunk's options is reported as a
warning (Quarto would know it, this renderer ignores it), never silently dropped.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from islandvae.errors import UserError

KNOWN_OPTIONS = {
    "label",
    "fig-cap",
    "fig-alt",
    "tbl-cap",
    "echo",
    "output",
    "include",
    "eval",
    "warning",
    "error",
    "out-width",
}
INCLUDE = re.compile(r"^\{\{<\s*include\s+(\S+)\s*>\}\}\s*$")
CHUNK_START = re.compile(r"^```\{python\}\s*$")
OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*)$")
ORIGIN = re.compile(r"^<!-- islandvae-origin: (.*) -->$")  # where expanded text came from (never in the output)


@dataclass
class Chunk:
    """A code chunk: its source without the option lines, and the options."""

    source: str
    options: dict = field(default_factory=dict)
    origin: str = ""  # the file the chunk was written in (an included file, or the document)

    @property
    def label(self) -> str:
        return str(self.options.get("label", ""))


@dataclass
class Document:
    """A parsed .qmd: front matter and a list of markdown strings and Chunks, in order."""

    path: Path
    meta: dict
    parts: list  # str (markdown) or Chunk


def split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    """The YAML front matter (a dict) and the rest of the text."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---\n", 4)
    if end < 0:
        raise UserError(f"{path}: the front matter opened by '---' is never closed; add a line '---' after it")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: the front matter is not valid YAML ({str(err).splitlines()[0]}); fix it") from None
    return meta, text[end + 5 :]


def expand_includes(text: str, base: Path, root: Path, seen: tuple[Path, ...] = (), origin: str = "") -> str:
    """Replace {{< include f >}} lines by the file's text (paths from `base`, or from `root` when absolute).

    The included text is framed by ORIGIN lines naming its file, and the including file's name after it,
    so chunks know which file they were written in."""
    lines = []
    for line in text.splitlines():
        match = INCLUDE.match(line)
        if not match:
            lines.append(line)
            continue
        name = match.group(1)
        target = (root / name.lstrip("/")) if name.startswith("/") else (base / name)
        if not target.is_file():
            raise UserError(f"{base}: included file {name} not found; fix the include line")
        if target.resolve() in seen:
            raise UserError(f"{target}: includes itself; remove the loop")
        included = target.read_text(encoding="utf-8")
        name = _relative(target, root)
        lines.append(f"<!-- islandvae-origin: {name} -->")
        lines.append(expand_includes(included, base, root, (*seen, target.resolve()), name).rstrip("\n"))
        lines.append(f"<!-- islandvae-origin: {origin} -->")
    return "\n".join(lines) + "\n"


def parse(path: Path | str, root: Path) -> Document:
    """Read a .qmd file (includes expanded) into a Document."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"document {path} not found; name a .qmd file of the project (report.qmd, chapters/...)")
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path)
    origin = _relative(path, root)
    body = expand_includes(body, path.parent, root, origin=origin)
    parts: list = []
    markdown: list[str] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        if ORIGIN.match(lines[i]):
            origin = ORIGIN.match(lines[i]).group(1) or _relative(path, root)
            i += 1
            continue
        if not CHUNK_START.match(lines[i]):
            markdown.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise UserError(f"{path}: the python chunk starting at line {i + 1} is never closed; add a line ```")
        parts.append("\n".join(markdown))
        markdown = []
        parts.append(_chunk(lines[i + 1 : end], path))
        parts[-1].origin = origin
        i = end + 1
    parts.append("\n".join(markdown))
    return Document(path=path, meta=meta, parts=[p for p in parts if not (isinstance(p, str) and not p.strip())])


def _relative(path: Path, root: Path) -> str:
    path = path.resolve()
    return path.relative_to(root.resolve()).as_posix() if root.resolve() in path.parents else str(path)


def _chunk(lines: list[str], path: Path) -> Chunk:
    options, code = {}, []
    for line in lines:
        match = OPTION.match(line)
        if match and not code:
            key, value = match.groups()
            options[key] = yaml.safe_load(value) if value.strip() else ""
        else:
            code.append(line)
    chunk = Chunk(source="\n".join(code).strip("\n"), options=options)
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        warnings.warn(
            f"{path}: chunk '{chunk.label or '(unlabelled)'}' has option(s) {', '.join(unknown)} that "
            f"the pip-only renderer ignores (Quarto would use them)",
            stacklevel=2,
        )
    return chunk
