"""Iteration spaces too large for NumPy raise as the reference does, at once, instead of
looping for ages (issue 19, item 4): a fused reduction over broadcast views never
materializes its iteration space, so the kernel checks its size itself. Each case runs
in a child process with a timeout, so a regression fails instead of hanging the suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import graphad as ga
    x = ga.broadcast_to(1.0, ({n},))
    y = ga.broadcast_to(1.0, ({n},))
    f = ga.function([], (x[:, None] * y[None, :]).sum(), mode={mode!r})
    try:
        f()
    except ValueError as exc:
        print(type(exc).__name__, str(exc).splitlines()[0])
    """
)


@pytest.mark.parametrize(
    "n, message",
    [
        (2**31, "array is too big"),  # 2**62 elements: no overflow, but 2**65 bytes
        (2**33, "broadcast dimensions too large"),  # 2**66 elements: the count overflows
    ],
)
@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_a_reduction_over_a_huge_broadcast_raises_at_once(n, message, mode, tmp_path):
    code = PROGRAM.format(n=n, mode=mode)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert message in proc.stdout, proc.stdout
