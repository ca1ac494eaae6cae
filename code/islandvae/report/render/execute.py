"""Running a document's chunks in fresh kernels, with jupyter-cache in front.

Chunks run grouped by the file they were written in: the report's chunks from chapters/_02-sampling.qmd
are the same notebook as those of chapters/02-sampling.qmd, so whichever renders first, the other is a
cache hit, and each chapter's chunks run in a kernel of their own, as they do when the chapter renders alone.

jupyter-cache keys a notebook by its code cells (and their metadata), not by the modules they
import or the data they read. So the first cell of every notebook is a comment holding a hash of
the package's source, the config file and the data file's identity: a change to any of them is a
cache miss, an unchanged document is a hit and runs nothing.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_client import KernelManager
from jupyter_core.paths import jupyter_runtime_dir
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import CaselessStrEnum, default

from islandvae.config import PROJECT_ROOT, load_config
from islandvae.data.stats import data_identity, file_identity
from islandvae.errors import Interrupted, UserError
from islandvae.report.handin import team_path
from islandvae.report.render.qmd import Chunk, Document


class LocalKernelManager(KernelManager):
    """A kernel reached through local sockets (files), not TCP ports: nothing listens on the network, and
    ipykernel has no reason to warn about unencrypted TCP in every render. The sockets live in Jupyter's
    runtime folder (jupyter_client's default is kernel-ipc-N in the working directory: the project's root,
    where a killed kernel would leave them)."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    @default("ip")
    def _ip_default(self) -> str:
        folder = Path(jupyter_runtime_dir())
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f"islandvae-{uuid.uuid4().hex[:12]}-ipc")


KEY_PREFIX = "# islandvae render key: "
SLOW_CHUNK = 5.0  # seconds: a chunk that takes longer is named in the render log


def render_key() -> str:
    """Hash of what chunk results depend on besides their code: package source, config, data file, trained runs,
    the team file (the summary shows it), kept result tables."""
    digest = hashlib.sha1()
    for path in sorted((PROJECT_ROOT / "code").rglob("*.py")):
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    config = load_config()
    digest.update(config.source.read_bytes() if config.source else b"")
    if config.data.path.exists():  # its pixels' fingerprint where it reads (else the chapters say what is wrong)
        try:
            identity = data_identity(config.data.path)
        except UserError:
            identity = file_identity(config.data.path)
        digest.update(repr(sorted(identity.items())).encode())
    team = team_path()
    digest.update(team.read_bytes() if team.is_file() else b"")
    for table in sorted(config.paths.results.glob("*.json")):  # kept result tables (islands/levers.py)
        digest.update(table.read_bytes())
    runs = [*config.paths.runs.glob(f"{config.name}/last.pt"), *config.paths.runs.glob(f"{config.name}-*/last.pt")]
    for checkpoint in sorted(runs):  # this config's runs: a retrained model changes what chapters show
        digest.update(repr(sorted(file_identity(checkpoint).items())).encode())
    return digest.hexdigest()[:20]


def segments(document: Document) -> list[list[Chunk]]:
    """The evaluated chunks, grouped by the file they were written in (consecutive runs): each group is one
    notebook, so a chapter's chunks are the same notebook whether the report or the chapter renders them."""
    groups: list[list[Chunk]] = []
    for part in document.parts:
        if isinstance(part, Chunk) and part.options.get("eval", True) is not False:
            if groups and groups[-1][0].origin == part.origin:
                groups[-1].append(part)
            else:
                groups.append([part])
    return groups


def to_notebook(chunks: list[Chunk]) -> nbformat.NotebookNode:
    """One code cell per chunk (after the key cell); markdown is not part of the notebook."""
    cells = [nbformat.v4.new_code_cell(KEY_PREFIX + render_key())]
    for chunk in chunks:
        cell = nbformat.v4.new_code_cell(chunk.source)
        cell.metadata["islandvae"] = {"label": chunk.label}
        if chunk.options.get("error") is True:
            cell.metadata["tags"] = ["raises-exception"]  # nbclient lets this cell fail
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(document: Document, cache_dir: Path, *, log=print) -> list[nbformat.NotebookNode]:
    """Outputs of every evaluated chunk, in order: per file the chunks were written in, from the cache or from
    a fresh kernel."""
    cache = get_cache(str(cache_dir))
    outputs, executed = [], 0
    for chunks in segments(document):
        nb = to_notebook(chunks)
        try:
            _, cached = cache.merge_match_into_notebook(nb)
            outputs += [cell.outputs for cell in cached.cells[1:]]
            continue
        except KeyError:
            pass
        log(f"  {document.path.name}: executing {len(chunks)} chunks of {chunks[0].origin}")
        outputs += _run(document, nb, cache, PROJECT_ROOT / chunks[0].origin, log=log)
        executed += len(chunks)
    if not executed:
        log(f"  {document.path.name}: cache hit, nothing executed")
    return outputs


def _run(document: Document, nb: nbformat.NotebookNode, cache, origin: Path, *, log=print) -> list:
    """Execute one notebook in a fresh kernel and cache it; the outputs of its chunk cells."""
    client = NotebookClient(
        nb,
        timeout=None,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(PROJECT_ROOT)}},
        **({"kernel_manager_class": LocalKernelManager} if os.name == "posix" else {}),
    )
    started = {}
    client.on_cell_start = lambda cell, cell_index: started.__setitem__(cell_index, time.perf_counter())

    def finished(cell, cell_index, execute_reply):  # long chunks are named as they finish: progress, and the slowest
        seconds = time.perf_counter() - started.pop(cell_index, time.perf_counter())
        if seconds >= SLOW_CHUNK:
            log(f"    chunk '{cell.metadata.get('islandvae', {}).get('label') or cell_index}': {seconds:.0f} s")

    client.on_cell_executed = finished
    env = os.environ.copy()
    pressed = []
    previous = _on_sigint(pressed)

    def asked() -> bool:  # Ctrl-C: seen by our handler, or by nbclient's own (it shuts the kernel down and says so)
        return bool(pressed) or getattr(client, "_async_cleanup_kernel_future", None) is not None

    kernel_log = tempfile.TemporaryFile()  # the kernel's own stderr: after Ctrl-C it reports its broken sockets there
    try:
        client.execute(env=env, stderr=kernel_log)
    except CellExecutionError as err:
        if asked():
            raise _interrupted(document) from None
        failed = next(
            (
                c
                for c in nb.cells
                if any(o.get("output_type") == "error" for o in c.get("outputs", []))
                and "raises-exception" not in c.metadata.get("tags", [])
            ),
            None,
        )
        label = failed.metadata.get("islandvae", {}).get("label") if failed is not None else None
        raise UserError(
            f"{document.path}: chunk '{label or '(unlabelled)'}' raised "
            f"{err.ename}: {err.evalue.splitlines()[0] if err.evalue else ''}; fix the chunk "
            "(or mark it `#| error: true`)"
        ) from None
    except (Exception, KeyboardInterrupt):  # Ctrl-C also reaches the kernel, and nbclient fails in its own ways
        if asked():
            raise _interrupted(document) from None
        kernel_log.seek(0)  # the kernel died or would not start: what it said is the clue
        sys.stderr.write(kernel_log.read()[-4000:].decode(errors="replace"))
        raise
    finally:
        _restore_sigint(previous)
        kernel_log.close()
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(origin)), check_validity=False, overwrite=True)
    key = KEY_PREFIX + render_key()
    if nb.cells[0].source != key:  # the chunks trained a model: what they showed is what loading it shows
        nb.cells[0].source = key
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(origin)), check_validity=False, overwrite=True)
    return [cell.outputs for cell in nb.cells[1:]]


def _on_sigint(pressed: list):
    """Note Ctrl-C (and still stop at once): the kernel, in the same process group, dies of it too, and nbclient then
    fails with errors of its own; knowing that the user asked turns them into one line."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        pressed.append(signum)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def _interrupted(document: Document) -> Interrupted:
    return Interrupted(
        f"rendering {document.path.name} stopped; the previous outputs in _output/ are kept (a later "
        "render makes them anew)"
    )
