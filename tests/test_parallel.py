"""Pixel work on every core (parallel.py): the same arrays as the serial loop, in the items' order."""

import functools

import numpy as np
import pytest

from islandvae import parallel


def _rows(items: np.ndarray, *, offset: float = 0.0) -> np.ndarray:
    """One row per item that depends on the item alone (its sum and the worker's process id)."""
    import os

    return np.column_stack([items.sum(axis=(1, 2)) + offset, np.full(len(items), float(os.getpid()))])


@pytest.mark.skipif(parallel.workers() < 2, reason="needs two cores to start a worker process")
def test_pixel_map_gives_the_serial_result_in_order_from_several_processes():
    items = np.random.default_rng(0).normal(size=(101, 4, 4))
    fn = functools.partial(_rows, offset=0.5)
    serial = fn(items)
    mapped = parallel.pixel_map(fn, items, processes=2, min_items=10)
    np.testing.assert_array_equal(mapped[:, 0], serial[:, 0])  # bit for bit, in order
    assert serial[0, 1] not in set(mapped[:, 1])  # worker processes did the work (the pool may hand one both chunks)
    assert set(parallel.pixel_map(fn, items, processes=2, min_items=60)[:, 1]) == {serial[0, 1]}  # too few: here


def test_pixel_map_of_no_items_is_the_serial_empty_result():
    out = parallel.pixel_map(_rows, np.zeros((0, 4, 4)), processes=2, min_items=1)
    assert out.shape == (0, 2)


@pytest.mark.skipif(parallel.workers() < 2, reason="needs two cores to start a worker process")
def test_ordered_map_yields_in_order_and_reads_items_only_as_workers_free_up():
    read = []

    def items():
        for k in range(7):
            read.append(k)
            yield np.full((2, 2), float(k))

    out = []
    for k, value in enumerate(parallel.ordered_map(np.sum, items(), processes=2)):
        out.append(float(value))
        assert len(read) <= k + 3  # at most one item per worker ahead of the one handed out
    assert out == [4.0 * k for k in range(7)]


def test_peak_memory_counts_a_child_process_and_each_shared_page_once():
    """machine.PeakMemory samples the process and its children together (what the benchmarks report): a child
    holding 200 MB shows, and a forked child's copy-on-write pages of its parent do not count twice."""
    import os
    import subprocess
    import sys

    from islandvae.machine import PeakMemory, tree_rss

    program = "import time, numpy as np; a = np.ones(25_000_000); time.sleep(1.5)"  # 200 MB, held for 1.5 s
    base = tree_rss(os.getpid())
    with PeakMemory(every=0.1) as peak:
        subprocess.run([sys.executable, "-c", program], check=True)
    assert peak.bytes - base > 150e6, (base, peak.bytes)
    # 200 MB in a fresh process, then two forked workers that only read it. A fresh process: forked from pytest's
    # own large heap, the workers' reference counting and garbage collection copy pages of it that are really
    # written, and those count, as they should (they made this test depend on which tests ran before it). The 200 MB
    # are an anonymous mapping, not numpy's own allocation: numpy asks for transparent huge pages, which the kernel
    # grants or not with the state of its memory, and whose proportional share it accounts otherwise.
    shared = """
import mmap, os, time
import numpy as np
from islandvae import parallel
from islandvae.machine import PeakMemory, tree_rss

def nap(items):
    time.sleep(1.0)
    return items

held = np.frombuffer(mmap.mmap(-1, 200_000_000), dtype=np.uint8)
held[:] = 1
with PeakMemory(every=0.1) as shared:
    parallel.chunked(nap, np.arange(2), processes=2)
print(shared.bytes, tree_rss(os.getpid()))
"""
    out = subprocess.run([sys.executable, "-c", shared], check=True, capture_output=True, text=True).stdout.split()
    peak_bytes, held = int(out[-2]), int(out[-1])
    # Counted once, the peak is about what is held (433 against 426 MB here); summed RSS counts the 200 MB once per
    # worker as well (held + 400 MB and more). The bound lies between: in a full CI run the peak once came out
    # 240 MB over what was held, for a reason not found.
    assert held > 200e6 and peak_bytes < held + 300e6, (peak_bytes, held)  # not 3 x 200 MB
