"""The compile cache: built artifacts (C extensions now, CUDA binaries later) keyed by content.

This module owns where compiled code lives on disk and how processes share it. The API:

- ``cache_key(source, **parts)``: the sha256 of the generated source, the caller's compiler
  identity and flags, and the environment the artifact depends on (Python version and ABI,
  NumPy and graphad versions, graphad's kernel headers), added here so no caller can forget
  them. Nothing is bumped by hand: change anything that matters and the key changes.
- ``CompileCache(root=None)``: one cache folder, ``ga.config.compiledir`` by default.
  ``get(key, build, name, suffix)`` returns the path of a verified artifact, building it
  with ``build(tmp_path)`` only when it is missing or damaged; ``info()`` and ``clear()``.
- ``default_cache()``: the process-wide cache of the current ``ga.config.compiledir``.

Layout, one folder per key (so a loader can import a module called ``name`` without clashes)::

    <root>/<key[:2]>/<key>/<name><suffix>          the artifact
    <root>/<key[:2]>/<key>/<name><suffix>.sha256   sha256 of the artifact, written last
    <root>/<key[:2]>/<key>/.lock                   the lock of this key (filelock)

Why parallel processes are safe: an artifact and its checksum are written under temporary
names and renamed into place (artifact first, checksum last), so a reader whose checksum
matches holds a complete file, and a process that already loaded an old file keeps its
inode. A reader that finds a matching checksum takes no lock. Otherwise it takes the lock of
that one key (never a global one), looks again, and builds: one process builds, the others
wait and reuse its result. The lock only saves duplicate work; correctness comes from the
renames and the checksum, so a truncated, half-written or corrupt entry is rebuilt. If the
cache folder is not writable, a private temporary folder is used with one warning.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import sys
import sysconfig
import tempfile
import threading
import warnings
from collections.abc import Callable

import filelock

from ..config import config
from ..errors import GraphadError, GraphadTypeError, GraphadValueError

__all__ = ["CompileCache", "cache_key", "default_cache"]

log = logging.getLogger("graphad")

_CHECKSUM = ".sha256"
_LOCK = ".lock"
_TEMP = ".tmp-"  # prefix of files being written; a killed build leaves these behind
_KEY = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_PATIENCE_S = 5.0  # after this long waiting for a lock, say whom we wait for


def cache_key(source: str, **parts) -> str:
    """The cache key (sha256 hex) of ``source`` built with ``parts``.

    Pass everything the artifact depends on that is not in the source: the compiler's path
    and version text, the flags (with ``-march=native``, what it resolves to on this CPU).
    Values may be str, numbers, bool, None, and lists or dicts of them.

    >>> key = cache_key("int one(void) { return 1; }", compiler="gcc 12.2.0", flags=["-O3"])
    >>> len(key), key == cache_key("int one(void) { return 1; }", compiler="gcc 12.2.0",
    ...                            flags=["-O3"])
    (64, True)
    >>> key == cache_key("int one(void) { return 1; }", compiler="gcc 12.2.0", flags=["-O2"])
    False
    """
    if not isinstance(source, str):
        raise GraphadTypeError(f"cache_key: source must be str, not {type(source).__name__}")
    identity = {"source": source, "parts": parts, "environment": _environment()}
    try:
        text = json.dumps(identity, sort_keys=True)
    except TypeError as exc:
        raise GraphadTypeError(
            f"cache_key: {exc}; pass parts as str, numbers, bool, None, or lists/dicts of them "
            "(e.g. str(path) for a path) so the key is the same in every process"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()


# Read at import: sysconfig's first read is not thread-safe (another thread may see
# None), and modules are built from two threads at once
_ABI = [
    sys.implementation.cache_tag,
    sysconfig.get_config_var("EXT_SUFFIX"),
    sysconfig.get_config_var("SOABI"),
]


@functools.cache
def _environment() -> dict:
    import numpy

    from .. import __version__
    from . import kernels_dir

    return {
        "python": sys.version,
        "abi": _ABI,
        "machine": platform.machine(),
        "numpy": numpy.__version__,
        "graphad": __version__,
        # generated code #includes these headers: editing one must change every key
        "kernels": _folder_digest(kernels_dir()),
    }


def _folder_digest(folder: str) -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not name.endswith(".pyc"):
            digest.update(name.encode() + b"\0")
            digest.update(_file_digest(path).encode())
    return digest.hexdigest()


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CompileCache:
    """The cache folder ``root`` (default: ``ga.config.compiledir``, read now).

    ``root`` is the folder actually used; ``requested`` the one asked for. They differ when
    the requested folder cannot be written: then a private temporary folder, removed at
    exit, is used instead, with one warning per folder and process.

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     cache = CompileCache(folder)
    ...     path = cache.get(cache_key("int x;"), lambda tmp: pathlib.Path(tmp).write_text("ok"))
    ...     print(open(path).read(), cache.info()["entries"], cache.clear())
    ok 1 1
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.requested = _absolute(config.compiledir if root is None else root)
        self.root = _usable_root(self.requested)

    def __repr__(self) -> str:
        return f"CompileCache({self.root!r})"

    def entry_dir(self, key: str) -> str:
        """The folder of ``key``'s artifacts (it may not exist yet).

        >>> CompileCache(tempfile.gettempdir()).entry_dir("ab" * 32).endswith("ab" * 32)
        True
        """
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise GraphadValueError(
                f"compile cache key {key!r} is not a sha256 hex digest; make keys with "
                "graphad.backend.cache.cache_key(source, ...)"
            )
        return os.path.join(self.root, key[:2], key)

    def get(
        self, key: str, build: Callable[[str], object], name: str = "mod", suffix: str = ".so"
    ) -> str:
        """The path of ``key``'s artifact ``<name><suffix>``, built first if needed.

        ``build(tmp_path)`` must write the artifact to ``tmp_path`` (a fresh name in the
        entry's folder ending in ``suffix``); its return value is ignored. It runs only when
        the artifact is missing or fails its checksum, in one process at a time per key. An
        exception from ``build`` leaves nothing behind and propagates.

        >>> import pathlib
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     cache, key = CompileCache(folder), cache_key("int y;")
        ...     path = cache.get(key, lambda tmp: pathlib.Path(tmp).write_text("built"))
        ...     path == cache.get(key, build=None)  # present and intact: no build
        True
        """
        filename = name + suffix
        if not filename or os.sep in filename or filename.startswith("."):
            raise GraphadValueError(
                f"compile cache artifact name {filename!r} must be a plain file name that does "
                "not start with '.'; pass name='mod', suffix='.so' or similar"
            )
        entry = self.entry_dir(key)
        path = os.path.join(entry, filename)
        if _damage(path) is None:
            return path
        with _locked(entry):
            damage = _damage(path)  # another process may have built it while we waited
            if damage is None:
                return path
            if damage == "is missing":
                log.debug("compile cache: building %s", path)
            else:
                log.info("compile cache: %s %s; rebuilding it", path, damage)
            _remove_leftovers(entry)
            _build_into(path, build)
        return path

    def info(self) -> dict:
        """``{"root": folder, "entries": keys with a finished artifact, "bytes": total size}``.

        >>> with tempfile.TemporaryDirectory() as folder:
        ...     CompileCache(folder).info()["entries"]
        0
        """
        entries = size = 0
        for entry in self._entries():
            names = _listdir(entry)
            entries += _is_finished(names)
            for name in names:
                with contextlib.suppress(OSError):
                    size += os.stat(os.path.join(entry, name)).st_size
        return {"root": self.root, "entries": entries, "bytes": size}

    def clear(self) -> int:
        """Remove every entry; return how many finished ones were removed.

        Each entry is removed under its own lock, so an entry another process is building
        right now is left in place (and logged at INFO). Only folders laid out as cache
        entries are touched, so a mistaken ``compiledir`` loses nothing else. A process that
        already loaded an artifact keeps it; one about to load it may fail, so clear the
        cache while graphad is not compiling.

        >>> with tempfile.TemporaryDirectory() as folder:
        ...     CompileCache(folder).clear()
        0
        """
        removed = 0
        for entry in self._entries():
            lock = filelock.FileLock(os.path.join(entry, _LOCK))
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                log.info("compile cache: %s is being built by another process; kept", entry)
                continue
            except OSError:  # removed meanwhile, or not ours to lock
                continue
            try:
                removed += _is_finished(_listdir(entry))
                # the lock file goes too: filelock's waiters notice an unlinked lock, and
                # get() recreates the folder after locking
                shutil.rmtree(entry, ignore_errors=True)
            finally:
                lock.release()
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(entry))  # the shard, once empty
        return removed

    def _entries(self) -> list[str]:
        found = []
        for shard in _listdir(self.root):
            if _SHARD.fullmatch(shard):
                folder = os.path.join(self.root, shard)
                found += [
                    os.path.join(folder, key)
                    for key in _listdir(folder)
                    if _KEY.fullmatch(key) and key.startswith(shard)
                ]
        return found


def _absolute(path) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def _listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:  # missing, or removed by a concurrent clear()
        return []


def _is_finished(names: list[str]) -> bool:
    return any(n.endswith(_CHECKSUM) and not n.startswith(".") for n in names)


def _damage(path: str) -> str | None:
    """None if ``path`` matches its checksum; else what is wrong with it."""
    try:
        with open(path + _CHECKSUM) as f:
            expected = f.read().strip()
    except FileNotFoundError:
        return "is missing" if not os.path.exists(path) else "has no checksum"
    try:
        actual = _file_digest(path)
    except FileNotFoundError:
        return "is missing"
    if actual != expected:
        return "does not match its checksum (truncated or corrupt)"
    return None


@contextlib.contextmanager
def _locked(entry: str):
    lock = filelock.FileLock(os.path.join(entry, _LOCK))
    for attempt in range(5):
        os.makedirs(entry, exist_ok=True)
        try:
            try:
                lock.acquire(timeout=_PATIENCE_S)
            except filelock.Timeout:
                log.info("compile cache: waiting for another process building %s", entry)
                lock.acquire()
            break
        except FileNotFoundError:  # clear() removed the folder between makedirs and open
            if attempt == 4:
                raise
    try:
        os.makedirs(entry, exist_ok=True)  # clear() may have removed it while we waited
        yield
    finally:
        lock.release()


def _remove_leftovers(entry: str) -> None:
    # Under the key's lock nobody else writes here, so a temporary file is a dead build's.
    for name in _listdir(entry):
        if name.startswith(_TEMP):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(entry, name))


def _build_into(path: str, build: Callable[[str], object]) -> None:
    entry, filename = os.path.split(path)
    temp = os.path.join(entry, f"{_TEMP}{os.getpid()}-{secrets.token_hex(4)}-{filename}")
    temp_sum = temp + _CHECKSUM
    try:
        build(temp)
        if not os.path.isfile(temp):
            raise GraphadError(
                f"the compile cache's build function {build!r} returned without writing "
                f"{temp}; it must write the artifact to the path it is given"
            )
        with open(temp_sum, "w") as f:
            f.write(_file_digest(temp) + "\n")
        os.replace(temp, path)  # the artifact first: a matching checksum means it is whole
        os.replace(temp_sum, path + _CHECKSUM)
    except BaseException:
        for leftover in (temp, temp_sum):
            with contextlib.suppress(OSError):
                os.remove(leftover)
        raise


_fallbacks: dict[str, str] = {}  # unwritable folder -> this process's private stand-in
_fallbacks_lock = threading.Lock()


def _usable_root(requested: str) -> str:
    try:
        os.makedirs(requested, exist_ok=True)
        # write a file: os.access says yes to root on a read-only mount
        fd, probe = tempfile.mkstemp(dir=requested, prefix=_TEMP)
        os.close(fd)
        os.remove(probe)
        return requested
    except OSError as exc:
        reason = exc.strerror or str(exc)
    with _fallbacks_lock:
        if requested not in _fallbacks:
            private = tempfile.mkdtemp(prefix="graphad-")
            atexit.register(shutil.rmtree, private, ignore_errors=True)
            _fallbacks[requested] = private
            warnings.warn(
                f"graphad's compile cache folder {requested} is not writable ({reason}); "
                f"compiled code goes to the private folder {private} and is rebuilt in every "
                "process. Make the folder writable, or choose another with "
                "GRAPHAD_FLAGS=compiledir=/a/writable/folder (or ga.config.compiledir = ...)",
                RuntimeWarning,
                stacklevel=3,  # the caller of CompileCache()
            )
        return _fallbacks[requested]


_default: CompileCache | None = None
_default_lock = threading.Lock()


def default_cache() -> CompileCache:
    """The process-wide cache of ``ga.config.compiledir`` (a new one when it changes).

    >>> default_cache() is default_cache()
    True
    """
    global _default
    wanted = _absolute(config.compiledir)
    with _default_lock:
        if _default is None or _default.requested != wanted:
            _default = CompileCache(wanted)
        return _default
