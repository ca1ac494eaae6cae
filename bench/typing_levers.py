"""Typing levers, with and without, on the default stand-in and the robustness sets: the number of types chosen
over resamples of whole sections, islands described by their histogram over tile phenotypes, and islands placed
by the median of their (section-normalised) tile features.

    .venv/bin/python bench/typing_levers.py [--config configs/default.toml] [--phenotypes 16] [--json FILE]
                                            [--imaging]

Needs the trained runs and the cached island pipeline of `make report` and `make robustness` (a set without
them is named and skipped; nothing is trained or encoded). Per data set it reads the found islands, their place
on the typing axis and their sections from the pipeline's cache (runs/<set>/discovery.json and .npz), and types
them again three ways:

- "BIC on all islands": the BIC rule on every island's place (types.types_on_axis without sections: the rule
  before the section resamples);
- "k over sections": the same mixture with the number of types chosen most often over resamples of whole
  sections (types.section_spread);
- "k over sections, median": the number of types that half the section resamples choose or fewer and half
  choose or more (the median of an ordinal choice) instead of the one chosen most often: with three numbers
  chosen, the most frequent can be a minority against two neighbours that agree on "more than one";
- "k over sections, BIC margin 6": the same with a further type asked to lower the BIC by 6 ("strong" evidence,
  Kass and Raftery 1995), the pipeline's margin before types.BIC_MARGIN's 2 ("positive": islands whose places
  run as a continuum with two ends were called one type);
- "phenotype histogram": every grid tile assigned to one of --phenotypes tile phenotypes (k-means on the
  standardised readout of the test brain's tiles, fitted on at most 6,000 of them), each island described by the
  share of its core tiles in each phenotype (Quiros et al., Nature Communications 2024, type slides by such
  compositions), the square roots of the shares (Hellinger) put on their first principal component, and typed
  there by the same mixture and section rule;
- "tile features, mean", "tile features, median" and "normalised features, median": the pipeline's typing
  (types.island_types, with the section rule) run again on the cached one-view readout of the core tiles (the
  pipeline types the readout pooled over 8 orientations, which is not cached: the first of the three is the
  "without" of the other two), each island placed by the mean or the median of its tiles on the typing axis, the
  last after each section's tile features are robustly scaled (median and interquartile range, normalise.py
  "robustize") against its ordinary tissue tiles (neither in nor next to a found island).

Prints per set and lever: the number of types, the ARI of the found types with the true type most of each
island's tiles have (the pipeline's "found agreement"), how well the islands' places on the lever's axis follow
that true type (|r|, the point-biserial correlation: where it is high and the ARI is 0, the axis holds the type and
the number of types is what failed), and the section confound's types ~ sections ARI. No
timing; a few seconds a set. With --imaging, every set's run trained with imaging augmentation (runs/<set>-imaging,
bench/imaging_lever.py) in place of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from islandvae.config import load_config
from islandvae.islands.finder import majority_types, next_to
from islandvae.islands.normalise import normalised
from islandvae.islands.records import IslandResult
from islandvae.islands.robustness import each_set
from islandvae.islands.types import agreement, axis_follows, island_types, types_on_axis
from islandvae.latent.measures import adjusted_rand
from islandvae.model.runs import Run

sys.path.insert(0, str(Path(__file__).parent))
from imaging_lever import with_imaging  # noqa: E402  (a bench beside this one)

FIT_TILES = 6000
OTHER_MARGIN = 6.0  # the BIC margin of the "BIC margin 6" lever


def phenotype_axis(
    features: np.ndarray, island: np.ndarray, core: np.ndarray, n: int, phenotypes: int, seed: int
) -> np.ndarray:
    """Per found island, the first principal component of the Hellinger-transformed shares of its core tiles
    over the tile phenotypes."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    used = core & (island >= 0)
    rng = np.random.default_rng(seed)
    fit = rng.permutation(np.flatnonzero(used))[:FIT_TILES]
    scale = StandardScaler().fit(features[fit])
    kinds = KMeans(phenotypes, n_init=4, random_state=seed).fit(scale.transform(features[fit]))
    kind = kinds.predict(scale.transform(features))
    counts = np.zeros((n, phenotypes))
    np.add.at(counts, (island[used], kind[used]), 1)
    shares = np.sqrt(counts / np.maximum(counts.sum(1, keepdims=True), 1))
    return PCA(1, random_state=seed).fit_transform(shares)[:, 0]


class Places:
    """The grid's places of the cached tiles (image, gy, gx), as finder.next_to reads them."""

    def __init__(self, arrays: dict):
        self.image, self.gy, self.gx = arrays["image"], arrays["gy"], arrays["gx"]

    def __len__(self) -> int:
        return len(self.image)


def placed_types(arrays: dict, typed: np.ndarray, section: np.ndarray, seed: int) -> dict:
    """The pipeline's typing on the cached one-view readout: islands placed by the mean or the median of their
    core tiles on the typing axis, and by the median after robust scaling against each section's ordinary tiles."""
    island, core, features = arrays["island"], arrays["core"], arrays["features"]
    ordinary = ~((island >= 0) | next_to(Places(arrays), island >= 0))
    scaled = normalised(features, arrays["image"], ordinary, "robustize")
    cores = np.where(core, island, -1)
    return {
        lever: island_types(x, cores, seed=seed, typed=typed, sections=section, median=median)
        for lever, x, median in (
            ("tile features, mean", features, False),
            ("tile features, median", features, True),
            ("normalised features, median", scaled, True),
        )
    }


def set_levers(config, phenotypes: int) -> dict | None:
    """Every lever's typing of one data set's found islands, or None where its cached pipeline is missing."""
    path = Run.of(config).folder / "discovery.json"
    # the cache as it is: the typing step is replayed on it, so a cache written before the typing changed serves
    result = IslandResult.from_json(json.loads(path.read_text())["value"]) if path.is_file() else None
    if result is None or result.found.islands < 2:
        return None
    with np.load(Run.of(config).folder / "discovery.npz") as saved:
        arrays = {k: saved[k] for k in ("island", "core", "label", "features", "image", "gy", "gx")}
    if not (arrays["label"] != "").any():  # no truth to score against
        return None
    island, core = arrays["island"], arrays["core"]
    n = int(island.max()) + 1
    sizes = np.bincount(island[core & (island >= 0)], minlength=n)
    typed = np.array(result.types.type) >= 0
    section = np.array(result.sections.section)
    majority = majority_types(island, arrays["label"])
    known = (majority != "") & typed
    seed = config.train.seed
    axes = {
        "pipeline axis": np.array(result.types.axis),
        "phenotype histogram": phenotype_axis(arrays["features"], island, core, n, phenotypes, seed),
    }
    typings = {
        lever: types_on_axis(axis, sizes, typed, seed=seed, sections=sections)
        for lever, axis, sections in (
            ("BIC on all islands", axes["pipeline axis"], None),
            ("k over sections", axes["pipeline axis"], section),
            ("phenotype histogram", axes["phenotype histogram"], section),
        )
    } | placed_types(arrays, typed, section, seed)
    typings["k over sections, median"] = types_on_axis(
        axes["pipeline axis"], sizes, typed, seed=seed, sections=section, consensus="median"
    )
    typings["k over sections, BIC margin 6"] = types_on_axis(
        axes["pipeline axis"], sizes, typed, seed=seed, sections=section, margin=OTHER_MARGIN
    )
    out = {}
    for lever, typing in typings.items():
        found = typing["type"]
        score = agreement(found[known], majority[known])["ari"] if len(set(majority[known])) > 1 else None
        on = typed & (np.bincount(section[typed], minlength=section.max() + 1)[section] >= 2)
        out[lever] = {
            "types": typing["k"],
            "axis ~ type |r|": axis_follows(np.asarray(typing["axis"])[known], majority[known]),
            "ari": list(score) if score else None,
            "types ~ sections ARI": float(adjusted_rand(section[on], found[on])) if on.any() else None,
            "k over sections": {str(k): v for k, v in typing["k over sections"].items()},
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--phenotypes", type=int, default=16, help="tile phenotypes of the histogram lever")
    parser.add_argument("--json", help="write the figures to this file as well")
    parser.add_argument("--imaging", action="store_true", help="the runs trained with imaging augmentation instead")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    table = {}

    def measure(c):
        return set_levers(with_imaging(c) if args.imaging else c, args.phenotypes)

    for label, row in each_set(config, measure, json_path=args.json):
        table[label] = row
        for lever, v in row.items():
            ari = "-" if v["ari"] is None else f"{v['ari'][0]:.2f} [{v['ari'][1]:.2f}, {v['ari'][2]:.2f}]"
            shares = ", ".join(f"{k}: {s:.0%}" for k, s in v["k over sections"].items())
            confound = "-" if v["types ~ sections ARI"] is None else f"{v['types ~ sections ARI']:.2f}"
            r = "-" if v["axis ~ type |r|"] is None else f"{v['axis ~ type |r|']:.2f}"
            print(
                f"{label:40s} {lever:22s} types {v['types']}  ARI {ari:20s} axis ~ type |r| {r}"
                f"  types ~ sections {confound}"
                f"  {'(k over sections ' + shares + ')' if shares else ''}",
                flush=True,
            )
    medians = {
        lever: float(np.median([r[lever]["ari"][0] if r[lever]["ari"] else 0.0 for r in table.values()]))
        for lever in next(iter(table.values()), {})
    }
    print("median ARI over the sets scored:", {k: round(v, 2) for k, v in medians.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
