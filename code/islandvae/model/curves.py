"""Chapters 3 and 4: the initial-loss check, training curves, reconstructions, and time to quality.

Everything here reads a finished run (metrics.csv, best.pt) or evaluates a few batches; nothing trains.
Training speed is measured by speed.py.
"""

from __future__ import annotations

import torch

from islandvae.config import Config
from islandvae.data.stats import PixelStats
from islandvae.model.vae import VAE, loss_terms


@torch.no_grad()
def initial_loss(config: Config, tiles: torch.Tensor) -> dict:
    """Loss terms of a freshly initialised model on `tiles`, next to what they should be.

    An untrained decoder outputs values near 0 (small random weights after normalisation), so the
    reconstruction term should be close to the sum of squared standardised pixels, about s * s per tile;
    the encoder's means and log-variances are near 0, so the KL term should be small.
    """
    torch.manual_seed(config.train.seed)
    model = VAE(config.model, config.sampling.tile_size)
    recon, mean, logvar = model(tiles)
    terms = loss_terms(tiles, recon, mean, logvar, model=model, beta=config.train.beta, l2=config.train.l2)
    expected = float(tiles.pow(2).flatten(1).sum(1).mean())
    return {
        "recon": float(terms["recon"]),
        "expected recon": expected,
        "KL": float(terms["kl"]),
        "L2": float(terms["l2"]),
        "total": float(terms["total"]),
        "output std": float(recon.std()),
    }


def curves_figure(rows: list[dict], *, warmup: int):
    """Training loss terms, and the test brain's MSE and active units, against the step."""
    import matplotlib.pyplot as plt

    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(6.5, 2.5))
    steps = [r["step"] for r in rows]
    left.plot(steps, [r["recon"] for r in rows], label="reconstruction")
    left.plot(steps, [r["total"] for r in rows], label="total", lw=0.8)
    left.set(yscale="log", xlabel="step", title="training loss per tile")
    left.legend(fontsize=7)
    mid.plot(steps, [r["kl"] for r in rows], color="tab:green")
    mid.set(xlabel="step", title="KL per tile (nats)")
    evals = [r for r in rows if r["test_mse"] is not None]
    right.plot([r["step"] for r in evals], [r["test_mse"] for r in evals], "o-", ms=3, color="tab:red")
    right.set(xlabel="step", title="test-brain MSE per pixel")
    for ax in (left, mid, right):
        if warmup:
            ax.axvline(warmup, color="0.6", lw=0.8, ls="--")
    fig.tight_layout()
    return fig


@torch.no_grad()
def reconstructions_figure(model: VAE, tiles: torch.Tensor, stats: PixelStats, *, count: int = 8):
    """Test tiles (top) and their reconstructions from the latent means (bottom), in grey values."""
    from islandvae.figures import tile_grid

    model.eval()
    x = tiles[:count]
    recon = model(x)[0]
    grey = torch.cat([x, recon])[:, 0] * stats.std + stats.mean
    return tile_grid(
        grey.clamp(0, 255).numpy(),
        columns=count,
        titles=[f"test {k + 1}" for k in range(count)] + [f"recon. {k + 1}" for k in range(count)],
    )


def time_to_quality(rows: list[dict], minutes=(2, 5, 10)) -> list[dict]:
    """The best test-brain MSE reached within each number of minutes of training."""
    evals = [r for r in rows if r["test_mse"] is not None]
    out = []
    for m in minutes:
        reached = [r for r in evals if r["seconds"] <= 60 * m]
        out.append(
            {
                "minutes": m,
                "step": int(reached[-1]["step"]) if reached else 0,
                "test MSE": min(r["test_mse"] for r in reached) if reached else float("nan"),
            }
        )
    return out
