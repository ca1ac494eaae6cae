"""Resampling a data set to the detector's cell scale before anything: a lever for the coarser scan, measured.

    .venv/bin/python bench/rescale_lever.py [--config configs/default.toml] [--sets "coarser scan (seed 7)" ...]
                                            [--blob-scales]

On the coarser scan the cells are about 0.6 times as large in px as the stand-in's, so a 64-px tile holds about
three times as many of them and islands a few tiles apart join through the finder's border rings
(bench/finder_levers.py). Per set: the blob scale (morphology.blob_sigma) of its training brains gives the factor
that would bring it to morphology.REFERENCE_SIGMA (morphology.detector_scale, quarter-octave steps); every image is
resampled by that factor (linear interpolation, scipy.ndimage.zoom; the truth's masks and flags by nearest
neighbour) into `<file>-rescaled.h5` beside the set's file (written once, through a temporary name), the set's config
is trained on that copy at its own budget (runs/<set>-rescaled), and put through chapter 5's island pipeline, scored
as bench/budget_curve.py scores a point. `--blob-scales` prints only the blob scale of the training and test brains
of every set, and the factor each would get. The robustness sets must be generated (`make robustness`). About 13
minutes of training and 10 of pipeline for the coarser scan on a 2-core AMD EPYC (loaded by a second job).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from islandvae.data.hdf5 import LazyImages, read_inventory, training_brains
from islandvae.data.truth import truth_path
from islandvae.islands.morphology import blob_sigma, detector_scale
from islandvae.model.runs import Run
from islandvae.model.train import train

sys.path.insert(0, str(Path(__file__).parent))
from budget_curve import named_sets, point  # noqa: E402  (a bench beside this one)


def blob_scales(config) -> tuple[float, float]:
    """The blob scale (px) of the config's training brains and of its test brain."""
    brains = training_brains(read_inventory(config.data.path), config.data.test_brain)
    test = LazyImages(config.data.path, [config.data.test_brain])
    return blob_sigma(LazyImages(config.data.path, brains)), blob_sigma(test)


def resampled_copy(source: Path, zoom: float) -> Path:
    """`source` and its truth resampled by `zoom` into `<stem>-rescaled.h5` (and its truth) beside it; kept."""
    out = source.with_name(source.stem + "-rescaled.h5")
    if out.is_file() and truth_path(out).is_file():
        return out
    for into, write in ((out, _images), (truth_path(out), _truth)):
        part = into.with_suffix(".part")
        with h5py.File(source if into == out else truth_path(source)) as f, h5py.File(part, "w") as g:
            write(f, g, zoom)
        part.rename(into)
    return out


def _images(f: h5py.File, g: h5py.File, zoom: float) -> None:
    for brain in f:
        for name in f[brain]:
            grey = ndimage.zoom(f[brain][name][()].astype(np.float32), zoom, order=1, grid_mode=True, mode="nearest")
            g.create_dataset(f"{brain}/{name}", data=np.clip(np.round(grey), 0, 255).astype(np.uint8))


def _truth(f: h5py.File, g: h5py.File, zoom: float) -> None:
    g.attrs.update(dict(f.attrs))
    for brain in f:
        for name in f[brain]:
            group = g.create_group(f"{brain}/{name}")
            group.attrs.update(dict(f[brain][name].attrs))
            for part in ("mask", "flags"):
                group[part] = ndimage.zoom(f[brain][name][part][()], zoom, order=0, grid_mode=True, mode="nearest")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.toml")
    parser.add_argument("--sets", nargs="+", default=["coarser scan (seed 7)"])
    parser.add_argument("--blob-scales", action="store_true", help="print every set's blob scales and factor only")
    args = parser.parse_args(argv)
    every = named_sets(args.config, args.sets, "bench/rescale_lever.py")
    if every is None:
        return 2
    if args.blob_scales:
        for label, c in every.items():
            train_sigma, test_sigma = blob_scales(c)
            print(
                f"{label:38s} blob scale {train_sigma:.2f} px (training brains), {test_sigma:.2f} px (test brain): "
                f"factor {1 / detector_scale(train_sigma):.3f}",
                flush=True,
            )
        return 0
    for label in args.sets:
        c = every[label]
        zoom = 1 / detector_scale(blob_scales(c)[0])
        path = resampled_copy(c.data.path, zoom)
        c = dataclasses.replace(c, name=f"{c.name}-rescaled", data=dataclasses.replace(c.data, path=path))
        after = blob_scales(c)
        print(f"{label}: resampled by {zoom:.3f}; blob scale after {after[0]:.2f} / {after[1]:.2f} px", flush=True)
        if not Run.of(c).done(c):
            started = time.perf_counter()
            train(c, progress=False)
            print(f"{label}: trained in {time.perf_counter() - started:.0f} s", flush=True)
        print(json.dumps({label: point(c)}, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
