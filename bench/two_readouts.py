"""Two readouts as a lever: islands found on the latent of the run trained as it is, typed on the latent of the
run trained with imaging augmentation (sampling.imaging), against each run doing both.

    .venv/bin/python bench/two_readouts.py [--config configs/default.toml] [--json FILE]
        [--sets default "seed 3" "sections imaged differently (seed 6)" "coarser scan (seed 7)"]

Imaging augmentation types better where sections are imaged differently but finds fewer islands (its latent
splits an island's tiles into a core and a border cluster, docs/method.md); the finder's recall is the plain
run's. Per set, three pipelines: "plain" (runs/<set>: found and typed there), "imaging" (runs/<set>-imaging:
found and typed there) and "found plain, typed imaging": the plain run's found islands, their core tiles and
which of them are set apart, typed by types.island_types on the imaging run's readout of those core tiles pooled
over 8 orientations (as discovery.py types). Each typing also with the number of types as the median over the
section resamples (types.consensus_types "median"). A run that is missing is trained first (bench/imaging_lever.py,
about 3 to 7 minutes on 2 cores); the plain pipelines are cached, the typing on the other readout takes a minute.

Prints per set and way: recall, the number of types, the pipeline ARI with its 95 % interval (found types against
the true type most of each island's tiles have), how the typing axis follows that type (|r|), and the section
confound (types ~ sections ARI, typing axis ~ section |r|, sections.py); the panel median of the ARI per way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from islandvae.islands.discovery import Discovery
from islandvae.islands.features import features_of
from islandvae.islands.finder import majority_types
from islandvae.islands.grid import Grid
from islandvae.islands.sections import section_confound
from islandvae.islands.types import agreement, axis_follows, describe, island_types, types_on_axis
from islandvae.latent.analysis import Analysis
from islandvae.model.runs import Run

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets, set_parser  # noqa: E402  (benches beside this one)
from imaging_lever import follows, interval, measured, present_sets, save_figures, with_imaging  # noqa: E402

DEFAULT_SETS = ("default", "seed 3", "sections imaged differently (seed 6)", "coarser scan (seed 7)")


def core_features(found_config, typing_config):
    """`found_config`'s found islands (its cached pipeline: result and discovery arrays) with `typing_config`'s
    readout of their core tiles pooled over 8 orientations (rows of the other tiles 0), as discovery.py types."""
    result = Discovery(Analysis(found_config), baselines=False).result()
    with np.load(Run.of(found_config).folder / "discovery.npz") as saved:
        arrays = {k: saved[k] for k in ("island", "core", "label", "image", "row", "col", "gy", "gx")}
    a = Analysis(typing_config)
    island, core = arrays["island"], arrays["core"]
    need = np.flatnonzero(core & (island >= 0))
    grid = Grid.of_arrays(a.test_images.infos(), typing_config.sampling.tile_size, arrays)
    pooled = features_of(a.model, a.test_images, [grid.keys[i] for i in need], a.stats, pooled=True)
    features = np.zeros((len(island), pooled.shape[1]), dtype=np.float32)
    features[need] = pooled
    return features, arrays, result


def typed_elsewhere(found_config, typing_config) -> dict:
    """The islands found by `found_config`'s pipeline (cached) typed on `typing_config`'s readout of their core
    tiles, pooled over 8 orientations, with the section rule; the figures of typing_figures."""
    features, arrays, result = core_features(found_config, typing_config)
    cores = np.where(arrays["core"], arrays["island"], -1)
    section = np.array(result.sections.section)
    typed = np.array(result.types.type) >= 0
    typing = island_types(features, cores, seed=found_config.train.seed, typed=typed, sections=section)
    return typing_figures(typing, describe(features, cores), arrays, result, found_config.train.seed) | {
        "recall": result.truth.match["recall"]
    }


def own_typing(config) -> dict:
    """A run's own pipeline (found and typed on its readout; trained and computed where missing)."""
    measured(config)  # trains where the run is missing and computes its cached pipeline
    return typed_elsewhere(config, config)


def typing_figures(typing: dict, descriptors: np.ndarray, arrays: dict, result, seed: int) -> dict:
    """The typing scored against the found islands' majority true types, each way of counting the types."""
    majority = majority_types(arrays["island"], arrays["label"])
    section = np.array(result.sections.section)
    statistics = np.array(result.sections.statistics)
    typed = np.array(result.types.type) >= 0
    known = (majority != "") & typed
    cores = np.where(arrays["core"], arrays["island"], -1)
    sizes = np.bincount(cores[cores >= 0], minlength=len(typed))
    out = {}
    for consensus in ("mode", "median"):
        t = types_on_axis(typing["axis"], sizes, typed, seed=seed, sections=section, consensus=consensus)
        found = np.asarray(t["type"])
        score = agreement(found[known], majority[known]) if len(set(majority[known])) > 1 else None
        confound = section_confound(descriptors, t["axis"], found, section, statistics, seed=seed)
        out[consensus] = {
            "types": int(t["k"]),
            "pipeline ARI": list(score["ari"]) if score else None,
            "axis ~ type |r|": axis_follows(np.asarray(t["axis"])[known], majority[known]),
            "types ~ sections ARI": confound.get("types ~ sections ARI"),
            "axis ~ section |r|": confound.get("axis ~ section |r|"),
            "k over sections": {str(k): v for k, v in t["k over sections"].items()},
        }
    return out


def line(label: str, way: str, consensus: str, p: dict, recall: float) -> str:
    shares = ", ".join(f"{k}: {s:.0%}" for k, s in p["k over sections"].items())
    return (
        f"{label:38s} {way:27s} {consensus:6s} recall {recall:.2f}, {p['types']} types, ARI "
        f"{interval(p['pipeline ARI']):19s} ({follows(p)}) k over sections {shares or '-'}"
    )


def main(argv=None) -> int:
    parser = set_parser(__doc__, DEFAULT_SETS, "write the figures to this file after every set")
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/two_readouts.py")
    if every is None:
        return 2
    table = {}
    for label, c in present_sets(every, args.sets):
        imaging = with_imaging(c)
        table[label] = {
            "plain": own_typing(c),
            "imaging": own_typing(imaging),
            "found plain, typed imaging": typed_elsewhere(c, imaging),
        }
        for way, p in table[label].items():
            for consensus in ("mode", "median"):
                print(line(label, way, consensus, p[consensus], p["recall"]), flush=True)
        save_figures(args.json, table)
    for way in ("plain", "imaging", "found plain, typed imaging"):
        for consensus in ("mode", "median"):
            scores = [r[way][consensus]["pipeline ARI"] for r in table.values()]
            median = np.median([s[0] if s else 0.0 for s in scores]) if scores else float("nan")
            print(f"median ARI over the sets, {way}, {consensus}: {median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
