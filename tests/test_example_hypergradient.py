"""examples/hypergradient.py: the gradient of a validation loss through unrolled SGD
steps with respect to the learning rate agrees with a finite difference."""

from __future__ import annotations

import re

import pytest

from tests.test_examples import REPO, run_script


def test_hypergradient_matches_finite_difference(tmp_path):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    dump = tmp_path / "hyper.txt"
    out = run_script(
        REPO / "examples" / "hypergradient.py",
        *("--steps", "8", "--hyper-steps", "3", "--dump", dump),
        cwd=tmp_path,
    )
    match = re.search(
        r"^hypergradient d val / d lr = (\S+) ; finite difference = (\S+) ; "
        r"relative error (\S+)$",
        out,
        re.M,
    )
    assert match, f"no check line in the output:\n{out}"
    hyper, finite, error = (float(v) for v in match.groups())
    assert error < 1e-5, out
    assert hyper < 0 and finite < 0, out  # at lr 0.1 a larger step helps
    losses = [float(v) for v in re.findall(r"^hyper step \d+: .*validation loss (\S+)", out, re.M)]
    assert len(losses) == 4 and losses[-1] < losses[0], out
    text = dump.read_text()
    assert "[grad]" in text and "lr" in text, text
