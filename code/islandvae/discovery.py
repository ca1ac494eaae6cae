"""Finding island types automatically (chapter 5): islands found from the latent space, typed, described, scored.

On the test brain, with or without truth:
1. every tissue tile on a grid of half-tile stride is described by the VAE's posterior (latent.readout);
2. islands are found from those descriptions (islands.find_islands): clusters of tiles, the clusters of dense
   cells named from the pixels, connected regions of such tiles grown by one ring of moderately dense tiles;
3. the found islands are typed from their dense tiles (islands.island_types, the number of types by BIC);
4. each type is described on the pixels: cell density, cell size and roundness per island (morphology.py),
   with 95 % bootstrap intervals over the type's islands.
With truth (the stand-in) it also scores, for the VAE and every baseline, the same design on the same units:
- tile level, on the island-enriched tiles (every island tile of the grid and as many plain tiles), the
  measures of measures.py with intervals from a bootstrap over islands (and each image's plain tiles);
- island level, on the true islands: agreement of the types found without labels with the true types
  (ARI; balanced accuracy after naming each type by its majority), and the supervised ceiling (an island
  probe trained on the training brains' islands); written to islands.json in the run folder;
- how well the islands found without truth match the true ones (recall, precision, overlap).
Everything is cached in the run folder (discovery.json, discovery.npz), keyed by the checkpoints and the data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from islandvae import islands as isl
from islandvae.analysis import Analysis
from islandvae.baselines import texture_features
from islandvae.data import ImageSource, LazyImages, read_inventory, training_brains
from islandvae.files import write_atomic
from islandvae.latent import (
    TileSet,
    cached,
    cached_json,
    cut,
    pixel_pca,
    posterior,
    readout,
    reconstruction_mse,
    tile_set,
    trivial_features,
)
from islandvae.measures import fmt, score_features
from islandvae.model import VAE
from islandvae.stats import cache_key, file_identity
from islandvae.tiles import tissue_map
from islandvae.train import Run
from islandvae.truth import TruthFile, truth_path

VERSION = "discovery-3"
TRAIN_ISLAND_TILES = 2000  # island tiles of the training brains for the probes and the ceiling (and as many plain)
MEASURES = ("cells / 10,000 px", "cell diameter (px)", "roundness")
REPS = 200


def scores_path(config) -> Path:
    """runs/<config>/islands.json: the island-level scores of every feature space (stand-in only)."""
    return Run.of(config).folder / "islands.json"


def discovery_key(config, *, baselines: bool = True) -> str:
    """What the island pipeline depends on: the main and autoencoder checkpoints, the data and the settings."""
    from islandvae.analysis import budget_models

    paths = [Run.of(config).best] + [p for label, (_, p) in budget_models(config).items() if label == "autoencoder"]
    return cache_key(VERSION, [file_identity(p) for p in paths if p.is_file()], file_identity(config.data.path),
                     config.data.test_brain, config.sampling.tile_size, config.train.seed, source_digest(), baselines)


def source_digest() -> str:
    """A hash of the code the pipeline runs: a changed module recomputes it instead of showing stale numbers."""
    import hashlib

    from islandvae import baselines, latent, measures, morphology

    digest = hashlib.sha1()
    for path in [Path(m.__file__) for m in (isl, morphology, measures, latent, baselines)] + [Path(__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def read_discovery(config, *, baselines: bool = True) -> dict | None:
    """The cached result when it belongs to the config's present checkpoints, else None (loads nothing else)."""
    return cached_json(Run.of(config).folder / "discovery.json", discovery_key(config, baselines=baselines))


class Discovery:
    """The island pipeline of one config's trained models."""

    def __init__(self, analysis: Analysis, *, baselines: bool = True):
        """`baselines`: score every baseline beside the VAE (False: the VAE alone, as the lever runs need)."""
        self.a = analysis
        self.config = analysis.config
        self.folder = analysis.run.folder
        self.baselines = baselines
        self.key = discovery_key(self.config, baselines=baselines)

    def result(self) -> dict:
        """Everything the chapter reports (computed once, then read from discovery.json)."""
        return cached_json(self.folder / "discovery.json", self.key, self._compute)

    def arrays(self) -> dict:
        """Per grid tile: image, row, column, grid place, cluster, found island, core flag, true island, label."""
        return cached(self.folder / "discovery.npz", self.key, lambda: self._grid_arrays()[0])

    # The computation ------------------------------------------------------------------------------------------

    def _grid_arrays(self) -> tuple[dict, isl.Grid, np.ndarray]:
        a, s = self.a, self.config.sampling.tile_size
        truth = TruthFile(truth_path(self.config.data.path)) if a.has_truth else None
        try:
            grid = isl.tissue_grid(a.test_images.infos(), tissue_map(a.test_images, a.stats), tile=s,
                                   stride=max(s // 2, 1), truth=truth)
        finally:
            if truth is not None:
                truth.close()
        features = features_of(a.model, a.test_images, grid.keys, a.stats)
        found = isl.find_islands(grid, features, a.test_images, seed=self.config.train.seed)
        true = isl.true_islands(grid)[0] if grid.label is not None else np.full(len(grid), -1)
        arrays = {"image": grid.image, "row": np.array([k[2] for k in grid.keys], dtype=int),
                  "col": np.array([k[3] for k in grid.keys], dtype=int), "gy": grid.gy, "gx": grid.gx,
                  "cluster": found["cluster"], "island": found["island"], "core": found["core"], "true": true,
                  "label": grid.label if grid.label is not None else np.full(len(grid), "", dtype=str),
                  "features": features.astype(np.float32)}
        return arrays, grid, found

    def _compute(self) -> dict:
        arrays, grid, found = self._grid_arrays()
        cached(self.folder / "discovery.npz", self.key, lambda: arrays)
        features, island, core = arrays["features"], arrays["island"], arrays["core"]
        typing = isl.island_types(features, np.where(core, island, -1), seed=self.config.train.seed)
        out = {"grid": {"tiles": len(grid), "images": len(grid.infos), "tile": grid.tile, "stride": grid.stride},
               "clusters": {"k": len(found["density"]), "density": found["density"],
                            "tiles": np.bincount(found["cluster"], minlength=len(found["density"])).tolist(),
                            "island clusters": [int(c) for c in found["island clusters"]],
                            "tissue density": found["tissue density"]},
               "found": {"islands": int(island.max() + 1), "tiles": int((island >= 0).sum()),
                         "candidates": found["candidates"]},
               "types": {"k": typing["k"], "bic": {str(k): v for k, v in typing["bic"].items()},
                         "type": typing["type"].tolist(), "axis": typing["axis"].tolist()}}
        out["morphology"] = found["morphology"]
        out["described"] = describe_types(out["morphology"], typing["type"], typing["k"])
        if grid.label is not None:
            out |= self._truth_scores(grid, arrays, typing)
        return out

    def _truth_scores(self, grid: isl.Grid, arrays: dict, typing: dict) -> dict:
        a, config = self.a, self.config
        true, kinds = isl.true_islands(grid)
        found = arrays["island"]
        out = {"match": isl.match_found(found, true), "true islands": {t: int((kinds == t).sum()) for t in isl.TYPES}}
        majority = majority_types(found, grid.label)
        known = majority != ""
        out["found agreement"] = (isl.agreement(np.array(typing["type"])[known], majority[known])
                                  if len(set(majority[known])) > 1 else None)
        out["found islands without a true island"] = int((~known).sum())
        test, train, train_island, train_kinds, picked = enriched_sets(config, a, grid, true)
        spaces = feature_spaces(a, test, train, vae_test=arrays["features"][picked], baselines=self.baselines)
        out["measures"] = [score_features(name, f["train"], f["test"], train, test, f.get("mse"))
                           for name, f in spaces.items()]
        island_of_test = np.where(test.group < len(kinds), test.group, -1)  # plain tiles carry group ids >= islands
        scores, ceilings = {}, {}
        for name, f in spaces.items():
            types = isl.island_types(f["test"], island_of_test, seed=config.train.seed)
            scores[name] = isl.agreement(types["type"], kinds) | {"types": types["k"]}
            ceilings[name] = island_probe(f["train"], train_island, train_kinds, f["test"], island_of_test, kinds)
        out["island scores"], out["island ceilings"] = scores, ceilings
        vae = next(iter(spaces))
        table = {name: {"ari": list(v["ari"]), "balanced accuracy": list(v["balanced accuracy"])}
                 for name, v in scores.items()}
        table[f"supervised island probe, {vae}"] = {k: list(ceilings[vae][k]) for k in ("ari", "balanced accuracy")}
        if self.baselines:  # islands.json holds the whole comparison
            write_atomic(scores_path(config), json.dumps(table, indent=1).encode())
        return out


def features_of(model: VAE, images: ImageSource, keys: list, stats, batch: int = 2048) -> np.ndarray:
    """The model's readout of the tiles of `keys`, cut and encoded a batch at a time."""
    parts = [readout(model, cut(images, keys[k:k + batch], stats)) for k in range(0, len(keys), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def majority_types(found: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per found island, the island type most of its tiles have by the truth ('' when none of them is an island
    tile)."""
    n = int(found.max()) + 1 if (found >= 0).any() else 0
    out = np.full(n, "", dtype=object)
    for k in range(n):
        tiles = label[found == k]
        tiles = tiles[np.isin(tiles, isl.TYPES)]
        if len(tiles):
            values, counts = np.unique(tiles, return_counts=True)
            out[k] = values[counts.argmax()]
    return out.astype(str)


def describe_types(morphology: list[dict], types: np.ndarray, k: int, *, reps: int = REPS, seed: int = 0) -> list:
    """Per type: its islands and, per measure, the mean over its islands with a 95 % bootstrap interval."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(k):
        members = [m for m, ty in zip(morphology, types) if ty == t]
        row = {"type": t + 1, "islands": len(members)}
        for measure in MEASURES:
            values = np.array([m[measure] for m in members], dtype=float)
            values = values[np.isfinite(values)]
            if not len(values):
                row[measure] = (float("nan"),) * 3
                continue
            means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(reps)]
            row[measure] = (float(values.mean()), *map(float, np.percentile(means, [2.5, 97.5])))
        out.append(row)
    return out


def enriched_sets(config, a: Analysis, grid: isl.Grid, true: np.ndarray) -> tuple:
    """The island-enriched tiles: on the test brain every island tile of the grid and as many plain tiles (their
    bootstrap unit: the island, or the image for plain tiles); on the training brains up to TRAIN_ISLAND_TILES
    island tiles and as many plain ones, read region by region. Returns the test and training TileSets, the
    training island of each training tile (-1 for plain tiles), the type of each training island, and which
    grid tiles the test set holds."""
    rng = np.random.default_rng(config.sampling.seed)
    islands_at = np.flatnonzero(true >= 0)
    plain = rng.permutation(np.flatnonzero(grid.label == "plain"))[:len(islands_at)]
    test_pick = np.concatenate([islands_at, plain])
    group = np.concatenate([true[islands_at], true.max() + 1 + grid.image[plain]])
    test = tile_set(config, a.test_images, [grid.keys[k] for k in test_pick], a.stats, group=group)

    brains = training_brains(read_inventory(config.data.path), config.data.test_brain)
    images = LazyImages(config.data.path, brains)
    try:
        with TruthFile(truth_path(config.data.path)) as truth:
            whole = isl.tissue_grid(images.infos(), tissue_map(images, a.stats), tile=grid.tile, stride=grid.stride,
                                    truth=truth)
        train_true, kinds = isl.true_islands(whole)
        islands_at = rng.permutation(np.flatnonzero(train_true >= 0))[:TRAIN_ISLAND_TILES]
        plain = rng.permutation(np.flatnonzero(whole.label == "plain"))[:len(islands_at)]
        pick = np.concatenate([islands_at, plain])
        train = tile_set(config, images, [whole.keys[k] for k in pick], a.stats)
    finally:
        images.close()
    return test, train, np.concatenate([train_true[islands_at], np.full(len(plain), -1)]), kinds, test_pick


def feature_spaces(a: Analysis, test: TileSet, train: TileSet, *, vae_test: np.ndarray | None = None,
                   baselines: bool = True) -> dict:
    """Every feature space on the same tiles: name -> {"train", "test", "mse" (test reconstruction, or absent)}.
    The first is the VAE (`vae_test`: its readout of the test tiles when already at hand); without `baselines`
    it is the only one."""
    config, d = a.config, a.config.model.latent
    spaces = {f"VAE (latent {d})": {"train": readout(a.model, train.tiles),
                                    "test": readout(a.model, test.tiles) if vae_test is None else vae_test,
                                    "mse": reconstruction_mse(a.model, test.tiles)}}
    if not baselines:
        return spaces
    if "autoencoder" in a.comparisons:
        ae = a.comparisons["autoencoder"][0]
        seen = posterior(ae, test.tiles, mse=True)
        spaces[f"autoencoder ({config.train.comparison_steps} steps)"] = {
            "train": readout(ae, train.tiles), "test": readout(ae, test.tiles, codes=seen), "mse": seen["mse"]}
    torch.manual_seed(config.train.seed)  # the VAE's weights before its first step
    untrained = VAE(config.model, config.sampling.tile_size).to(memory_format=torch.channels_last).eval()
    spaces["untrained encoder"] = {"train": readout(untrained, train.tiles), "test": readout(untrained, test.tiles)}
    pca = pixel_pca(config, test, train, d)
    spaces[f"pixel PCA-{pca['test'].shape[1]}"] = {"train": pca["train"], "test": pca["test"], "mse": pca["test_mse"]}
    spaces["tile mean + std"] = {"train": trivial_features(train), "test": trivial_features(test)}
    spaces["texture statistics"] = {"train": texture_of(train, a.stats), "test": texture_of(test, a.stats)}
    return spaces


def texture_of(tiles: TileSet, stats) -> np.ndarray:
    """baselines.texture_features of standardised tiles (back in grey values)."""
    from islandvae.baselines import TileSet as Tiles

    grey = (tiles.tiles[:, 0] * stats.std + stats.mean).clamp(0, 255).numpy().astype(np.uint8)
    return texture_features(Tiles(tiles=grey, labels=np.array([]), brain_mean=np.array([]), brain_std=np.array([])))


def island_probe(train_x, train_island, train_kinds, test_x, test_island, test_kinds) -> dict:
    """The supervised ceiling: a linear probe on island descriptors (mean and spread of the tiles' features),
    trained on the training brains' islands, scored on the test islands (ARI and balanced accuracy, 95 %
    bootstrap intervals over test islands)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from islandvae.measures import linear

    have = np.unique(train_island[train_island >= 0])
    described = isl.describe(train_x, train_island)[have]
    probe = make_pipeline(StandardScaler(), linear()).fit(described, train_kinds[have])
    predicted = probe.predict(isl.describe(test_x, test_island))
    types = np.searchsorted(isl.TYPES, predicted)
    return isl.agreement(types, test_kinds)


# What the chapter says, from the result -------------------------------------------------------------------------

def finding_text(result: dict) -> str:
    """How the islands were found and, with truth, how well they match the true ones."""
    c, f = result["clusters"], result["found"]
    dense = ", ".join(f"{result['clusters']['density'][k]:.0f}" for k in c["island clusters"]) or "none"
    text = (f"The {result['grid']['tiles']:,} tissue tiles of the test brain ({result['grid']['tile']} px, stride "
            f"{result['grid']['stride']} px) fall into {c['k']} clusters by the lowest BIC. "
            f"The median tissue tile holds {c['tissue density']:.0f} cells per 10,000 px by the blob detector; "
            f"{len(c['island clusters'])} {'clusters hold' if len(c['island clusters']) != 1 else 'cluster holds'} "
            f"at least {isl.DENSE:g} times as many (median {dense}) and make the islands' cores; border tiles come "
            f"from clusters of at least {isl.MODERATE:g} times the density. ")
    if not f["islands"]:
        return text + "No island was found in the test brain, so there is nothing to type."
    text += (f"Of {f['candidates']} connected regions of such tiles, {f['islands']} ({f['tiles']:,} tiles) hold at least "
             f"{isl.DENSE_ISLAND:g} times the tissue's cell density on their own pixels and are the found islands.")
    if "match" in result:
        m = result["match"]
        text += (f" On the stand-in the truth has {m['true islands']} islands on the same grid: {100 * m['recall']:.0f} % "
                 f"of them are found (a found island holds at least half of their tiles), {100 * m['precision']:.0f} % "
                 f"of the found islands are mostly true island tiles, and the mean best overlap (intersection over "
                 f"union of tiles) is {m['overlap']:.2f}.")
    return text


def types_text(result: dict) -> str:
    """The number of types and why."""
    t = result["types"]
    if not t["bic"]:
        return (f"With {result['found']['islands']} islands there are too few to split into types "
                "(at least four per type are needed); they are described as one group.")
    bic = ", ".join(f"{k}: {float(v):,.0f}" for k, v in t["bic"].items())
    counts = np.bincount(t["type"], minlength=t["k"])
    text = (f"The BIC of the mixtures on the typing axis ({bic} for 1 to {len(t['bic'])} types) is lowest for "
            f"{t['k']} type{'s' * (t['k'] != 1)}")
    text += (": " + ", ".join(f"type {k + 1} with {n} islands" for k, n in enumerate(counts)) + "." if t["k"] > 1 else
             ": the islands do not split into types along the axis, and they are described as one group.")
    if result.get("found agreement"):
        a = result["found agreement"]
        text += (f" Against the truth (each found island named by the type most of its tiles have; "
                 f"{result['found islands without a true island']} found islands hold no true island tile and are "
                 f"left out), the found types agree at ARI {fmt(a['ari'])} and balanced accuracy "
                 f"{fmt(a['balanced accuracy'])}.")
    return text


def described_rows(result: dict) -> list[dict]:
    """The types' measures as table rows: 'mean [low, high]' per measure."""
    return [{"type": r["type"], "islands": r["islands"], **{m: fmt(r[m]) for m in MEASURES}}
            for r in result["described"]]


def differences_text(result: dict) -> str:
    """What distinguishes the types, from the measures: each pair of types, the measures whose intervals are
    apart, with the direction; the measures that do not separate them."""
    rows = result["described"]
    if len(rows) < 2:
        return "With one type there is no difference between types to describe; the table gives the islands' measures."
    words = {"cells / 10,000 px": ("denser", "sparser"), "cell diameter (px)": ("larger", "smaller"),
             "roundness": ("rounder", "less round")}
    parts = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            apart, same = [], []
            for m in MEASURES:
                (va, la, ha), (vb, lb, hb) = a[m], b[m]
                if la > hb or lb > ha:
                    apart.append(f"{words[m][0] if va > vb else words[m][1]} ({m} {va:.2f} against {vb:.2f})")
                else:
                    same.append(m)
            text = f"type {a['type']} against type {b['type']}: " + ("; ".join(apart) if apart else "no measure apart")
            if apart and same:
                text += f"; alike in {', '.join(same)}"
            parts.append(text)
    return ("Measured on the pixels of the islands' dense tiles (95 % intervals over islands), " + "; ".join(parts)
            + ". Differences count only where the intervals do not overlap.")


def measurable(result: dict) -> bool:
    """Whether the island-level scores say anything: the truth has islands of both types in the test brain."""
    return "island scores" in result and all(t > 0 for t in result["true islands"].values())


def not_measurable_text(result: dict) -> str:
    """Why there are no island-level scores."""
    counts = ", ".join(f"{n} {t}" for t, n in result.get("true islands", {}).items())
    return (f"The truth has {counts} islands in the test brain: with fewer than two types, agreement with the true "
            "types cannot be measured, so the island-level scores are left out (choose a test brain with both types).")


def scores_rows(result: dict) -> list[dict]:
    """The island-level scores table: per feature space, the types found, ARI, balanced accuracy, and the
    supervised ceiling's balanced accuracy."""
    return [{"features": name, "types found": v["types"], "ARI": fmt(v["ari"]),
             "balanced accuracy": fmt(v["balanced accuracy"]),
             "supervised ceiling": fmt(result["island ceilings"][name]["balanced accuracy"])}
            for name, v in result["island scores"].items()]


def island_verdict(result: dict) -> str:
    """Where the VAE stands against every baseline on the island-level scores (intervals decide)."""
    from islandvae.measures import verdict

    rows = [{"features": name, "island ARI": tuple(v["ari"]), "island balanced accuracy": tuple(v["balanced accuracy"])}
            for name, v in result["island scores"].items()]
    return verdict(rows, "VAE", [("island ARI", True), ("island balanced accuracy", True)])
