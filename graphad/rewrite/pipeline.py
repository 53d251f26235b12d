"""The rewrite pipeline: one ordered, named list of passes per mode.

Read top to bottom; each step says why it is where it is. ``run_pipeline`` runs a
mode's list over a FunctionGraph, records what fired, and (with
``config.rewrite_checks``, on in tests and DEBUG mode) lints the graph after every
pass, naming the pass that broke it.
"""

from __future__ import annotations

import gc
import time

from ..errors import GraphadError
from ..graph.verify import LintError, lint
from .canonicalize import canonicalize_rules
from .engine import RewriteRecord, RulePass, report_failure
from .fold import fold_rules
from .fusion import FusionPass
from .merge import MergePass
from .specialize import specialize_rules
from .stabilize import stabilize_rules

FAST_RUN = [
    # equal subexpressions (gradients repeat the forward pass's) computed once
    MergePass("merge"),
    # constant inputs computed now, so later passes see values, not nodes
    RulePass("fold", fold_rules),
    # one spelling per expression, so stabilize/specialize patterns need one form
    RulePass("canonicalize", canonicalize_rules + fold_rules),
    # safe forms of log/exp/softmax/sigmoid expressions before anything fuses them
    RulePass("stabilize", stabilize_rules),
    # cheaper forms: powers, GEMM, matrix-chain order (after stabilize has settled)
    RulePass("specialize", specialize_rules + canonicalize_rules + fold_rules),
    # elementwise chains become kernels, once every other rewrite has settled
    FusionPass("fusion"),
    # rewrites create equal nodes (two stabilized branches, equal kernels); share them
    MergePass("merge_again"),
]

FAST_COMPILE = [
    MergePass("merge"),
    RulePass("fold", fold_rules),
]

PIPELINES = {
    "FAST_RUN": FAST_RUN,
    # every rewrite but fusion: the graph that tests of single rules inspect
    "REWRITES": [step for step in FAST_RUN if not isinstance(step, FusionPass)],
    # up to stabilize: what tests of the stabilize rules inspect (specialize expands
    # the log_softmax those rules make)
    "STABILIZED": FAST_RUN[: [s.name for s in FAST_RUN].index("stabilize") + 1],
    "FAST_COMPILE": FAST_COMPILE,
    "DEBUG": FAST_RUN,
    "NONE": [],  # no rewrites: the graph as written (the oracle of rewrite tests)
}


def run_pipeline(fgraph, mode_name, strict=False, check=False) -> RewriteRecord:
    """Rewrite ``fgraph`` in place with the passes of ``mode_name``.

    ``strict``: a failing rule raises instead of being skipped with a warning;
    ``check``: lint after every pass.
    """
    record = RewriteRecord()
    # Rewriting allocates many small objects that reference each other (nodes and
    # their variables); the cyclic collector's full passes over them made rewrite time
    # grow faster than the graph. It runs once, after the pipeline, instead.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for step in PIPELINES[mode_name]:
            start = time.perf_counter()
            _run_step(step, fgraph, record, strict)
            elapsed = time.perf_counter() - start
            record.pass_times[step.name] = record.pass_times.get(step.name, 0.0) + elapsed
            if check:
                _lint_after(fgraph, step)
    finally:
        if was_enabled:
            gc.enable()
    return record


def _run_step(step, fgraph, record, strict):
    """Run one pass. Its rules catch their own failures; whatever escapes a pass is
    a bug in it: raised in tests and DEBUG, else the rest of the pass is skipped with
    a warning (every replacement a pass made is type-checked, so the graph it leaves
    still computes the same values)."""
    try:
        step.run(fgraph, record, strict)
    except GraphadError:
        raise
    except Exception as exc:
        msg = f"rewrite pass {step.name!r} failed: {type(exc).__name__}: {exc}"
        report_failure(record, strict, exc, msg, "the rest of the pass is skipped", step.name)


def _lint_after(fgraph, step):
    try:
        lint(fgraph)
    except LintError as exc:
        raise LintError(
            f"after rewrite pass {step.name!r}: {exc} (a bug in that pass's rules; "
            f"compile with mode='FAST_COMPILE' to avoid it meanwhile)"
        ) from None
