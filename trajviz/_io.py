"""Atomic file writes: a write either completes or leaves nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fails before any work if ``path``'s folder does not exist or cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: it is a folder")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` only on success."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like `atomic_path` for a folder of files: built aside, then moved into place."""
    path = Path(path)
    check_writable(path.parent / ".probe" if str(path.parent) else Path(".probe"))
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"cannot write frames to {str(path)!r}: folder is not empty")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], meta: dict[str, Any],
             *, compress: bool = False) -> None:
    """Writes plain NumPy arrays and a JSON ``meta`` string atomically: any NumPy user can
    read the file, and nothing in it is pickled."""
    save = np.savez_compressed if compress else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        save(f, meta=np.array(json.dumps(meta)), **arrays)


def load_npz(path: str | os.PathLike[str], kind: str, names: tuple[str, ...]
             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a `save_npz` file (never unpickling), checking that it holds ``names``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [n for n in (*names, "meta") if n not in data.files]
            if missing:
                raise UsageError(f"{str(path)!r} is not a trajviz {kind} file: missing "
                                 f"{', '.join(missing)}")
            arrays = {n: data[n] for n in names}
            meta = json.loads(str(data["meta"]))
    except UsageError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"cannot read {kind} file {str(path)!r}: {e}") from None
    return arrays, meta
