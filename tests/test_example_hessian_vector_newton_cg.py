"""examples/hessian_vector_newton_cg.py converges in a handful of Newton steps, using
Hessian-vector products only, and its hvp agrees with the gradient and the Hessian."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.test_examples import REPO, run_script

STEP = re.compile(r"^step\s+(\d+)\s+loss\s+(\S+)\s+\|grad\|\s+(\S+)(?:\s+cg iters\s+(\d+))?", re.M)


def test_newton_cg_converges_with_hessian_vector_products(tmp_path):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    dump = tmp_path / "hvp.txt"
    script = REPO / "examples" / "hessian_vector_newton_cg.py"
    out = run_script(script, "--dump", dump, cwd=tmp_path)

    steps = STEP.findall(out)
    assert len(steps) >= 2, f"no per-step lines in the output:\n{out}"
    assert [int(s[0]) for s in steps] == list(range(len(steps))), out
    losses = [float(s[1]) for s in steps]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:])), f"loss went up:\n{out}"
    assert losses[-1] < losses[0], out
    assert all(int(s[3]) >= 1 for s in steps[1:]), f"a Newton step without CG:\n{out}"

    done = re.search(r"^converged in (\d+) Newton steps, \|grad\| = (\S+)$", out, re.M)
    assert done, f"no 'converged in N Newton steps' line:\n{out}"
    assert int(done.group(1)) <= 10 and int(done.group(1)) == len(steps) - 1, out
    assert float(done.group(2)) < 1e-8, out
    assert float(steps[-1][2]) < 1e-8, out

    checks = re.findall(r"^hvp check: relative error (\S+)", out, re.M)
    assert len(checks) == 2, f"expected two 'hvp check:' lines:\n{out}"
    assert float(checks[0]) < 1e-6, out  # central difference of the gradient
    assert float(checks[1]) < 1e-8, out  # explicit ga.hessian @ v

    text = dump.read_text()
    assert text.strip(), "the --dump file is empty"
    assert "[grad]" in text and "w ::" in text and "v ::" in text, text


def test_newton_cg_reports_failure_when_it_runs_out_of_steps(tmp_path):
    """Too few steps: it says so and exits 1 (run_script would fail on that)."""
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    script = REPO / "examples" / "hessian_vector_newton_cg.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--steps", "2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NOT converged in 2 Newton steps" in proc.stdout, proc.stdout
