"""graphad's command line: ``python -m graphad cache info`` and ``python -m graphad cache clear``.

``info`` prints where compiled code is cached (``ga.config.compiledir``, settable with
``GRAPHAD_FLAGS=compiledir=...``), how many entries it holds and their size; ``clear``
removes the entries and says how many (exit status 1, naming them, if some could not be
removed).
"""

from __future__ import annotations

import argparse
import sys

from .backend.cache import default_cache
from .errors import CacheError


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    >>> main(["cache", "info"])
    graphad compile cache
      root:    ...
      entries: ...
      size:    ...
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m graphad", description="graphad's maintenance commands."
    )
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    cache = commands.add_parser("cache", help="show or empty the compile cache")
    cache.add_argument(
        "action",
        choices=["info", "clear"],
        help="info: print its folder, entries and size; clear: remove its entries",
    )
    args = parser.parse_args(argv)  # a bad command prints the usage and exits with 2

    compile_cache = default_cache()
    if args.action == "info":
        info = compile_cache.info()
        print("graphad compile cache")
        print(f"  root:    {info['root']}")
        if compile_cache.root != compile_cache.requested:
            print(f"  (compiledir {compile_cache.requested} is not writable)")
        print(f"  entries: {info['entries']}")
        print(f"  size:    {_human_size(info['bytes'])}")
    else:
        try:
            removed, error = compile_cache.clear(), None
        except CacheError as exc:  # what it could not remove; the rest is gone
            removed, error = exc.removed, exc
        plural = "entry" if removed == 1 else "entries"
        print(f"removed {removed} {plural} from {compile_cache.root}")
        if error is not None:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


if __name__ == "__main__":
    sys.exit(main())
