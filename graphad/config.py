"""Options of graphad, read once from the environment variable ``GRAPHAD_FLAGS``.

``GRAPHAD_FLAGS="device=cuda,floatX=float32"`` sets the defaults; ``ga.config.floatX =
"float32"`` changes one at run time. Unknown names and bad values raise ``ConfigError``
naming the option and the values it takes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ConfigError(f"expected one of {', '.join(allowed)}; got {value!r}")
        return value

    check.allowed = allowed
    return check


def _path(value: str) -> str:
    return os.path.expanduser(str(value))


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"expected a boolean (true/false); got {value!r}")


def _count(value) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 256:
        raise ConfigError(f"expected a number of threads from 1 to 256, got {value!r}")
    return int(text)


def _default_threads() -> int:
    try:
        return max(1, min(256, len(os.sched_getaffinity(0))))  # the cores we may use
    except AttributeError:  # macOS, Windows
        return max(1, min(256, os.cpu_count() or 1))


def _apply_threads(n: int) -> None:
    """Tell the running thread pool (if compiled code has loaded it) the new count."""
    import sys

    pool = sys.modules.get("graphad_pool")
    if pool is not None:
        pool.set_threads(n)


def _default_compiledir() -> str:
    try:
        import platformdirs

        return platformdirs.user_cache_dir("graphad")
    except ImportError:  # platformdirs is a dependency; this only helps odd installs
        return os.path.join(os.path.expanduser("~"), ".cache", "graphad")


@dataclass(frozen=True)
class _Option:
    default: Callable[[], object]
    check: Callable[[object], object]
    doc: str


_OPTIONS = {
    "floatX": _Option(lambda: "float64", _choice("float64", "float32"), "default float dtype"),
    "device": _Option(lambda: "cpu", _choice("cpu", "cuda"), "where compiled code runs"),
    "mode": _Option(
        lambda: "FAST_RUN",
        _choice("FAST_RUN", "FAST_COMPILE", "DEBUG"),
        "default mode of ga.function",
    ),
    "compiledir": _Option(_default_compiledir, _path, "where compiled modules are cached"),
    "cc": _Option(lambda: os.environ.get("CC", "cc"), str, "the host C compiler"),
    "cflags": _Option(lambda: "", str, "extra flags for the C compiler (e.g. -fsanitize=address)"),
    "threads": _Option(
        _default_threads,
        _count,
        "threads that large compiled loops run on (default: the cores this process may use)",
    ),
    "progress": _Option(lambda: False, _flag, "show progress of long compiles"),
    "rewrite_checks": _Option(
        lambda: False,
        _flag,
        "lint the graph after every rewrite pass and re-raise errors of rewrite rules "
        "(on in graphad's tests and in DEBUG mode)",
    ),
}


class Config:
    """The live options. Read and set them as attributes.

    >>> import graphad as ga
    >>> ga.config.floatX in ("float32", "float64")
    True
    """

    def __init__(self, flags: str = ""):
        # values live in the instance __dict__, like plain attributes, so tools that
        # save and restore attributes (pytest's monkeypatch) see them as such
        for name, opt in _OPTIONS.items():
            object.__setattr__(self, name, opt.default())
        for name, value in parse_flags(flags).items():
            try:
                setattr(self, name, value)
            except ConfigError as exc:
                # raised at import: say where the bad setting came from
                raise ConfigError(f"GRAPHAD_FLAGS={flags!r}: {exc}") from None

    def __getattr__(self, name: str):  # only reached for names that are not options
        raise AttributeError(_unknown(name))

    def __setattr__(self, name: str, value) -> None:
        if name not in _OPTIONS:
            raise ConfigError(_unknown(name))
        try:
            object.__setattr__(self, name, _OPTIONS[name].check(value))
        except ConfigError as exc:
            raise ConfigError(f"config option {name!r}: {exc}") from None
        if name == "threads":
            _apply_threads(getattr(self, name))

    def __delattr__(self, name: str) -> None:
        raise ConfigError(f"config option {name!r} cannot be deleted; set it instead")

    def __dir__(self):
        return list(_OPTIONS)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in _OPTIONS)
        return f"Config({body})"


def _unknown(name: str) -> str:
    return f"unknown config option {name!r}; the options are {', '.join(_OPTIONS)}"


def parse_flags(text: str) -> dict:
    """Parse ``"a=1,b=2"`` into a dict; raises ConfigError on a malformed entry.

    >>> parse_flags("device=cuda, floatX=float32")
    {'device': 'cuda', 'floatX': 'float32'}
    """
    result = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ConfigError(f"GRAPHAD_FLAGS entry {item!r} is not of the form name=value")
        key, value = (part.strip() for part in item.split("=", 1))
        result[key] = value
    return result


config = Config(os.environ.get("GRAPHAD_FLAGS", ""))
