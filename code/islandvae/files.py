"""Writing files: into folders that are checked, through a temporary name and a rename, with one clear line
when the disk, the permissions or the path itself are in the way.

Every artefact the project writes (statistics caches, checkpoints, embeddings, results, figures, rendered
documents, zips, data files) goes through `write_atomic` or is renamed into place the same way, so a failure
leaves the previous file, or none, never half of one. `folder(path, what)` makes a folder the project writes
to, and `problem(err, path)` turns the operating system's reason into what a user can do about it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from islandvae.errors import UserError

ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or point the config's paths elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space, or point the config's paths elsewhere",
    errno.EACCES: "it is not writable: change its permissions, or point the config's paths elsewhere",
    errno.EPERM: "it is not writable: change its permissions, or point the config's paths elsewhere",
    errno.EROFS: "it is on a read-only file system: point the config's paths elsewhere",
    errno.ENOTDIR: "a part of that path is a file, not a folder: move the file away, or point the config elsewhere",
    errno.EEXIST: "a file of that name is in the way of a folder: move it away, or point the config elsewhere",
    errno.EISDIR: "a folder of that name is in the way of a file: move it away",
}


def problem(err: OSError, path: Path | str) -> UserError:
    """The one-line error for an OSError met while writing `path`."""
    from islandvae.config import show

    advice = ADVICE.get(err.errno, "fix the path or point the config's paths elsewhere")
    return UserError(f"cannot write {show(path)} ({err.strerror or type(err).__name__}); {advice}")


def user_problem(err: OSError) -> bool:
    """Whether an OSError is about the user's disk or paths (not a bug): its errno is one ADVICE knows."""
    return err.errno in ADVICE


def folder(path: Path | str, what: str = "") -> Path:
    """Make the folder `path` (and its parents) if needed; a one-line UserError when that cannot be done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        from islandvae.config import show

        raise UserError(f"{what + ' folder ' if what else ''}{show(path)} is a file, not a folder: move the file "
                        "away, or point the config's paths elsewhere")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise problem(err, path) from None
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to `path` through a temporary file and a rename: never a half-written file, and a one-line
    error (the temporary file removed) when the disk or the path is in the way."""
    path = Path(path)
    folder(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise problem(err, path) from None
