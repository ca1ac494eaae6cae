"""bench/two_readouts.py: how the bench scores a typing of found islands (against the true type most of each
island's tiles have, and against the sections)."""

from types import SimpleNamespace

import numpy as np
from conftest import load_bench


def found_islands(axis: np.ndarray, kinds: list[str], section: np.ndarray, seed: int = 0):
    """Found islands of 5 core tiles each with the true type `kinds`, on `section`, placed at `axis`."""
    rng = np.random.default_rng(seed)
    n = len(axis)
    island = np.repeat(np.arange(n), 5)
    arrays = {"island": island, "core": np.ones(len(island), dtype=bool), "label": np.repeat(kinds, 5)}
    result = SimpleNamespace(
        sections=SimpleNamespace(section=section.tolist(), statistics=rng.normal(size=(section.max() + 1, 4)).tolist()),
        types=SimpleNamespace(type=[0] * n),
    )
    descriptors = np.column_stack([axis, rng.normal(size=(n, 2))])
    return arrays, result, descriptors


def test_a_typing_that_follows_the_cells_scores_high_and_one_that_follows_the_sections_does_not():
    """24 islands on 8 sections, each section with both types: an axis that separates the types gives two types at
    ARI 1 under both ways of counting them; an axis that separates the sections (half of them low, half high) gives
    types that agree with the sections and not with the true types."""
    rng = np.random.default_rng(1)
    typing_figures = load_bench("two_readouts").typing_figures
    section = np.repeat(np.arange(8), 3)
    kinds = ["granular" if k % 2 else "parvicellular" for k in range(24)]
    by_cells = np.where(np.array(kinds) == "granular", -1.0, 1.0) + rng.normal(0, 0.05, 24)
    arrays, result, descriptors = found_islands(by_cells, kinds, section)
    out = typing_figures({"axis": by_cells}, descriptors, arrays, result, 0)
    for consensus in ("mode", "median"):
        row = out[consensus]
        assert row["types"] == 2 and row["pipeline ARI"][0] == 1.0
        assert row["axis ~ type |r|"] > 0.95 and row["types ~ sections ARI"] < 0.1
    by_sections = np.where(section < 4, -1.0, 1.0) + rng.normal(0, 0.05, 24)
    arrays, result, descriptors = found_islands(by_sections, kinds, section)
    row = typing_figures({"axis": by_sections}, descriptors, arrays, result, 0)["mode"]
    assert row["types"] >= 2 and abs(row["pipeline ARI"][0]) < 0.1
    assert row["axis ~ type |r|"] < 0.3 and row["types ~ sections ARI"] > 0.1  # the project's limit
