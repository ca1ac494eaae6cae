"""The one-page summary's parts: the team, the key numbers (read from the cached results), one composed figure.

Nothing here trains or types a number: the numbers come from the main run's metrics and chapter 5's
cached measures, and the figure is put together from the PNGs the chapters saved under figures/.
Every part has a fixed number of lines whatever the values are, so the page stays one page.
"""

from __future__ import annotations

from islandvae.config import Config
from islandvae.handin import Member

FIGURES = (("latent-embedding", "test tiles in 2-D (chapter 5)"), ("reconstructions", "test reconstructions (chapter 4)"),
           ("samples", "prior samples (chapter 5)"))


def team_line(team: list[Member]) -> str:
    """The members as one markdown paragraph: 'Name (ID), Name (ID), ...'."""
    return "**Team:** " + "; ".join(f"{m.name} ({m.student_id})" for m in team) + "."


def approach_line(config: Config) -> str:
    """What was done, with the config's numbers."""
    s, m = config.sampling, config.model
    return (f"**Approach.** Random {s.tile_size}-px tiles of the training brains' tissue, standardised with the "
            f"training statistics{' and augmented' if s.augment else ''}, train a convolutional VAE with a "
            f"{m.latent}-dimensional latent space (KL weight {config.train.beta:g}, warm-up, test-brain early stopping). "
            "The test brain's tiles are encoded, and their latent means are scored against a pixel-PCA and a "
            "brightness baseline, with 95 % bootstrap intervals over test images.")


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


def numbers_table(rows: list[dict]) -> list[dict]:
    """Chapter 5's measures, the columns that fit a page: one row per feature space, 'value (low-high)'."""
    columns = [c for c in ("recon MSE", "linear probe", "island type", "brain probe") if any(c in r for r in rows)]
    out = []
    for r in rows:
        entry = {"features": r["features"]}
        for c in columns:
            entry[c] = f"{r[c][0]:.2f} ({r[c][1]:.2f}-{r[c][2]:.2f})" if c in r else "-"
        out.append(entry)
    return out


def composed_figure(config: Config):
    """The saved chapter figures in one fixed-size figure (None when one is missing)."""
    import matplotlib.pyplot as plt

    paths = [config.paths.figures / f"{name}.png" for name, _ in FIGURES]
    if not all(p.is_file() for p in paths):
        return None
    fig = plt.figure(figsize=(7.0, 3.1))
    grid = fig.add_gridspec(2, 2, width_ratios=(1.0, 1.25), wspace=0.03, hspace=0.15)
    places = (grid[:, 0], grid[0, 1], grid[1, 1])
    for k, (path, place, (_, title)) in enumerate(zip(paths, places, FIGURES)):
        ax = fig.add_subplot(place)
        ax.imshow(plt.imread(path))
        ax.set_title(f"{'abc'[k]}: {title}", fontsize=7)
        ax.axis("off")
    return fig
