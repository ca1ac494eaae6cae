"""The one-page summary's parts: the team, the key numbers (read from the cached results), one composed figure.

Nothing here trains or types a number: the numbers come from the main run's metrics and chapter 5's
cached measures, and the figure is put together from the PNGs the chapters saved under figures/.
Every part has a fixed number of lines whatever the values are, so the page stays one page.
"""

from __future__ import annotations

from islandvae.config import Config
from islandvae.handin import Member

FIGURES = (("latent-embedding", "test tiles in 2-D (chapter 5)"),
           ("type-examples", "islands of each type found (chapter 5)"),
           ("reconstructions", "test reconstructions (chapter 4)"))
STAND_IN = {"type-examples": ("samples", "prior samples (chapter 5)")}  # when no island was found


def team_line(team: list[Member]) -> str:
    """The members as one markdown paragraph: 'Name (ID), Name (ID), ...'."""
    return "**Team:** " + "; ".join(f"{m.name} ({m.student_id})" for m in team) + "."


def approach_line(config: Config) -> str:
    """What was done, with the config's numbers."""
    s, m = config.sampling, config.model
    shape = "a latent map" if m.latent_map else "a flat latent"
    return (f"**Approach.** Random {s.tile_size}-px tissue tiles of the training brains, standardised"
            f"{' and augmented' if s.augment else ''}, train a convolutional VAE with {shape} of {m.latent} numbers "
            f"(KL weight {config.train.beta:g}, warm-up, early stopping"
            f"{', tiles at their own mean and contrast' if m.normalise else ''}). On the test brain, islands are "
            "connected regions of grid tiles in latent clusters clearly denser in cells than the tissue (by rank, "
            "no density ratio assumed), typed by a Gaussian mixture on the direction that separates islands (the "
            "fewest types within a BIC margin of 6) and described by cell density, size and roundness.")


def training_line(config: Config) -> str:
    """Steps, wall time and the final test-brain reconstruction error of the main run."""
    from islandvae.train import Run, read_metrics

    run = Run.of(config)
    if not run.metrics.is_file():
        return "No trained model yet: run `make train`, then render again."
    rows = read_metrics(run)
    evals = [r for r in rows if r["test_mse"] is not None]
    if not evals:
        return "The model has not reached its first evaluation yet: run `make train`, then render again."
    last = evals[-1]
    return (f"The VAE trained for {int(rows[-1]['step']):,} steps of {config.sampling.batch_size} tiles "
            f"({rows[-1]['seconds'] / 60:.0f} min); its test-brain reconstruction error fell to "
            f"{last['test_mse']:.3f} per standardised pixel (a model that outputs the mean scores 1).")


LEFT_OUT = ("untrained encoder", "tile mean + std")  # in chapter 5's tables; the page has room for six rows
SHORT = {"orientation-pooled VAE": "pooled VAE"}


def short(name: str) -> str:
    """A feature space's name without its parenthesised detail, except the VAE's (its latent size)."""
    if name in SHORT:
        return SHORT[name]
    return name if name.startswith("VAE") or " (" not in name else name[:name.index(" (")]


def numbers_table(result: dict) -> list[dict]:
    """Chapter 5's scores that fit a page: per feature space (but LEFT_OUT) the island-level ARI and balanced
    accuracy, and the tile-level island-type probe and brain probe, as 'value (low-high)'."""
    def cell(v):
        return f"{v[0]:.2f} ({v[1]:.2f}-{v[2]:.2f})" if v is not None else "-"
    tiles = {r["features"]: r for r in result["measures"]}
    return [{"features": short(name), "island ARI": cell(v["ari"]), "island bal. acc.": cell(v["balanced accuracy"]),
             "tile island type": cell(tiles[name].get("island type")), "brain probe": cell(tiles[name].get("brain probe"))}
            for name, v in result["island scores"].items() if name not in LEFT_OUT]


def types_line(result: dict) -> str:
    """The types found in the test brain, with their measured cells (one sentence, data with or without truth)."""
    rows = result["described"]
    if not rows:
        return "No island was found in the test brain."

    from islandvae.measures import listed

    def each(key, fmt):
        return listed([format(r[key][0] if isinstance(r[key], (list, tuple)) else r[key], fmt) for r in rows])
    return (f"{result['found']['islands']} islands found in the test brain, {len(rows)} type"
            f"{'s' * (len(rows) != 1)} by the BIC margin ({each('islands', 'd')} islands) with {each('cells / 10,000 px', '.0f')} "
            f"cells per 10,000 px, cell diameters {each('cell diameter (px)', '.1f')} px and roundness "
            f"{each('roundness', '.2f')}.")


def composed_figure(config: Config):
    """The saved chapter figures in one fixed-size figure (None when one is missing)."""
    import matplotlib.pyplot as plt

    chosen = [(name, title) if (config.paths.figures / f"{name}.png").is_file() else STAND_IN.get(name, (name, title))
              for name, title in FIGURES]
    paths = [config.paths.figures / f"{name}.png" for name, _ in chosen]
    if not all(p.is_file() for p in paths):
        return None
    fig = plt.figure(figsize=(7.0, 2.2))
    grid = fig.add_gridspec(2, 2, width_ratios=(1.0, 1.25), wspace=0.03, hspace=0.15)
    places = (grid[:, 0], grid[0, 1], grid[1, 1])
    for k, (path, place, (_, title)) in enumerate(zip(paths, places, chosen)):
        ax = fig.add_subplot(place)
        ax.imshow(plt.imread(path))
        ax.set_title(f"{'abc'[k]}: {title}", fontsize=7)
        ax.axis("off")
    return fig
