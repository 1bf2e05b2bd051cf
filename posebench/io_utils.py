"""Atomic, reproducible file writing and content hashing shared by every writer in posebench."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from typing import Any

import numpy as np

from posebench.errors import PosebenchError


def _default_mode() -> int:
    # mkstemp creates 0600 files; finished outputs get the permissions a plain open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_MODE = _default_mode()


class OutputError(PosebenchError):
    """An output cannot be written where asked: disk full, read-only, not a folder, or it would clobber something."""


# Temp names are `.<final name>.<pid>.<random>.tmp`: the pid tells a leftover of a killed writer from a live one.
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")


_SWEPT: set[Path] = set()  # folders this process has already swept


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def sweep_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Remove temp files in ``folder`` that a writer killed mid-write left (its pid no longer runs); returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not _alive(int(m["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _reason(e: OSError, path: Path) -> str:
    """Why a write failed, in one line ('No space left on device', 'x is a file, not a folder', ...)."""
    if e.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(e, (NotADirectoryError, FileExistsError)):
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                return f"{parent} is a file, not a folder"
    if isinstance(e, IsADirectoryError) or path.is_dir():
        return f"{path} is a folder"
    text = e.strerror or (str(e).splitlines()[0] if str(e) else type(e).__name__)
    return text[:200]


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 overwrite: bool = False, folder: str | os.PathLike | None = None, what: str = "output") -> Path:
    """Refuse, in one OutputError line, an output that is one of ``inputs`` (also via a link), an existing
    file unless ``overwrite``, a folder, or a path outside ``folder``; returns ``path``."""
    path = Path(path)
    target = path.resolve()
    for src in inputs:
        if src is None or not Path(src).exists():
            continue
        if target == Path(src).resolve() or (path.exists() and os.path.samefile(path, src)):
            raise OutputError(f"{what} {path} is the input {src}; refusing to overwrite it (choose another path)")
    if folder is not None and not target.is_relative_to(Path(folder).resolve()):
        raise OutputError(f"{what} {path} is outside its folder {folder}")
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file path")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputError(f"{what} {path} already exists; pass --overwrite to replace it")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    The temp name is unique per process, so two writers never clobber each other's partial file and a
    reader never sees a half-written one. Any failure (disk full, read-only folder, a path under a file,
    Ctrl-C) removes the temp file; an OSError becomes one OutputError line. Leftovers of writers killed
    with SIGKILL are swept from the folder on the next write there.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent not in _SWEPT:  # once per folder per process: writing N files stays O(N)
            sweep_leftovers(path.parent)
            _SWEPT.add(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {_reason(e, path)}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, _MODE)
        os.replace(tmp_path, path)
    except BaseException as e:
        tmp_path.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {_reason(e, path)}") from None
        raise


class MemoryFile(io.RawIOBase):
    """A growable in-memory binary file over one NumPy byte array, for h5py's file-object driver.

    A large NumPy array is backed by transparent huge pages where the kernel offers them, so building a
    100 MB HDF5 file costs a few dozen page faults instead of one per 4 KiB page (HDF5's core driver and its
    file image copy cost ~64,000), and :meth:`view` hands the bytes on without a copy.
    """

    def __init__(self, size_hint: int = 1 << 20, name: str = "<memory>") -> None:
        super().__init__()
        self._buf = np.empty(max(int(size_hint), 1 << 16), np.uint8)
        self._pos = self._end = 0
        self.name = name

    def __repr__(self) -> str:
        return self.name  # h5py names a file-object file by its repr: the path it will be written to

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._end}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def _reserve(self, size: int) -> None:
        """Room for ``size`` bytes; bytes between the end and a later write are zero (as in a sparse file)."""
        if size > len(self._buf):
            grown = np.empty(max(size, 2 * len(self._buf)), np.uint8)
            grown[:self._end] = self._buf[:self._end]
            self._buf = grown

    def write(self, data) -> int:
        m = memoryview(data).cast("B")
        k = len(m)
        self._reserve(self._pos + k)
        if self._pos > self._end:
            self._buf[self._end:self._pos] = 0
        self._buf[self._pos:self._pos + k] = np.frombuffer(m, np.uint8)
        self._pos += k
        self._end = max(self._end, self._pos)
        return k

    def readinto(self, target) -> int:
        m = memoryview(target).cast("B")
        k = max(0, min(len(m), self._end - self._pos))
        m[:k] = self._buf[self._pos:self._pos + k].data
        self._pos += k
        return k

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else int(size)
        self._reserve(size)
        if size > self._end:
            self._buf[self._end:size] = 0
        self._end = size
        return size

    def view(self) -> memoryview:
        """The file's bytes (no copy; valid until the next write)."""
        return self._buf[:self._end].data


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, userblock: bytes = b"", hasher: Any = None, size_hint: int = 1 << 20,
              **kwargs) -> Iterator:
    """An ``h5py.File`` for writing, built in memory and written to ``path`` atomically when the block succeeds.

    HDF5 never touches the disk itself: a write error inside the library (full disk, read-only folder)
    leaves handles it cannot close and crashes the process at exit. HDF5 writes into a :class:`MemoryFile`
    (``size_hint``: the expected size, so it need not grow) and Python writes that to disk, so any failure is one
    OutputError and the temp file is removed. ``kwargs`` go to ``h5py.File``; ``userblock`` bytes fill the start
    of the file (with ``userblock_size``, e.g. a MAT v7.3 header). ``hasher`` (e.g. ``hashlib.sha256()``) is fed
    the file's bytes while they are written, so a caller recording the file's hash need not read it back.
    Costs the file's size in memory, once.
    """
    import h5py

    size = kwargs.get("userblock_size") or 0
    if len(userblock) > size:
        raise ValueError(f"userblock of {len(userblock)} bytes does not fit userblock_size {size}")
    with atomic_path(path) as tmp:
        memory = MemoryFile(size_hint, str(tmp))
        f = h5py.File(memory, "w", **kwargs)
        try:
            yield f
        finally:
            f.close()
        if size:  # HDF5 leaves the user block to its owner
            memory.seek(0)
            memory.write(userblock.ljust(size, b"\x00"))
        image = memory.view()
        hashing = None
        if hasher is not None:  # hashed on a second thread while it is written (both release the GIL)
            hashing = threading.Thread(target=hasher.update, args=(image,), daemon=True)
            hashing.start()
        try:
            with open(tmp, "wb") as out:
                out.write(image)
        finally:
            if hashing is not None:
                hashing.join()
        del image, memory


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text to ``path`` atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: object):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def arrays_hash(columns: Mapping[str, np.ndarray], attrs: Mapping[str, object] | None = None) -> str:
    """SHA-256 over named arrays (name, dtype, shape, bytes) in sorted order, plus JSON attrs.

    A hash of the content, not of file bytes: the same data written by another h5py gives the same hash.
    """
    h = hashlib.sha256()
    for name in sorted(columns):
        a = np.asarray(columns[name])
        if a.dtype.kind in "OUS":
            a = np.array([str(x) for x in a.ravel()], dtype=object).reshape(a.shape)
            payload = json.dumps(a.tolist()).encode()
            dtype = "str"
        else:
            a = np.ascontiguousarray(a)
            payload = a.tobytes()
            dtype = a.dtype.str
        h.update(f"{name}|{dtype}|{a.shape}|".encode())
        h.update(hashlib.sha256(payload).digest())
    if attrs:
        h.update(json.dumps(dict(attrs), sort_keys=True, default=str).encode())
    return h.hexdigest()
