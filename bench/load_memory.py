"""Peak memory of loading the training brains into RAM, against the target 1.1 x pixel bytes + 300 MB.

    .venv/bin/python bench/load_memory.py [--images 700] [--file PATH]

Writes (once) a plain file of the real layout of at least 1 GB, then loads its training brains in a
fresh process and prints peak RSS (VmHWM), the pixel bytes loaded, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains

def rss(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
path = sys.argv[1]
brains = training_brains(read_inventory(path), 'B20')
before = rss('VmRSS')
start = time.perf_counter()
images = InMemoryImages(path, brains, progress=False)
seconds = time.perf_counter() - start
print(json.dumps(dict(baseline=before, peak=rss('VmHWM'), pixel_bytes=images.nbytes, seconds=seconds,
                      images=len(images.arrays), brains=list(brains))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=700, help="images in the file (700 -> about 1.2 GB)")
    parser.add_argument("--file", type=Path, default=Path("/tmp/islandvae-bench/plain.h5"))
    args = parser.parse_args()

    from islandvae.data.layout import scaled_counts, write_plain_file

    if not args.file.exists():
        args.file.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        total = write_plain_file(args.file, scaled_counts(args.images), seed=0)
        print(f"wrote {args.file} ({total / 1e9:.2f} Gpx) in {time.perf_counter() - start:.0f} s")
    print(f"file size: {args.file.stat().st_size / 1e9:.2f} GB")

    out = subprocess.run([sys.executable, "-c", CHILD, str(args.file)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    mb = 1e6
    target = 1.1 * r["pixel_bytes"] + 300 * mb
    print(
        f"training brains {' '.join(r['brains'])}: {r['images']} images, {r['pixel_bytes'] / mb:.0f} MB of pixels, "
        f"loaded in {r['seconds']:.1f} s"
    )
    print(f"RSS before loading (interpreter, numpy, h5py): {r['baseline'] / mb:.0f} MB")
    print(
        f"peak RSS: {r['peak'] / mb:.0f} MB = {r['peak'] / r['pixel_bytes']:.3f} x pixel bytes "
        f"(peak - baseline = {(r['peak'] - r['baseline']) / r['pixel_bytes']:.3f} x)"
    )
    print(f"target 1.1 x pixel bytes + 300 MB = {target / mb:.0f} MB: {'met' if r['peak'] <= target else 'MISSED'}")


if __name__ == "__main__":
    main()
