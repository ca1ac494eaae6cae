"""HDF5 access: the inventory of a file of the course layout, and its images in RAM or lazily.

The layout (data-spec section 1): root groups, one per brain; in each group one 2-D dataset per
image. Nothing else is assumed: group names, dataset names, counts and sizes are read from the
file. Pixels stay uint8 (8-bit grey values, as in the course file; other types are refused with one line); float copies
are made only of single tiles, later, by the tile pipeline.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from islandvae import files
from islandvae.data.filters import first_line, pixel_problem, read_pixels, register_filters
from islandvae.errors import UserError
from islandvae.files import show

# 8-bit grey values, as in the course file. Every stage after the inventory (tile buffers, tissue maps, the blob
# detector, figures) works in 0..255: a 16-bit file is refused here with one line rather than failing later.
SUPPORTED_DTYPES = (np.dtype(np.uint8),)
COURSE_FILE_HINT = (
    "if it is the course file cell_data.h5, put it at data/cell_data.h5 and select configs/real.toml "
    "(make CONFIG=configs/real.toml, or ISLANDVAE_CONFIG=configs/real.toml)"
)


@dataclass(frozen=True)
class ImageInfo:
    """One image as the file describes it, without its pixels."""

    brain: str
    name: str
    height: int
    width: int
    dtype: str
    squeeze: bool = False  # stored as (H, W, 1); read as (H, W)

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)


@dataclass(frozen=True)
class Inventory:
    """Every image of a file, brain by brain, in the file's (alphabetical) order."""

    path: Path
    images: tuple[ImageInfo, ...]

    @property
    def brains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(info.brain for info in self.images))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.images[0].dtype)

    def of(self, brain: str) -> list[ImageInfo]:
        """The images of one brain."""
        return [info for info in self.images if info.brain == brain]

    def get(self, brain: str, name: str) -> ImageInfo:
        """The image `name` of `brain`."""
        for info in self.images:
            if info.brain == brain and info.name == name:
                return info
        raise KeyError(f"{brain}/{name}")

    def totals(self) -> list[dict]:
        """Per brain: image count, pixel count, stored bytes, smallest and largest image."""
        rows = []
        for brain in self.brains:
            infos = self.of(brain)
            smallest = min(infos, key=lambda i: i.pixels)
            largest = max(infos, key=lambda i: i.pixels)
            pixels = sum(i.pixels for i in infos)
            rows.append(
                dict(
                    brain=brain,
                    images=len(infos),
                    pixels=pixels,
                    bytes=pixels * self.dtype.itemsize,
                    smallest=smallest,
                    largest=largest,
                )
            )
        return rows


def open_h5(path: Path | str) -> h5py.File:
    """Open an HDF5 file read-only, turning every way that can fail into a one-line UserError."""
    path = Path(path)
    files.resolved(path, "data file", "point data.path at the file itself")  # a loop of symbolic links
    if not path.exists():
        raise UserError(f"data file {show(path)} not found; {COURSE_FILE_HINT}, or point data.path at it")
    if path.is_dir():
        raise UserError(f"data file {show(path)} is a directory; point data.path at the .h5 file inside it")
    register_filters()
    try:
        if not h5py.is_hdf5(path):
            raise UserError(f"data file {show(path)} is not an HDF5 file; point data.path at the .h5 file")
        return h5py.File(path, "r")
    except OSError as err:
        if err.errno == 11 or "unable to lock file" in str(err):  # EAGAIN: HDF5's file lock, held by a writer
            raise UserError(
                f"data file {show(path)} is in use: another process holds it open for writing (HDF5 "
                "file locking); wait for that process to end or close the file there, then run again"
            ) from None
        raise UserError(
            f"data file {show(path)} cannot be read as HDF5 ({first_line(err)}); "
            "it is truncated or corrupt: copy it again"
        ) from None


def read_inventory(path: Path | str) -> Inventory:
    """List every image (brain, name, shape, dtype) from the file's metadata; no pixel is read."""
    path = Path(path)
    with open_h5(path) as f:
        return describe_file(f, path)


def describe_file(f: h5py.File, path: Path) -> Inventory:
    """The inventory of an open file, every image checked (2-D, uint8, not empty)."""
    where = show(path)
    brains = [name for name in f if isinstance(f.get(name), h5py.Group)]
    skipped = [f"/{name} (not a group)" for name in f if name not in brains]
    if not brains:
        raise UserError(
            f"data file {where} holds no groups; expected one group per brain (B01, B02, ...) of 2-D images"
        )
    images = []
    for brain in brains:
        group = f[brain]
        names = [name for name in group if isinstance(group.get(name), h5py.Dataset)]
        skipped += [f"{brain}/{name} (a group inside a brain)" for name in group if name not in names]
        if not names:
            raise UserError(f"group '{brain}' in {where} holds no images; remove the empty group or use another file")
        images.extend(_describe(group[name], brain, name, where) for name in names)
    if skipped:
        warn_once(
            f"data file {where} holds {len(skipped)} object(s) that are not images of a brain and are "
            f"skipped: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}"
        )
    dtypes = sorted({info.dtype for info in images})
    if len(dtypes) > 1:
        raise UserError(f"data file {where} mixes pixel types {', '.join(dtypes)}; convert all images to one type")
    return Inventory(path=path, images=tuple(images))


def _describe(ds: h5py.Dataset, brain: str, name: str, where: str) -> ImageInfo:
    label = f"dataset '{brain}/{name}' in {where}"
    shape = ds.shape
    squeeze = len(shape) == 3 and shape[2] == 1
    if len(shape) != 2 and not squeeze:
        raise UserError(f"{label} has shape {shape}; expected a 2-D grey image (H, W): remove or convert it")
    if min(shape[:2]) == 0:
        raise UserError(f"{label} is empty (shape {shape}); remove it")
    dtype = ds.dtype
    if dtype not in SUPPORTED_DTYPES:
        hint = " (16-bit: scale it to 0-255 and store it as uint8, as the course file is)" if dtype.kind == "u" else ""
        raise UserError(f"{label} has pixel type {dtype}; islandvae reads 8-bit grey values (uint8): convert it{hint}")
    return ImageInfo(
        brain=brain, name=name, height=int(shape[0]), width=int(shape[1]), dtype=dtype.name, squeeze=squeeze
    )


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """A warning that a process gives once, however often the file is read."""
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=3)


def check_brain(inventory: Inventory, brain: str, *, option: str = "data.test_brain") -> None:
    """Refuse a brain name that the file does not hold."""
    if brain not in inventory.brains:
        raise UserError(
            f"{option} '{brain}' is not in {show(inventory.path)}, which holds {', '.join(inventory.brains)}; "
            f"set {option} to one of them"
        )


def training_brains(inventory: Inventory, test_brain: str) -> tuple[str, ...]:
    """All brains of the file except the test brain (checked to exist)."""
    check_brain(inventory, test_brain)
    brains = tuple(b for b in inventory.brains if b != test_brain)
    if not brains:
        raise UserError(
            f"{show(inventory.path)} holds only the test brain '{test_brain}'; no brain is left to train on"
        )
    return brains


class ImageSource:
    """Images of chosen brains, read by (brain, name): in RAM (InMemoryImages) or from the file (LazyImages)."""

    inventory: Inventory
    brains: tuple[str, ...]
    limit: int = 0  # at most this many images per brain (the first ones); 0: all

    def infos(self) -> list[ImageInfo]:
        """The images this source serves."""
        chosen = [info for info in self.inventory.images if info.brain in self.brains]
        if self.limit:
            chosen = [i for b in self.brains for i in [i for i in chosen if i.brain == b][: self.limit]]
            chosen.sort(key=self.inventory.images.index)
        return chosen

    def image(self, brain: str, name: str) -> np.ndarray:
        """A whole image, (H, W), in its stored type."""
        info = self.inventory.get(brain, name)
        return self.region(brain, name, 0, 0, info.height, info.width)

    def region(self, brain: str, name: str, row: int, col: int, height: int, width: int) -> np.ndarray:
        """Pixels [row:row+height, col:col+width] of one image, (height, width), which must lie inside it."""
        info = self.inventory.get(brain, name)
        if brain not in self.brains:
            raise KeyError(f"brain {brain} is not loaded")
        if row < 0 or col < 0 or row + height > info.height or col + width > info.width:
            raise IndexError(f"region ({row}, {col}, {height}, {width}) outside {brain}/{name} of shape {info.shape}")
        return self._read(info, slice(row, row + height), slice(col, col + width))

    def _read(self, info: ImageInfo, rows: slice, cols: slice) -> np.ndarray:
        raise NotImplementedError


class InMemoryImages(ImageSource):
    """The chosen brains read once into RAM: one flat uint8 buffer, an image after another.

    One large array rather than thousands of small ones: DataLoader workers share it after fork
    without copies (no per-object reference counts are touched), and a batch of tiles can be cut
    from it with one vectorised gather. `arrays` holds 2-D views into the buffer.
    """

    def __init__(self, path: Path | str, brains: tuple[str, ...] | list[str], *, progress: bool = True, limit: int = 0):
        path = Path(path)
        with open_h5(path) as f:
            self.inventory = describe_file(f, path)
            for brain in brains:
                check_brain(self.inventory, brain, option="brain")
            self.brains, self.limit = tuple(brains), limit
            infos = self.infos()
            sizes = np.array([i.pixels for i in infos], dtype=np.int64)
            self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            self.buffer = np.empty(int(sizes.sum()), dtype=self.inventory.dtype)
            self.arrays: dict[tuple[str, str], np.ndarray] = {}
            with tqdm(
                total=self.buffer.nbytes,
                unit="B",
                unit_scale=True,
                desc="loading images",
                disable=None if progress else True,
            ) as bar:
                for info, offset in zip(infos, self.offsets.tolist()):
                    # read_direct fills the buffer in place: no second copy, so peak memory stays
                    # at the pixel bytes plus the interpreter.
                    array = self.buffer[offset : offset + info.pixels].reshape(info.shape)
                    ds = f[info.brain][info.name]
                    try:
                        ds.read_direct(array.reshape(ds.shape))  # a view, (H, W, 1) for squeezed images
                    except OSError as err:
                        raise pixel_problem(err, ds, info, path) from None
                    self.arrays[(info.brain, info.name)] = array
                    bar.update(array.nbytes)

    @property
    def nbytes(self) -> int:
        """Bytes of pixels held."""
        return self.buffer.nbytes

    def _read(self, info: ImageInfo, rows: slice, cols: slice) -> np.ndarray:
        return self.arrays[(info.brain, info.name)][rows, cols]


class LazyImages(ImageSource):
    """Reads each region straight from the file, for files larger than RAM.

    The file handle is opened on first use in each process (HDF5 handles must not cross a fork,
    as DataLoader workers do) and is not pickled.
    """

    def __init__(self, path: Path | str, brains: tuple[str, ...] | list[str] | None = None):
        self.path = Path(path)
        self.inventory = read_inventory(self.path)
        for brain in brains or ():
            check_brain(self.inventory, brain, option="brain")
        self.brains = tuple(brains) if brains else self.inventory.brains
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = open_h5(self.path)
            self._pid = os.getpid()
        return self._file

    def _read(self, info: ImageInfo, rows: slice, cols: slice) -> np.ndarray:
        ds = self._handle()[info.brain][info.name]
        block = read_pixels(ds, (rows, cols), info, self.path)
        return block[..., 0] if info.squeeze else block

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
