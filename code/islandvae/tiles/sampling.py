"""What the sampling strategies do to the training set: shares of tiles per brain, size class, content.

Used by chapter 2 to compare uniform-per-image, area-weighted and tissue-aware sampling. Content
types come from the truth file when there is one (the stand-in); the real file has none.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from islandvae.data.hdf5 import InMemoryImages
from islandvae.data.stats import PixelStats
from islandvae.data.truth import TruthFile, truth_path
from islandvae.tiles.sampler import STRATEGIES, TileSampler
from islandvae.tiles.tissue import TissueMap, tissue_map

SIZE_CLASSES = ((0.5e6, "< 0.5 Mpx"), (2e6, "0.5-2 Mpx"), (float("inf"), "> 2 Mpx"))
CONTENT = ("island", "plain", "ambiguous", "no tissue")


def size_class(pixels: int) -> str:
    """The size class of an image by its pixel count."""
    return next(name for limit, name in SIZE_CLASSES if pixels < limit)


def compare_strategies(
    images: InMemoryImages,
    stats: PixelStats,
    data: Path,
    *,
    tile_size: int,
    tiles: int = 4000,
    seed: int = 0,
    tissue: TissueMap | None = None,
) -> list[dict]:
    """The percentage of sampled tiles per brain, per image size class and per content type: one row each, one
    column per strategy (12 classes as columns did not fit an A4 page). `tissue`: the images' tissue map when the
    caller has it, else it is computed."""
    tissue = tissue if tissue is not None else tissue_map(images, stats)
    infos = {(i.brain, i.name): i for i in images.infos()}
    truth = TruthFile(truth_path(data)) if truth_path(data).is_file() else None
    shares: dict[str, dict[str, float]] = {}  # strategy -> class -> percentage of its tiles
    try:
        for strategy in STRATEGIES:
            keys = list(
                TileSampler(
                    images.infos(), tile_size=tile_size, tiles=tiles, seed=seed, strategy=strategy, tissue=tissue
                )
            )
            counts = Counter()
            for brain, name, *_ in keys:
                counts[brain] += 1
                counts[size_class(infos[(brain, name)].pixels)] += 1
            for label in truth.tile_labels(keys) if truth is not None else ():
                counts[
                    "island"
                    if label in ("granular", "parvicellular")
                    else "no tissue"
                    if label == "background"
                    else label
                ] += 1
            shares[strategy] = {k: 100 * v / len(keys) for k, v in counts.items()}
    finally:
        if truth is not None:
            truth.close()
    classes = [
        *(("brain", b) for b in images.brains),
        *(("image size", name) for _, name in SIZE_CLASSES),
        *(("content", c) for c in (CONTENT if truth is not None else ())),
    ]
    return [
        {"share of tiles by": group, "class": c, **{k: share.get(c, 0.0) for k, share in shares.items()}}
        for group, c in classes
    ]
