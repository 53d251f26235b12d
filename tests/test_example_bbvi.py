"""examples/bbvi.py: the ELBO rises, runs are reproducible from the seed, and the dump
shows the random draw and the gradient inside the compiled step."""

from __future__ import annotations

import re

from tests.test_examples import REPO, run_script

SCRIPT = REPO / "examples" / "bbvi.py"
FAST = ("--iters", "200", "--window", "25", "--samples", "8")
SUMMARY = re.compile(
    r"^ELBO: first \d+ iters mean (\S+), last \d+ iters mean (\S+) \((.*)\)$", re.M
)


def elbo_windows(out):
    return [
        float(v) for v in re.findall(r"^iter\s+\d+\s+ELBO \(mean of last \d+\)\s+(\S+)$", out, re.M)
    ]


def without_timing(out):
    return [line for line in out.splitlines() if not line.startswith("time:")]


def test_bbvi_elbo_rises_and_dump_shows_draw_and_grad(tmp_path):
    dump = tmp_path / "bbvi.txt"
    out = run_script(SCRIPT, *FAST, "--dump", dump, cwd=tmp_path)
    match = SUMMARY.search(out)
    assert match, f"no 'ELBO: first ... last ...' line in the output:\n{out}"
    first, last, verdict = float(match.group(1)), float(match.group(2)), match.group(3)
    assert verdict == "rose", out
    assert last > first + 10.0, f"the ELBO did not rise by a clear margin:\n{out}"
    windows = elbo_windows(out)
    assert len(windows) == 8, out
    assert windows[0] == float(f"{first:.3f}") and windows[-1] == float(f"{last:.3f}"), out
    assert re.search(r"^posterior mean: 4/4 signs right, correlation with truth 0\.9", out, re.M), (
        out
    )
    text = dump.read_text()
    assert "philox" in text, text  # the draw of eps runs inside the compiled step
    assert "[grad]" in text, text
    assert "mu" in text and "log_sigma" in text, text


def test_bbvi_is_reproducible_from_the_seed(tmp_path):
    first = run_script(SCRIPT, *FAST, "--seed", "3", cwd=tmp_path)
    again = run_script(SCRIPT, *FAST, "--seed", "3", cwd=tmp_path)
    assert without_timing(first) == without_timing(again)
    other = run_script(SCRIPT, *FAST, "--seed", "4", cwd=tmp_path)
    assert elbo_windows(other) and elbo_windows(other) != elbo_windows(first), other
