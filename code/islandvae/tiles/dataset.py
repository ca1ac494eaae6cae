"""Tiles: a Dataset that cuts standardised tiles from images in RAM, their augmentation and corruption.

Where the tiles come from is sampler.py's (the Sampler of tile locations) and tissue.py's (the tissue map).

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
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from islandvae.data.hdf5 import InMemoryImages
from islandvae.data.stats import PixelStats
from islandvae.errors import UserError

Key = tuple[str, str, int, int, int]  # (brain, image, row, column, tile_size)


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

    def __init__(
        self, images: InMemoryImages, stats: PixelStats, *, augment: bool = False, device: str | torch.device = "cpu"
    ):
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
            image, rows, cols, s = (
                keys.image.to(self.device),
                keys.rows.to(self.device),
                keys.cols.to(self.device),
                keys.size,
            )
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
        return (
            image,
            torch.tensor(rows, device=self.device),
            torch.tensor(cols, device=self.device),
            check_tile_size(sizes[0]),
        )

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
    from islandvae.tiles.imaging import blur_each

    b = tiles.shape[0]
    sigma = torch.rand(b, generator=generator) * strength + 1e-3
    x = blur_each(tiles, sigma.to(tiles), half=max(1, math.ceil(2 * strength)))
    noise = (
        torch.randn(tiles.shape, generator=generator).to(tiles)
        * (torch.rand(b, generator=generator).to(tiles) * strength / 10)[:, None, None, None]
    )
    return x + noise


class KeyBatch(Sequence):
    """A batch of tile keys held as tensors, so that TileDataset cuts it without a Python loop.

    It reads as a list of (brain, image, row, column, tile_size) tuples; `inside` says whether every
    tile lies inside its image (worked out for the whole epoch at once by TileBatchSampler).
    """

    def __init__(
        self,
        names: list[tuple[str, str]],
        image: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        size: int,
        inside: bool | None = None,
    ):
        self.names, self.image, self.rows, self.cols, self.size, self.inside = names, image, rows, cols, size, inside

    def __len__(self) -> int:
        return self.image.numel()

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        return (*self.names[int(self.image[k])], int(self.rows[k]), int(self.cols[k]), self.size)

    def __eq__(self, other) -> bool:
        return list(self) == list(other)
