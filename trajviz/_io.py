"""Files: atomic writes that leave nothing behind, and ``.npz`` files read as untrusted data.

A write goes to a temporary name beside the target and is renamed onto it only when it is
complete. Whatever ends it (an exception, Ctrl-C, SIGTERM or SIGHUP: `terminating_signals`
turns the two signals into an exception for the duration, as Python does for Ctrl-C) the
temporary file or folder is removed.

A ``.npz`` is read as data, never as instructions: nothing is unpickled, every array's
dtype and shape is checked against a schema from its ``.npy`` header before any data is
read, and the JSON ``meta`` must be an object with the keys the schema names. Anything
else is a `UsageError` saying which part is wrong (`load_npz`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .checks import check_memory
from .errors import Terminated, UsageError, UsageTypeError

MAX_META_CHARS = 1_000_000  # a meta longer than this is not one trajviz wrote
_TEMP_STEM = 40  # characters of the target's name in a temporary name (NAME_MAX is 255 bytes)
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminating_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` (as Ctrl-C raises
    `KeyboardInterrupt`), so cleanup code runs. Only in the main thread, and only for a
    signal whose handler is the default one (a handler someone installed is kept)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced = {}
    for sig in _SIGNALS:
        if signal.getsignal(sig) is signal.SIG_DFL:
            replaced[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, old in replaced.items():
            signal.signal(sig, old)


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fails before any work if ``path`` cannot be written: its folder is missing or not
    writable, or it exists and is not a regular file (a folder, a device, a FIFO: an atomic
    write would replace it) (`UsageError`), or creating a file there fails (the `OSError`,
    e.g. under ``/proc`` or on a read-only file system)."""
    path = Path(check_path(path, "the path to write"))
    folder = _check_folder(path)
    if path.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: it is a folder")
    if not _regular_or_absent(path):
        raise UsageError(f"cannot write {str(path)!r}: it is not a regular file")
    try:
        with terminating_signals():
            fd, probe = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".probe",
                                         dir=folder)
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        _raise_for(e, path)
    return path


def check_path(path: Any, what: str = "path") -> str | os.PathLike[str]:
    """``path`` if it is a ``str`` or ``os.PathLike`` naming a text path (an ``int`` would be
    taken for an open file descriptor), else `UsageTypeError`."""
    if isinstance(path, (str, os.PathLike)) and isinstance(os.fspath(path), str):
        if not os.fspath(path):
            raise UsageError(f"{what} is empty")
        return path
    raise UsageTypeError(f"{what} must be a str or os.PathLike, got {type(path).__name__} "
                         f"{_short_repr(path)}")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_folder(path: Path) -> Path:
    """The folder ``path`` would be written in, which must exist and be writable."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    return folder


def _regular_or_absent(path: Path) -> bool:
    """Whether ``path`` (followed if a link) is a regular file or nothing at all."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return True  # unreachable or unnamable: the write itself reports it


def _temp_prefix(path: Path) -> str:
    """A temporary name's start: ``.`` and the target's name, cut short so that the whole
    temporary name stays within NAME_MAX whenever the target's name does."""
    return f".{path.name[:_TEMP_STEM]}."


def check_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Like `check_writable` for a folder of frames: it may exist only if empty."""
    path = Path(check_path(path, "the folder to write"))
    folder = _check_folder(path)
    try:
        with terminating_signals():
            os.rmdir(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".probe", dir=folder))
    except OSError as e:
        _raise_for(e, path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        what = "folder is not empty" if path.is_dir() else "a file of that name exists"
        raise UsageError(f"cannot write frames to {str(path)!r}: {what}")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` only on success.
    ``suffix`` ends the temporary name (for writers that pick the format from it)."""
    path = check_writable(path)
    with terminating_signals():
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=f".part{suffix}",
                                   dir=path.parent)
        os.close(fd)
        try:
            yield Path(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            _raise_for(e, path)
            raise


def _raise_for(e: BaseException, path: Path) -> None:
    """An `OSError` of a write names the file the user asked for, not the temporary one."""
    if isinstance(e, OSError) and e.errno is not None:
        raise OSError(e.errno, f"cannot write {str(path)!r}: {e.strerror or e}") from e


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like `atomic_path` for a folder of files: built aside, then moved into place."""
    path = check_writable_dir(path)
    with terminating_signals():
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".part",
                                    dir=path.parent))
        try:
            yield tmp
            if path.exists():
                path.rmdir()
            os.replace(tmp, path)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            _raise_for(e, path)
            raise


def save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], meta: dict[str, Any],
             *, compress: bool = False) -> None:
    """Writes plain NumPy arrays and a JSON ``meta`` string atomically: any NumPy user can
    read the file, and nothing in it is pickled."""
    save = np.savez_compressed if compress else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        save(f, meta=np.array(json.dumps(meta)), **arrays)


@dataclass(frozen=True)
class Field:
    """What one array of a file must be.

    Attributes:
        kinds: the NumPy dtype kinds it may have: ``"f"`` floating, ``"iu"`` integer.
        shape: each dimension an ``int``, or a name (``"n"``) that must take the same
            value wherever it appears, optionally plus a constant (``"steps+1"``).
        required: whether the file must hold it.
    """

    kinds: str
    shape: tuple[int | str, ...]
    required: bool = True


FLOAT, INT = "f", "iu"
_DIM = re.compile(r"^([A-Za-z_]\w*)(?:\+(\d+))?$")
_JSON_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "an object"}


@dataclass(frozen=True)
class Loaded:
    """A checked file: its arrays, its ``meta`` and the value of each named dimension."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    dims: dict[str, int]


def invalid(kind: str, path: str | os.PathLike[str], reason: str) -> UsageError:
    """The one message for a file that is not what it should be."""
    return UsageError(f"not a valid trajviz {kind} file: {str(path)!r}: {reason}")


def load_npz(path: str | os.PathLike[str], kind: str, fields: Mapping[str, Field],
             meta_keys: Mapping[str, type | tuple[type, ...]] | None = None, *,
             meta_values: Mapping[str, Any] | None = None) -> Loaded:
    """Reads a `save_npz` file as untrusted data (see the module docstring).

    Args:
        path: the file.
        kind: what it should be (``run``, ``grid``, ...), for messages.
        fields: the arrays it must (or may) hold.
        meta_keys: keys ``meta`` must have, with their JSON types (``float`` accepts
            integers; a tuple of types accepts any of them).
        meta_values: keys ``meta`` must have with exactly these values (``{"kind":
            "sweep"}``), checked before the arrays.

    Raises:
        UsageError: unreadable ("cannot read ...") or not such a file ("not a valid trajviz
            <kind> file: ... <what is wrong>").
    """
    f = _open_regular(check_path(path, f"a {kind} file's path"), kind)
    with f:
        head = f.read(4)
        if head[:2] != b"PK":
            what = f"it starts with {head!r}" if head else "it is empty"
            raise invalid(kind, path, f"not an .npz archive ({what})")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                return _read_checked(zf, path, kind, fields, meta_keys or {},
                                     meta_values or {})
        except UsageError:
            raise
        except Exception as e:  # any failure to parse untrusted bytes is "not valid"
            raise invalid(kind, path, f"damaged or truncated ({type(e).__name__}: "
                          f"{_first_line(e)})") from None


def _open_regular(path: str | os.PathLike[str], kind: str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (a FIFO would block forever, a
    device never end). Opened without blocking, then checked on the open descriptor."""
    def cannot(e: OSError) -> UsageError:
        return UsageError(f"cannot read {kind} file {str(path)!r}: {e.strerror or e}")

    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise cannot(e) from None
    if stat.S_ISDIR(mode):
        raise cannot(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    if not stat.S_ISREG(mode):
        raise invalid(kind, path, "not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise cannot(e) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the first look
        os.close(fd)
        raise invalid(kind, path, "not a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else "no detail"


def _read_checked(zf: zipfile.ZipFile, path: str | os.PathLike[str], kind: str,
                  fields: Mapping[str, Field], meta_keys: Mapping[str, Any],
                  meta_values: Mapping[str, Any]) -> Loaded:
    """Headers first (nothing pickled), every declared size against the memory cap, then
    ``meta``, then shapes, then the data."""
    members = {name[:-4]: name for name in zf.namelist() if name.endswith(".npy")}
    fields = {**fields, "meta": Field("U", ())}
    missing = [n for n, fld in fields.items() if fld.required and n not in members]
    if missing:
        raise invalid(kind, path, f"missing {', '.join(missing)}")
    headers = {n: _header(zf, members[n], n, kind, path) for n in fields if n in members}
    _check_meta_header(headers["meta"], kind, path)
    # every member's declared size, before reading any of them (meta included)
    check_memory(f"reading {str(path)!r}", sum(
        float(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        for shape, dtype in headers.values()))
    meta = _read_meta(zf, members["meta"], kind, path)
    for key, expected in meta_values.items():
        if meta.get(key) != expected:
            raise invalid(kind, path, f"meta {key!r} is {_brief(meta.get(key))}, expected "
                          f"{_brief(expected)}")
    for key, types in meta_keys.items():
        check_json(meta, key, types, kind, path)
    dims: dict[str, int] = {}
    for name, (shape, dtype) in headers.items():
        if name == "meta":
            continue
        fld = fields[name]
        if dtype.kind not in fld.kinds:
            want = {FLOAT: "floating-point", INT: "integer"}.get(fld.kinds, fld.kinds)
            raise invalid(kind, path, f"{name} has dtype {dtype}, expected {want}")
        _match_shape(name, shape, fld.shape, dims, kind, path)
    arrays = {}
    for name in headers:
        if name != "meta":
            with zf.open(members[name]) as member:
                arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    return Loaded(arrays, meta, dims)


def _check_meta_header(header: tuple[tuple[int, ...], np.dtype], kind: str,
                       path: str | os.PathLike[str]) -> None:
    """``meta`` must be one JSON string of a sane length (its declared length is what
    reading it would allocate, whatever the file's size)."""
    shape, dtype = header
    if shape != () or dtype.kind != "U":
        raise invalid(kind, path, "meta is not a JSON string")
    chars = dtype.itemsize // 4
    if chars > MAX_META_CHARS:
        raise invalid(kind, path, f"meta is declared {chars:,} characters long; at most "
                      f"{MAX_META_CHARS:,}")


def _read_meta(zf: zipfile.ZipFile, member: str, kind: str,
               path: str | os.PathLike[str]) -> dict[str, Any]:
    with zf.open(member) as fp:
        text = str(np.lib.format.read_array(fp, allow_pickle=False))
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise invalid(kind, path, f"meta is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise invalid(kind, path, f"meta is a JSON {type(meta).__name__}, expected an object")
    return meta


def _header(zf: zipfile.ZipFile, member: str, name: str, kind: str,
            path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype]:
    """An array's shape and dtype from its ``.npy`` header, before reading any data."""
    with zf.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        readers = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise invalid(kind, path, f"{name} is a .npy of version {version}, not 1.0 or 2.0")
        shape, fortran, dtype = readers[version](fp)
    if any(size < 0 for size in shape):
        raise invalid(kind, path, f"{name} has a negative dimension in its shape {shape}")
    if dtype.hasobject:
        raise invalid(kind, path, f"{name} holds Python objects (pickled data), which "
                      "trajviz never loads")
    return tuple(shape), dtype


def _match_shape(name: str, shape: tuple[int, ...], expected: tuple[int | str, ...],
                 dims: dict[str, int], kind: str, path: str | os.PathLike[str]) -> None:
    def fail(why: str) -> UsageError:
        want = "(" + ", ".join(map(str, expected)) + ("," if len(expected) == 1 else "") + ")"
        return invalid(kind, path, f"{name} has shape {shape}, expected {want}{why}")

    if len(shape) != len(expected):
        raise fail("")
    for size, want in zip(shape, expected, strict=True):
        if isinstance(want, int):
            if size != want:
                raise fail("")
            continue
        symbol, plus = _DIM.match(want).groups()
        value = size - int(plus or 0)
        if value < 0:
            raise fail("")
        if dims.setdefault(symbol, value) != value:
            raise fail(f" with {symbol} = {dims[symbol]} as the other arrays say")


def check_json(meta: Mapping[str, Any], key: str, types: type | tuple[type, ...], kind: str,
               path: str | os.PathLike[str]) -> Any:
    """``meta[key]``, checked to be one of the JSON ``types``."""
    types = types if isinstance(types, tuple) else (types,)
    if key not in meta:
        raise invalid(kind, path, f"meta has no {key!r}")
    value = meta[key]
    ok = any(_is_json(value, t) for t in types)
    if not ok:
        want = " or ".join(_JSON_TYPES.get(t, "null") for t in types)
        raise invalid(kind, path, f"meta {key!r} is {_brief(value)}, expected {want}")
    return value


def _is_json(value: Any, t: type) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is type(None):
        return value is None
    return isinstance(value, t)


def _brief(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_strings(values: Any, n: int, what: str, kind: str,
                  path: str | os.PathLike[str]) -> list[str]:
    """A JSON list of ``n`` strings (labels, one per trajectory)."""
    if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
        raise invalid(kind, path, f"{what} must be a list of strings")
    if len(values) != n:
        raise invalid(kind, path, f"{what} has {len(values)} entries for {n} rows")
    return values
