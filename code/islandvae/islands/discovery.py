"""Finding island types automatically (chapter 5): islands found from the latent space, typed, described, scored.

On the test brain, with or without truth:
1. every tissue tile on a grid of half-tile stride is described by the VAE's posterior (latent.readout);
2. islands are found from those descriptions (islands.find_islands): clusters of tiles, the clusters whose
   cells are clearly denser than the section's tissue (by rank, counted on every tile's pixels), connected
   regions of such tiles grown by one ring of moderately dense tiles (with islands.starts, several clusterings vote);
3. islands at the section's edge are set apart; the others are typed from their dense tiles, described by the
   readout pooled over each tile's 8 orientations (types.island_types, the number of types the smallest
   within a BIC margin of the best, as most resamples of whole sections choose it);
4. each type is described on the pixels: cell density, cell size and roundness per island (morphology.py),
   with 95 % bootstrap intervals over the type's islands; every found island goes into a catalogue
   (results/islands-<config>.csv: where, how large, which type, its cells).
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
import time
from pathlib import Path

import numpy as np

from islandvae.caches import cached, cached_json
from islandvae.data.stats import cache_key, data_identity, file_identity
from islandvae.data.truth import TruthFile, truth_path
from islandvae.errors import UserError
from islandvae.files import show, write_atomic
from islandvae.islands.catalogue import catalogue_csv, catalogue_path, describe_types
from islandvae.islands.features import enriched_sets, feature_spaces, features_of, island_probe, test_picks
from islandvae.islands.finder import edge_islands, empty_images, find_islands, majority_types, match_found
from islandvae.islands.grid import TYPES, Grid, grid_measures, tissue_grid, true_islands
from islandvae.islands.morphology import blob_sigma, detector_scale
from islandvae.islands.records import Clusters, Found, GridSize, IslandResult, Sections, TruthScores, Typing
from islandvae.islands.sections import island_sections, ordinary_tiles, section_confound, tissue_statistics
from islandvae.islands.types import BIC_MARGIN, agreement, describe, island_types
from islandvae.latent.analysis import Analysis
from islandvae.latent.measures import score_features
from islandvae.model.runs import Run, typing_config
from islandvae.tiles.tissue import tissue_map

VERSION = "discovery-7"


def scores_path(config) -> Path:
    """runs/<config>/islands.json: the island-level scores of every feature space (stand-in only)."""
    return Run.of(config).folder / "islands.json"


def discovery_key(config, *, baselines: bool = True) -> str:
    """What the island pipeline depends on: the main and autoencoder checkpoints, the data and the settings."""
    from islandvae.latent.analysis import budget_models

    typing = typing_config(config)  # the model the islands are typed on, where it is not the main one
    paths = [Run.of(config).best] + [p for label, (_, p) in budget_models(config).items() if label == "autoencoder"]
    paths += [Run.of(typing).best] if typing else []
    return cache_key(
        VERSION,
        [file_identity(p) for p in paths if p.is_file()],
        data_identity(config.data.path),
        config.data.test_brain,
        config.sampling.tile_size,
        config.train.seed,
        source_digest(),
        baselines,
        config.islands.typing,
        config.islands.starts,
    )


def source_digest() -> str:
    """A hash of the code the pipeline runs: a changed module recomputes it instead of showing stale numbers."""
    import hashlib

    from islandvae import bootstrap
    from islandvae.islands import catalogue, finder, grid, morphology, records, sections, types
    from islandvae.islands import features as island_features
    from islandvae.latent import baselines, measures
    from islandvae.latent import codes as latent

    digest = hashlib.sha1()
    modules = (
        finder,
        grid,
        types,
        sections,
        island_features,
        catalogue,
        morphology,
        measures,
        latent,
        baselines,
        bootstrap,
        records,
    )
    for path in [Path(m.__file__) for m in modules] + [Path(__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def pooled_features(a: Analysis, model, grid: Grid, tiles: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Per grid tile, `model`'s readout of `a`'s test images pooled over 8 orientations for `tiles` (zeros
    elsewhere); `first`: the one-view readout of every grid tile by the same model, where it is at hand."""
    keys, first = [grid.keys[t] for t in tiles], None if first is None else first[tiles]
    some = features_of(model, a.test_images, keys, a.stats, pooled=True, first=first)
    out = np.zeros((len(grid), some.shape[1]), dtype=np.float32)
    out[tiles] = some
    return out


def read_discovery(config, *, baselines: bool = True) -> IslandResult | None:
    """The cached result when it belongs to the config's present checkpoints, else None (loads nothing else)."""
    saved = cached_json(Run.of(config).folder / "discovery.json", discovery_key(config, baselines=baselines))
    return None if saved is None else IslandResult.from_json(saved)


class Discovery:
    """The island pipeline of one config's trained models."""

    def __init__(self, analysis: Analysis, *, baselines: bool = True, progress=None):
        """`baselines`: score every baseline beside the VAE (False: the VAE alone, as the lever runs need);
        `progress`: called with a line as each part of a computation ends (minutes at the course file's scale)."""
        self.progress, self._tick = progress or (lambda line: None), time.perf_counter()
        self.a = analysis
        self.config = analysis.config
        self.folder = analysis.run.folder
        self.baselines = baselines
        if self.config.islands.starts < 1:
            where = show(self.config.source) if self.config.source else "the config file"
            raise UserError(f"islands.starts must be at least 1, got {self.config.islands.starts}; fix it in {where}")
        self.key = discovery_key(self.config, baselines=baselines)

    def result(self) -> IslandResult:
        """Everything the chapter reports (computed once, then read from discovery.json); the island catalogue
        is written beside the other results whenever it is missing or belongs to other results."""
        saved = cached_json(self.folder / "discovery.json", self.key, lambda: self._compute().to_json())
        result = IslandResult.from_json(saved)
        path = catalogue_path(self.config)
        table = catalogue_csv(self.a.test_images.infos(), self.arrays(), result)
        if not path.is_file() or path.read_bytes() != table:  # missing, or from earlier results
            write_atomic(path, table)
        return result

    def arrays(self) -> dict:
        """Per grid tile: image, row, column, grid place, cluster, found island, core flag, true island, label."""
        return cached(self.folder / "discovery.npz", self.key, lambda: self._grid_arrays()[0])

    # The computation ------------------------------------------------------------------------------------------

    def _done(self, what: str) -> None:
        """Tell `progress` that a part of the computation ended, with its seconds."""
        now = time.perf_counter()
        self.progress(f"{what} ({now - self._tick:.0f} s)")
        self._tick = now

    def _grid_arrays(self) -> tuple[dict, Grid, np.ndarray]:
        a, s = self.a, self.config.sampling.tile_size
        self._tick = time.perf_counter()
        truth = TruthFile(truth_path(self.config.data.path)) if a.has_truth else None
        try:
            grid = tissue_grid(
                a.test_images.infos(), tissue_map(a.test_images, a.stats), tile=s, stride=max(s // 2, 1), truth=truth
            )
        finally:
            if truth is not None:
                truth.close()
        self._done(f"the test brain's grid: {len(grid):,} tissue tiles on {len(grid.infos)} images")
        features = features_of(a.model, a.test_images, grid.keys, a.stats)
        self._done("every grid tile encoded")
        sigma = blob_sigma(a.test_images)
        scale = detector_scale(sigma)  # the blob detector's sizes follow the data's cells
        measures = grid_measures(grid, a.test_images, scale)
        self._done("cells counted on every grid tile")
        seed, starts = self.config.train.seed, self.config.islands.starts
        found = find_islands(grid, features, a.test_images, seed=seed, measures=measures, scale=scale, starts=starts)
        self._done(f"{int(found['island'].max()) + 1} islands found")
        true = true_islands(grid)[0] if grid.label is not None else np.full(len(grid), -1)
        arrays = {
            "image": grid.image,
            "row": np.array([k[2] for k in grid.keys], dtype=int),
            "col": np.array([k[3] for k in grid.keys], dtype=int),
            "gy": grid.gy,
            "gx": grid.gx,
            "cluster": found["cluster"],
            "island": found["island"],
            "core": found["core"],
            "true": true,
            "label": grid.label if grid.label is not None else np.full(len(grid), "", dtype=str),
            "features": features.astype(np.float32),
            "measures": measures.astype(np.float32),
            "tissue_px": grid.tissue_px,
            "blob": np.array([sigma, scale]),
        }
        return arrays, grid, found

    def _compute(self) -> IslandResult:
        arrays, grid, found = self._grid_arrays()
        cached(self.folder / "discovery.npz", self.key, lambda: arrays)
        island, core = arrays["island"], arrays["core"]
        edge = edge_islands(grid, island)
        # The types from the core tiles' readout pooled over their 8 orientations (the lever that types best), of
        # the model islands.typing names; the main model's pooled readout also for the scored tiles, with truth.
        typed = np.flatnonzero(core & (island >= 0))
        rng = np.random.default_rng(self.config.sampling.seed)  # draws the scored plain tiles, then the training ones
        picks = test_picks(rng, grid, arrays["true"]) if grid.label is not None else None
        model, main = self.a.typing_model, self.a.model
        if model is None:
            raise UserError(
                f"config {self.config.name}: islands.typing = {self.config.islands.typing!r} types the islands on "
                f"{show(Run.of(typing_config(self.config)).folder)}, which has no finished run; run `make train` first"
            )
        need = typed if model is main else np.array([], dtype=int)
        need = np.union1d(need, picks[0]) if picks is not None else need
        pooled = pooled_features(self.a, main, grid, need, arrays["features"])
        features = pooled if model is main else pooled_features(self.a, model, grid, typed)
        self._done(f"{len(np.union1d(typed, need)):,} core and scored tiles encoded in 8 orientations")
        section = island_sections(grid, island)
        cores, seed = np.where(core, island, -1), self.config.train.seed
        typing = island_types(features, cores, seed=seed, spread=True, typed=~edge, sections=section)
        statistics = tissue_statistics(  # each section's ordinary tissue, measured away from the islands
            grid, self.a.test_images, ordinary_tiles(grid, island), seed=self.config.sampling.seed
        )
        self._done(f"islands typed ({typing['k']} types) and the sections' tissue measured")
        out = IslandResult(
            grid=GridSize(tiles=len(grid), images=len(grid.infos), tile=grid.tile, stride=grid.stride),
            clusters=Clusters(
                k=len(found["density"]),
                density=found["density"],
                rank=found["rank"],
                tiles=np.bincount(found["cluster"], minlength=len(found["density"])).tolist(),
                island_clusters=[int(c) for c in found["island clusters"]],
                tissue_density=found["tissue density"],
                threshold=found["threshold"],
                starts=self.config.islands.starts,
            ),
            found=Found(
                islands=int(island.max() + 1),
                tiles=int((island >= 0).sum()),
                candidates=found["candidates"],
                set_apart=int(edge.sum()),
            ),
            types=Typing(
                k=typing["k"],
                bic=typing["bic"],
                type=typing["type"].tolist(),
                axis=typing["axis"].tolist(),
                margin=BIC_MARGIN,
                bic_spread=typing.get("bic spread", {}),
                k_chosen=typing.get("k chosen", {}),
                k_rule=typing["k rule"],
                k_over_sections=typing["k over sections"],
            ),
            morphology=found["morphology"],
            blob_scale={"sigma": float(arrays["blob"][0]), "scale": float(arrays["blob"][1])},
            described=describe_types(found["morphology"], typing["type"], typing["k"]),
            sections=Sections(
                statistics=statistics.tolist(),
                section=section.tolist(),
                found=section_confound(  # whether the types follow the sections
                    describe(features, cores),
                    typing["axis"],
                    typing["type"],
                    section,
                    statistics,
                    seed=self.config.train.seed,
                ),
            ),
        )
        if grid.label is not None:
            out.truth = self._truth_scores(grid, arrays, typing, pooled, picks, rng, statistics)
        return out

    def _truth_scores(
        self,
        grid: Grid,
        arrays: dict,
        typing: dict,
        pooled: np.ndarray,
        picks: tuple,
        rng: np.random.Generator,
        statistics: np.ndarray,
    ) -> TruthScores:
        a, config = self.a, self.config
        true, kinds = true_islands(grid)
        found = arrays["island"]
        majority = majority_types(found, grid.label)
        known = (majority != "") & (np.array(typing["type"]) >= 0)  # islands set apart have no type to score
        out = TruthScores(
            match=match_found(found, true) | empty_images(grid, found),
            true_islands={t: int((kinds == t).sum()) for t in TYPES},
            found_agreement=(
                agreement(np.array(typing["type"])[known], majority[known]) if len(set(majority[known])) > 1 else None
            ),
            without_true_island=int((majority == "").sum()),
        )
        test, train, train_island, train_kinds, picked = enriched_sets(config, a, grid, picks, rng)
        self._done(f"island-enriched tiles cut: {len(test.tiles):,} of the test brain, {len(train.tiles):,} training")
        spaces = feature_spaces(
            a,
            test,
            train,
            vae_test=arrays["features"][picked],
            pooled_test=pooled[picked],
            baselines=self.baselines,
            scale=float(arrays["blob"][1]),
            progress=self._done,
        )
        out.measures = [
            score_features(name, f["train"], f["test"], train, test, f.get("mse")) for name, f in spaces.items()
        ]
        self._done(f"{len(spaces)} feature spaces' tile-level measures")
        island_of_test = np.where(test.group < len(kinds), test.group, -1)  # plain tiles carry group ids >= islands
        true_sections = island_sections(grid, true)
        scores, ceilings, confounds = {}, {}, {}
        for name, f in spaces.items():
            types = island_types(f["test"], island_of_test, seed=config.train.seed, sections=true_sections)
            scores[name] = agreement(types["type"], kinds) | {"types": types["k"]}
            ceilings[name] = island_probe(f["train"], train_island, train_kinds, f["test"], island_of_test, kinds)
            confounds[name] = section_confound(
                describe(f["test"], island_of_test),
                types["axis"],
                types["type"],
                true_sections,
                statistics,
                seed=config.train.seed,
            )
        out.island_scores, out.island_ceilings, out.island_sections = scores, ceilings, confounds
        self._done("every feature space's typing of the true islands and its supervised ceiling")
        vae = next(iter(spaces))
        table = {
            name: {"ari": list(v["ari"]), "balanced accuracy": list(v["balanced accuracy"])}
            for name, v in scores.items()
        }
        table[f"supervised island probe, {vae}"] = {k: list(ceilings[vae][k]) for k in ("ari", "balanced accuracy")}
        if self.baselines:  # islands.json holds the whole comparison
            write_atomic(scores_path(config), json.dumps(table, indent=1).encode())
        return out
