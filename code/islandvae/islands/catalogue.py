"""The island catalogue (results/islands-<config>.csv): every found island with its section, bounding box,
tiles, footprint area, type and measured cells, as chapter 5 lists it and the hand-in zip holds it; and each
type described by its islands' measured cells (`describe_types`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from islandvae.bootstrap import BOOTSTRAP, draws, interval
from islandvae.islands.features import MEASURES
from islandvae.islands.records import IslandResult

CATALOGUE = (
    "brain",
    "image",
    "island",
    "top",
    "left",
    "bottom",
    "right",
    "tiles",
    "area (px)",
    "area (um2)",
    "type",
    *MEASURES,
)


def catalogue_path(config) -> Path:
    """results/islands-<config>.csv: every found island of the test brain (the table a researcher takes away)."""
    return config.paths.results / f"islands-{config.name}.csv"


def catalogue_rows(infos: list, arrays: dict, result: IslandResult) -> list[dict]:
    """Per found island its image, bounding box (px, bottom and right exclusive), tiles, footprint area (px; in
    um2 only where the file gives a pixel size, which the course file does not), type (1 .. k, or 'set apart'
    for islands at the section's edge) and its core's measured cells."""
    tile = result.grid.tile
    rows = []
    for k, (kind, cells) in enumerate(zip(result.types.type, result.morphology)):
        tiles = np.flatnonzero(arrays["island"] == k)
        info = infos[int(arrays["image"][tiles[0]])]
        top, left = arrays["row"][tiles], arrays["col"][tiles]
        bottom, right = np.minimum(top + tile, info.height), np.minimum(left + tile, info.width)
        footprint = np.zeros((int(bottom.max() - top.min()), int(right.max() - left.min())), dtype=bool)
        for r0, c0, r1, c1 in zip(top - top.min(), left - left.min(), bottom - top.min(), right - left.min()):
            footprint[r0:r1, c0:c1] = True
        rows.append(
            dict(
                zip(
                    CATALOGUE,
                    [
                        info.brain,
                        info.name,
                        k + 1,
                        int(top.min()),
                        int(left.min()),
                        int(bottom.max()),
                        int(right.max()),
                        len(tiles),
                        int(footprint.sum()),
                        "",
                        kind + 1 if kind >= 0 else "set apart",
                        *(cells[m] for m in MEASURES),
                    ],
                )
            )
        )
    return rows


def catalogue_csv(infos: list, arrays: dict, result: IslandResult) -> bytes:
    """The island catalogue (catalogue_rows) as CSV, measures to three decimals."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CATALOGUE)
    for row in catalogue_rows(infos, arrays, result):
        writer.writerow([f"{v:.3f}" if k in MEASURES else v for k, v in row.items()])
    return text.getvalue().encode()


def describe_types(morphology: list[dict], types: np.ndarray, k: int, *, reps: int = BOOTSTRAP, seed: int = 0) -> list:
    """Per type: its islands and, per measure, the mean over its islands with a 95 % bootstrap interval."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(k):
        members = [m for m, ty in zip(morphology, types) if ty == t]
        row = {"type": t + 1, "islands": len(members)}
        for measure in MEASURES:
            values = np.array([m[measure] for m in members], dtype=float)
            values = values[np.isfinite(values)]
            if not len(values):
                row[measure] = (float("nan"),) * 3
                continue
            row[measure] = (float(values.mean()), *interval(values[p].mean() for p in draws(rng, len(values), reps)))
        out.append(row)
    return out
