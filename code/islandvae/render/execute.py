"""Running a document's chunks in a fresh kernel, with jupyter-cache in front.

jupyter-cache keys a notebook by its code cells (and their metadata), not by the modules they
import or the data they read. So the first cell of every notebook is a comment holding a hash of
the package's source, the config file and the data file's identity: a change to any of them is a
cache miss, an unchanged document is a hit and runs nothing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from islandvae.config import PROJECT_ROOT, load_config
from islandvae.errors import UserError
from islandvae.render.qmd import Chunk, Document
from islandvae.stats import file_identity

KEY_PREFIX = "# islandvae render key: "


def render_key() -> str:
    """Hash of what chunk results depend on besides their code: package source, config, data file, trained runs."""
    digest = hashlib.sha1()
    for path in sorted((PROJECT_ROOT / "code").rglob("*.py")):
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    config = load_config()
    digest.update(config.source.read_bytes() if config.source else b"")
    if config.data.path.exists():
        digest.update(repr(sorted(file_identity(config.data.path).items())).encode())
    for checkpoint in sorted(config.paths.runs.glob("*/last.pt")):  # a retrained model changes what chapters show
        digest.update(repr(sorted(file_identity(checkpoint).items())).encode())
    return digest.hexdigest()[:20]


def to_notebook(document: Document) -> nbformat.NotebookNode:
    """One code cell per chunk to run (after the key cell); markdown is not part of the notebook."""
    cells = [nbformat.v4.new_code_cell(KEY_PREFIX + render_key())]
    for part in document.parts:
        if isinstance(part, Chunk) and part.options.get("eval", True) is not False:
            cell = nbformat.v4.new_code_cell(part.source)
            cell.metadata["islandvae"] = {"label": part.label}
            if part.options.get("error") is True:
                cell.metadata["tags"] = ["raises-exception"]  # nbclient lets this cell fail
            cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(document: Document, cache_dir: Path, *, log=print) -> list[nbformat.NotebookNode]:
    """Outputs of every evaluated chunk, in order, from the cache or from a fresh kernel."""
    nb = to_notebook(document)
    cache = get_cache(str(cache_dir))
    try:
        _, cached = cache.merge_match_into_notebook(nb)
        log(f"  {document.path.name}: cache hit, nothing executed")
        return [cell.outputs for cell in cached.cells[1:]]
    except KeyError:
        pass
    log(f"  {document.path.name}: executing {len(nb.cells) - 1} chunks")
    client = NotebookClient(nb, timeout=None, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(PROJECT_ROOT)}})
    env = os.environ.copy()
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        failed = next((c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))
                       and "raises-exception" not in c.metadata.get("tags", [])), None)
        label = failed.metadata.get("islandvae", {}).get("label") if failed is not None else None
        raise UserError(f"{document.path}: chunk '{label or '(unlabelled)'}' raised "
                        f"{err.ename}: {err.evalue.splitlines()[0] if err.evalue else ''}; fix the chunk "
                        "(or mark it `#| error: true`)") from None
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(document.path.resolve())), check_validity=False,
                                overwrite=True)
    key = KEY_PREFIX + render_key()
    if nb.cells[0].source != key:  # the chunks trained a model: what they showed is what loading it shows
        nb.cells[0].source = key
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(document.path.resolve())), check_validity=False,
                                    overwrite=True)
    return [cell.outputs for cell in nb.cells[1:]]
