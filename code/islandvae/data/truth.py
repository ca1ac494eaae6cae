"""The truth beside a synthetic data file: island masks, artefact flags, and tile labels from them.

Layout of `<name>.truth.h5`: for every image `<brain>/<name>` of the data file a group of the same
path holding `mask` (uint8: 0 tissue, 1 granular island, 2 parvicellular island, 255 no tissue) and
`flags` (uint8 artefact bits, see synth.artefacts.FLAGS), with attributes `seed`, `island_types`,
`island_diameters` (JSON lists) and `info`; the root attribute `generator` holds the parameters.
The real course file has no truth: its tiles cannot be scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from islandvae.files import open_hdf5

GRANULAR, PARVICELLULAR, NO_TISSUE = 1, 2, 255
LABELS = ("granular", "parvicellular", "plain", "ambiguous", "background")
ISLAND_SHARE = 0.5  # a tile is granular / parvicellular when at least half its tissue is that island type
PLAIN_SHARE = 0.05  # and plain tissue when less than 5 % of its tissue is island
TISSUE_SHARE = 0.5  # below half tissue, a tile is background (glass, tears) and not scored


def truth_path(data_path: Path | str) -> Path:
    """Where the truth of a data file lies: `x.h5` -> `x.truth.h5` beside it."""
    data_path = Path(data_path)
    return data_path.with_name(data_path.stem + ".truth.h5")


def label_from_mask(mask: np.ndarray) -> str:
    """The label of a tile from its truth mask: granular, parvicellular, plain, ambiguous or background."""
    tissue = int(np.count_nonzero(mask != NO_TISSUE))
    if tissue < TISSUE_SHARE * mask.size:
        return "background"
    granular = np.count_nonzero(mask == GRANULAR) / tissue
    parvi = np.count_nonzero(mask == PARVICELLULAR) / tissue
    if granular >= ISLAND_SHARE:
        return "granular"
    if parvi >= ISLAND_SHARE:
        return "parvicellular"
    if granular + parvi < PLAIN_SHARE:
        return "plain"
    return "ambiguous"


class TruthFile:
    """Read access to a truth file; opened once, masks read region by region."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._file = open_hdf5(
            self.path,
            "truth file",
            "it is the stand-in's truth beside the data file: make it "
            "again with `islandvae synth --force`, or move it away (then nothing is scored)",
        )

    def generator(self) -> dict:
        """The generator's parameters."""
        return json.loads(self._file.attrs["generator"])

    def mask(self, brain: str, name: str) -> np.ndarray:
        """The whole island mask of one image."""
        return self._file[brain][name]["mask"][()]

    def flags(self, brain: str, name: str) -> np.ndarray:
        """The whole artefact-flag image of one image."""
        return self._file[brain][name]["flags"][()]

    def info(self, brain: str, name: str) -> dict:
        """Seed, island types and diameters, artefacts and style of one image."""
        attrs = self._file[brain][name].attrs
        return {
            "seed": int(attrs["seed"]),
            "island_types": json.loads(attrs["island_types"]),
            "island_diameters": json.loads(attrs["island_diameters"]),
            **json.loads(attrs["info"]),
        }

    def tile_label(self, brain: str, name: str, row: int, col: int, size: int) -> str:
        """Label of the tile with top-left corner (row, col) and side `size`."""
        return label_from_mask(self._file[brain][name]["mask"][row : row + size, col : col + size])

    def tile_labels(self, keys) -> list[str]:
        """tile_label of each (brain, name, row, col, size) key, in order; each image's mask is opened once
        (6 times faster than a lookup per tile for 12,000 tiles of the stand-in's training brains)."""
        labels: list[str] = [""] * len(keys)
        by_image: dict[tuple[str, str], list[int]] = {}
        for k, key in enumerate(keys):
            by_image.setdefault((key[0], key[1]), []).append(k)
        for (brain, name), members in by_image.items():
            mask = self._file[brain][name]["mask"]
            for k in members:
                row, col, size = keys[k][2:5]
                labels[k] = label_from_mask(mask[row : row + size, col : col + size])
        return labels

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TruthFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
