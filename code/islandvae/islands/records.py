"""The island pipeline's result as typed records: what discovery.py hands the chapter, the catalogue, the summary,
the lever and robustness tables, with one JSON form (the cached discovery.json).

`IslandResult` holds the grid (`GridSize`), the tile clusters (`Clusters`), the found islands (`Found`), their
types (`Typing`), each island's cells (`morphology`, per island the measures of morphology.region_measures), each
type described (`described`), the section confound (`Sections`) and, on data with truth, the scores
(`TruthScores`). `to_json` writes the JSON form and `from_json` reads it; a field added later reads as its
default from an older form. Per-measure and per-feature-space values stay mappings keyed by their names
("cells / 10,000 px", "VAE (latent 128)"): those names are the data's columns, not the record's shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from islandvae.islands.types import BIC_MARGIN


@dataclass
class GridSize:
    """The test brain's grid of tissue tiles."""

    tiles: int = 0
    images: int = 0
    tile: int = 0  # px
    stride: int = 0  # px


@dataclass
class Clusters:
    """The tile clusters of finder.find_islands (its first clustering): per cluster its median cells per 10,000 px,
    its rank against the tissue (nan for the tissue) and its tiles; which are island cores; the tissue's density and
    the threshold; how many clusterings voted."""

    k: int = 0
    density: list[float] = field(default_factory=list)
    rank: list[float] = field(default_factory=list)
    tiles: list[int] = field(default_factory=list)
    island_clusters: list[int] = field(default_factory=list)
    tissue_density: float = float("nan")
    threshold: float = float("nan")
    starts: int = 1  # the clusterings that voted (islands.starts); the clusters above are the first one's


@dataclass
class Found:
    """How many islands were found, their tiles, the candidate regions before the density check, and how many
    islands were set apart at a section's edge."""

    islands: int = 0
    tiles: int = 0
    candidates: int = 0
    set_apart: int = 0


@dataclass
class Typing:
    """types.island_types: the number of types k and the rule that chose it ("bic", or "sections": the most
    frequent over resamples of whole sections, with the shares), the BIC per k, its spread and choices over
    bootstrap resamples of the islands, each island's type (-1: set apart) and place on the typing axis."""

    k: int = 0
    bic: dict[int, float] = field(default_factory=dict)
    type: list[int] = field(default_factory=list)
    axis: list[float] = field(default_factory=list)
    margin: float = BIC_MARGIN
    bic_spread: dict[int, list[float]] = field(default_factory=dict)
    k_chosen: dict[int, float] = field(default_factory=dict)
    k_rule: str = "bic"
    k_over_sections: dict[int, float] = field(default_factory=dict)


@dataclass
class Sections:
    """Each section's tissue statistics, each found island's section, and the confound of the found types
    (sections.section_confound)."""

    statistics: list[list[float]] = field(default_factory=list)
    section: list[int] = field(default_factory=list)
    found: dict = field(default_factory=dict)


@dataclass
class TruthScores:
    """On data with truth: the found islands against the true ones (`match`: recall, precision, overlap, empty
    images), the true islands per type, the found types' agreement with the truth, the found islands holding no
    true island tile, the tile-level measures per feature space, and per feature space the typing of the true
    islands (`island_scores`, with its number of types), the supervised ceiling and the section confound."""

    match: dict = field(default_factory=dict)
    true_islands: dict[str, int] = field(default_factory=dict)
    found_agreement: dict | None = None
    without_true_island: int = 0
    measures: list[dict] = field(default_factory=list)
    island_scores: dict[str, dict] = field(default_factory=dict)
    island_ceilings: dict[str, dict] = field(default_factory=dict)
    island_sections: dict[str, dict] = field(default_factory=dict)

    def measurable(self) -> bool:
        """Whether the true islands hold every type (agreement with the truth is defined)."""
        return bool(self.island_scores) and all(n > 0 for n in self.true_islands.values())


@dataclass
class IslandResult:
    """Everything chapter 5 reports of one test brain (discovery.Discovery.result)."""

    grid: GridSize = field(default_factory=GridSize)
    clusters: Clusters = field(default_factory=Clusters)
    found: Found = field(default_factory=Found)
    types: Typing = field(default_factory=Typing)
    morphology: list[dict] = field(default_factory=list)
    blob_scale: dict[str, float] = field(default_factory=dict)
    described: list[dict] = field(default_factory=list)
    sections: Sections = field(default_factory=Sections)
    truth: TruthScores | None = None

    def to_json(self) -> dict:
        """The JSON form: plain dicts and lists, keys as written (integer keys as strings)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict) -> IslandResult:
        """The record of a JSON form (to_json's); fields missing from an older form take their defaults."""
        parts = {"grid": GridSize, "clusters": Clusters, "found": Found, "types": Typing, "sections": Sections}
        values = {name: _record(kind, data.get(name, {})) for name, kind in parts.items()}
        truth = data.get("truth")
        return cls(
            **values,
            morphology=data.get("morphology", []),
            blob_scale=data.get("blob_scale", {}),
            described=data.get("described", []),
            truth=None if truth is None else _record(TruthScores, truth),
        )


INT_KEYED = ("bic", "bic_spread", "k_chosen", "k_over_sections")  # Typing's mappings keyed by a number of types


def _record(kind, data: dict):
    """A record of `kind` from its JSON form (unknown keys ignored, integer keys restored)."""
    names = {f.name for f in dataclasses.fields(kind)}
    values = {k: v for k, v in data.items() if k in names}
    if kind is Typing:
        values |= {k: {int(n): v for n, v in values[k].items()} for k in INT_KEYED if k in values}
    return kind(**values)


def _plain(value):
    """JSON-ready: tuples as lists, integer keys as strings, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return value
