"""The number of island types over resamples of whole sections (types.section_spread, types.types_on_axis)."""

import numpy as np
import pytest

from islandvae.islands import types
from islandvae.islands.types import MIN_SECTIONS, section_spread, types_on_axis


def _places(kinds: int, sections: int = 8, per_section: int = 6, seed: int = 0):
    """Islands on `sections` sections, each section holding islands of every kind, the kinds 6 apart."""
    rng = np.random.default_rng(seed)
    n = sections * per_section
    kind = np.arange(n) % kinds
    return kind * 6.0 + rng.normal(0, 1, n), np.repeat(np.arange(sections), per_section), kind


@pytest.mark.parametrize("kinds", [1, 2])
def test_the_number_of_types_over_section_resamples_follows_the_kinds(kinds):
    places, sections, kind = _places(kinds)
    share = section_spread(places[:, None], sections, [1, 2, 3, 4])
    assert set(share) == {1, 2, 3, 4} and sum(share.values()) == pytest.approx(1.0)
    assert share[kinds] >= 0.8, share
    typing = types_on_axis(places, np.full(len(places), 8), np.ones(len(places), dtype=bool), sections=sections)
    assert typing["k rule"] == "sections" and typing["k"] == kinds
    assert typing["k over sections"] == share  # the same resamples (the same seed) decide


def test_the_most_frequent_number_over_sections_is_taken_and_a_tie_takes_the_smaller(monkeypatch):
    places, sections, _ = _places(2)
    every = np.ones(len(places), dtype=bool)
    sizes = np.full(len(places), 8)
    monkeypatch.setattr(types, "section_spread", lambda *a, **k: {1: 0.4, 2: 0.1, 3: 0.5, 4: 0.0})
    three = types_on_axis(places, sizes, every, sections=sections)
    assert three["k"] == 3 and three["k rule"] == "sections" and set(three["type"]) == {0, 1, 2}
    assert types_on_axis(places, sizes, every)["k"] == 2  # the BIC on all islands would take 2
    monkeypatch.setattr(types, "section_spread", lambda *a, **k: {1: 0.5, 2: 0.5, 3: 0.0, 4: 0.0})
    assert types_on_axis(places, sizes, every, sections=sections)["k"] == 1


def test_islands_on_few_sections_keep_the_bic_rule_on_all_islands(monkeypatch):
    places, _, _ = _places(2)
    few = np.arange(len(places)) % (MIN_SECTIONS - 1)
    monkeypatch.setattr(types, "section_spread", lambda *a, **k: pytest.fail("resampled too few sections"))
    typing = types_on_axis(places, np.full(len(places), 8), np.ones(len(places), dtype=bool), sections=few)
    assert typing["k rule"] == "bic" and typing["k over sections"] == {} and typing["k"] == 2


@pytest.mark.parametrize("median", [False, True])
def test_islands_are_placed_by_the_mean_or_the_median_of_their_tiles(median):
    """On one feature the typing axis is a linear map of it, so the places follow each island's mean, or its median
    (which one outlying tile per island does not move)."""
    rng = np.random.default_rng(0)
    island = np.repeat(np.arange(16), 9)
    x = (island % 2) * 5.0 + rng.normal(0, 1, len(island))
    x[::9] += rng.uniform(20, 60, 16)  # one far tile in every island
    places = types.island_types(x[:, None], island, median=median)["axis"]
    summary = np.median if median else np.mean
    expected = np.array([summary(x[island == k]) for k in range(16)])
    assert abs(np.corrcoef(places, expected)[0, 1]) > 0.9999
    other = np.array([(np.mean if median else np.median)(x[island == k]) for k in range(16)])
    assert abs(np.corrcoef(places, other)[0, 1]) < 0.99


def test_how_closely_the_axis_follows_a_known_type():
    kinds = np.array(["granular"] * 5 + ["parvicellular"] * 5)
    assert types.axis_follows(np.r_[np.arange(5.0), np.arange(5.0) + 10], kinds) == pytest.approx(0.962, abs=1e-3)
    assert types.axis_follows(-np.r_[np.zeros(5), np.ones(5)], kinds) == pytest.approx(1.0)  # |r|, either sign
    assert types.axis_follows(np.tile([0.0, 1.0], 5), kinds) == pytest.approx(0.2)  # nearly unrelated
    assert types.axis_follows(np.arange(10.0), np.array(["granular"] * 10)) is None  # one type: nothing to follow
    assert types.axis_follows(np.zeros(0), np.zeros(0, dtype=str)) is None


def test_the_median_number_over_sections_is_the_middle_of_the_choices(monkeypatch):
    """consensus "median": the smallest k that half the resamples chose or went under; "mode" the most frequent."""
    assert types.consensus_types({1: 0.42, 2: 0.30, 3: 0.24, 4: 0.04}, "median") == 2
    assert types.consensus_types({1: 0.42, 2: 0.30, 3: 0.24, 4: 0.04}, "mode") == 1
    assert types.consensus_types({1: 0.5, 2: 0.5, 3: 0.0, 4: 0.0}, "median") == 1  # as the mode's tie
    assert types.consensus_types({1: 0.28, 2: 0.0, 3: 0.62, 4: 0.1}, "median") == 3
    with pytest.raises(ValueError, match="consensus"):
        types.consensus_types({1: 1.0}, "mean")
    places, sections, _ = _places(2)
    monkeypatch.setattr(types, "section_spread", lambda *a, **k: {1: 0.4, 2: 0.2, 3: 0.3, 4: 0.1})
    every, sizes = np.ones(len(places), dtype=bool), np.full(len(places), 8)
    assert types_on_axis(places, sizes, every, sections=sections)["k"] == 1  # the default: the mode
    typing = types_on_axis(places, sizes, every, sections=sections, consensus="median")
    assert typing["k"] == 2 and set(typing["type"]) == {0, 1}
