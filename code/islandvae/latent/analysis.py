"""Chapter 5's numbers: what the trained models' latent spaces show of the test brain, computed once and cached.

`Analysis(config)` gathers the trained models (the main VAE, its snapshot at the comparison budget, and the
comparison runs), the test brain's images and fixed tiles, and their latent means. Everything heavy (the
embeddings, 2-D reductions, midpoint distances, latent-size probes, and the island pipeline of islands/discovery.py)
is cached as files in the run folder, keyed by the checkpoints it comes from and what defines the tile sets,
so `make analysis` computes them and a render only reads them: no training brain is read when the caches
are there. Without a finished main run, `available` is False and the chapter says how to train.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch

from islandvae.caches import cached, cached_json
from islandvae.config import Config
from islandvae.data.hdf5 import InMemoryImages
from islandvae.data.stats import cache_key, file_identity, training_stats
from islandvae.latent.codes import (
    LABELS,
    TileSet,
    embed,
    on_cpu,
    sets_key,
    test_tiles,
    train_tiles,
)
from islandvae.model.device import pick_device
from islandvae.model.runs import Run, comparison_configs, typing_config
from islandvae.model.train import load_model, train

UMAP_EXACT = 4096  # below this many points UMAP computes every pairwise distance (umap_.py), above it approximates


class Analysis:
    """The trained models of a config and their test-brain embeddings."""

    def __init__(self, config: Config, *, train_missing: bool = False):
        """`train_missing`: train comparison models that are missing (as `islandvae train --comparisons` does)."""
        self.config = config
        self.run = Run.of(config)
        self.available = self.run.best.is_file() and self.run.done(config)
        if not self.available:
            return
        self.stats = training_stats(
            config.data.path, config.data.test_brain, cache_dir=config.paths.cache, progress=False
        )
        self.device = pick_device(config)  # every encoder pass of the analysis runs there (latent.codes.posterior)
        self.model = load_model(self.run.best, config, self.device)
        self.test_images = InMemoryImages(config.data.path, [config.data.test_brain], progress=False)
        self.test = test_tiles(config, self.test_images, self.stats)
        self.train_missing = train_missing

    @functools.cached_property
    def latent(self) -> dict:
        """The main model's latent means of the test and training tiles, and its test reconstruction MSE."""
        return embed(self.config, self.model, self.run.best, self.test, lambda: self.train)

    @functools.cached_property
    def comparisons(self) -> dict:
        """The models at the comparison budget: label -> (model, embeddings, checkpoint) for those trained (and,
        with train_missing, the missing ones trained first)."""
        out = {}
        for label, (c, path) in budget_models(self.config).items():
            if self.train_missing and c is not self.config and not Run.of(c).done(c):
                train(c, progress=False)
            if path.is_file():
                model = load_model(path, c, self.device)
                out[label] = (model, embed(c, model, path, self.test, lambda: self.train), path)
        return out

    @functools.cached_property
    def typing_model(self):
        """The model the found islands are typed on (islands.typing): the main one, or the one trained with imaging
        augmentation (trained first with train_missing; None while its run is unfinished). Same data and tiles."""
        other = typing_config(self.config)
        if other is None:
            return self.model
        run = Run.of(other)
        if self.train_missing and not run.done(other):
            train(other, progress=False)
        return load_model(run.best, other, self.device) if run.best.is_file() and run.done(other) else None

    @functools.cached_property
    def train(self) -> TileSet:
        """The fixed training-brain tiles, read from the file when a cache needs them."""
        return train_tiles(self.config, self.stats)

    @property
    def has_truth(self) -> bool:
        return self.test.label is not None

    def _key(self, what: str, *more) -> str:
        return cache_key(what, file_identity(self.run.best), sets_key(self.config), *more)

    def reductions(self) -> dict:
        """PCA and UMAP (seeded) of the test latents to 2-D, and the trustworthiness of each."""
        from sklearn.decomposition import PCA
        from sklearn.manifold import trustworthiness
        from umap import UMAP

        def compute():
            x = self.latent["test"]
            pca = PCA(n_components=2, random_state=0).fit_transform(x)
            with warnings.catch_warnings():  # umap says that a seed means one thread, and that a precomputed
                warnings.filterwarnings("ignore", message="n_jobs value")  # metric has no inverse: known, wanted
                warnings.filterwarnings("ignore", message="using precomputed metric")
                small = len(x) < UMAP_EXACT  # UMAP's own exact path, compiled; above it UMAP's approximate one
                umap = UMAP(
                    n_neighbors=15, min_dist=0.1, random_state=0, metric="precomputed" if small else "euclidean"
                ).fit_transform(umap_distances(x) if small else x)
            return {
                "pca": pca,
                "umap": umap,
                "trust_pca": np.array(trustworthiness(x, pca, n_neighbors=10)),
                "trust_umap": np.array(trustworthiness(x, umap, n_neighbors=10)),
            }

        return cached(self.run.folder / "reductions.npz", self._key("reduce-2"), compute)

    def latent_sizes(self) -> list[dict]:
        """Models of the same budget: test MSE, active units and (with truth) the linear-probe balanced accuracy."""
        from islandvae.latent.measures import linear_probe

        def compute():
            rows = []
            for label, (_, latent, _) in self.comparisons.items():
                row = {
                    "model": label,
                    "latent": int(latent["test"].shape[1]),
                    "test MSE": float(latent["test_mse"].mean()),
                    "active units": int((latent["test"].var(0) > 0.01).sum()),
                }
                if self.has_truth:
                    row["linear probe"] = linear_probe(
                        latent["train"], self.train.label, latent["test"], self.test.label
                    )
                rows.append(row)
            return rows

        paths = [file_identity(p) for _, p in budget_models(self.config).values() if p.is_file()]  # no model loaded
        return cached_json(self.run.folder / "latent-sizes.json", self._key("sizes-1", paths), compute)

    def midpoint_distances(self, pairs: int = 100, seed: int = 0) -> dict:
        """Decoded interpolation midpoints: distance to the nearest real test tile, against real tiles' own
        nearest-neighbour distance (RMS over pixels, standardised units)."""

        def compute():
            rng = np.random.default_rng(seed)
            x = self.test.tiles.flatten(1)
            a, b = rng.integers(0, len(x), pairs), rng.integers(0, len(x), pairs)
            model = on_cpu(self.model)
            with torch.no_grad():
                mids = model.decode(*midpoints(model, self.test.tiles[a], self.test.tiles[b])).flatten(1)
                recon = model(self.test.tiles[a])[0].flatten(1)

            def nearest(q, exclude=None):
                d = torch.cdist(q, x) / x.shape[1] ** 0.5
                if exclude is not None:
                    d[torch.arange(len(q)), torch.from_numpy(exclude)] = float("inf")
                return d.min(1).values.numpy()

            return {
                "midpoint to nearest real": float(np.median(nearest(mids))),
                "reconstruction to nearest real": float(np.median(nearest(recon))),
                "real to nearest other real": float(np.median(nearest(x[a], exclude=a))),
            }

        return cached_json(self.run.folder / "midpoints.json", self._key("mid-1", pairs, seed), compute)

    def labels_present(self) -> list[str]:
        return [name for name in LABELS if self.has_truth and (self.test.label == name).any()]


def umap_distances(x: np.ndarray) -> np.ndarray:
    """All pairwise distances of `x` exactly as UMAP computes them itself for fewer than UMAP_EXACT points (its own
    Euclidean distance, stored in the input's float type), but in one compiled loop: UMAP hands its distance to
    scikit-learn one pair at a time from Python, which took 15-25 s of the 3,000 test tiles' map on 2 cores.
    The map from these is the one UMAP makes from `x` (tests/test_analysis.py)."""
    import numba
    from umap.distances import euclidean

    @numba.njit
    def pairs(x, out):
        for i in range(x.shape[0]):
            for j in range(i + 1, x.shape[0]):
                out[i, j] = out[j, i] = euclidean(x[i], x[j])
        return out

    x = np.ascontiguousarray(x)
    return pairs(x, np.zeros((len(x), len(x)), dtype=x.dtype if x.dtype == np.float32 else np.float64))


def midpoints(model, a: torch.Tensor, b: torch.Tensor):
    """Latent midpoints of tile pairs, with the mean of the pairs' tile moments (for decode)."""
    from islandvae.model.vae import tile_moments

    za, zb = model.encode(a)[0], model.encode(b)[0]
    (ma, sa), (mb, sb) = tile_moments(a), tile_moments(b)
    return (za + zb) / 2, (ma + mb) / 2, (sa + sb) / 2


def budget_models(config: Config) -> dict[str, tuple[Config, Path]]:
    """Chapter 5's models at the comparison budget: label -> (config, checkpoint). The main model's entry is its
    snapshot at that step, or its best checkpoint when the budget is its whole run."""
    run = Run.of(config)
    full = config.train.comparison_steps >= config.train.max_steps
    main = run.best if full else run.snapshot(config.train.comparison_steps)
    budget = {f"latent {config.model.latent}": (config, main)}
    return budget | {label: (c, Run.of(c).best) for label, c in comparison_configs(config).items()}


def pick_pairs(test: TileSet) -> list[tuple[str, int, int]]:
    """Two pairs of test tiles for interpolation: (why, index a, index b), one within an image, one across images.

    With truth: an island tile and a plain tile of the same image; a granular and a parvicellular tile
    of different images. Without: the darkest and the brightest tile of one image, and of two images.
    """
    label, image, grey = test.label, test.image, test.grey
    if label is not None:
        for img in np.unique(image):
            isl = np.flatnonzero((image == img) & np.isin(label, ["granular", "parvicellular"]))
            pln = np.flatnonzero((image == img) & (label == "plain"))
            if len(isl) and len(pln):
                within = ("island to plain tissue, same section", int(isl[0]), int(pln[0]))
                break
        else:
            within = None
        gran, parv = np.flatnonzero(label == "granular"), np.flatnonzero(label == "parvicellular")
        across = next(
            (
                ("granular to parvicellular island, different sections", int(g), int(p))
                for g in gran
                for p in parv
                if image[g] != image[p]
            ),
            None,
        )
        if within and across:
            return [within, across]
    img = np.bincount(image).argmax()
    own = np.flatnonzero(image == img)
    other = np.flatnonzero(image != img)
    pairs = [("darkest to brightest tile, same section", int(own[grey[own].argmin()]), int(own[grey[own].argmax()]))]
    if len(other):
        pairs.append(
            (
                "darkest tile to the brightest of another section",
                int(own[grey[own].argmin()]),
                int(other[grey[other].argmax()]),
            )
        )
    return pairs
