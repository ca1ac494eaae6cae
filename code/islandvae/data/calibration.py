"""How a data file compares with the course file's published figures (data-spec section 1).

Per brain: image count, mean of image means and mean of image standard deviations, next to the
real values; and the image-size distribution (percentiles of width, height and pixel count). Works
on any file of the course layout: on the stand-in it checks the generator, on the real file it
checks the description.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from islandvae.data.hdf5 import describe_file, open_h5
from islandvae.data.layout import REAL_COUNTS, REAL_GREY
from islandvae.data.stats import image_histogram, stats_from_histogram

REAL_SIZES = {"width": (484, 1222, 5594), "height": (513, 1162, 5840)}  # min, mean, max (px)
PERCENTILES = (5, 25, 50, 75, 95)


def image_summaries(path: Path | str) -> list[dict]:
    """Brain, name, height, width, mean and std (grey values) of every image, streamed."""
    path = Path(path)
    rows = []
    with open_h5(path) as f:
        for info in describe_file(f, path).images:
            s = stats_from_histogram(image_histogram(f, info, path), (info.brain,))
            rows.append(
                dict(brain=info.brain, name=info.name, height=info.height, width=info.width, mean=s.mean, std=s.std)
            )
    return rows


def grey_table(summaries: list[dict]) -> list[dict]:
    """Per brain: image count, mean of image means, mean of image stds, each of the file in use and of the course
    file (None where the course file's figure is not published)."""
    rows = []
    for brain in dict.fromkeys(r["brain"] for r in summaries):
        mine = [r for r in summaries if r["brain"] == brain]
        real_mean, real_std = REAL_GREY.get(brain, (None, None))
        rows.append(
            {
                "brain": brain,
                "images": len(mine),
                "course images": REAL_COUNTS.get(brain),
                "mean": float(np.mean([r["mean"] for r in mine])),
                "course mean": real_mean,
                "std": float(np.mean([r["std"] for r in mine])),
                "course std": real_std,
            }
        )
    return rows


def size_table(summaries: list[dict]) -> list[dict]:
    """Per measure (width and height in px, megapixels), a row for the file in use (percentiles, mean and range
    over all images) and, for width and height, one for the course file (its published minimum, mean, maximum;
    None for what it does not publish)."""
    values = {
        "width": [r["width"] for r in summaries],
        "height": [r["height"] for r in summaries],
        "Mpx": [r["width"] * r["height"] / 1e6 for r in summaries],
    }
    rows = []
    for name, v in values.items():
        shown = float if name == "Mpx" else (lambda x: int(np.rint(x)))  # whole pixels, megapixels to a tenth
        rows.append(
            {
                "measure": name,
                "file": "in use",
                **{f"p{p}": shown(np.percentile(v, p)) for p in PERCENTILES},
                "mean": shown(np.mean(v)),
                "min": shown(np.min(v)),
                "max": shown(np.max(v)),
            }
        )
        if name in REAL_SIZES:
            low, mean, high = REAL_SIZES[name]
            rows.append(
                {
                    "measure": name,
                    "file": "course file",
                    **{f"p{p}": None for p in PERCENTILES},
                    "mean": mean,
                    "min": low,
                    "max": high,
                }
            )
    return rows


def format_table(rows: list[dict], digits: int = 1) -> str:
    """A plain fixed-width text table of dict rows."""
    headers = list(rows[0])
    cells = [
        [f"{v:.{digits}f}" if isinstance(v, float) else "-" if v is None else str(v) for v in r.values()] for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
