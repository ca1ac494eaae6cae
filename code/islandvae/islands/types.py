"""Island types: each island placed on the direction along which islands differ most, typed by a mixture.

`island_types` places each island on the direction along which islands differ most relative to the spread of
their own tiles (linear discriminant analysis with the islands as classes), and fits Gaussian mixtures of 1 to
MAX_TYPES components to those places; the number of types is the smallest whose BIC is within BIC_MARGIN of the
lowest (`chosen_types`), with the spread of that choice over bootstrap resamples of the islands (`bic_spread`) and
of whole sections (`section_spread`: where the islands lie on enough sections, the number of types is the one
chosen most often over those resamples, so that a number carried by one or two sections does not decide). `describe`
gives each island the mean and spread of its tiles' features (the supervised ceiling's input); `agreement`
scores found types against true ones (ARI, balanced accuracy, with bootstrap intervals).
"""

from __future__ import annotations

import warnings

import numpy as np

from islandvae.bootstrap import BOOTSTRAP, draws, interval

MAX_TYPES = 4  # the island-type mixture tries 1 .. MAX_TYPES components
MIN_ISLANDS = 4  # islands per type at the least, on average: fewer islands are one type
TYPED_TILES = 4  # the types are fitted on islands of at least this many tiles (smaller ones are then assigned)
BIC_MARGIN = 2.0  # a mixture of more types must lower the BIC by more than this ("positive" evidence, Kass and
# Raftery 1995): the number of types is the smallest within this margin of the lowest BIC. Not 6 ("strong"): the
# number is the one most resamples of whole sections choose, which guards against a type carried by few sections;
# with 6 as well, islands whose places run as a continuum with two ends were called one type (docs/method.md)
BIC_SPREAD = 50  # bootstrap resamples of the islands for the spread of the BIC curve
# Resamples of whole sections (with replacement) for the number of types: sections are the units that are stained
# and scanned apart, so a type must show over resamples of them (consensus over resamples, Monti et al. 2003).
SECTION_RESAMPLES = 50
# Which number the section resamples give: "mode", the one chosen most often (the smaller at a tie), or "median",
# the number that half the resamples choose or fewer and half choose or more (bench/typing_levers.py measures both)
CONSENSUS = "mode"
MIN_SECTIONS = 4  # fewer sections holding typed islands: the number of types is the BIC rule's on all islands


def describe(features: np.ndarray, island: np.ndarray) -> np.ndarray:
    """Per island (numbers 0 .. n-1 in `island`, -1 ignored): the mean and the standard deviation of its tiles'
    features, side by side, (n, 2 d); zeros for a number without tiles."""
    n = island.max() + 1 if (island >= 0).any() else 0
    inside = island >= 0
    counts = np.bincount(island[inside], minlength=n)[:, None]
    sums = np.zeros((n, features.shape[1]))
    squares = np.zeros((n, features.shape[1]))
    np.add.at(sums, island[inside], features[inside])
    np.add.at(squares, island[inside], features[inside] ** 2)
    mean = sums / np.maximum(counts, 1)  # an island without tiles (none here) stays at 0
    spread = np.sqrt(np.maximum(squares / np.maximum(counts, 1) - mean**2, 0))
    return np.hstack([mean, spread])


def island_types(
    features: np.ndarray,
    island: np.ndarray,
    *,
    seed: int = 0,
    max_types: int = MAX_TYPES,
    spread: bool = False,
    typed: np.ndarray | None = None,
    sections: np.ndarray | None = None,
    median: bool = False,
) -> dict:
    """Island types from tile features (N, d) and each tile's island number (N,; -1 for tiles outside islands).

    The standardised features are projected on the direction along which islands differ most relative to how
    much the tiles within one island vary (linear discriminant analysis with the islands as classes: it needs
    no island type, only which tiles belong together). Each island is placed by the mean of its tiles on that
    axis (with `median`, their median: a lever, bench/typing_levers.py), and Gaussian mixtures with 1 ..
    max_types components (fewer with few islands) are fitted to the places of the islands of at least TYPED_TILES
    tiles (a smaller island's mean is too noisy to shape the types; it is assigned to the nearest afterwards); the
    number of types is the smallest whose BIC is within BIC_MARGIN of the lowest (a further type must earn its
    parameters clearly). With `sections` (each island's section) and islands on at least MIN_SECTIONS sections,
    the same rule runs on SECTION_RESAMPLES resamples of whole sections and the number of types is the one chosen
    most often (the smaller at a tie): the full data's BIC can rest on the islands of one or two sections. With
    `spread`, the BIC curve is also fitted on BIC_SPREAD bootstrap resamples of the islands (its 2.5 and 97.5
    percentiles per k, and how often each k would be chosen). Returns k, which rule chose it ("k rule":
    "sections" or "bic") with the shares over section resamples, the BIC per k, each island's type (0 .. k-1,
    ordered along the axis) and its place on the axis. `typed` (bool per island): the islands to type; the others
    (set apart) shape neither the axis nor the mixture, get type -1 and still a place on the axis."""
    from scipy import ndimage
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.preprocessing import StandardScaler

    inside = island >= 0
    n = int(island.max()) + 1 if inside.any() else 0
    typed = np.ones(n, dtype=bool) if typed is None else np.asarray(typed, dtype=bool)
    if typed.sum() < MIN_ISLANDS:
        return {
            "k": 1 if typed.any() else 0,
            "k rule": "bic",
            "k over sections": {},
            "bic": {},
            "type": np.where(typed, 0, -1),
            "axis": np.zeros(n),
        }
    used = inside & typed[np.maximum(island, 0)]
    scale = StandardScaler().fit(features[used])
    with warnings.catch_warnings():  # an island of one tile adds no within-island spread; sklearn warns of it
        warnings.filterwarnings("ignore", message="Only one sample available")
        axis = LinearDiscriminantAnalysis(n_components=1, solver="eigen", shrinkage="auto").fit(
            scale.transform(features[used]), island[used]
        )
    on_axis = axis.transform(scale.transform(features[inside]))[:, 0]
    sizes = np.bincount(island[inside], minlength=n)
    if median:  # scipy's median per label gives no defined value for a number without tiles: 0, as describe
        place = np.where(sizes > 0, ndimage.median(on_axis, labels=island[inside], index=np.arange(n)), 0.0)
    else:  # the mean of each island's tiles on the axis
        place = describe(on_axis[:, None], island[inside])[:, 0]
    return types_on_axis(
        place,
        sizes,
        typed,
        seed=seed,
        max_types=max_types,
        spread=spread,
        sections=sections,
    )


def types_on_axis(
    axis: np.ndarray,
    sizes: np.ndarray,
    typed: np.ndarray,
    *,
    seed: int = 0,
    max_types: int = MAX_TYPES,
    spread: bool = False,
    sections: np.ndarray | None = None,
    margin: float = BIC_MARGIN,
    consensus: str = CONSENSUS,
) -> dict:
    """island_types' mixture on the islands' places on the typing axis (n,), given each island's tiles (`sizes`)
    and which islands to type; the same returns. `margin`: the BIC margin of the rule (chosen_types);
    `consensus`: how the section resamples' choices give the number (CONSENSUS: "mode" or "median")."""
    from sklearn.mixture import GaussianMixture

    place = axis[:, None]
    big = typed & (sizes >= TYPED_TILES)
    chosen = big if big.sum() >= 2 * MIN_ISLANDS else typed
    fit = place[chosen]
    fits = {
        k: GaussianMixture(k, covariance_type="tied", n_init=10, random_state=seed).fit(fit)
        for k in range(1, min(max_types, len(fit) // MIN_ISLANDS) + 1)
    }
    bic = {k: float(m.bic(fit)) for k, m in fits.items()}
    k, rule, over_sections = chosen_types(bic, margin), "bic", {}
    if sections is not None and len(np.unique(np.asarray(sections)[chosen])) >= MIN_SECTIONS:
        over_sections = section_spread(fit, np.asarray(sections)[chosen], list(fits), seed=seed, margin=margin)
        k, rule = consensus_types(over_sections, consensus), "sections"
    raw = fits[k].predict(place)
    order = np.argsort(fits[k].means_[:, 0])  # type 0 lies lowest on the axis
    out = {
        "k": k,
        "k rule": rule,
        "k over sections": over_sections,
        "bic": bic,
        "type": np.where(typed, np.argsort(order)[raw], -1),
        "axis": axis,
    }
    if spread:
        out |= bic_spread(fit, list(fits), seed=seed, margin=margin)
    return out


def consensus_types(shares: dict, consensus: str = CONSENSUS) -> int:
    """The number of types from the share of resamples choosing each (section_spread): the most frequent (the
    smaller at a tie) for "mode"; for "median", the smallest k that at least half the resamples chose or went
    under (the median of an ordinal choice: with shares 42 / 30 / 24 % for 1 / 2 / 3 types the mode is 1 while
    most resamples saw more than one type)."""
    if consensus == "mode":
        return max(shares, key=lambda j: (shares[j], -j))
    if consensus != "median":
        raise ValueError(f"consensus must be 'mode' or 'median', not {consensus!r}")
    total = 0.0
    for k in sorted(shares):
        total += shares[k]
        if total >= 0.5 - 1e-9:
            return k
    return max(shares)


def chosen_types(bic: dict, margin: float = BIC_MARGIN) -> int:
    """The smallest number of types whose BIC is within `margin` (BIC_MARGIN) of the lowest."""
    best = min(bic.values())
    return min(k for k, v in bic.items() if v <= best + margin)


def bic_curve(places: np.ndarray, ks: list[int], *, seed: int = 0) -> dict:
    """The BIC of tied-covariance mixtures of each k in `ks` components on a resample of the places (3 starts:
    the resamples' curves are compared with each other, not used to type)."""
    from sklearn.mixture import GaussianMixture

    return {
        k: float(GaussianMixture(k, covariance_type="tied", n_init=3, random_state=seed).fit(places).bic(places))
        for k in ks
    }


def bic_spread(
    places: np.ndarray, ks: list[int], *, seed: int = 0, reps: int = BIC_SPREAD, margin: float = BIC_MARGIN
) -> dict:
    """The BIC curve on bootstrap resamples of the islands' places: per k its 2.5 and 97.5 percentiles, and the
    share of resamples in which each k would be chosen."""
    curves = []
    for pick in draws(np.random.default_rng(seed), len(places), reps):
        sample = places[pick]
        if len(np.unique(sample)) < max(ks):
            continue
        curves.append(bic_curve(sample, ks, seed=seed))
    if not curves:
        return {"bic spread": {}, "k chosen": {}}
    choices = [chosen_types(c, margin) for c in curves]
    return {
        "bic spread": {k: list(interval(c[k] for c in curves)) for k in ks},
        "k chosen": {k: choices.count(k) / len(choices) for k in ks},
    }


def section_spread(
    places: np.ndarray,
    sections: np.ndarray,
    ks: list[int],
    *,
    seed: int = 0,
    reps: int = SECTION_RESAMPLES,
    margin: float = BIC_MARGIN,
) -> dict:
    """The share of resamples of whole sections (as many as there are, drawn with replacement, each bringing all
    its islands' `places`) in which each k of `ks` is the BIC rule's number of types (chosen_types; a resample
    tries only the k that its islands support, MIN_ISLANDS per type)."""
    names = np.unique(sections)
    members = [np.flatnonzero(sections == s) for s in names]
    choices = []
    for pick in draws(np.random.default_rng(seed), len(names), reps):
        sample = places[np.concatenate([members[p] for p in pick])]
        tried = [k for k in ks if k <= max(1, len(sample) // MIN_ISLANDS) and k <= len(np.unique(sample))]
        choices.append(chosen_types(bic_curve(sample, tried, seed=seed), margin))
    return {k: choices.count(k) / len(choices) for k in ks}


def axis_follows(place: np.ndarray, kinds: np.ndarray) -> float | None:
    """How closely islands' places on the typing axis follow a known type of two values (`kinds`, one per island):
    |r|, the point-biserial correlation; None unless both values occur. High |r| with one type found means the
    axis holds the type and the number of types failed; low |r|, that the axis does not hold it."""
    first = np.asarray(kinds) == np.asarray(kinds)[0] if len(kinds) else np.zeros(0, dtype=bool)
    if not first.any() or first.all():
        return None
    return float(abs(np.corrcoef(np.asarray(place, dtype=float), first)[0, 1]))


def agreement(types: np.ndarray, truth: np.ndarray, *, reps: int = BOOTSTRAP, seed: int = 0) -> dict:
    """Island-level agreement of found types with true types: the adjusted Rand index and the balanced accuracy
    after naming each type by the true type most of its islands have, each as (value, low, high) with a 95 %
    bootstrap interval over islands; nan when the truth holds fewer than two types."""
    from islandvae.latent.measures import adjusted_rand, balanced_accuracy, codes

    if len(set(truth)) < 2:  # one true type: agreement is not measurable (a single cluster would score 1)
        return {"ari": (float("nan"),) * 3, "balanced accuracy": (float("nan"),) * 3}
    named = np.empty(len(types), dtype=object)
    for t in np.unique(types):
        kinds, counts = np.unique(truth[types == t], return_counts=True)
        named[types == t] = kinds[counts.argmax()]
    truth, named = codes(truth, named.astype(str))  # the same scores, from integers
    picks = [p for p in draws(np.random.default_rng(seed), len(types), reps) if (truth[p] != truth[p][0]).any()]

    def scored(score):  # resamples with a single true type are left out: no agreement is defined there
        return (float(score(np.arange(len(types)))), *interval(score(p) for p in picks))

    return {
        "ari": scored(lambda p: adjusted_rand(truth[p], types[p])),
        "balanced accuracy": scored(lambda p: balanced_accuracy(truth[p], named[p])),
    }
