"""The one-page summary's parts: the team, the key numbers (read from the cached results), one composed figure.

Nothing here trains or types a number: the numbers come from the main run's metrics and chapter 5's
cached measures, and the figure is drawn from chapter 5's cached result and the island crops it saved.
Every part has a fixed number of lines whatever the values are, so the page stays one page.
"""

from __future__ import annotations

from islandvae.config import Config
from islandvae.islands.records import IslandResult
from islandvae.islands.types import BIC_MARGIN
from islandvae.report.handin import Member


def team_line(team: list[Member]) -> str:
    """The members as one markdown paragraph: 'Name (ID), Name (ID), ...'."""
    return "**Team:** " + "; ".join(f"{m.name} ({m.student_id})" for m in team) + "."


def approach_line(config: Config) -> str:
    """What was done, with the config's numbers."""
    s, m = config.sampling, config.model
    shape = "a latent map" if m.latent_map else "a flat latent"
    return (
        f"**Approach.** Random {s.tile_size}-px tissue tiles of the training brains, standardised"
        f"{' and augmented' if s.augment else ''}, train a convolutional VAE with {shape} of {m.latent} numbers "
        f"(KL weight {config.train.beta:g}, warm-up, early stopping"
        f"{', tiles at their own mean and contrast' if m.normalise else ''}). On the test brain, islands are "
        "connected regions of grid tiles in latent clusters clearly denser in cells than the tissue (by rank, "
        "no density ratio assumed), typed by a Gaussian mixture on the direction that separates islands (the "
        f"fewest types within a BIC margin of {BIC_MARGIN:g}, as most resamples of whole sections choose) and "
        "described by cell density, size and roundness."
    )


def training_line(config: Config) -> str:
    """Steps, wall time and the final test-brain reconstruction error of the main run."""
    from islandvae.model.runs import Run, read_metrics

    run = Run.of(config)
    if not run.metrics.is_file():
        return "No trained model yet: run `make train`, then render again."
    rows = read_metrics(run)
    evals = [r for r in rows if r["test_mse"] is not None]
    if not evals:
        return "The model has not reached its first evaluation yet: run `make train`, then render again."
    last = evals[-1]
    return (
        f"The VAE trained for {int(rows[-1]['step']):,} steps of {config.sampling.batch_size} tiles "
        f"({rows[-1]['seconds'] / 60:.0f} min); its test-brain reconstruction error fell to "
        f"{last['test_mse']:.3f} per standardised pixel (a model that outputs the mean scores 1)."
    )


LEFT_OUT = ("untrained encoder", "tile mean + std")  # in chapter 5's tables; the page has room for six rows
SHORT = {"orientation-pooled VAE": "pooled VAE"}


def short(name: str) -> str:
    """A feature space's name without its parenthesised detail, except the VAE's (its latent size)."""
    if name in SHORT:
        return SHORT[name]
    return name if name.startswith("VAE") or " (" not in name else name[: name.index(" (")]


def numbers_table(result: IslandResult) -> list[dict]:
    """Chapter 5's scores that fit a page: per feature space (but LEFT_OUT) the island-level ARI and balanced
    accuracy, and the tile-level island-type probe and brain probe, each (value, low, high)."""

    def cell(v):
        return tuple(v) if v is not None else None

    tiles = {r["features"]: r for r in result.truth.measures}
    return [
        {
            "features": short(name),
            "island ARI": cell(v["ari"]),
            "island bal. acc.": cell(v["balanced accuracy"]),
            "tile island type": cell(tiles[name].get("island type")),
            "brain probe": cell(tiles[name].get("brain probe")),
        }
        for name, v in result.truth.island_scores.items()
        if name not in LEFT_OUT
    ]


def types_line(result: IslandResult) -> str:
    """The types found in the test brain, with their measured cells (one sentence, data with or without truth)."""
    rows = result.described
    if not rows:
        return "No island was found in the test brain."

    from islandvae.latent.measures import listed

    def each(key, fmt):
        return listed([format(r[key][0] if isinstance(r[key], (list, tuple)) else r[key], fmt) for r in rows])

    return (
        f"{result.found.islands} islands found in the test brain, {len(rows)} type"
        f"{'s' * (len(rows) != 1)} by the BIC rule ({each('islands', 'd')} islands) with "
        f"{each('cells / 10,000 px', '.0f')} "
        f"cells per 10,000 px, cell diameters {each('cell diameter (px)', '.1f')} px and roundness "
        f"{each('roundness', '.2f')}."
    )


def composed_figure(config: Config, result: IslandResult | None):
    """The summary's figure, drawn at its print size (the summary's text width) so that its text prints at 7.5 pt:
    (a) every found island by its measured cells, coloured by the type found without labels; (b) the largest
    islands of each type, from chapter 5's saved crops without titles (figures/type-examples-plain.png). None
    while chapter 5 has no result or its crops are missing."""
    import matplotlib.pyplot as plt

    from islandvae.islands.figures import colour, type_name

    crops = config.paths.figures / f"{EXAMPLES_PLAIN}.png"
    if result is None or not result.found.islands or not crops.is_file():
        return None
    types = list(result.types.type)
    cells = [(m["cells / 10,000 px"], m["cell diameter (px)"]) for m in result.morphology]
    picture = plt.imread(crops)
    fig = plt.figure(figsize=(6.8, 1.45))
    # (b) as wide as the crops are at the axes' height, so that no white space pads it and the figure at the
    # text's width stays low (the summary is one page); (a) takes the rest
    params = fig.subplotpars
    height = fig.get_figheight() * (params.top - params.bottom)
    width = fig.get_figwidth() * (params.right - params.left)
    wide = min(height * picture.shape[1] / picture.shape[0], 0.6 * width)
    grid = fig.add_gridspec(1, 2, width_ratios=(width - wide, wide), wspace=0.12)
    left, right = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    for t in sorted(set(types)):
        pick = [c for c, u in zip(cells, types) if u == t]
        left.scatter(*zip(*pick), s=10, color=colour(t), label=type_name(t), alpha=0.85)
    left.set_xlabel("cells / 10,000 px", fontsize=FONT)
    left.set_ylabel("cell diameter (px)", fontsize=FONT)
    left.tick_params(labelsize=FONT)
    left.legend(
        fontsize=FONT,
        frameon=False,
        loc="lower right",
        bbox_to_anchor=(1.02, 0.98),
        ncol=3,
        handletextpad=0.1,
        columnspacing=0.6,
        borderpad=0.1,
    )  # above the axes, beside the title
    left.set_title("a", fontsize=FONT, loc="left", fontweight="bold")
    right.imshow(picture)
    right.axis("off")
    right.set_title("b", fontsize=FONT, loc="left", fontweight="bold")
    return fig


def training_figure(config: Config):
    """The summary's figure where no island was found: the test-brain reconstruction error over training, at its
    print size (None before the first evaluation)."""
    import matplotlib.pyplot as plt

    from islandvae.model.runs import Run, read_metrics

    run = Run.of(config)
    rows = [r for r in read_metrics(run) if r["test_mse"] is not None] if run.metrics.is_file() else []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.8, 1.9))
    ax.plot([r["step"] for r in rows], [r["test_mse"] for r in rows], "o-", ms=3, color="tab:red")
    ax.set_xlabel("training step", fontsize=FONT)
    ax.set_ylabel("test-brain MSE per pixel", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    return fig


FONT = 7.5  # the summary figure's text (pt): printed at 100 %, never below figures.LEGIBLE_PT
EXAMPLES_PLAIN = "type-examples-plain"  # chapter 5's island crops without titles, for the summary
