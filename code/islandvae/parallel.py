"""Pixel work on every core: a function mapped over chunks of items in worker processes, in order.

The island pipeline's pixel measures (the blob detector, the texture statistics) run in scipy, which holds the
GIL: threads do not help (measured: slower), processes do. `pixel_map` splits the items into one contiguous chunk
per worker and joins the results in the items' order, so the output is the serial loop's array, bit for bit.
Workers are forked (Linux), as the data generator's are: a fresh interpreter (spawn, forkserver) would import
the caller's main script again, which a chapter or a user's script need not guard. A forked child runs only
numpy and scipy here, never PyTorch, whose thread pool may be held in the parent. Where fork is unavailable or
unsafe (macOS, Windows) the work stays in this process.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

MIN_ITEMS = 256  # fewer items than this per worker are not worth a process start (about a second)


def workers() -> int:
    """The worker processes pixel work may use: the cores this process may run on (Linux), else 1."""
    if not sys.platform.startswith("linux"):
        return 1
    return max(len(os.sched_getaffinity(0)), 1)


def pixel_map(fn, items, *, processes: int | None = None, min_items: int = MIN_ITEMS) -> np.ndarray:
    """np.concatenate of `fn` (a module-level function, or a functools.partial of one, from an array of items to
    an array with one row per item) over one chunk of `items` per worker process: the serial fn(items), faster;
    serial when there is one core or fewer than `min_items` items per worker."""
    processes = min(processes or workers(), max(len(items) // max(min_items, 1), 1))
    return np.concatenate(chunked(fn, items, processes=processes)) if len(items) else fn(items)


def chunked(fn, items, *, processes: int | None = None) -> list:
    """[fn(chunk) for chunk in contiguous chunks of `items` (an array or a list)] with one chunk per worker
    process; one call in this process when there is one worker."""
    processes = min(processes or workers(), len(items))
    if processes <= 1:
        return [fn(items)]
    edges = np.linspace(0, len(items), processes + 1).astype(int)
    chunks = [items[a:b] for a, b in itertools.pairwise(edges)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(fn, chunks))


def ordered_map(fn, items, *, processes: int | None = None):
    """fn(item) for each item of the iterable `items`, yielded in order, on worker processes with at most one
    item per worker in flight (so only that many large items, whole images, are held at once); in this process
    when there is one worker."""
    processes = processes or workers()
    if processes <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > processes:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
