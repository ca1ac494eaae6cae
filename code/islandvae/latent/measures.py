"""What a feature space (VAE latent, autoencoder latent, pixel PCA, tile brightness) knows about the tiles.

Every score is computed on the test brain, from features fitted or trained on the training brains
only, with a 95 % bootstrap interval over the test set's units (islands, and the plain tiles of each image,
on the island-enriched tiles; images otherwise): tiles of one island are not independent. Two scores whose
intervals overlap are reported as a tie.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import balanced_accuracy_score, silhouette_score
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from islandvae.bootstrap import bootstrap
from islandvae.latent.codes import LABELS

NEIGHBOURS = 15
WIDE = 256  # linear_probe: wider features are reduced to this many principal components first


def linear():
    """The linear probe: linear discriminant analysis with shrinkage (closed form, fast, regularised)."""
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")


def codes(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays' values as shared integer codes in the sorted order of the values: a bootstrap's thousands of
    np.unique calls then sort integers, not strings, and every score comes out the same."""
    _, inverse = np.unique(np.concatenate([np.asarray(a).ravel() for a in arrays]), return_inverse=True)
    return np.split(inverse.ravel(), np.cumsum([len(a) for a in arrays])[:-1])


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the true classes present of the share predicted right (sklearn's balanced accuracy, without its
    per-call checks: a bootstrap calls it thousands of times)."""
    classes, truth_codes = np.unique(truth, return_inverse=True)
    hits = np.bincount(truth_codes, weights=(truth == predicted), minlength=len(classes))
    return float(np.mean(hits / np.bincount(truth_codes, minlength=len(classes))))


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts (classes of a, classes of b) of the pairs (a_i, b_i), classes in sorted order."""
    classes, ia = np.unique(a, return_inverse=True)
    clusters, ib = np.unique(b, return_inverse=True)
    return np.bincount(ia * len(clusters) + ib, minlength=len(classes) * len(clusters)).reshape(
        len(classes), len(clusters)
    )


def adjusted_rand(truth: np.ndarray, predicted: np.ndarray) -> float:
    """The adjusted Rand index, with scikit-learn's formula on the pair counts (exact integers), without its
    per-call checks (tests/test_analysis.py checks that the two agree)."""
    table = contingency(truth, predicted).astype(np.int64)
    n = int(table.sum())
    squares = int((table**2).sum())
    rows, cols = table.sum(1), table.sum(0)
    tp = squares - n
    fp = int(table.dot(cols).sum()) - squares
    fn = int(table.T.dot(rows).sum()) - squares
    tn = n**2 - fp - fn - squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def normalised_mutual_information(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mutual information over the mean of the two entropies, computed as scikit-learn does (same order of
    operations), without its per-call checks."""
    table = contingency(truth, predicted).astype(np.float64)
    if table.shape[0] == table.shape[1] == 1 or table.size == 0:
        return 1.0
    rows, cols = table.sum(1), table.sum(0)
    if len(rows) == 1 or len(cols) == 1:
        return 0.0
    i, j = np.nonzero(table)
    values, total = table[i, j], table.sum()
    share = values / total
    outer = rows.take(i).astype(np.int64) * cols.take(j).astype(np.int64)
    terms = share * (np.log(values) - math.log(total)) + share * (
        -np.log(outer) + math.log(rows.sum()) + math.log(cols.sum())
    )
    terms = np.where(np.abs(terms) < np.finfo(terms.dtype).eps, 0.0, terms)
    mi = float(np.clip(terms.sum(), 0.0, None))
    if mi == 0:
        return 0.0
    return float(mi / np.mean([_entropy(rows), _entropy(cols)]))


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0]
    if counts.size == 1:
        return 0.0
    total = np.sum(counts)
    return float(-np.sum((counts / total) * (np.log(counts) - math.log(total))))


def labelled(labels: np.ndarray | None) -> np.ndarray:
    """Indices of tiles whose label is one of LABELS."""
    return np.flatnonzero(np.isin(labels, LABELS)) if labels is not None else np.array([], dtype=int)


def probes(train_x, train_y, test_x, test_y, test_images) -> dict:
    """Balanced accuracy of a linear probe and of k-nearest neighbours, trained on training-brain tiles."""
    tr, te = labelled(train_y), labelled(test_y)
    out = {}
    # Distances (kNN, k-means) use the features in their own units: standardising would blow up the
    # low-variance, mostly-noise directions of PCA features to the weight of the leading ones.
    for name, clf in (
        ("linear probe", make_pipeline(StandardScaler(), linear())),
        ("kNN", KNeighborsClassifier(n_neighbors=NEIGHBOURS)),
    ):
        clf.fit(train_x[tr], train_y[tr])
        predicted, truth = codes(clf.predict(test_x[te]), test_y[te])
        out[name] = bootstrap(lambda i: balanced_accuracy(truth[i], predicted[i]), test_images[te])
    islands = ("granular", "parvicellular")
    tr, te = np.flatnonzero(np.isin(train_y, islands)), np.flatnonzero(np.isin(test_y, islands))
    if len(set(train_y[tr])) == 2 and len(set(test_y[te])) == 2:
        clf = make_pipeline(StandardScaler(), linear()).fit(train_x[tr], train_y[tr])
        predicted, truth = codes(clf.predict(test_x[te]), test_y[te])
        out["island type"] = bootstrap(lambda i: balanced_accuracy(truth[i], predicted[i]), test_images[te])
    return out


def linear_probe(train_x, train_y, test_x, test_y) -> float:
    """Balanced accuracy of the linear probe alone (no interval), for quick comparisons; features wider than
    WIDE are first reduced to their WIDE leading principal components (the probe's cost grows with the cube
    of the width)."""
    from sklearn.decomposition import PCA

    tr, te = labelled(train_y), labelled(test_y)
    steps = [StandardScaler()] + ([PCA(WIDE, random_state=0)] if train_x.shape[1] > WIDE else []) + [linear()]
    clf = make_pipeline(*steps).fit(train_x[tr], train_y[tr])
    with warnings.catch_warnings():  # a test brain may lack a label the probe predicts
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(test_y[te], clf.predict(test_x[te])))


def clustering(test_x, test_y, test_images, *, seed: int = 0) -> dict:
    """k-means with k = number of labels on the test tiles: ARI and NMI against the labels; label silhouette."""
    te = labelled(test_y)
    x, (truth,) = test_x[te], codes(test_y[te])
    clusters = KMeans(n_clusters=len(LABELS), n_init=10, random_state=seed).fit_predict(x)
    out = {
        "k-means ARI": bootstrap(lambda i: adjusted_rand(truth[i], clusters[i]), test_images[te]),
        "k-means NMI": bootstrap(lambda i: normalised_mutual_information(truth[i], clusters[i]), test_images[te]),
    }
    sub = np.random.default_rng(seed).permutation(len(te))[:1000]  # silhouette is quadratic in the tiles
    out["silhouette"] = bootstrap(lambda i: silhouette_score(x[sub][i], truth[sub][i]), test_images[te][sub], reps=50)
    return out


def brain_leakage(train_x, train_brain, *, seed: int = 0) -> tuple[float, float, float]:
    """5-fold cross-validated accuracy of a linear probe that predicts the training brain (lower: less leakage)."""
    clf = make_pipeline(StandardScaler(), linear())
    scores = cross_val_score(clf, train_x, train_brain, cv=5)
    return float(scores.mean()), float(scores.min()), float(scores.max())


def score_features(name: str, train_x, test_x, train, test, mse: np.ndarray | None) -> dict:
    """One row of the measures table for one feature space."""
    row = {"features": name}
    if mse is not None:
        row["recon MSE"] = bootstrap(lambda i: float(mse[i].mean()), test.unit)
    if test.label is not None:
        row |= probes(train_x, train.label, test_x, test.label, test.unit)
        row |= clustering(test_x, test.label, test.unit)
    row["brain probe"] = brain_leakage(train_x, train.brain)
    return row


def fmt(value) -> str:
    """A score with its interval, '0.82 [0.78, 0.86]'; plain numbers and text as they are."""
    if isinstance(value, (tuple, list)):
        return f"{value[0]:.2f} [{value[1]:.2f}, {value[2]:.2f}]"
    return value if isinstance(value, str) else f"{value:.3f}"


def compare(rows: list[dict], measure: str, higher_is_better: bool = True) -> str:
    """A sentence naming the best feature space for one measure, or the tie when intervals overlap."""
    scored = [r for r in rows if measure in r]
    if not scored:
        return ""
    best = max(scored, key=lambda r: r[measure][0] if higher_is_better else -r[measure][0])
    ties = [
        r["features"]
        for r in scored
        if r is not best
        and (r[measure][2] >= best[measure][1] if higher_is_better else r[measure][1] <= best[measure][2])
    ]
    if ties:
        return (
            f"{measure}: {best['features']} is best ({best[measure][0]:.2f}), tied within the intervals with "
            f"{', '.join(ties)}."
        )
    return f"{measure}: {best['features']} is best ({best[measure][0]:.2f}), outside the others' intervals."


def verdict(rows: list[dict], name: str, measures: list[tuple[str, bool]]) -> str:
    """Where the feature space `name` stands against every other row: ahead outside the intervals, tied, behind."""
    me = next(r for r in rows if r["features"].startswith(name))
    ahead, tied, behind = [], [], []
    for measure, higher in measures:
        others = [r for r in rows if r is not me and measure in r]
        if measure not in me or not others:
            continue
        sign = 1 if higher else -1
        best = max(others, key=lambda r: sign * r[measure][0])
        lo, hi = me[measure][1:]
        b_lo, b_hi = best[measure][1:]
        if (lo > b_hi) if higher else (hi < b_lo):
            ahead.append(measure)
        elif (hi < b_lo) if higher else (lo > b_hi):
            behind.append(f"{measure} (best: {best['features']})")
        else:
            tied.append(f"{measure} ({best['features']})")
    parts = [
        f"{label} on {listed(items)}"
        for label, items in (
            ("ahead of every baseline", ahead),
            ("tied with the best baseline", tied),
            ("behind", behind),
        )
        if items
    ]
    return f"The {me['features']} is " + "; ".join(parts) + "." if parts else f"The {me['features']} has no score."


def listed(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def formatted(rows: list[dict]) -> list[dict]:
    """Rows with the same columns, scores as text with their intervals ('-' where a measure does not apply)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return [{c: fmt(r[c]) if c in r else "-" for c in columns} for r in rows]
