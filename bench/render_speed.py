"""Cold and warm render of every document with the configured data (target: warm at most 30 s).

    .venv/bin/python bench/render_speed.py      # ISLANDVAE_CONFIG or make's CONFIG picks the data

Cold: an empty chunk cache, so every chunk runs. Warm: the same render again, which should be a
cache hit for every document. Outputs go to a temporary folder; the project's _output/ is untouched.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from islandvae.report.render import project_documents, render


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in ("cold", "warm"):
            log: list[str] = []
            start = time.perf_counter()
            render(output_dir=folder / "out", cache_dir=folder / "cache", log=log.append)
            seconds = time.perf_counter() - start
            hits = sum("cache hit" in line for line in log)
            print(f"{name}: {len(project_documents())} documents in {seconds:.1f} s, {hits} cache hits")


if __name__ == "__main__":
    main()
