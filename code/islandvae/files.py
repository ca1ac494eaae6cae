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
import re
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


def show(path: Path | str) -> str:
    """A path as a user would type it: relative to the working directory when below it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # outside the working directory, or a loop of symbolic links
        return str(path)


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # what may name a folder or file the project makes


def path_name(value, what: str, *, longest: int = 80) -> str:
    """`value` when it can name a file or folder inside the project's folders: letters, digits, '.', '_' and '-',
    starting with a letter or digit (so never '..', a '/' or an absolute path); else a one-line UserError naming
    `what`. The one check for every name that becomes a path: config names (runs/<name>/, results/), the lever
    and comparison runs derived from them, team usernames (the zip's name)."""
    if not isinstance(value, str) or not NAME.fullmatch(value) or len(value) > longest:
        raise UserError(
            f"{what} {value!r} cannot name a folder or file: use letters, digits, '.', '_' or '-' "
            f"(at most {longest}, starting with a letter or digit; no '/' or '..')"
        )
    return value


def problem(err: OSError, path: Path | str) -> UserError:
    """The one-line error for an OSError met while writing `path`."""
    advice = ADVICE.get(err.errno, "fix the path or point the config's paths elsewhere")
    return UserError(f"cannot write {show(path)} ({err.strerror or type(err).__name__}); {advice}")


def user_problem(err: OSError) -> bool:
    """Whether an OSError is about the user's disk or paths (not a bug): its errno is one ADVICE knows."""
    return err.errno in ADVICE


def folder(path: Path | str, what: str = "") -> Path:
    """Make the folder `path` (and its parents) if needed; a one-line UserError when that cannot be done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{what + ' folder ' if what else ''}{show(path)} is a file, not a folder: move the file "
            "away, or point the config's paths elsewhere"
        )
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


# Reading ----------------------------------------------------------------------------------------------------------
# Every file the project reads goes through these: the operating system's and h5py's errors become one line that
# names the file, what is wrong with it and what to do (`remedy`).

READ_ADVICE = {
    errno.ENOENT: "it does not exist",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of that path is a file, not a folder",
    errno.EACCES: "it is not readable (permissions)",
    errno.EPERM: "it is not readable (permissions)",
    errno.ELOOP: "it is a loop of symbolic links",
    errno.EIO: "the disk reported an input/output error",
}


def read_problem(err: Exception, path: Path | str, what: str, remedy: str) -> UserError:
    """The one-line error for a file that cannot be read: which file, why, what to do."""
    if isinstance(err, OSError) and err.errno in READ_ADVICE:
        reason = READ_ADVICE[err.errno]
    elif isinstance(err, RuntimeError) and "loop" in str(err).lower():  # pathlib before Python 3.13
        reason = READ_ADVICE[errno.ELOOP]
    elif isinstance(err, UnicodeDecodeError):
        reason = "it is not text (UTF-8)"
    else:
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
    return UserError(f"cannot read {what} {show(path)}: {reason}; {remedy}")


def resolved(path: Path, what: str, remedy: str) -> Path:
    """`path` made absolute with its symbolic links followed; a loop of links is one line, not a traceback."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as err:
        raise read_problem(err, path, what, remedy) from None


def read_bytes(path: Path | str, what: str, remedy: str) -> bytes:
    """The bytes of `path`, or a one-line UserError naming `what` and the `remedy`."""
    try:
        return Path(path).read_bytes()
    except (OSError, RuntimeError) as err:
        raise read_problem(err, path, what, remedy) from None


def read_text(path: Path | str, what: str, remedy: str) -> str:
    """The UTF-8 text of `path`, or a one-line UserError naming `what` and the `remedy`."""
    try:
        return read_bytes(path, what, remedy).decode("utf-8")
    except UnicodeDecodeError as err:
        raise read_problem(err, path, what, remedy) from None


def open_hdf5(path: Path | str, what: str, remedy: str):
    """An HDF5 file opened read-only, or a one-line UserError: missing, a folder, a loop of links, not HDF5,
    truncated or corrupt."""
    import h5py

    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not h5py.is_hdf5(path):
            raise read_problem(ValueError("it is not an HDF5 file"), path, what, remedy)
        return h5py.File(path, "r")
    except (OSError, RuntimeError) as err:
        if isinstance(err, OSError) and err.errno is None and "truncated" not in str(err).lower():
            err = ValueError(f"it is not a readable HDF5 file ({str(err).strip().splitlines()[0]})")
        raise read_problem(err, path, what, remedy) from None


def recomputed(path: Path, load, what: str, again: str = "computing it again"):
    """`load(path)` for a cache or result the project can make again; when the file is damaged (unreadable,
    truncated, not what it should hold) a one-line warning (`again`: what happens next), the file moved aside to
    <name>.damaged, and None, so that the caller recomputes it."""
    import warnings

    try:
        return load(path)
    except Exception as err:  # a damaged cache can fail in any of numpy's, json's or zipfile's ways
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
        warnings.warn(f"{what} {show(path)} is damaged ({reason}); {again}", stacklevel=2)
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".damaged"))
        return None
