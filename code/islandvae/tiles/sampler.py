"""Where tiles come from: the training sampler (tile locations by strategy, seeded per epoch), batches of
locations for the dataset's batched path, and the fixed evaluation tiles.

`TileSampler` draws (brain, image, row, column, size) keys over the images of the training brains by one of
STRATEGIES (uniform, area, tissue, dense; the tissue map of tissue.py weights the last two), a fresh draw per
epoch from the config's seed; `TileBatchSampler` hands whole batches of keys to `TileDataset.__getitems__`.
`evaluation_keys` and `fixed_tiles` give the same test-brain tiles on every run.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import Sampler

from islandvae.data.hdf5 import ImageInfo, ImageSource
from islandvae.data.stats import PixelStats
from islandvae.errors import UserError
from islandvae.tiles.dataset import Key, KeyBatch, check_tile_size
from islandvae.tiles.tissue import TISSUE_BLOCK, TissueMap, tissue_map

STRATEGIES = ("uniform", "area", "tissue", "dense")


class TileSampler(Sampler):
    """Random tile locations (brain, image, row, column, tile_size) inside the image bounds.

    strategy: "uniform" gives every image the same chance; "area" weights images by the number of tile
    positions they hold, so every position of the data is equally likely; "tissue" weights by tissue
    area and puts each tile's centre in a tissue block of the TissueMap. Seeded per epoch (set_epoch)
    with a torch generator; it runs in the main process, so workers receive distinct locations.
    """

    def __init__(
        self,
        infos: list[ImageInfo],
        *,
        tile_size: int,
        tiles: int,
        seed: int = 0,
        strategy: str = "area",
        tissue: TissueMap | None = None,
    ):
        self.tile_size = check_tile_size(tile_size)
        if isinstance(tiles, bool) or not isinstance(tiles, int) or tiles < 1:
            raise UserError(f"tiles per epoch {tiles!r} must be a positive integer; ask for at least one tile")
        if strategy not in STRATEGIES:
            raise UserError(f"sampling strategy '{strategy}' is unknown; choose one of {', '.join(STRATEGIES)}")
        if strategy in ("tissue", "dense") and tissue is None:
            raise ValueError(f"the {strategy} strategy needs a TissueMap")
        if not infos:
            raise UserError("no images to sample tiles from; check data.test_brain and the data file")
        self.infos, self.tiles, self.seed, self.strategy, self.tissue = infos, tiles, seed, strategy, tissue
        self.epoch = 0
        self._warn_small()
        if tissue is not None and strategy in ("tissue", "dense"):
            self._warn_glass()

    def _warn_small(self) -> None:
        small = [i for i in self.infos if i.height < self.tile_size or i.width < self.tile_size]
        if small:
            brains = sorted({i.brain for i in small})
            warnings.warn(
                f"tile size {self.tile_size} exceeds {len(small)} image(s) of {', '.join(brains)}; "
                "their tiles are padded with the training mean",
                stacklevel=3,
            )

    def _warn_glass(self) -> None:
        from islandvae.data.hdf5 import warn_once

        glass = [i for i, b in zip(self.infos, self.tissue.blocks) if not b.any()]
        for brain in sorted({i.brain for i in glass}):
            names = [i.name for i in glass if i.brain == brain]
            whole = len(names) == sum(i.brain == brain for i in self.infos)
            what = f"brain {brain} holds" if whole else f"{len(names)} image(s) of {brain} hold"
            shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
            warn_once(f"{what} no tissue by the tissue map (only glass: {shown}); no tile is drawn from them")

    def __len__(self) -> int:
        return self.tiles

    def set_epoch(self, epoch: int) -> None:
        """Draw a different, reproducible set of locations in each epoch."""
        self.epoch = epoch

    def weights(self) -> torch.Tensor:
        """Chance of each image to be picked for a tile, for the uniform and area strategies.

        (The tissue strategy draws tissue blocks directly, which weights images by tissue area.)
        """
        if self.strategy == "uniform":
            return torch.ones(len(self.infos), dtype=torch.float64)
        s = self.tile_size
        return torch.tensor(
            [max(i.height - s + 1, 1) * max(i.width - s + 1, 1) for i in self.infos], dtype=torch.float64
        )

    def locations(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This epoch's tiles as tensors: image index, row, column (all int64, length `tiles`)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        s, n = self.tile_size, self.tiles
        heights = torch.tensor([i.height for i in self.infos])
        widths = torch.tensor([i.width for i in self.infos])
        if self.strategy in ("tissue", "dense"):
            # tissue: every tissue block of every image is equally likely (images count by tissue area);
            # dense: blocks darker than their image's median tissue block (crowded cells: islands) more likely.
            image, by, bx = self._pick_blocks(n, g)
            jitter = torch.rand(n, 2, generator=g)
            rows = ((by + jitter[:, 0]) * TISSUE_BLOCK).long() - s // 2
            cols = ((bx + jitter[:, 1]) * TISSUE_BLOCK).long() - s // 2
            h, w = heights[image], widths[image]
            rows = torch.minimum(rows.clamp(min=0), (h - s).clamp(min=0))
            cols = torch.minimum(cols.clamp(min=0), (w - s).clamp(min=0))
            return image, rows, cols
        image = torch.multinomial(self.weights(), n, replacement=True, generator=g)
        u = torch.rand(n, 2, generator=g, dtype=torch.float64)
        rows = (u[:, 0] * (heights[image] - s + 1).clamp(min=1)).long()
        cols = (u[:, 1] * (widths[image] - s + 1).clamp(min=1)).long()
        return image, rows, cols

    def _tissue_cells(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Every tissue block of every image, in image order and row-major within an image: each block's flat
        index in its image's block map (int32), the running count of blocks at the end of each image, the
        images' blocks per row, and (for the dense strategy) each block's weight. Four bytes per block: at the
        course file's scale (millions of blocks) three int64 coordinates per block cost several hundred MB."""
        if not hasattr(self, "_cells"):
            flat = [np.flatnonzero(m).astype(np.int32) for m in self.tissue.blocks]
            if not any(len(f) for f in flat):
                raise UserError("no image holds tissue by the tissue map; use sampling strategy 'area'")
            weight = None
            if self.strategy == "dense":
                weight = torch.from_numpy(np.concatenate([self.tissue.dense_weights(k) for k in range(len(flat))]))
            self._cells = (
                torch.from_numpy(np.concatenate(flat)),
                torch.tensor(np.cumsum([len(f) for f in flat])),
                torch.tensor([m.shape[1] for m in self.tissue.blocks]),
                weight,
            )
        return self._cells

    def _pick_blocks(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image index, block row and block column of n tissue blocks drawn for this epoch."""
        flat, ends, per_row, weight = self._tissue_cells()
        pick = (
            torch.randint(0, flat.numel(), (n,), generator=g)
            if self.strategy == "tissue"
            else torch.multinomial(weight, n, replacement=True, generator=g)
        )
        image = torch.searchsorted(ends, pick, right=True)
        where = flat[pick].long()
        return image, where // per_row[image], where % per_row[image]

    def __iter__(self):
        image, rows, cols = self.locations()
        names = [(i.brain, i.name) for i in self.infos]
        s = self.tile_size
        for k, r, c in zip(image.tolist(), rows.tolist(), cols.tolist()):
            brain, name = names[k]
            yield (brain, name, r, c, s)


class TileBatchSampler(Sampler):
    """Batches of a TileSampler's locations, for DataLoader(batch_sampler=...): the training loader's fast path."""

    def __init__(self, sampler: TileSampler, batch_size: int, *, drop_last: bool = False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"batch size {batch_size!r} must be a positive integer")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __len__(self) -> int:
        n, b = len(self.sampler), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Passed on to the tile sampler."""
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        image, rows, cols = self.sampler.locations()
        s = self.sampler.tile_size
        heights = torch.tensor([i.height for i in self.sampler.infos])[image]
        widths = torch.tensor([i.width for i in self.sampler.infos])[image]
        inside = (rows >= 0) & (cols >= 0) & (rows + s <= heights) & (cols + s <= widths)
        names = [(i.brain, i.name) for i in self.sampler.infos]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            end = min(start + self.batch_size, image.numel())
            yield KeyBatch(
                names, image[start:end], rows[start:end], cols[start:end], s, inside=bool(inside[start:end].all())
            )


def evaluation_keys(images: ImageSource, stats: PixelStats, *, tile_size: int, count: int, seed: int) -> list[Key]:
    """The test brain's fixed evaluation tiles: tissue-aware and seeded, the same on every run.

    The one definition that training's evaluation and chapters 2, 4 and 5 share.
    """
    return fixed_tiles(
        images.infos(), tile_size=tile_size, count=count, seed=seed, strategy="tissue", tissue=tissue_map(images, stats)
    )


def fixed_tiles(
    infos: list[ImageInfo],
    *,
    tile_size: int,
    count: int,
    seed: int = 0,
    strategy: str = "area",
    tissue: TissueMap | None = None,
) -> list[Key]:
    """A fixed, seeded list of tile locations (the same on every run), e.g. the test brain's evaluation set."""
    return list(TileSampler(infos, tile_size=tile_size, tiles=count, seed=seed, strategy=strategy, tissue=tissue))
