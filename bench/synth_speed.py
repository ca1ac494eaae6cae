"""Time and peak memory of generating the synthetic stand-in.

    .venv/bin/python bench/synth_speed.py [--presets tiny small] [--out /tmp/islandvae-bench]

Targets (issue 3): tiny in seconds, small in at most 2 minutes on 2 cores, full streamed with peak
memory at most 4 GB. Peak memory is the largest sum of resident memory over this process and its
worker processes, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from islandvae.data.hdf5 import read_inventory
from islandvae.machine import PeakMemory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "full"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/islandvae-bench"))
    args = parser.parse_args()

    from islandvae.data.synth import generate

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}")
    for preset in args.presets:
        with PeakMemory() as peak:
            start = time.perf_counter()
            path = generate(args.out / f"{preset}.h5", preset=preset, seed=0, force=True, progress=False)
            seconds = time.perf_counter() - start
        inventory = read_inventory(path)
        pixels = sum(i.pixels for i in inventory.images)
        print(
            f"{preset}: {len(inventory.images)} images, {pixels / 1e6:.0f} Mpx, {seconds:.1f} s "
            f"({pixels / 1e6 / seconds:.1f} Mpx/s), peak memory {peak.bytes / 1e9:.2f} GB, "
            f"file {path.stat().st_size / 1e9:.2f} GB"
        )


if __name__ == "__main__":
    main()
