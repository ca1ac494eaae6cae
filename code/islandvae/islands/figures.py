"""Chapter 5's island figures: found islands on a section, the typing axis, example islands per type, the
measured differences. They read discovery.py's cached result and arrays and the test brain's pixels."""

from __future__ import annotations

import numpy as np

from islandvae.data.hdf5 import ImageSource
from islandvae.islands.features import MEASURES
from islandvae.islands.records import IslandResult

TYPE_COLOURS = ("tab:orange", "tab:purple", "tab:green", "tab:brown")
APART = "0.55"  # islands set apart (at the section's edge): grey


def colour(t: int) -> str:
    """The colour of type t (0, 1, ...), grey for an island set apart (-1)."""
    return APART if t < 0 else TYPE_COLOURS[t % len(TYPE_COLOURS)]


def type_name(t: int) -> str:
    return "set apart (edge)" if t < 0 else f"type {t + 1}"


TRUE_MARKERS = {"granular": "o", "parvicellular": "^", "": "x"}


def showcase_image(arrays: dict) -> int:
    """The test image with the most found island tiles (ties: the first)."""
    counts = np.bincount(arrays["image"][arrays["island"] >= 0], minlength=arrays["image"].max() + 1)
    return int(counts.argmax())


def found_islands_figure(images: ImageSource, arrays: dict, types: list[int], *, image: int, tile: int):
    """One test section with the tiles of each found island outlined in its type's colour and, with truth, the
    true islands' tiles shaded."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    info = images.infos()[image]
    fig, ax = plt.subplots(figsize=(5.0, 5.0 * min(info.height / info.width, 1.4)))  # with its text on one page
    ax.imshow(images.image(info.brain, info.name), cmap="gray", vmin=0, vmax=255)
    here = arrays["image"] == image
    for k in np.flatnonzero(here & (arrays["true"] >= 0)):
        ax.add_patch(Rectangle((arrays["col"][k], arrays["row"][k]), tile, tile, color="tab:cyan", alpha=0.12, lw=0))
    for k in np.flatnonzero(here & (arrays["island"] >= 0)):
        ax.add_patch(
            Rectangle(
                (arrays["col"][k], arrays["row"][k]),
                tile,
                tile,
                fill=False,
                ec=colour(types[arrays["island"][k]]),
                lw=0.6,
            )
        )
    shown = sorted({types[i] for i in np.unique(arrays["island"][here & (arrays["island"] >= 0)])})
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=colour(t), label=f"found, {type_name(t)}") for t in shown]
    if (arrays["true"] >= 0).any():
        handles.append(Rectangle((0, 0), 1, 1, color="tab:cyan", alpha=0.3, label="true island tiles"))
    ax.set_title(f"{info.brain}/{info.name} ({info.height} × {info.width} px)", fontsize=8)
    ax.axis("off")
    # the legend beneath the section, never over its tissue
    ax.legend(
        handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False
    )
    fig.tight_layout()
    return fig


def axis_figure(result: IslandResult, majority: list[str] | None):
    """Each found island's place on the typing axis, coloured by its type; with truth, marked by its true type."""
    import matplotlib.pyplot as plt

    place, types = np.array(result.types.axis), np.array(result.types.type)
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(6.4, 2.3))
    marks = np.array(majority) if majority is not None else np.full(len(place), "")
    for kind, marker in TRUE_MARKERS.items():
        for t in np.unique(types):
            pick = (types == t) & (marks == kind)
            if pick.any():
                label = type_name(t) + (f", truth {kind or 'none'}" if majority is not None else "")
                ax.scatter(
                    place[pick],
                    rng.uniform(-1, 1, pick.sum()),
                    s=14,
                    marker=marker,
                    color=colour(t),
                    label=label,
                    alpha=0.8,
                )
    ax.set(yticks=[], xlabel="typing axis (mean of each island's tiles)")
    fig.subplots_adjust(left=0.03, right=0.98, top=0.96, bottom=0.4)  # the legend below the axis label
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, ncol=3, loc="lower center", frameon=False)
    return fig


def examples_figure(
    images: ImageSource,
    arrays: dict,
    result: IslandResult,
    *,
    tile: int,
    per: int = 5,
    height: int = 160,
    titles: bool = True,
):
    """A row per type: its `per` largest found islands, whole (the footprint of their tiles), scaled to one height;
    each titled with its type and size unless `titles` is False (the summary's crops)."""
    import matplotlib.pyplot as plt

    from islandvae.islands.grid import Grid, island_crop

    types = np.array(result.types.type)
    k = int(types.max()) + 1 if len(types) else 0
    grid = Grid.of_arrays(images.infos(), tile, arrays)
    sizes = np.bincount(arrays["island"][arrays["island"] >= 0], minlength=len(types))
    fig, axes = plt.subplots(max(k, 1), per, figsize=(6.5, 1.45 * max(k, 1)), squeeze=False)
    for t in range(k):
        chosen = [i for i in np.argsort(-sizes) if types[i] == t][:per]
        for ax, i in zip(axes[t], chosen):
            pixels, _ = island_crop(images, grid, arrays["island"], i)
            ax.imshow(pixels, cmap="gray", vmin=0, vmax=255)
            if titles:
                ax.set_title(f"type {t + 1}: {pixels.shape[0]} × {pixels.shape[1]}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    return fig


def measures_figure(result: IslandResult):
    """Per measure, every found island's value by type, with each type's mean and 95 % interval."""
    import matplotlib.pyplot as plt

    types = np.array(result.types.type)
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(6.5, 2.3))
    rng = np.random.default_rng(0)
    for ax, measure in zip(axes, MEASURES):
        values = np.array([m[measure] for m in result.morphology], dtype=float)
        for row in result.described:
            t = row["type"] - 1
            pick = types == t
            ax.scatter(
                t + rng.uniform(-0.15, 0.15, pick.sum()),
                values[pick],
                s=6,
                alpha=0.6,
                color=TYPE_COLOURS[t % len(TYPE_COLOURS)],
            )
            mean, lo, hi = row[measure]
            ax.errorbar(t + 0.3, mean, yerr=[[mean - lo], [hi - mean]], fmt="o", color="black", ms=3, capsize=2)
        ax.set_xticks(range(len(result.described)), [f"type {r['type']}" for r in result.described])
        ax.set_title(measure, fontsize=8)
    fig.tight_layout()
    return fig


def bic_figure(result: IslandResult):
    """Left: the BIC of 1 .. k types on the typing axis, with its 95 % range over bootstrap resamples of the
    islands, and the margin within which the fewest types are chosen. Right: how often that rule chooses each
    number of types over resamples of the islands and of whole sections (the number taken: the most frequent
    over sections, where there are enough)."""
    import matplotlib.pyplot as plt

    t = result.types
    ks = sorted(t.bic)
    bic = np.array([t.bic[k] for k in ks])
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(6.4, 2.3), gridspec_kw={"width_ratios": (1.25, 1)})
    if t.bic_spread:
        lo, hi = (np.array([t.bic_spread[k][i] for k in ks]) for i in (0, 1))
        ax.fill_between(ks, lo, hi, color="0.85", label="95 % over resamples\nof the islands")
    ax.plot(ks, bic, "o-", color="black", ms=4, label="BIC of the found islands")
    ax.axhspan(
        bic.min(),
        bic.min() + t.margin,
        color="tab:orange",
        alpha=0.25,
        label=f"within {t.margin:g} of the lowest",
    )
    ax.axvline(t.k, color="tab:orange", lw=1, ls="--")
    ax.set(xticks=ks, xlabel="number of types", ylabel="BIC")
    ax.legend(fontsize=7, loc="best", frameon=False)
    shares = [
        ("resampling islands", t.k_chosen, "0.6"),
        ("resampling whole sections", t.k_over_sections, "tab:orange"),
    ]
    width = 0.38
    for i, (label, share, colour) in enumerate(shares):
        bars.bar(
            np.array(ks) + (i - 0.5) * width,
            [share.get(k, 0.0) * 100 for k in ks],
            width,
            color=colour,
            label=label if share else f"{label} (too few)",
        )
    bars.axvline(t.k, color="tab:orange", lw=1, ls="--")
    bars.set(
        xticks=ks,
        xlabel="number of types",
        ylabel="% of resamples choosing it",
        ylim=(0, 150),
        yticks=(0, 25, 50, 75, 100),
    )
    bars.legend(fontsize=7, loc="upper center", frameon=False)  # above the bars: the axis runs on to 150 for it
    for a in (ax, bars):
        a.tick_params(labelsize=7)
        a.xaxis.label.set_size(8)
        a.yaxis.label.set_size(8)
    fig.tight_layout()
    return fig


def sections_figure(result: IslandResult, names: list[str]):
    """Does the typing follow the sections? Left: each found island on the typing axis in the row of its section
    (named by `names`, the test images), coloured by its type: types that follow the cells mix within the rows.
    Right: the typing axis against the section statistic it correlates with most (sections.section_confound)."""
    import matplotlib.pyplot as plt

    from islandvae.tiles.imaging import STATISTICS

    place, types = np.array(result.types.axis), np.array(result.types.type)
    section = np.array(result.sections.section, dtype=int)
    statistics = np.array(result.sections.statistics, dtype=float)
    shown = sorted(set(section.tolist()))
    rng = np.random.default_rng(0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 1.2 + 0.18 * len(shown)), width_ratios=(1.6, 1))
    row = {s: i for i, s in enumerate(shown)}
    for t in np.unique(types):
        pick = types == t
        left.scatter(
            place[pick],
            [row[s] + rng.uniform(-0.25, 0.25) for s in section[pick]],
            s=12,
            color=colour(t),
            label=type_name(t),
            alpha=0.8,
        )
    left.set_yticks(range(len(shown)), [names[s] for s in shown], fontsize=6)
    left.set_xlabel("typing axis", fontsize=8)
    left.legend(fontsize=6, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False)  # above the rows
    r = result.sections.found.get("axis ~ section r", {})
    known = {name: v for name, v in r.items() if v is not None}
    if known:
        name = max(known, key=lambda n: abs(known[n]))
        values = statistics[section, STATISTICS.index(name)]
        for t in np.unique(types):
            pick = types == t
            right.scatter(values[pick], place[pick], s=12, color=colour(t), alpha=0.8)
        right.set_xlabel(f"section's {name}", fontsize=8)
        right.set_title(f"r = {known[name]:.2f} (largest of {len(known)})", fontsize=8)
    else:
        right.text(0.5, 0.5, "too few islands\nfor a correlation", ha="center", va="center", fontsize=8)
    right.set_ylabel("typing axis", fontsize=8)
    for ax in (left, right):
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig
