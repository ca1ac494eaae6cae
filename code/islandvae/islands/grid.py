"""The grid of tiles over whole images that chapter 5 works on, and the true islands on it.

A `Grid` holds every tissue tile of some brains at a fixed stride (half a tile: neighbouring tiles overlap),
with its place on its image's grid (`tissue_grid`, `grid_positions`), and, on the stand-in, each tile's truth
label (`grid_labels`). `grid_measures` counts the cells on every tile's pixels (morphology.py); `regions` numbers
connected regions (8-neighbourhood) of chosen tiles, and `true_islands` takes the truth's islands as such
regions of one island type. `island_crop` and `tile_extent` give an island's pixels and bounding box.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from islandvae.data.hdf5 import ImageInfo, ImageSource
from islandvae.data.truth import (
    GRANULAR,
    ISLAND_SHARE,
    NO_TISSUE,
    PARVICELLULAR,
    PLAIN_SHARE,
    TISSUE_SHARE,
)
from islandvae.tiles.dataset import Key
from islandvae.tiles.tissue import TISSUE_BLOCK, TissueMap

TYPES = ("granular", "parvicellular")
EIGHT = np.ones((3, 3), dtype=bool)  # 8-neighbourhood on the tile grid


@dataclass
class Grid:
    """Tissue tiles on a regular grid over every image of some brains."""

    infos: list[ImageInfo]
    tile: int
    stride: int
    keys: list[Key]
    image: np.ndarray  # (N,) index into infos
    gy: np.ndarray  # (N,) grid row of the tile on its image
    gx: np.ndarray  # (N,) grid column
    label: np.ndarray | None = None  # (N,) truth label (granular, parvicellular, plain, ambiguous, background)
    tissue_px: np.ndarray | None = None  # (N,) tissue pixels in each tile's square (by the tissue map)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def of_arrays(cls, infos: list[ImageInfo], tile: int, arrays: dict) -> Grid:
        """The grid of the island pipeline's saved arrays (discovery.npz: image, row, col, gy, gx per tile)."""
        keys = [
            (infos[i].brain, infos[i].name, int(r), int(c), tile)
            for i, r, c in zip(arrays["image"], arrays["row"], arrays["col"])
        ]
        return cls(infos, tile, max(tile // 2, 1), keys, arrays["image"], arrays["gy"], arrays["gx"])


def grid_positions(height: int, width: int, tile: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left rows and columns of a grid of tiles that covers an image; an image smaller than a tile gets one
    (padded) tile at (0, 0), and the last row and column are shifted inwards to reach the border."""

    def starts(n: int) -> np.ndarray:
        if n <= tile:
            return np.zeros(1, dtype=int)
        out = np.arange(0, n - tile + 1, stride)
        return out if out[-1] == n - tile else np.append(out, n - tile)

    return starts(height), starts(width)


def _window_sums(counts: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Sums of `counts` (H, W) over the windows [r:r+size, c:c+size] (clipped to the array), for all r x c: exact
    integers from prefix sums taken only at the rows and columns where windows start or end (a whole-image
    integral image cost 16 bytes and two passes per pixel)."""
    r1, c1 = np.minimum(rows + size, counts.shape[0]), np.minimum(cols + size, counts.shape[1])
    r_edges, c_edges = np.unique(np.concatenate([rows, r1])), np.unique(np.concatenate([cols, c1]))
    prefix = _prefix_at(_prefix_at(counts, r_edges, axis=0), c_edges, axis=1)
    i0, i1 = np.searchsorted(r_edges, rows)[:, None], np.searchsorted(r_edges, r1)[:, None]
    j0, j1 = np.searchsorted(c_edges, cols)[None, :], np.searchsorted(c_edges, c1)[None, :]
    return prefix[i1, j1] - prefix[i0, j1] - prefix[i1, j0] + prefix[i0, j0]


def _prefix_at(a: np.ndarray, edges: np.ndarray, *, axis: int) -> np.ndarray:
    """Sums of a[:e] along `axis` for each of the sorted, distinct `edges` (0 <= e <= length), as int64."""
    n = a.shape[axis]
    inner = edges[(edges > 0) & (edges < n)]
    segments = np.add.reduceat(a, np.concatenate([[0], inner]).astype(np.intp), axis=axis, dtype=np.int64)
    table = np.concatenate(
        [np.zeros_like(np.take(segments, [0], axis=axis)), np.cumsum(segments, axis=axis)], axis=axis
    )  # the prefix sums at 0, inner..., n
    return np.take(table, np.searchsorted(np.concatenate([[0], inner, [n]]), edges), axis=axis)


def grid_labels(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, tile: int) -> np.ndarray:
    """Truth labels (as truth.label_from_mask gives them) of every tile of a grid, (len(rows), len(cols))."""
    tissue = _window_sums(mask != NO_TISSUE, rows, cols, tile)
    area = _window_sums(np.ones(mask.shape, dtype=bool), rows, cols, tile)
    gran = _window_sums(mask == GRANULAR, rows, cols, tile) / np.maximum(tissue, 1)
    parvi = _window_sums(mask == PARVICELLULAR, rows, cols, tile) / np.maximum(tissue, 1)
    label = np.full(tissue.shape, "ambiguous", dtype=object)
    label[gran + parvi < PLAIN_SHARE] = "plain"
    label[parvi >= ISLAND_SHARE] = "parvicellular"
    label[gran >= ISLAND_SHARE] = "granular"
    label[tissue < TISSUE_SHARE * area] = "background"
    return label.astype(str)


def tissue_grid(infos: list[ImageInfo], tissue: TissueMap, *, tile: int, stride: int, truth=None) -> Grid:
    """Every grid tile of the images whose footprint is at least half tissue by the tissue map (with truth:
    labelled from the island masks)."""
    keys, image, gy, gx, labels, tissue_px = [], [], [], [], [], []
    b = TISSUE_BLOCK
    for k, (info, blocks) in enumerate(zip(infos, tissue.blocks)):
        rows, cols = grid_positions(info.height, info.width, tile, stride)
        # Tissue share from the block map: each block stands for its b x b pixels.
        pixels = np.kron(blocks, np.ones((b, b), dtype=bool))[: info.height, : info.width]
        area = min(tile, info.height) * min(tile, info.width)  # every window is whole but in an image below a tile
        inside = _window_sums(pixels, rows, cols, tile)
        keep = inside >= TISSUE_SHARE * area
        if truth is not None:
            label = grid_labels(truth.mask(info.brain, info.name), rows, cols, tile)
        for y, x in zip(*np.nonzero(keep)):
            keys.append((info.brain, info.name, int(rows[y]), int(cols[x]), tile))
            image.append(k)
            gy.append(y)
            gx.append(x)
            tissue_px.append(inside[y, x])
            if truth is not None:
                labels.append(label[y, x])
    as_int = lambda v: np.array(v, dtype=int)
    return Grid(
        infos,
        tile,
        stride,
        keys,
        as_int(image),
        as_int(gy),
        as_int(gx),
        np.array(labels, dtype=str) if truth is not None else None,
        as_int(tissue_px),
    )


def grid_measures(grid: Grid, images: ImageSource, scale: float = 1.0) -> np.ndarray:
    """Every grid tile's cells measured on the pixels (N, 3): cells per 10,000 px of tissue, mean cell diameter
    (px) and mean roundness (nan without cells), from one detection per image (morphology.image_cells)."""
    from islandvae.islands.morphology import image_cells, tile_measures
    from islandvae.parallel import ordered_map

    out = np.full((len(grid), 3), np.nan)
    present = np.unique(grid.image)
    pixels = (images.image(grid.infos[k].brain, grid.infos[k].name) for k in present)  # read as the workers ask
    for k, found in zip(present, ordered_map(functools.partial(image_cells, scale=scale), pixels)):
        info = grid.infos[k]
        rows, cols = grid_positions(info.height, info.width, grid.tile, grid.stride)
        on = np.flatnonzero(grid.image == k)
        tissue = np.zeros((len(rows), len(cols)))
        tissue[grid.gy[on], grid.gx[on]] = grid.tissue_px[on]
        measured = tile_measures(found, rows, cols, grid.tile, (info.height, info.width), tissue)
        out[on] = measured[grid.gy[on], grid.gx[on]]
    return out


def regions(grid: Grid, member: np.ndarray) -> np.ndarray:
    """Connected regions (8-neighbourhood) of the tiles where `member` is true, on each image's grid: a region
    number per tile (0, 1, ... over all images), -1 for tiles outside every region."""
    out = np.full(len(grid), -1, dtype=int)
    next_id = 0
    for k in np.unique(grid.image[member]):
        on = np.flatnonzero((grid.image == k) & member)
        plane = np.zeros((grid.gy[on].max() + 1, grid.gx[on].max() + 1), dtype=bool)
        plane[grid.gy[on], grid.gx[on]] = True
        numbered, count = ndimage.label(plane, structure=EIGHT)
        out[on] = numbered[grid.gy[on], grid.gx[on]] - 1 + next_id
        next_id += count
    return out


def true_islands(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """From the truth: an island number per tile (-1 outside islands) and the type of each island. An island is
    a connected region of tiles labelled with one island type."""
    island = np.full(len(grid), -1, dtype=int)
    kinds: list[str] = []
    for kind in TYPES:
        member = grid.label == kind
        ids = regions(grid, member)
        island[member] = ids[member] + len(kinds)
        kinds += [kind] * (ids.max() + 1 if member.any() else 0)
    return island, np.array(kinds, dtype=str)


def tile_extent(grid: Grid, key: Key) -> tuple[int, int]:
    """Height and width of a grid tile's pixels inside its image (a tile of an image smaller than a tile is cut)."""
    info = next(i for i in grid.infos if (i.brain, i.name) == key[:2])
    return min(grid.tile, info.height - key[2]), min(grid.tile, info.width - key[3])


def island_crop(images: ImageSource, grid: Grid, island: np.ndarray, k: int, *, margin: int = 16) -> tuple:
    """The pixels of island `k`'s footprint (the union of its tiles' squares, plus a margin) and a mask of the
    footprint, both (h, w), for figures and the blob measures."""
    tiles = np.flatnonzero(island == k)
    info = grid.infos[grid.image[tiles[0]]]
    rows = np.array([grid.keys[t][2] for t in tiles])
    cols = np.array([grid.keys[t][3] for t in tiles])
    s = grid.tile
    r0, c0 = max(int(rows.min()) - margin, 0), max(int(cols.min()) - margin, 0)
    r1, c1 = min(int(rows.max()) + s + margin, info.height), min(int(cols.max()) + s + margin, info.width)
    mask = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for r, c in zip(rows, cols):
        mask[r - r0 : r - r0 + s, c - c0 : c - c0 + s] = True
    return images.region(info.brain, info.name, r0, c0, r1 - r0, c1 - c0), mask
