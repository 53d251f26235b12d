"""examples/lissa.py: LiSSA's minibatch estimate of H^-1 v reaches np.linalg.solve."""

from __future__ import annotations

import re

import pytest

from tests.test_examples import REPO, run_script


def test_lissa_reaches_linalg_solve(tmp_path):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    dump = tmp_path / "lissa.txt"
    out = run_script(REPO / "examples" / "lissa.py", "--dump", dump, cwd=tmp_path)
    errors = [float(e) for e in re.findall(r"^depth\s+\d+\s.*\sestimate (\S+)$", out, re.M)]
    assert len(errors) >= 5, out
    assert errors[-1] < errors[0] / 100, f"the error did not go down:\n{out}"
    assert errors[-1] <= min(errors[:4]), f"the error did not go down:\n{out}"
    match = re.search(
        r"^LiSSA relative error vs np\.linalg\.solve: (\S+) \(target 1e-3\)$", out, re.M
    )
    assert match, f"no final 'LiSSA relative error' line in the output:\n{out}"
    assert float(match.group(1)) < 1e-3, out
    assert abs(float(match.group(1)) - errors[-1]) <= 0.051 * errors[-1], out
    text = dump.read_text()
    assert "[grad]" in text and "Xb" in text and "MatMul" in text, text
