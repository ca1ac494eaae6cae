"""The one bootstrap of the project: resamples drawn with replacement, and the 95 % interval of a score over them.

Every interval in the report comes from here: the tile-level measures (resampling images or islands, with their
tiles: `bootstrap`), the agreement of found types with true ones and the spread of the BIC curve (resampling
islands: `draws`), and each type's measured cells (resampling its islands). A score that is undefined on a
resample (a single class, say) is left out of the interval.
"""

from __future__ import annotations

import warnings

import numpy as np

BOOTSTRAP = 200  # resamples for a 95 % interval
LEVEL = (2.5, 97.5)  # its percentiles


def draws(rng: np.random.Generator, n: int, reps: int = BOOTSTRAP):
    """`reps` resamples of n units with replacement, as index arrays (drawn one at a time from `rng`, so the
    same generator gives the same resamples whatever is done between them)."""
    for _ in range(reps):
        yield rng.integers(0, n, n)


def interval(values) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of a score's values over resamples (nan, nan without any)."""
    values = list(values)
    lo, hi = np.percentile(values, LEVEL) if values else (np.nan, np.nan)
    return float(lo), float(hi)


def bootstrap(score, units: np.ndarray, *, reps: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """score(index) on every item, and its interval over resamples of the units (`units`: the unit of each item,
    an image or an island; a resample takes whole units with all their items)."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(units == g) for g in np.unique(units)]
    values = []
    with warnings.catch_warnings():  # resamples may lack a class; sklearn warns for each
        warnings.simplefilter("ignore")
        for pick in draws(rng, len(groups), reps):
            try:
                values.append(score(np.concatenate([groups[p] for p in pick])))
            except ValueError:  # e.g. a resample with a single class
                continue
        full = score(np.arange(len(units)))
    return (float(full), *interval(values))
