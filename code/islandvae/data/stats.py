"""Pixel statistics of the training brains: exact, in one streaming pass, cached on disk.

Grey values are 8-bit integers (uint8), so the pass counts them: a histogram per brain, of
int64 counts, accumulated block by block (memory bounded by BLOCK_PIXELS whatever the image size).
Min, max, mean and standard deviation follow from the summed histograms with float64
accumulators, exactly up to float64 rounding. The histograms are kept too: the exploration
chapter plots them to show the brain-to-brain shift.

The cache is keyed by the file's identity (resolved path, size, modification time, and a fingerprint of a few
windows of every image's pixels: data_identity) and the brains, so a second call reads a small JSON file and a
few chunks; `recompute` counts everything again.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from islandvae.data.filters import read_pixels
from islandvae.data.hdf5 import (
    ImageInfo,
    Inventory,
    describe_file,
    open_h5,
    training_brains,
)
from islandvae.errors import UserError
from islandvae.files import recomputed, show, write_atomic

BLOCK_PIXELS = 1 << 22  # rows are read in blocks of about 4 Mpx (32 MB as int64 in bincount)
CACHE_VERSION = 2  # 2: keyed by the content fingerprint too (data_identity)
FINGERPRINT_WINDOWS = 3  # per side: 9 windows per image go into the content fingerprint
FINGERPRINT_WINDOW = 64  # px


@dataclass(frozen=True)
class PixelStats:
    """Global grey-value statistics over some brains, in the file's own units (0..255 for uint8)."""

    min: float
    max: float
    mean: float
    std: float  # population standard deviation (ddof=0) over all pixels
    count: int
    brains: tuple[str, ...]


def file_identity(path: Path | str) -> dict:
    """What identifies a data file for caching: resolved path, size in bytes, modification time."""
    path = Path(path).resolve()
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def data_identity(path: Path | str) -> dict:
    """What identifies a data file's content for caching: file_identity and a fingerprint of its pixels, so that
    pixels changed in place with the same size and modification time (as `rsync -a` or `cp -p` of another version
    leave them) are not served numbers of the old ones."""
    path = Path(path).resolve()
    st = path.stat()
    identity = file_identity(path)
    return identity | {"content": _fingerprint(str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)}


@functools.lru_cache(maxsize=8)
def _fingerprint(path: str, *stat) -> str:
    """A hash of every image's name, shape and type and of FINGERPRINT_WINDOWS**2 windows of its pixels spread over
    it (a few chunks per image: well under a second on the 2.5 GB course file). Kept per process while the file's
    status (size, times, inode) is unchanged; a new process always reads it again."""
    digest = hashlib.sha1()
    with open_h5(path) as f:
        inventory = describe_file(f, Path(path))
        for info in inventory.images:
            ds = f[info.brain][info.name]
            digest.update(f"{info.brain}/{info.name} {ds.shape} {ds.dtype}".encode())
            rows = np.linspace(0, max(info.height - FINGERPRINT_WINDOW, 0), FINGERPRINT_WINDOWS).astype(int)
            cols = np.linspace(0, max(info.width - FINGERPRINT_WINDOW, 0), FINGERPRINT_WINDOWS).astype(int)
            for r in rows:
                for c in cols:
                    window = (slice(r, r + FINGERPRINT_WINDOW), slice(c, c + FINGERPRINT_WINDOW))
                    digest.update(read_pixels(ds, window, info, Path(path)).tobytes())
    return digest.hexdigest()[:16]


def cache_key(*parts) -> str:
    """A short stable hash of JSON-able parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def stats_from_histogram(hist: np.ndarray, brains: tuple[str, ...]) -> PixelStats:
    """Min, max, mean and std of the pixels counted in `hist` (index = grey value)."""
    hist = np.asarray(hist, dtype=np.int64)
    count = int(hist.sum())
    values = np.arange(hist.size, dtype=np.float64)
    weights = hist.astype(np.float64)
    mean = float((weights * values).sum() / count)
    var = float((weights * (values - mean) ** 2).sum() / count)  # two-pass over the bins: no cancellation
    present = np.flatnonzero(hist)
    return PixelStats(
        min=float(present[0]), max=float(present[-1]), mean=mean, std=var**0.5, count=count, brains=tuple(brains)
    )


def brain_histograms(
    path: Path | str,
    brains: tuple[str, ...] | list[str],
    *,
    cache_dir: Path,
    progress: bool = True,
    recompute: bool = False,
) -> dict[str, np.ndarray]:
    """Grey-value histogram (int64 counts) of each brain; cached per brain, the missing ones (all of them with
    `recompute`) in one pass."""
    path = Path(path)
    identity = data_identity(path)
    files = {b: Path(cache_dir) / f"hist-{cache_key(CACHE_VERSION, identity, b)}.npy" for b in brains}
    result = {b: recomputed(f, np.load, "histogram cache") for b, f in files.items() if f.is_file() and not recompute}
    result = {b: h for b, h in result.items() if h is not None}  # a damaged one is counted again
    missing = [b for b in brains if b not in result]
    if missing:
        with open_h5(path) as f:
            inventory = describe_file(f, path)
            counted = _count(f, inventory, missing, progress=progress)
        for brain, hist in counted.items():
            buffer = io.BytesIO()
            np.save(buffer, hist)
            write_atomic(files[brain], buffer.getvalue())
            result[brain] = hist
    return {b: result[b] for b in brains}


def _count(f, inventory: Inventory, brains: list[str], *, progress: bool) -> dict[str, np.ndarray]:
    """One streaming pass: histogram of every image of `brains`."""
    infos = [i for i in inventory.images if i.brain in brains]
    hists = {b: np.zeros(np.iinfo(inventory.dtype).max + 1, dtype=np.int64) for b in brains}
    with tqdm(
        total=sum(i.pixels for i in infos),
        unit="px",
        unit_scale=True,
        desc="pixel statistics",
        disable=None if progress else True,
    ) as bar:
        for info in infos:
            hists[info.brain] += image_histogram(f, info, inventory.path)
            bar.update(info.pixels)
    return hists


def image_histogram(f, info: ImageInfo, path: Path) -> np.ndarray:
    """Grey-value counts (int64) of one image of the open file `f`, read in blocks of rows."""
    bins = np.iinfo(np.dtype(info.dtype)).max + 1
    hist = np.zeros(bins, dtype=np.int64)
    ds = f[info.brain][info.name]
    step = max(1, BLOCK_PIXELS // info.width)
    for row in range(0, info.height, step):
        block = read_pixels(ds, slice(row, row + step), info, path)
        hist += np.bincount(block.ravel(), minlength=bins)
    return hist


def training_stats(
    path: Path | str, test_brain: str, *, cache_dir: Path, recompute: bool = False, progress: bool = True
) -> PixelStats:
    """Global min, max, mean, std over all brains except `test_brain`; cached on disk."""
    path = Path(path)
    with open_h5(path) as f:
        inventory = describe_file(f, path)
    brains = training_brains(inventory, test_brain)
    identity = data_identity(path)
    cached = Path(cache_dir) / f"stats-{cache_key(CACHE_VERSION, identity, sorted(brains))}.json"
    if cached.is_file() and not recompute:

        def load(path):
            saved = json.loads(path.read_text())
            return PixelStats(**{**saved["stats"], "brains": tuple(saved["stats"]["brains"])})

        stats = recomputed(cached, load, "statistics cache")  # a damaged entry is recomputed and replaced
        if stats is not None:
            return stats
    hists = brain_histograms(path, brains, cache_dir=cache_dir, progress=progress, recompute=recompute)
    stats = stats_from_histogram(sum(hists.values()), brains)
    if stats.std == 0:
        raise UserError(
            f"the training brains ({', '.join(brains)}) of {show(path)} have no spread: every pixel is "
            f"{stats.min:g}, so tiles cannot be standardised; check the file (an export error?) or "
            "choose another data.test_brain"
        )
    record = {"file": identity, "test_brain": test_brain, "dtype": inventory.dtype.name, "stats": asdict(stats)}
    write_atomic(cached, json.dumps(record, indent=2).encode())
    return stats
