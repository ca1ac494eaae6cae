"""Pixels that HDF5 may not be able to decode: the compression filters image files use, and the one-line error
when pixels cannot be read (a filter this installation lacks, named with what to do, else a damaged file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from islandvae.errors import UserError
from islandvae.files import show

if TYPE_CHECKING:
    from islandvae.data.hdf5 import ImageInfo


# Compression filters that image files use and plain HDF5 cannot decode (registered ids, The HDF Group's list)
FILTER_NAMES = {
    307: "bzip2",
    32001: "Blosc",
    32004: "LZ4",
    32008: "Bitshuffle",
    32013: "ZFP",
    32015: "Zstandard",
    32017: "SZ",
    32018: "FCIDECOMP",
    32024: "SZ3",
    32026: "Blosc2",
}


def register_filters() -> None:
    """Make hdf5plugin's compression filters (Blosc, LZ4, Zstandard, ...) known to HDF5 where it is installed."""
    try:
        import hdf5plugin  # noqa: F401  (importing it registers the filters)
    except ImportError:
        pass


def read_pixels(ds: h5py.Dataset, selection, info: ImageInfo, path: Path) -> np.ndarray:
    """ds[selection], with a one-line UserError when the pixels cannot be read: a compression filter that this
    installation cannot decode (named, with what to do), else a damaged file."""
    try:
        return ds[selection]
    except OSError as err:
        raise pixel_problem(err, ds, info, path) from None


def pixel_problem(err: OSError, ds: h5py.Dataset, info: ImageInfo, path: Path) -> UserError:
    """The one-line error for pixels that cannot be read (read_pixels)."""
    plist = ds.id.get_create_plist()
    codes = [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]
    missing = [c for c in codes if not h5py.h5z.filter_avail(c)]
    where = f"dataset '{info.brain}/{info.name}' in {show(path)}"
    if missing:
        names = ", ".join(f"{c} ({FILTER_NAMES[c]})" if c in FILTER_NAMES else str(c) for c in missing)
        return UserError(
            f"{where} is compressed with HDF5 filter {names}, which this installation cannot decode: "
            "`pip install hdf5plugin` (read automatically once installed), or rewrite the file without "
            "it (`h5repack -f NONE in.h5 out.h5` where the filter is installed)"
        )
    return UserError(f"{where} cannot be read ({first_line(err)}); the file is corrupt: copy it again")


def first_line(err: Exception) -> str:
    """The first line of an exception's message (HDF5 errors can run over several)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
