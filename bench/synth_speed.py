"""Time and peak memory of generating the synthetic stand-in.

    .venv/bin/python bench/synth_speed.py [--presets tiny small] [--out /tmp/islandvae-bench]

Targets (issue 3): tiny in seconds, small in at most 2 minutes on 2 cores, full streamed with peak
memory at most 4 GB. Peak memory is the largest sum of resident memory over this process and its
worker processes, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from islandvae.data.hdf5 import read_inventory


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    family, grew = {root}, True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in family} - family
        family |= new
        grew = bool(new)
    total = 0
    for pid in family:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "full"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/islandvae-bench"))
    args = parser.parse_args()

    from islandvae.data.synth import generate

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}")
    for preset in args.presets:
        peak, done = [0], threading.Event()

        def sample():
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss(os.getpid()))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        path = generate(args.out / f"{preset}.h5", preset=preset, seed=0, force=True, progress=False)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        inventory = read_inventory(path)
        pixels = sum(i.pixels for i in inventory.images)
        print(
            f"{preset}: {len(inventory.images)} images, {pixels / 1e6:.0f} Mpx, {seconds:.1f} s "
            f"({pixels / 1e6 / seconds:.1f} Mpx/s), peak memory {peak[0] / 1e9:.2f} GB, "
            f"file {path.stat().st_size / 1e9:.2f} GB"
        )


if __name__ == "__main__":
    main()
