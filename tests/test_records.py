"""The island pipeline's result as typed records (islands/records.py): one JSON form, read back the same."""

import json

from islandvae.islands.records import Clusters, Found, GridSize, IslandResult, Sections, TruthScores, Typing


def _result() -> IslandResult:
    return IslandResult(
        grid=GridSize(tiles=40, images=2, tile=64, stride=32),
        clusters=Clusters(k=3, density=[10.0, 40.0, 2.0], rank=[float("nan"), 0.97, 0.1], island_clusters=[1]),
        found=Found(islands=2, tiles=9, candidates=3, set_apart=1),
        types=Typing(
            k=2,
            bic={1: 12.0, 2: 3.0},
            type=[0, -1],
            axis=[-1.0, 1.0],
            k_chosen={1: 0.1, 2: 0.9},
            k_rule="sections",
            k_over_sections={1: 0.2, 2: 0.8},
        ),
        morphology=[{"cells / 10,000 px": 40.0}, {"cells / 10,000 px": 35.0}],
        described=[{"type": 1, "islands": 1, "cells / 10,000 px": (40.0, 40.0, 40.0)}],
        sections=Sections(statistics=[[1.0, 2.0]], section=[0, 0], found={"types ~ sections ARI": None}),
        truth=TruthScores(match={"recall": 1.0}, true_islands={"granular": 1, "parvicellular": 1}),
    )


def test_the_json_form_reads_back_as_the_same_record():
    result = _result()
    saved = json.loads(json.dumps(result.to_json()))  # what discovery.json holds
    again = IslandResult.from_json(saved)
    assert again.types.bic == {1: 12.0, 2: 3.0} and again.types.k_over_sections == {1: 0.2, 2: 0.8}  # int keys
    assert again.to_json() == saved and again.found == result.found and again.truth.match == {"recall": 1.0}
    assert saved["types"]["bic"] == {"1": 12.0, "2": 3.0} and saved["found"]["set_apart"] == 1


def test_an_older_form_reads_with_defaults_and_data_without_truth_has_none():
    older = {"found": {"islands": 3, "tiles": 12, "candidates": 4}, "types": {"k": 1, "type": [0, 0, 0]}}
    result = IslandResult.from_json(older)
    assert result.found.set_apart == 0 and result.types.k_rule == "bic" and result.truth is None
    assert result.sections.found == {} and result.grid == GridSize()
    scored = {"VAE (latent 128)": {"ari": [0.5, 0.4, 0.6]}}
    assert not TruthScores(true_islands={"granular": 2, "parvicellular": 0}, island_scores=scored).measurable()
    assert TruthScores(true_islands={"granular": 2, "parvicellular": 1}, island_scores=scored).measurable()
