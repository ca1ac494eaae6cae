"""bench/finder_levers.py: islands grown through the border clusters against the pipeline's one ring of border
tiles (the lever the bench measures)."""

import numpy as np
from conftest import load_bench


def test_growing_through_border_tiles_finds_the_whole_island_that_one_ring_cuts():
    """A core of two tiles with a chain of six border tiles, all one true island: one ring of border tiles holds 3
    of its 8 tiles (not found), grown it holds all 8; a border region without a core tile is in neither, and a core of
    one tile alone is dropped (no found island)."""
    gy, gx = (a.ravel() for a in np.mgrid[0:6, 0:12])
    cluster = np.zeros(72, dtype=int)  # 0: the tissue cluster
    at = lambda y, x: y * 12 + x  # noqa: E731
    cluster[[at(0, 11), at(1, 1), at(1, 2)]] = 1  # the core cluster (a lone tile first: numbered before)
    cluster[[at(1, x) for x in range(3, 9)] + [at(4, 1), at(4, 2)]] = 2  # the border cluster
    true = np.full(72, -1)
    true[[at(1, x) for x in range(1, 9)]] = 0
    arrays = {"image": np.zeros(72, dtype=int), "gy": gy, "gx": gx, "cluster": cluster, "true": true}
    grown_units = load_bench("finder_levers").grown_units
    out = grown_units(arrays, [float("nan"), 0.95, 0.8])
    assert out["ring"] == {"found islands": 1, "recall": 0.0, "precision": 1.0}
    assert out["grown"] == {"found islands": 1, "recall": 1.0, "precision": 1.0}
    # below the border rank the chain is tissue: grown and ring are the core alone
    alone = grown_units(arrays, [float("nan"), 0.95, 0.5])
    assert alone["ring"] == alone["grown"] == {"found islands": 1, "recall": 0.0, "precision": 1.0}
