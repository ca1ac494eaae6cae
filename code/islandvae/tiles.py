"""Tiles: a Dataset that cuts standardised tiles from images in RAM, and a Sampler of tile locations.

A tile is named by the tuple (brain, image, row, column, tile_size), its top-left corner in pixels.
The Dataset keeps all images in one flat uint8 tensor (from InMemoryImages) and cuts a whole batch in
one gather (`__getitems__`, which DataLoader calls when it exists): each tile is tile_size rows of
tile_size contiguous bytes, so a strided view of "every run of tile_size bytes" indexed by the row
starts of all tiles copies exactly the bytes needed. The same code runs on a GPU when the buffer is
moved there (`device=`), so batches are cut without host work. Pixels beyond an image's border are
padded with the training mean, which is 0 after standardisation: no made-up structure.
"""

from __future__ import annotations

import ctypes
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from islandvae.data import ImageInfo, ImageSource, InMemoryImages
from islandvae.errors import UserError
from islandvae.stats import PixelStats

Key = tuple[str, str, int, int, int]  # (brain, image, row, column, tile_size)
STRATEGIES = ("uniform", "area", "tissue", "dense")
DENSE_WEIGHT = 1.0  # strategy "dense": a block's weight is exp(DENSE_WEIGHT x how many spreads darker it is than
# its image's median tissue block), clipped to [-2, 3] spreads
TISSUE_BLOCK = 16  # px per cell of the tissue map
STRIP_PIXELS = 1 << 20  # pixels of an image that tissue_blocks turns into floats at once


def check_tile_size(tile_size) -> int:
    """A tile size must be a positive integer."""
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) or tile_size < 1:
        raise UserError(f"tile size {tile_size!r} is not a positive integer; use e.g. 64")
    return int(tile_size)


def keep_freed_memory(limit: int = 32 * 2**20) -> bool:
    """Ask glibc to serve blocks up to `limit` bytes from its heap and to keep freed heap memory.

    By default a batch of a few MB is mapped fresh from the kernel and unmapped when freed, so every
    batch pays a page fault per 4 KB page, which halves the loader's rate once the training loop holds
    one batch while the next is cut. Larger blocks (e.g. image buffers) are still mapped and returned.
    Process-wide; a no-op where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, limit)) and bool(libc.mallopt(-1, 2 * limit))  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


def identity_collate(batch):
    """DataLoader collate for datasets whose __getitems__ already returns a batch tensor."""
    return batch


class TileDataset(Dataset):
    """Standardised float32 tiles (1, s, s) of images held in RAM (or on a GPU) as one uint8 buffer."""

    def __init__(self, images: InMemoryImages, stats: PixelStats, *, augment: bool = False,
                 device: str | torch.device = "cpu"):
        self.infos = images.infos()
        self.names = [(i.brain, i.name) for i in self.infos]
        self.index = {name: k for k, name in enumerate(self.names)}
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.buffer = torch.from_numpy(images.buffer).to(self.device)  # shares memory on the CPU
        self.offsets = torch.from_numpy(images.offsets).to(self.device)
        self.heights = torch.tensor([i.height for i in self.infos], device=self.device)
        self.widths = torch.tensor([i.width for i in self.infos], device=self.device)
        self.mean, self.std = float(stats.mean), float(stats.std)
        self.augment = augment
        self._step_cache: dict[int, torch.Tensor] = {}
        self._work: torch.Tensor | None = None
        self._shift = torch.tensor(-self.mean / self.std, dtype=torch.float32, device=self.device)

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, key: Key) -> torch.Tensor:
        """One tile, (1, tile_size, tile_size) float32, standardised."""
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: list[Key]) -> torch.Tensor:
        """A batch of tiles, (B, 1, s, s) float32, standardised (and augmented if switched on)."""
        if isinstance(keys, KeyBatch) and keys.names == self.names:  # the fast path: keys already as tensors
            image, rows, cols, s = (keys.image.to(self.device), keys.rows.to(self.device), keys.cols.to(self.device),
                                    keys.size)
            inside = keys.inside
        else:
            image, rows, cols, s = self._tensors(keys)
            inside = None
        if inside is None:
            h, w = self.heights[image], self.widths[image]
            inside = bool(((rows >= 0) & (cols >= 0) & (rows + s <= h) & (cols + s <= w)).all())
        raw = self._gather(image, rows, cols, s) if inside else self._gather_padded(image, rows, cols, s)
        tiles = torch.empty(raw.shape, dtype=torch.float32, device=self.device).copy_(raw)
        torch.add(self._shift, tiles, alpha=1 / self.std, out=tiles)  # (x - mean) / std in one fused pass
        if not inside:
            tiles[raw_pad_mask(rows, cols, self.heights[image], self.widths[image], s)] = 0.0  # the mean, standardised
        if self.augment:
            tiles = augment(tiles, seed=int((rows * 1_000_003 + cols).sum()) % (2**62))
        return tiles.unsqueeze(1)  # (B, 1, s, s)

    def _tensors(self, keys: list[Key]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Image index, rows and columns of a list of keys as tensors, and their common tile size."""
        brains, names, rows, cols, sizes = zip(*keys)
        if len(set(sizes)) != 1:
            raise ValueError(f"a batch mixes tile sizes {sorted(set(sizes))}")
        try:
            image = torch.tensor(list(map(self.index.__getitem__, zip(brains, names))), device=self.device)
        except KeyError as err:
            raise KeyError(f"image {err.args[0]} is not in this dataset") from None
        return (image, torch.tensor(rows, device=self.device), torch.tensor(cols, device=self.device),
                check_tile_size(sizes[0]))

    def _gather(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, s: int) -> torch.Tensor:
        """uint8 (B, s, s) of tiles that lie inside their images."""
        w = self.widths[image]
        corner = self.offsets[image] + rows * w + cols  # flat index of each tile's top-left pixel
        starts = torch.addcmul(corner[:, None], w[:, None], self._steps(s))  # (B, s): each tile row's start
        runs = self.buffer.as_strided((self.buffer.numel() - s + 1, s), (1, 1))  # every run of s bytes
        scratch = self._scratch(len(image) * s * s)  # reused: a fresh allocation costs page faults every batch
        return torch.index_select(runs, 0, starts.view(-1), out=scratch.view(-1, s)).view(len(image), s, s)

    def _scratch(self, n: int) -> torch.Tensor:
        """A uint8 work buffer of n bytes, kept between batches (never handed out)."""
        if self._work is None or self._work.numel() < n:
            self._work = torch.empty(n, dtype=torch.uint8, device=self.device)
        return self._work[:n]

    def _steps(self, s: int) -> torch.Tensor:
        """0..s-1 as a (1, s) int64 tensor on the dataset's device, made once per tile size."""
        if s not in self._step_cache:
            self._step_cache[s] = torch.arange(s, device=self.device)[None]
        return self._step_cache[s]

    def _gather_padded(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, s: int) -> torch.Tensor:
        """uint8 (B, s, s) where pixels outside the image are read from its nearest edge (masked later)."""
        steps = torch.arange(s, device=self.device)
        h, w = self.heights[image, None], self.widths[image, None]
        r = torch.minimum(torch.clamp(rows[:, None] + steps, min=0), h - 1)  # (B, s)
        c = torch.minimum(torch.clamp(cols[:, None] + steps, min=0), w - 1)
        flat = self.offsets[image, None, None] + r[:, :, None] * w[:, :, None] + c[:, None, :]
        return self.buffer[flat]


def raw_pad_mask(rows, cols, h, w, s) -> torch.Tensor:
    """(B, s, s) True where a tile's pixel lies outside its image."""
    steps = torch.arange(s, device=rows.device)
    r, c = rows[:, None] + steps, cols[:, None] + steps
    out_r = (r < 0) | (r >= h[:, None])
    out_c = (c < 0) | (c >= w[:, None])
    return out_r[:, :, None] | out_c[:, None, :]


def augment(tiles: torch.Tensor, *, seed: int, brightness: float = 0.2, contrast: float = 0.1) -> torch.Tensor:
    """The eight flips and 90-degree rotations, and a mild brightness/contrast jitter, per tile (B, s, s).

    The jitter (in standardised units: x * (1 + c) + b) imitates the brain-to-brain staining shift.
    The seed comes from the batch's tile positions, so the result does not depend on the worker.
    """
    g = torch.Generator().manual_seed(seed)
    n = tiles.shape[0]
    choice = torch.randint(0, 8, (n,), generator=g)
    out = torch.empty_like(tiles)
    for k in range(8):
        pick = (choice == k).nonzero().flatten().to(tiles.device)
        if pick.numel():
            t = torch.rot90(tiles[pick], k % 4, dims=(1, 2))
            out[pick] = t.flip(2) if k >= 4 else t
    c = (torch.rand(n, generator=g) * 2 - 1) * contrast
    b = (torch.rand(n, generator=g) * 2 - 1) * brightness
    return out * (1 + c.to(tiles.device))[:, None, None] + b.to(tiles.device)[:, None, None]


def corrupt(tiles: torch.Tensor, *, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Tiles (B, 1, s, s) blurred with a Gaussian of sigma uniform in [0, strength] px and given Gaussian noise of
    std uniform in [0, strength / 10], per tile: what the imaging varies between sections, not the tissue."""
    b, s = tiles.shape[0], tiles.shape[-1]
    sigma = torch.rand(b, generator=generator) * strength + 1e-3
    half = max(1, math.ceil(2 * strength))
    taps = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps[None] / sigma[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(tiles)  # (B, 2 half + 1), one kernel per tile
    x = tiles.reshape(1, b, s, s)
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (half, half, 0, 0), mode="reflect"),
                                   kernel[:, None, None, :], groups=b)
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 0, half, half), mode="reflect"),
                                   kernel[:, None, :, None], groups=b)
    noise = torch.randn(tiles.shape, generator=generator).to(tiles) * (torch.rand(b, generator=generator).to(tiles)
                                                                       * strength / 10)[:, None, None, None]
    return x.reshape(tiles.shape) + noise


@dataclass(frozen=True)
class TissueMap:
    """Per image, which TISSUE_BLOCK x TISSUE_BLOCK blocks hold tissue (not glass, not a tear), and their means."""

    blocks: list[np.ndarray]  # bool (ceil(H / b), ceil(W / b)) per image
    means: list[np.ndarray] | None = None  # float32, the same shape: each block's mean grey value

    def dense_weights(self, k: int) -> np.ndarray:
        """Sampling weights of image k's tissue blocks for the "dense" strategy: darker than the image's median
        tissue block (where cells crowd: islands) weighs more, exp(DENSE_WEIGHT z), z clipped to [-2, 3]."""
        tissue = self.means[k][self.blocks[k]]
        if not tissue.size:
            return tissue
        spread = float(np.std(tissue)) or 1.0
        z = np.clip((np.median(tissue) - tissue) / spread, -2, 3)
        return np.exp(DENSE_WEIGHT * z)


def tissue_map(images: ImageSource, stats: PixelStats) -> TissueMap:
    """Blocks whose mean is below the glass level or whose texture is clearly above noise (an image at a time)."""
    glass = stats.mean + 1.5 * stats.std  # about 230 on the stand-in; glass is brighter and flat
    pairs = [tissue_blocks(images.image(info.brain, info.name), glass, 0.35 * stats.std) for info in images.infos()]
    return TissueMap(blocks=[b for b, _ in pairs], means=[m for _, m in pairs])


def tissue_blocks(a: np.ndarray, glass: float, texture: float) -> tuple[np.ndarray, np.ndarray]:
    """(ceil(H / b), ceil(W / b)) bool: blocks of one image darker than `glass` or with a std above `texture`; and
    every block's mean. Computed a strip of block rows at a time: the float copy it needs stays a few MB even
    for the course file's largest sections (a whole-image copy took 12 bytes per pixel at once)."""
    b = TISSUE_BLOCK
    hb, wb = math.ceil(a.shape[0] / b), math.ceil(a.shape[1] / b)
    strip = max(1, STRIP_PIXELS // (wb * b * b))  # block rows per strip
    tissue, means = np.zeros((hb, wb), dtype=bool), np.zeros((hb, wb), dtype=np.float32)
    for top in range(0, hb, strip):
        rows = a[top * b:(top + strip) * b]
        n = math.ceil(rows.shape[0] / b)
        padded = np.pad(rows, ((0, n * b - rows.shape[0]), (0, wb * b - a.shape[1])), mode="edge").astype(np.float32)
        cells = padded.reshape(n, b, wb, b)
        means[top:top + n] = cells.mean(axis=(1, 3))
        tissue[top:top + n] = (means[top:top + n] < glass) | (cells.std(axis=(1, 3)) > texture)
    return tissue, means


class TileSampler(Sampler):
    """Random tile locations (brain, image, row, column, tile_size) inside the image bounds.

    strategy: "uniform" gives every image the same chance; "area" weights images by the number of tile
    positions they hold, so every position of the data is equally likely; "tissue" weights by tissue
    area and puts each tile's centre in a tissue block of the TissueMap. Seeded per epoch (set_epoch)
    with a torch generator; it runs in the main process, so workers receive distinct locations.
    """

    def __init__(self, infos: list[ImageInfo], *, tile_size: int, tiles: int, seed: int = 0,
                 strategy: str = "area", tissue: TissueMap | None = None):
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
            warnings.warn(f"tile size {self.tile_size} exceeds {len(small)} image(s) of {', '.join(brains)}; "
                          "their tiles are padded with the training mean", stacklevel=3)

    def _warn_glass(self) -> None:
        from islandvae.data import warn_once

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
        return torch.tensor([max(i.height - s + 1, 1) * max(i.width - s + 1, 1) for i in self.infos],
                            dtype=torch.float64)

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
            self._cells = (torch.from_numpy(np.concatenate(flat)), torch.tensor(np.cumsum([len(f) for f in flat])),
                           torch.tensor([m.shape[1] for m in self.tissue.blocks]), weight)
        return self._cells

    def _pick_blocks(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image index, block row and block column of n tissue blocks drawn for this epoch."""
        flat, ends, per_row, weight = self._tissue_cells()
        pick = (torch.randint(0, flat.numel(), (n,), generator=g) if self.strategy == "tissue" else
                torch.multinomial(weight, n, replacement=True, generator=g))
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


class KeyBatch(Sequence):
    """A batch of tile keys held as tensors, so that TileDataset cuts it without a Python loop.

    It reads as a list of (brain, image, row, column, tile_size) tuples; `inside` says whether every
    tile lies inside its image (worked out for the whole epoch at once by TileBatchSampler).
    """

    def __init__(self, names: list[tuple[str, str]], image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                 size: int, inside: bool | None = None):
        self.names, self.image, self.rows, self.cols, self.size, self.inside = names, image, rows, cols, size, inside

    def __len__(self) -> int:
        return self.image.numel()

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        return (*self.names[int(self.image[k])], int(self.rows[k]), int(self.cols[k]), self.size)

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

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
            yield KeyBatch(names, image[start:end], rows[start:end], cols[start:end], s,
                           inside=bool(inside[start:end].all()))


def evaluation_keys(images: ImageSource, stats: PixelStats, *, tile_size: int, count: int, seed: int) -> list[Key]:
    """The test brain's fixed evaluation tiles: tissue-aware and seeded, the same on every run.

    The one definition that training's evaluation and chapters 2, 4 and 5 share.
    """
    return fixed_tiles(images.infos(), tile_size=tile_size, count=count, seed=seed, strategy="tissue",
                       tissue=tissue_map(images, stats))


def fixed_tiles(infos: list[ImageInfo], *, tile_size: int, count: int, seed: int = 0,
                strategy: str = "area", tissue: TissueMap | None = None) -> list[Key]:
    """A fixed, seeded list of tile locations (the same on every run), e.g. the test brain's evaluation set."""
    return list(TileSampler(infos, tile_size=tile_size, tiles=count, seed=seed, strategy=strategy, tissue=tissue))
