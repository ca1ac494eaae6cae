"""Chapter 5's figures: samples, interpolations, 2-D maps of the latent space, clusters, the 2-D latent plane."""

from __future__ import annotations

import numpy as np
import torch

from islandvae.data.stats import PixelStats
from islandvae.figures import tile_grid
from islandvae.latent.codes import on_cpu
from islandvae.model.vae import tile_moments

COLOURS = {"granular": "tab:red", "parvicellular": "tab:blue", "plain": "0.65"}


def _grey(x: torch.Tensor, stats: PixelStats) -> np.ndarray:
    return (x.reshape(len(x), x.shape[-2], x.shape[-1]) * stats.std + stats.mean).clamp(0, 255).numpy()


@torch.no_grad()
def samples_figure(stats: PixelStats, real: torch.Tensor, models: dict, *, count: int = 10, seed: int = 0):
    """Rows: real test tiles, then each model's decoding of the same `count` latents drawn from N(0, I)."""
    spread = np.linspace(0, len(real) - 1, count).astype(int)  # real tiles from across the fixed test set
    rows, titles = [_grey(real[spread], stats)], ["real"] + [""] * (count - 1)
    for name, model in models.items():
        model = on_cpu(model)
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(count, model.config.latent, generator=g)
        rows.append(_grey(model.eval().decode(z), stats))
        titles += [name] + [""] * (count - 1)
    return tile_grid(np.concatenate(rows), columns=count, titles=titles, size=0.75)


@torch.no_grad()
def interpolation_figure(model, stats: PixelStats, tiles: torch.Tensor, pairs: list, *, steps: int = 8):
    """Per pair (a row): tile A, its reconstruction, `steps` decoded points on the line, reconstruction B, tile B."""
    model = on_cpu(model).eval()
    rows, titles = [], []
    for _why, a, b in pairs:
        za, zb = model.encode(tiles[[a, b]])[0]
        (ma, mb), (sa, sb) = tile_moments(tiles[[a, b]])  # the tiles' level and contrast, for a normalising model
        w = torch.linspace(0, 1, steps + 2)[1:-1, None]
        line = model.decode(
            za * (1 - w) + zb * w,
            ma * (1 - w[..., None, None]) + mb * w[..., None, None],
            sa * (1 - w[..., None, None]) + sb * w[..., None, None],
        )
        ends = model.decode(torch.stack([za, zb]), torch.stack([ma, mb]), torch.stack([sa, sb]))
        row = torch.cat([tiles[[a]], ends[:1], line, ends[1:], tiles[[b]]])
        rows.append(_grey(row, stats))
        titles += ["A", "recon. A"] + [f"{k + 1}/{steps + 1}" for k in range(steps)] + ["recon. B", "B"]
    return tile_grid(np.concatenate(rows), columns=steps + 4, titles=titles, size=0.7)


def embedding_figure(reductions: dict, test, *, labels: list[str]):
    """PCA (top) and UMAP (bottom) of the test latents, coloured by image, mean grey value and truth label."""
    import matplotlib.pyplot as plt

    columns = 3 if labels else 2
    fig, axes = plt.subplots(2, columns, figsize=(2.15 * columns, 4.4), squeeze=False)
    for row, (name, xy) in zip(axes, (("PCA", reductions["pca"]), ("UMAP", reductions["umap"]))):
        row[0].scatter(*xy.T, c=test.image, cmap="tab20", s=2)
        row[0].set_title(f"{name}: by image", fontsize=8)
        points = row[1].scatter(*xy.T, c=test.grey, cmap="viridis", s=2)
        row[1].set_title(f"{name}: by mean grey value", fontsize=8)
        fig.colorbar(points, ax=row[1], shrink=0.8)
        if labels:
            for label in labels:
                pick, colour = test.label == label, COLOURS[label]
                row[2].scatter(
                    *xy[pick].T,
                    s=2 if label == "plain" else 4,
                    color=colour,
                    label=label,
                    zorder=1 if label == "plain" else 2,
                )
            row[2].set_title(f"{name}: by truth label", fontsize=8)
            row[2].legend(fontsize=7, markerscale=3, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def cluster_examples_figure(
    stats: PixelStats, tiles: torch.Tensor, clusters: np.ndarray, *, per: int = 8, seed: int = 0
):
    """A row of example tiles per cluster."""
    rng = np.random.default_rng(seed)
    rows, titles = [], []
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        pick = rng.choice(members, size=min(per, len(members)), replace=False)
        grey = _grey(tiles[pick], stats)
        if len(pick) < per:
            grey = np.concatenate([grey, np.full((per - len(pick), *grey.shape[1:]), 255.0)])
        rows.append(grey)
        titles += [f"cluster {c} ({len(members)})"] + [""] * (per - 1)
    return tile_grid(np.concatenate(rows), columns=per, titles=titles, size=0.75)


@torch.no_grad()
def latent_plane_figure(model, stats: PixelStats, latent2: np.ndarray, test, *, grid: int = 12, labels=()):
    """For a 2-D latent: tiles decoded on a grid over the plane (left), and the test tiles placed on it (right)."""
    import matplotlib.pyplot as plt

    lo, hi = np.percentile(latent2, [1, 99], axis=0)
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    z = torch.tensor([[x, y] for y in ys[::-1] for x in xs], dtype=torch.float32)
    decoded = _grey(on_cpu(model).eval().decode(z), stats)
    s = decoded.shape[-1]
    mosaic = decoded.reshape(grid, grid, s, s).transpose(0, 2, 1, 3).reshape(grid * s, grid * s)
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.5, 3.2))
    left.imshow(mosaic, cmap="gray", vmin=0, vmax=255, extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto")
    left.set(title="decoded latent plane", xlabel="z1", ylabel="z2")
    left.grid(False)
    if labels:
        for label in labels:
            pick, colour = test.label == label, COLOURS[label]
            right.scatter(*latent2[pick].T, s=3, color=colour, label=label)
        right.legend(fontsize=7, markerscale=3, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        right.scatter(*latent2.T, s=3, c=test.grey, cmap="viridis")
    right.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), title="test tiles (latent means)", xlabel="z1", ylabel="z2")
    fig.tight_layout()
    return fig
