"""What chapter 5 says about the latent space (5a-c), from the analysis's cached numbers: its sentences.

Kept apart from analysis.py (which computes and caches) so that rewording a sentence recomputes nothing.
"""

from __future__ import annotations


def no_model_text(config) -> str:
    """What to do when the config has no finished model yet."""
    return (
        f"No finished model for config `{config.name}` yet: run `make train` (or `python -m islandvae train`), "
        "then render this chapter again."
    )


def pairs_text(test, pairs) -> str:
    """Which test tiles the interpolation figure joins, and why (pick_pairs' rule)."""
    return (
        "The pairs are picked by a fixed rule from the fixed test tiles: "
        + "; ".join(
            f"{why} ({test.keys[i][1]} at {test.keys[i][2:4]} to {test.keys[j][1]} at {test.keys[j][2:4]})"
            for why, i, j in pairs
        )
        + "."
    )


def midpoints_text(mid: dict) -> str:
    """Whether decoded midpoints lie as close to real tiles as reconstructions do (Analysis.midpoint_distances)."""
    near = mid["midpoint to nearest real"] <= 1.1 * mid["reconstruction to nearest real"]
    return (
        "If the space between encoded tiles holds plausible tiles, a decoded midpoint lies about as close to real "
        f"data as a reconstruction does. Over 100 random test pairs, midpoints lie "
        f"{mid['midpoint to nearest real']:.2f} "
        f"(median RMS, standardised units) from their nearest real test tile, reconstructions "
        f"{mid['reconstruction to nearest real']:.2f}, and real tiles {mid['real to nearest other real']:.2f} from "
        "their nearest other real tile: "
        + (
            "the midpoints are as close to real tiles as reconstructions are."
            if near
            else "the midpoints lie farther from real tiles than reconstructions do, so the space between encodings is "
            "not filled with tile-like images everywhere."
        )
    )


def trust_text(red: dict) -> str:
    """How well the 2-D maps keep the latent space's neighbours (Analysis.reductions)."""
    return (
        f"Trustworthiness (how well the 10 nearest neighbours in the 2-D map were neighbours in the latent space; "
        f"1 is perfect): PCA {float(red['trust_pca']):.3f}, UMAP {float(red['trust_umap']):.3f}."
    )


def budgets_text(config) -> str:
    """The comparison models' training budget against the main model's (the latent-size table's note)."""
    n, total = config.train.comparison_steps, config.train.max_steps
    return (
        f"Budgets: the autoencoder and the latent-2 and latent-4096 models trained for {n:,} steps of "
        f"{config.sampling.batch_size} tiles each; the latent-{config.model.latent} row is the main model's "
        "checkpoint "
        f"at the same step"
        + (f" (the main model itself trained for {total:,} steps)." if n < total else ".")
        + (" The latent-2 model has a flat latent (two numbers cannot be a map)." if config.model.latent_map else "")
    )
