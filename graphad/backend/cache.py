"""The compile cache: built artifacts (C extensions now, CUDA binaries later) keyed by content.

This module owns where compiled code lives on disk and how processes share it. The API:

- ``cache_key(source, **parts)``: the sha256 of the generated source, the caller's compiler
  identity and flags, and the environment the artifact depends on (Python version and ABI,
  NumPy and graphad versions, graphad's kernel headers), added here so no caller can forget
  them. Nothing is bumped by hand: change anything that matters and the key changes.
- ``CompileCache(root=None)``: one cache folder, ``ga.config.compiledir`` by default.
  ``get(key, build, name, suffix)`` returns the path of a verified artifact, building it
  with ``build(tmp_path)`` only when it is missing or damaged; ``load(key, build, load, ...)``
  also loads it, checked again just before, and rebuilds it once if it does not load;
  ``info()`` and ``clear()``.
- ``default_cache()``: the process-wide cache of the current ``ga.config.compiledir``.

Layout, one folder per key (so a loader can import a module called ``name`` without clashes)::

    <root>/<key[:2]>/<key>/<name><suffix>          the artifact
    <root>/<key[:2]>/<key>/<name><suffix>.sha256   sha256 of the artifact, written last
    <root>/<key[:2]>/<key>/.lock                   the lock of this key (filelock)
    <root>/<key[:2]>/<key>/.tmp-<pid>-<token>/     a build in progress (by process <pid>)

Why parallel processes are safe: a build writes into a folder of its own, and the artifact
and its checksum are renamed into place from there (artifact first, checksum last), so a
reader whose checksum matches holds a complete file, and a process that already loaded an
old file keeps its inode. A reader that finds a matching checksum takes no lock. Otherwise
it takes the lock of that one key (never a global one), looks again, and builds: one process
builds, the others wait and reuse its result. The lock only saves duplicate work;
correctness comes from the renames and the checksum, so a truncated, half-written or
corrupt entry is rebuilt, and so is an entry with something else where one of its files or
its folder belongs (a folder, a symbolic link, a file). What cannot be repaired (a file or
folder this process may not write) raises CacheError naming the path and the fix. If the
cache folder is not writable, a private temporary folder is used with one warning.

A killed build leaves its ``.tmp-<pid>-*`` folder behind, and a compiler it started may
still write there; only the process that made the folder renames anything out of it. The
next build of that key removes such folders, and ``clear()`` those of processes that are
gone.
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
import stat
import sys
import sysconfig
import tempfile
import threading
import warnings
from collections.abc import Callable

import filelock

from ..config import config
from ..errors import CacheError, GraphadError, GraphadTypeError, GraphadValueError
from .cache_files import (
    CHECKSUM,
    MISSING,
    alive,
    cache_error,
    examine,
    junk,
    listdir,
    read_file,
    reason,
    remove,
    remove_all,
    remove_junk,
)

__all__ = ["CompileCache", "cache_key", "default_cache"]

log = logging.getLogger("graphad")

_LOCK = ".lock"
_TEMP = ".tmp-"  # prefix of a build's own folder, .tmp-<pid>-<token>; a killed build leaves it
_TEMP_OWNER = re.compile(r"\.tmp-(\d+)-")
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

        ``build(tmp_path)`` must write the artifact to ``tmp_path`` (``<name><suffix>`` in a
        fresh folder of this build's own inside the entry, which ``build`` may also use for
        scratch files: it is removed however ``build`` ends); its return value is ignored.
        It runs only when the artifact is missing or damaged, in one process at a time per
        key. An exception from ``build`` leaves nothing behind and propagates; CacheError
        (an OSError) says which of the cache's files or folders cannot be written.

        >>> import pathlib
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     cache, key = CompileCache(folder), cache_key("int y;")
        ...     path = cache.get(key, lambda tmp: pathlib.Path(tmp).write_text("built"))
        ...     path == cache.get(key, build=None)  # present and intact: no build
        True
        """
        return self._fetch(key, build, _artifact_name(name, suffix))[0]

    def load(
        self,
        key: str,
        build: Callable[[str], object],
        load: Callable[[str, bytes], object],
        name: str = "mod",
        suffix: str = ".so",
    ):
        """``load(path, data)`` of ``key``'s artifact, built first if needed (as ``get``).

        ``data`` is the artifact's content, read and checked against its checksum just
        before the call; ``load`` may check more (that a shared library is whole) and then
        loads the file at ``path``, which graphad never rewrites in place. If ``load`` raises
        ImportError or OSError, the artifact is removed, rebuilt and loaded once more; a
        second failure, or a failure of an artifact this call just built, raises CacheError
        naming the path.

        >>> import pathlib
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     cache, key = CompileCache(folder), cache_key("int z;")
        ...     build = lambda tmp: pathlib.Path(tmp).write_text("3")
        ...     cache.load(key, build, lambda path, data: int(data))
        3
        """
        filename = _artifact_name(name, suffix)
        path, data, built = self._fetch(key, build, filename)
        try:
            return load(path, data)
        except (ImportError, OSError) as exc:
            if built:
                raise CacheError(
                    f"graphad's compiled {path}, just built, does not load: {exc}. This is a "
                    "bug in graphad; please report it with this message",
                    path,
                ) from exc
            log.warning("compile cache: %s does not load (%s); rebuilding it", path, exc)
        self._discard(path, data)
        path, data, _ = self._fetch(key, build, filename)
        try:
            return load(path, data)
        except (ImportError, OSError) as exc:
            raise CacheError(
                f"graphad's compiled {path} does not load, even rebuilt: {exc}. Remove "
                f"{os.path.dirname(path)} or run `python -m graphad cache clear`; if it "
                "fails again, please report this bug with this message",
                path,
            ) from exc

    def info(self) -> dict:
        """``{"root": folder, "entries": keys with a finished artifact, "bytes": their size}``.

        Folders of builds in progress or killed (``.tmp-*``) are not counted.

        >>> with tempfile.TemporaryDirectory() as folder:
        ...     CompileCache(folder).info()["entries"]
        0
        """
        entries = size = 0
        for entry in self._entries():
            if junk(entry, folder=True):
                continue
            names = listdir(entry)
            entries += _is_finished(entry, names)
            for name in names:
                if not name.startswith("."):
                    with contextlib.suppress(OSError):
                        found = os.lstat(os.path.join(entry, name))
                        size += found.st_size if stat.S_ISREG(found.st_mode) else 0
        return {"root": self.root, "entries": entries, "bytes": size}

    def clear(self) -> int:
        """Remove every entry; return how many finished ones were removed.

        Each entry is removed under its own lock, so an entry another process is building
        right now is left in place (logged at INFO), less the folders of earlier builds by
        processes that are gone. An entry whose lock cannot be taken because something else
        sits where the lock or the entry's folder belongs is removed. Only what is laid out
        as cache entries is touched, so a mistaken ``compiledir`` loses nothing else. A
        process that already loaded an artifact keeps it; one about to load it rebuilds it.
        What cannot be removed (no permission) raises CacheError naming it, after the rest
        is removed; its ``removed`` attribute holds the count.

        >>> with tempfile.TemporaryDirectory() as folder:
        ...     CompileCache(folder).clear()
        0
        """
        removed, stuck = 0, []
        for entry in self._entries():
            finished, left = _clear_entry(entry)
            removed += finished and not left
            stuck += left
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(entry))  # the shard, once empty
        if stuck:
            error = CacheError(
                f"graphad's compile cache could not remove {'; '.join(stuck)}. Remove them "
                "as their owner (rm -r; chattr -i first if `lsattr` shows them immutable), "
                "then run `python -m graphad cache clear` again",
                stuck[0].rsplit(" (", 1)[0],
            )
            error.removed = removed
            raise error
        return removed

    def _fetch(self, key: str, build, filename: str) -> tuple[str, bytes, bool]:
        """(path, verified content, whether this call built it) of ``key``'s artifact."""
        entry = self.entry_dir(key)
        path = os.path.join(entry, filename)
        damage, data = examine(path)
        if damage is None:
            return path, data, False
        with _locked(entry):
            damage, data = examine(path)  # another process may have built it while we waited
            if damage is None:
                return path, data, False
            if damage == MISSING:
                log.debug("compile cache: building %s", path)
            else:
                log.info("compile cache: %s %s; rebuilding it", path, damage)
            _clean(entry, filename)
            data = _build_into(path, build)
        return path, data, True

    def _discard(self, path: str, data: bytes) -> None:
        """Remove the artifact ``path`` whose content ``data`` did not load, unless another
        process has replaced it meanwhile."""
        with _locked(os.path.dirname(path)):
            damage, current = examine(path)
            if damage is not None or current == data:
                for name in (path + CHECKSUM, path):  # the checksum first: no reader trusts it
                    remove(name)

    def _entries(self) -> list[str]:
        found = []
        for shard in listdir(self.root):
            if _SHARD.fullmatch(shard):
                folder = os.path.join(self.root, shard)
                found += [
                    os.path.join(folder, key)
                    for key in listdir(folder)
                    if _KEY.fullmatch(key) and key.startswith(shard)
                ]
        return found


def _absolute(path) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def _artifact_name(name: str, suffix: str) -> str:
    filename = name + suffix
    if not filename or os.sep in filename or filename.startswith("."):
        raise GraphadValueError(
            f"compile cache artifact name {filename!r} must be a plain file name that does "
            "not start with '.'; pass name='mod', suffix='.so' or similar"
        )
    return filename


def _is_finished(entry: str, names: list[str]) -> bool:
    return any(
        n.endswith(CHECKSUM) and not n.startswith(".") and not junk(os.path.join(entry, n))
        for n in names
    )


def _clear_entry(entry: str) -> tuple[bool, list[str]]:
    """Remove ``entry`` for clear(): (whether it was finished, what could not be removed)."""
    if junk(entry, folder=True):  # a file or a link where the entry's folder belongs
        return False, remove_all(entry)
    lock_path = os.path.join(entry, _LOCK)
    lock = filelock.FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("compile cache: %s is being built by another process; kept", entry)
        return False, _remove_dead_builds(entry)
    except OSError as exc:
        if not os.path.lexists(entry):
            return False, []  # removed meanwhile
        if os.path.lexists(lock_path) and not junk(lock_path):
            return False, [f"{lock_path} ({reason(exc)})"]  # its owner may be building
        # junk where the lock belongs, or no lock can be made there: nobody holds it
        return _is_finished(entry, listdir(entry)), remove_all(entry)
    try:
        # the lock file goes too: filelock's waiters notice an unlinked lock, and get()
        # recreates the folder after locking
        return _is_finished(entry, listdir(entry)), remove_all(entry)
    finally:
        lock.release()


def _remove_dead_builds(entry: str) -> list[str]:
    """Remove the build folders (and files) in ``entry`` of processes that are gone."""
    stuck = []
    for name in listdir(entry):
        owner = _TEMP_OWNER.match(name)
        if owner and int(owner.group(1)) != os.getpid() and not alive(int(owner.group(1))):
            stuck += remove_all(os.path.join(entry, name))
    return stuck


@contextlib.contextmanager
def _locked(entry: str):
    lock_path = os.path.join(entry, _LOCK)
    lock = filelock.FileLock(lock_path)
    for attempt in range(5):
        _make_entry(entry)
        try:
            try:
                lock.acquire(timeout=_PATIENCE_S)
            except filelock.Timeout:
                log.info("compile cache: waiting for another process building %s", entry)
                lock.acquire()
            break
        except OSError as exc:
            # clear() removed the folder between makedirs and open, or junk sits there
            retry = isinstance(exc, FileNotFoundError) or junk(entry, folder=True)
            retry = retry or remove_junk(lock_path)
            if attempt == 4 or not retry:
                raise cache_error(lock_path, exc, "lock") from None
    try:
        _make_entry(entry)  # clear() may have removed it while we waited
        yield
    finally:
        lock.release()


def _make_entry(entry: str) -> None:
    """Make the folder ``entry``, replacing a file or a link found there."""
    remove_junk(entry, folder=True)
    try:
        os.makedirs(entry, exist_ok=True)
    except OSError as exc:
        shard = os.path.dirname(entry)
        if os.path.isdir(shard):
            raise cache_error(entry, exc, "create the folder") from None
        # never removed: a mistaken compiledir may hold a user's file of that name
        raise CacheError(
            f"graphad's compile cache cannot create the folder {entry}: {shard} is not a "
            f"folder. Remove {shard} (graphad keeps compiled code whose key starts with "
            f"{os.path.basename(shard)!r} there), or use another cache folder: "
            "GRAPHAD_FLAGS=compiledir=/another/folder (or ga.config.compiledir)",
            shard,
        ) from None


def _clean(entry: str, filename: str) -> None:
    """Under the key's lock: remove killed builds' folders and junk at the artifact's names."""
    for name in listdir(entry):
        if name.startswith(_TEMP):  # nobody else builds here now: a killed build's
            for stuck in remove_all(os.path.join(entry, name)):  # in nobody's way
                log.warning("compile cache: cannot remove %s, left by a killed build", stuck)
    for name in (filename, filename + CHECKSUM):
        remove_junk(os.path.join(entry, name))


def _build_into(path: str, build: Callable[[str], object]) -> bytes:
    """Build the artifact ``path`` in a folder of this build's own; return its content."""
    entry, filename = os.path.split(path)
    scratch = os.path.join(entry, f"{_TEMP}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.mkdir(scratch)
    except OSError as exc:
        raise cache_error(entry, exc, "write in the folder") from None
    try:
        temp = os.path.join(scratch, filename)
        build(temp)
        try:
            data = read_file(temp)
        except OSError as exc:
            raise GraphadError(
                f"the compile cache's build function {build!r} returned without writing "
                f"{temp} ({reason(exc)}); it must write the artifact to the path it is given"
            ) from None
        try:
            with open(temp + CHECKSUM, "w") as f:
                f.write(hashlib.sha256(data).hexdigest() + "\n")
            os.replace(temp, path)  # the artifact first: a matching checksum means it is whole
            os.replace(temp + CHECKSUM, path + CHECKSUM)
        except OSError as exc:
            raise cache_error(path, exc, "write") from None
        return data
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
