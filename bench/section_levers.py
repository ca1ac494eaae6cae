"""Section normalisation as a lever: chapter 5's typing with and without each section's features normalised
against its own ordinary tissue tiles, on the default stand-in and the robustness sets.

    .venv/bin/python bench/section_levers.py [--config configs/default.toml] [--controls 150] [--json FILE]

Needs the trained runs of `make report` and `make robustness` (sets without one are skipped and named); the
island pipeline's result is read from its cache, or computed where missing (about two minutes a set). Per data
set it reads the found islands from the cached island pipeline, pools the VAE's readout over
8 orientations for every core island tile and for up to --controls ordinary tissue tiles per section (tiles
neither in nor next to a found island: sections.ordinary_tiles), and types the islands as the pipeline does
(types.island_types, the islands at the section's edge set apart) after each normalisation of
normalise.NORMALISATIONS, and on the measured cells (the blob detector's density, size and roundness per tile)
the same way. Prints per set and variant: the number of types, the ARI of the found types with the true type
most of each island's tiles have, and the section confound (types ~ sections ARI, axis ~ section |r|). No
timing; about half a minute a set on 2 cores.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from islandvae.config import load_config
from islandvae.data.truth import TruthFile, truth_path
from islandvae.islands.discovery import Discovery
from islandvae.islands.features import features_of
from islandvae.islands.finder import edge_islands, majority_types
from islandvae.islands.grid import tissue_grid
from islandvae.islands.normalise import NORMALISATIONS, normalised
from islandvae.islands.robustness import each_set
from islandvae.islands.sections import island_sections, ordinary_tiles, section_confound
from islandvae.islands.types import agreement, describe, island_types
from islandvae.latent.analysis import Analysis
from islandvae.model.runs import Run
from islandvae.tiles.tissue import tissue_map

VARIANTS = ("none", *NORMALISATIONS)


def set_variants(config, controls: int) -> dict | None:
    """Every variant's typing of one data set's found islands, or None where its run or discovery is missing."""
    if not Run.of(config).done(config):
        return None
    a = Analysis(config)
    result = Discovery(a).result()  # the pipeline's cached result, computed where missing or stale
    if result.truth is None:
        return None
    with np.load(Run.of(config).folder / "discovery.npz") as saved:
        arrays = {k: saved[k] for k in ("island", "core", "label", "measures", "features")}
    s = config.sampling.tile_size
    with TruthFile(truth_path(config.data.path)) as truth:
        grid = tissue_grid(
            a.test_images.infos(), tissue_map(a.test_images, a.stats), tile=s, stride=max(s // 2, 1), truth=truth
        )
    island, core = arrays["island"], arrays["core"]
    ordinary = ordinary_tiles(grid, island)
    rng = np.random.default_rng(config.sampling.seed)
    picked = np.zeros(len(grid), dtype=bool)
    for k in np.unique(grid.image):
        picked[rng.permutation(np.flatnonzero(ordinary & (grid.image == k)))[:controls]] = True
    need = np.flatnonzero(picked | (core & (island >= 0)))
    pooled = np.zeros_like(arrays["features"], dtype=float)
    pooled[need] = features_of(
        a.model, a.test_images, [grid.keys[t] for t in need], a.stats, pooled=True, first=arrays["features"][need]
    )
    measured = arrays["measures"].astype(float)
    for j in range(measured.shape[1]):  # a tile without cells takes the median size and roundness
        measured[~np.isfinite(measured[:, j]), j] = np.nanmedian(measured[:, j])
    typed = ~edge_islands(grid, island)
    truth = majority_types(island, arrays["label"])
    section = island_sections(grid, island)
    statistics = np.array(result.sections.statistics)
    members = np.where(core, island, -1)
    out = {}
    for space, features in (("pooled VAE", pooled), ("measured cells", measured)):
        for how in VARIANTS:
            f = features if how == "none" else normalised(features, grid.image, picked, how)
            typing = island_types(f, members, seed=config.train.seed, typed=typed)
            known = (truth != "") & (typing["type"] >= 0)
            ari = (
                agreement(typing["type"][known], truth[known], reps=50)["ari"][0]
                if len(set(truth[known])) > 1
                else None
            )
            confound = section_confound(
                describe(f, members), typing["axis"], typing["type"], section, statistics, seed=config.train.seed
            )
            out[f"{space}, {how}"] = {
                "types": typing["k"],
                "ari": ari,
                "types ~ sections ARI": confound["types ~ sections ARI"],
                "axis ~ section |r|": confound["axis ~ section |r|"],
            }
    return out


def main() -> int:
    from islandvae.machine import describe_cpu

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--controls", type=int, default=150, help="ordinary tiles per section (default 150)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    config = load_config(args.config)
    print(f"CPU: {describe_cpu()}")
    for label, rows in each_set(config, lambda c: set_variants(c, args.controls), json_path=args.json):
        for variant, row in rows.items():
            cells = "  ".join(f"{k} {'-' if v is None else round(v, 2)}" for k, v in row.items())
            print(f"{label:40s} {variant:32s} {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
