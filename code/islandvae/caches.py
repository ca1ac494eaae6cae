"""Results cached beside what they were computed from: `.npz` arrays and JSON values, each stored with the key it
was made for (a hash of its inputs), recomputed when the key differs, written atomically, and moved aside with a
warning when damaged (files.recomputed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from islandvae.files import recomputed, write_atomic


def cached(path: Path, key: str, compute) -> dict:
    """Arrays from `path` when it was made for `key`, else computed, written atomically and returned."""

    def load(path):
        with np.load(path, allow_pickle=False) as saved:
            return {k: saved[k] for k in saved.files} if str(saved["key"]) == key else None

    arrays = recomputed(path, load, "cache") if path.is_file() else None
    if arrays is not None:
        return {k: v for k, v in arrays.items() if k != "key"}
    arrays = compute()
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), **arrays)
    write_atomic(path, buffer.getvalue())
    return arrays


def cached_json(path: Path, key: str, compute=None):
    """A JSON value from `path` when it was made for `key`; else, with `compute`, computed, written atomically
    and returned (without it: None)."""
    saved = recomputed(path, lambda p: json.loads(p.read_text()), "cache") if path.is_file() else None
    if isinstance(saved, dict) and saved.get("key") == key:
        return saved["value"]
    if compute is None:
        return None
    value = compute()
    write_atomic(path, json.dumps({"key": key, "value": value}).encode())
    return value
