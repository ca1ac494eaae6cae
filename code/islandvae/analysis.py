"""Chapter 5's numbers: what the trained models' latent spaces know, computed once and cached beside the run.

`Analysis(config)` gathers the trained models (the main VAE, its snapshot at the comparison budget,
and the comparison runs), the fixed tile sets, latent means and baseline features. Heavy results
(embeddings, 2-D reductions, scores) are cached as files in the run folder, keyed by the checkpoints
they come from, so a re-render only reads them. Without a finished main run, `available` is False
and the chapter says how to train.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import torch

from islandvae.config import Config
from islandvae.latent import LABELS, TileSet, cached, embed, pixel_pca, tile_sets, trivial_features
from islandvae.measures import score_features
from islandvae.stats import cache_key, file_identity, training_stats, write_atomic
from islandvae.train import Run, comparison_configs, load_model, train


class Analysis:
    """The trained models of a config and their test-brain embeddings."""

    def __init__(self, config: Config, *, train_missing: bool = False):
        """`train_missing`: train comparison models that are missing (as `islandvae train --comparisons` does)."""
        self.config = config
        self.run = Run.of(config)
        self.available = self.run.best.is_file() and self.run.done(config)
        if not self.available:
            return
        self.stats = training_stats(config.data.path, config.data.test_brain, cache_dir=config.paths.cache,
                                    progress=False)
        self.model = load_model(self.run.best, config)
        self.test, self.train = tile_sets(config)
        self.latent = embed(self.model, self.run.best, self.test, self.train)
        self.comparisons = {}  # label -> (model, embeddings, checkpoint)
        # The main model at the comparison budget: its snapshot, or the model itself when the budget is its whole run.
        full = config.train.comparison_steps >= config.train.max_steps
        snapshot = self.run.best if full else self.run.snapshot(config.train.comparison_steps)
        budget = {f"latent {config.model.latent}": (config, snapshot)}
        budget |= {label: (c, Run.of(c).best) for label, c in comparison_configs(config).items()}
        for label, (c, path) in budget.items():
            if train_missing and c is not config and not Run.of(c).done(c):
                train(c, progress=False)
            if path.is_file():
                model = load_model(path, c)
                self.comparisons[label] = (model, embed(model, path, self.test, self.train), path)

    @property
    def has_truth(self) -> bool:
        return self.test.label is not None

    def pca(self, components: int | None = None) -> dict:
        """Pixel-PCA baseline with as many components as the latent (or `components`)."""
        return pixel_pca(self.config, self.test, self.train, components or self.config.model.latent)

    def reductions(self) -> dict:
        """PCA and UMAP (seeded) of the test latents to 2-D, and the trustworthiness of each."""
        from sklearn.decomposition import PCA
        from sklearn.manifold import trustworthiness
        from umap import UMAP

        def compute():
            x = self.latent["test"]
            pca = PCA(n_components=2, random_state=0).fit_transform(x)
            with warnings.catch_warnings():  # umap says that a seed means one thread: known, wanted
                warnings.filterwarnings("ignore", message="n_jobs value")
                umap = UMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit_transform(x)
            return {"pca": pca, "umap": umap, "trust_pca": np.array(trustworthiness(x, pca, n_neighbors=10)),
                    "trust_umap": np.array(trustworthiness(x, umap, n_neighbors=10))}
        return cached(self.run.folder / "reductions.npz", self._key("reduce-1"), compute)

    def _key(self, what: str) -> str:
        return cache_key(what, file_identity(self.run.best), len(self.test.keys))

    def measures(self) -> list[dict]:
        """The measures table: one row per feature space (cached as JSON beside the run)."""
        path = self.run.folder / "measures.json"
        paths = [self.run.best] + [p for _, _, p in self.comparisons.values()]
        key = cache_key("measures-1", [file_identity(p) for p in paths], len(self.test.keys))
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved["key"] == key:
                return [{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()} for r in saved["rows"]]
        d = self.config.model.latent
        pca = self.pca()
        spaces = [(f"VAE (latent {d})", self.latent)]
        if "autoencoder" in self.comparisons:
            spaces.append((f"autoencoder ({self.config.train.comparison_steps} steps)",
                           self.comparisons["autoencoder"][1]))
        spaces += [(f"pixel PCA-{pca['test'].shape[1]}", pca),
                   ("tile mean + std", {"train": trivial_features(self.train), "test": trivial_features(self.test)})]
        rows = [score_features(name, f["train"], f["test"], self.train, self.test, f.get("test_mse"))
                for name, f in spaces]
        write_atomic(path, json.dumps({"key": key, "rows": rows}).encode())
        return rows

    def latent_sizes(self) -> list[dict]:
        """Models of the same budget: test MSE, active units and (with truth) the linear-probe balanced accuracy."""
        from islandvae.measures import linear_probe

        rows = []
        for label, (model, latent, _) in self.comparisons.items():
            row = {"model": label, "latent": latent["test"].shape[1], "test MSE": float(latent["test_mse"].mean()),
                   "active units": int((latent["test"].var(0) > 0.01).sum())}
            if self.has_truth:
                row["linear probe"] = linear_probe(latent["train"], self.train.label, latent["test"], self.test.label)
            rows.append(row)
        return rows

    def midpoint_distances(self, pairs: int = 100, seed: int = 0) -> dict:
        """Decoded interpolation midpoints: distance to the nearest real test tile, against real tiles' own
        nearest-neighbour distance (RMS over pixels, standardised units)."""
        rng = np.random.default_rng(seed)
        x = self.test.tiles.flatten(1)
        a, b = rng.integers(0, len(x), pairs), rng.integers(0, len(x), pairs)
        z = torch.from_numpy((self.latent["test"][a] + self.latent["test"][b]) / 2)
        with torch.no_grad():
            mids = self.model.decoder(z).flatten(1)
            recon = self.model.decoder(torch.from_numpy(self.latent["test"][a])).flatten(1)
        def nearest(q, exclude=None):
            d = torch.cdist(q, x) / x.shape[1] ** 0.5
            if exclude is not None:
                d[torch.arange(len(q)), torch.from_numpy(exclude)] = float("inf")
            return d.min(1).values.numpy()
        return {"midpoint to nearest real": float(np.median(nearest(mids))),
                "reconstruction to nearest real": float(np.median(nearest(recon))),
                "real to nearest other real": float(np.median(nearest(x[a], exclude=a)))}

    def labels_present(self) -> list[str]:
        return [name for name in LABELS if self.has_truth and (self.test.label == name).any()]


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
        across = next((("granular to parvicellular island, different sections", int(g), int(p))
                       for g in gran for p in parv if image[g] != image[p]), None)
        if within and across:
            return [within, across]
    img = np.bincount(image).argmax()
    own = np.flatnonzero(image == img)
    other = np.flatnonzero(image != img)
    pairs = [("darkest to brightest tile, same section", int(own[grey[own].argmin()]), int(own[grey[own].argmax()]))]
    if len(other):
        pairs.append(("darkest tile to the brightest of another section", int(own[grey[own].argmin()]),
                      int(other[grey[other].argmax()])))
    return pairs


def find_clusters(latent: np.ndarray, *, k_range=range(2, 9), seed: int = 0) -> dict:
    """Gaussian mixtures on the first 10 principal components of the standardised latent means, k by lowest BIC;
    k-means with the same k for comparison. Returns k, the BIC per k, and both assignments."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(latent)
    x = PCA(n_components=min(10, x.shape[1]), random_state=seed).fit_transform(x)
    bic = {k: GaussianMixture(k, covariance_type="full", random_state=seed).fit(x).bic(x) for k in k_range}
    k = min(bic, key=bic.get)
    gmm = GaussianMixture(k, covariance_type="full", random_state=seed).fit(x).predict(x)
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    return {"k": k, "bic": bic, "gmm": gmm, "kmeans": kmeans}


def cluster_table(clusters: np.ndarray, test: TileSet) -> list[dict]:
    """Per cluster: tiles, mean grey value, and (with truth) the share of each label."""
    rows = []
    for c in np.unique(clusters):
        members = clusters == c
        row = {"cluster": int(c), "tiles": int(members.sum()), "mean grey": float(test.grey[members].mean())}
        if test.label is not None:
            for label in (*LABELS, "ambiguous", "background"):
                row[f"{label} %"] = 100 * float((test.label[members] == label).mean())
        rows.append(row)
    return rows


def island_clusters(rows: list[dict]) -> str:
    """A sentence per island type naming the clusters where that type is the most common label."""
    if not rows or "granular %" not in rows[0]:
        return "Without a truth file, the clusters cannot be matched to island types; they are described by their tiles."
    parts = []
    for label in ("granular", "parvicellular"):
        best = max(rows, key=lambda r: r[f"{label} %"])
        share = best[f"{label} %"]
        if share == 0:
            parts.append(f"no test tile is labelled {label}")
            continue
        parts.append(f"{label} islands are most concentrated in cluster {best['cluster']} ({share:.0f} % of its "
                     f"{best['tiles']} tiles)")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
