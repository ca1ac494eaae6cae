"""Chapter 1's figures and tables: the extreme images of each brain, per-brain grey values, the test brain.

Everything reads the file through its inventory and the cached per-brain histograms of stats.py, so
a re-render reads few pixels: the extreme-image figure reads only the images it shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from islandvae.data.filters import read_pixels
from islandvae.data.hdf5 import Inventory, open_h5
from islandvae.data.stats import brain_histograms, stats_from_histogram
from islandvae.data.truth import TruthFile, truth_path

CROP = 256  # px of the 100 % crop: cells of 10-20 px are plainly visible


def extreme_images_figure(path: Path | str, inventory: Inventory, *, crop: int = CROP):
    """Per brain (a row): the largest and the smallest image, each whole and as a 100 % crop of its centre."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    brains = inventory.brains
    fig, axes = plt.subplots(
        len(brains), 4, figsize=(6.5, 1.6 * len(brains)), squeeze=False, gridspec_kw={"width_ratios": [1.6, 1, 1.6, 1]}
    )
    with open_h5(path) as f:
        for row, brain in zip(axes, brains):
            infos = inventory.of(brain)
            largest, smallest = max(infos, key=lambda i: i.pixels), min(infos, key=lambda i: i.pixels)
            for (whole, zoom), info, kind in ((row[:2], largest, "largest"), (row[2:], smallest, "smallest")):
                image = read_pixels(f[brain][info.name], (), info, path)
                step = max(1, max(image.shape) // 600)  # the whole image, shown small
                whole.imshow(image[::step, ::step], cmap="gray", vmin=0, vmax=255, interpolation="antialiased")
                whole.set_title(f"{brain} {kind}: {info.name}, {info.height}×{info.width}", fontsize=7)
                r0, c0 = max(0, (info.height - crop) // 2), max(0, (info.width - crop) // 2)
                whole.add_patch(
                    Rectangle((c0 / step, r0 / step), crop / step, crop / step, fill=False, edgecolor="tab:red", lw=0.8)
                )
                zoom.imshow(
                    image[r0 : r0 + crop, c0 : c0 + crop], cmap="gray", vmin=0, vmax=255, interpolation="nearest"
                )
                zoom.set_title(f"100 % crop, {crop} px", fontsize=7)
                for ax in (whole, zoom):
                    ax.set_xticks([])
                    ax.set_yticks([])
                    ax.grid(False)
    fig.tight_layout(pad=0.3)
    return fig


def brain_table(path: Path | str, inventory: Inventory, *, cache_dir: Path) -> list[dict]:
    """Per brain: images, share of all pixels, grey mean and std, and how far its grey values lie from the rest.

    The distance is the 1-D Wasserstein (earth mover's) distance in grey levels between the brain's
    grey-value distribution and that of all other brains pooled. Where a truth file exists (the
    stand-in), the number of granular and parvicellular islands is added.
    """
    hists = brain_histograms(path, inventory.brains, cache_dir=cache_dir, progress=False)
    total = sum(int(h.sum()) for h in hists.values())
    islands = island_counts(path, inventory)
    rows = []
    for brain, hist in hists.items():
        others = sum(h for b, h in hists.items() if b != brain)
        s = stats_from_histogram(hist, (brain,))
        row = {
            "brain": brain,
            "images": len(inventory.of(brain)),
            "pixels %": 100 * int(hist.sum()) / total,
            "mean": s.mean,
            "std": s.std,
            "distance to others": wasserstein(hist, others),
        }
        if islands:
            row.update(granular=islands[brain]["granular"], parvicellular=islands[brain]["parvicellular"])
        rows.append(row)
    return rows


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between two histograms over the same unit-spaced bins."""
    if a.sum() == 0 or b.sum() == 0:
        return float("nan")
    return float(np.abs(np.cumsum(a / a.sum()) - np.cumsum(b / b.sum())).sum())


def island_counts(path: Path | str, inventory: Inventory) -> dict[str, dict[str, int]]:
    """Islands of each type per brain from the stand-in's truth file; empty where there is none."""
    where = truth_path(path)
    if not where.is_file():
        return {}
    counts = {b: {"granular": 0, "parvicellular": 0} for b in inventory.brains}
    with TruthFile(where) as truth:
        for info in inventory.images:
            for kind in truth.info(info.brain, info.name)["island_types"]:
                if kind in counts[info.brain]:
                    counts[info.brain][kind] += 1
    return counts


def argue_test_brain(rows: list[dict], test_brain: str) -> str:
    """Sentences on the configured test brain, worked out from `brain_table` rows (nothing hard-coded)."""
    me = next(r for r in rows if r["brain"] == test_brain)
    rank = lambda key: sorted(rows, key=lambda r: r[key]).index(me) + 1
    n = len(rows)
    text = (
        f"The configured test brain {test_brain} holds {me['images']} images and {me['pixels %']:.0f} % of "
        f"the pixels ({ordinal(rank('pixels %'))} smallest share of {n}), so training keeps "
        f"{100 - me['pixels %']:.0f} % of the data. Its mean grey value is {me['mean']:.0f} "
        f"({ordinal(rank('mean'))} darkest of {n}), {me['distance to others']:.0f} grey levels from the other "
        f"brains by the Wasserstein distance ({ordinal(n + 1 - rank('distance to others'))} largest): "
    )
    far = rank("distance to others") > n // 2
    text += (
        "a clear domain shift, so the test measures how well the model transfers to an unseen brain "
        "rather than how well it remembers its training brains."
        if far
        else "a modest domain shift, so the test brain is typical of the others."
    )
    if "granular" in me:
        ok = me["granular"] > 0 and me["parvicellular"] > 0
        text += f" It holds {me['granular']} granular and {me['parvicellular']} parvicellular islands" + (
            ", both types, which the island analysis needs."
            if ok
            else "; the island analysis needs both types, so choose another test brain."
        )
    return text


def ordinal(k: int) -> str:
    """1st, 2nd, 3rd, 4th ..."""
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def histogram_figure(path: Path | str, inventory: Inventory, *, cache_dir: Path):
    """Grey-value distribution of each brain (share of pixels per grey level), log scale."""
    import matplotlib.pyplot as plt

    hists = brain_histograms(path, inventory.brains, cache_dir=cache_dir, progress=False)
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    for brain, hist in hists.items():
        share = hist / max(hist.sum(), 1)
        ax.plot(np.arange(len(hist)), np.where(share > 0, share, np.nan), lw=1.1, label=brain)
    ax.set(yscale="log", xlabel="grey value", ylabel="share of the brain's pixels", xlim=(0, len(hist) - 1))
    # above the axes, where no curve runs
    ax.legend(fontsize=7, ncols=len(hists), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


def size_figure(inventory: Inventory):
    """Image sizes at a glance: width against height (log axes), and megapixels per brain (log axis)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(6.5, 3.0), gridspec_kw={"width_ratios": [1, 1.15]})
    rng = np.random.default_rng(0)  # horizontal jitter of the strip plot only
    for k, brain in enumerate(inventory.brains):
        infos = inventory.of(brain)
        left.scatter([i.width for i in infos], [i.height for i in infos], s=9, alpha=0.7, label=brain)
        mpx = np.array([i.pixels for i in infos]) / 1e6
        right.scatter(k + rng.uniform(-0.18, 0.18, len(mpx)), mpx, s=9, alpha=0.7)
        right.plot([k - 0.3, k + 0.3], [np.median(mpx)] * 2, color="0.2", lw=1.2)
    left.set(xscale="log", yscale="log", xlabel="width (px)", ylabel="height (px)")
    lo, hi = left.get_xlim()
    left.plot([lo, hi], [lo, hi], color="0.6", lw=0.8)
    left.legend(fontsize=7)
    right.set(
        yscale="log", ylabel="megapixels per image", xticks=range(len(inventory.brains)), xticklabels=inventory.brains
    )
    for axis in (left.xaxis, left.yaxis, right.yaxis):
        lo, hi = axis.get_view_interval()
        axis.set_ticks(
            [v for v in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 200, 500, 1000, 2000, 5000, 10000) if lo <= v <= hi],
            minor=False,
        )
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    fig.tight_layout()
    return fig
