"""Rule tables and the worklist that runs a table to a fixpoint.

A rule turns one node into replacement variables. ``rule(name, pattern, replacement)``
is the declarative kind: a pattern with named captures (pattern.py) and a replacement
that is a template ``(fn, "x", 1)`` or a function of the captures. ``node_rule`` is
the imperative kind, for what a pattern cannot say; its docstring shows before ⇒ after.

``run_table`` visits nodes in topological order and revisits whatever a rewrite
touches, until no rule applies. It stops after a budget of rewrites proportional to
the graph size, naming the rule that kept firing, so it never loops forever. Every
firing is counted in a ``RewriteRecord`` (``f.maker.rewrites`` on a compiled
function). Nodes a rule creates inherit the user's source line (and the ``grad`` tag)
of the node they replace, and reuse equal nodes the graph already has.
"""

from __future__ import annotations

import warnings
from collections import Counter, deque

from ..errors import RewriteError
from ..graph.basic import Variable, format_source
from .pattern import compile_pattern, op_key


class Rule:
    """Base: ``apply(fgraph, node)`` returns ``{old: new}`` or None."""

    name = "rule"
    keys = None  # op keys of the nodes the rule can apply to (None: every node)

    def apply(self, fgraph, node):
        raise NotImplementedError

    def __repr__(self):
        return f"<rule {self.name}>"


class PatternRule(Rule):
    """``pattern → replacement`` on single-output nodes."""

    def __init__(self, name, pattern, replacement, where=None):
        self.name = name
        self.pattern = compile_pattern(pattern)
        self.keys = self.pattern.root_keys()
        self.replacement = replacement
        self.where = where

    def apply(self, fgraph, node):
        if len(node.outputs) != 1:
            return None
        var = node.outputs[0]
        for caps in self.pattern.match(var):
            if self.where is not None and not self.where(**caps):
                continue
            new = _build(self.replacement, caps)
            if new is not None:
                return {var: new}
        return None

    def __repr__(self):
        return f"<rule {self.name}: {self.pattern!r}>"


class NodeRule(Rule):
    """An imperative rule: ``fn(fgraph, node)`` returns ``{old: new}``, pairs or None."""

    def __init__(self, fn, keys):
        if not (fn.__doc__ and "⇒" in fn.__doc__):
            raise TypeError(f"imperative rule {fn.__name__} needs a 'before ⇒ after' docstring")
        self.name = fn.__name__
        self.fn = fn
        self.keys = keys
        self.__doc__ = fn.__doc__

    def apply(self, fgraph, node):
        result = self.fn(fgraph, node)
        if result is None or isinstance(result, dict):
            return result
        return dict(result)


def rule(name, pattern, replacement, where=None) -> PatternRule:
    """A declarative rule.

    >>> import graphad as ga
    >>> r = rule("log1p", (ga.log, (ga.add, 1, "x")), (ga.log1p, "x"))
    >>> r.name
    'log1p'
    """
    return PatternRule(name, pattern, replacement, where)


def node_rule(*keys):
    """Decorator making an imperative rule for nodes whose op key is in ``keys``
    (scalar op classes or Op classes; none means every node)."""

    def wrap(fn):
        return NodeRule(fn, tuple(keys) or None)

    return wrap


def _build(template, caps):
    if callable(template) and not isinstance(template, tuple):
        return template(**caps)
    if isinstance(template, tuple):
        fn, *args = template
        return fn(*(_build(a, caps) for a in args))
    if isinstance(template, str):
        return caps[template]
    return template  # a number


class RuleTable:
    """A named list of rules, indexed by the op key of the nodes they apply to.
    Tables compose with ``+``."""

    def __init__(self, name, rules):
        self.name = name
        self.rules = list(rules)
        names = [r.name for r in self.rules]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"table {name}: rule names must be unique, repeated: {sorted(dup)}")
        self._index: dict = {}
        self._any = [r for r in self.rules if r.keys is None]
        for r in self.rules:
            for key in r.keys or ():
                self._index.setdefault(key, []).append(r)
        self._cache: dict = {}

    def candidates(self, op):
        key = op_key(op)
        found = self._cache.get(key)
        if found is None:
            wanted = set(self._index.get(key, ())) | set(self._any)
            found = [r for r in self.rules if r in wanted]  # table order
            self._cache[key] = found
        return found

    def __add__(self, other):
        return RuleTable(f"{self.name}+{other.name}", self.rules + other.rules)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self):
        return len(self.rules)


class RewriteRecord:
    """Which rules fired, how often, in which pass; rules skipped after an error;
    and each pass's time.

    >>> rec = RewriteRecord()
    >>> rec.fire("stabilize", "log1p"); rec.fired("log1p")
    1
    """

    def __init__(self):
        self.counts: Counter = Counter()
        self.declined: Counter = Counter()
        self.failures: list = []
        self.pass_times: dict = {}

    def fire(self, pass_name, rule_name):
        self.counts[(pass_name, rule_name)] += 1

    def fired(self, rule_name=None, pass_name=None) -> int:
        """How many times ``rule_name`` (any rule when None) fired (in ``pass_name``)."""
        return sum(
            n
            for (p, r), n in self.counts.items()
            if (rule_name is None or r == rule_name) and (pass_name is None or p == pass_name)
        )

    def summary(self) -> str:
        lines = ["pass            rule                              fired"]
        for (p, r), n in self.counts.items():
            lines.append(f"{p:<15} {r:<33} {n:>5}")
        for p, t in self.pass_times.items():
            lines.append(f"pass {p}: {t * 1e3:.1f} ms")
        for p, r, err in self.failures:
            lines.append(f"SKIPPED {p}/{r} after an error: {err}")
        return "\n".join(lines)

    def __repr__(self):
        return f"RewriteRecord({dict(self.counts)})"


class _Worklist:
    """FunctionGraph listener: queues every node a rewrite creates or re-wires, and
    indexes the graph's nodes by (op, inputs) so a rule's new nodes reuse equal
    existing ones (without that, shape expressions rebuilt layer by layer grow
    exponentially)."""

    def __init__(self, nodes):
        self.queue = deque(nodes)
        self.queued = set(self.queue)
        self.index: dict = {}
        self.key_of: dict = {}
        for node in nodes:
            self._add(node)

    def _add(self, node):
        key = _node_key(node)
        if key is not None:
            self.index.setdefault(key, node)
            self.key_of[node] = key

    def _drop(self, node):
        key = self.key_of.pop(node, None)
        if key is not None and self.index.get(key) is node:
            del self.index[key]

    def push(self, node):
        if node not in self.queued:
            self.queued.add(node)
            self.queue.append(node)

    def pop(self):
        node = self.queue.popleft()
        self.queued.discard(node)
        return node

    def on_import(self, fgraph, node):
        self._add(node)
        self.push(node)

    def on_prune(self, fgraph, node):
        self._drop(node)

    def on_change_input(self, fgraph, client, i, old, new, reason):
        if client != "output":
            self._drop(client)
            self._add(client)
            self.push(client)

    def share(self, fgraph, new, old, root):
        """``new``, ready to replace ``old``: each node it adds to the graph is replaced
        by an equal node the graph already has, where there is one, and the others get
        ``root``'s source line and grad tag. A replacement reading ``old`` is refused."""
        order, seen, stack = [], set(), [(new, False)]
        while stack:  # post-order over the nodes not yet in the graph
            var, done = stack.pop()
            if var is old:
                raise ValueError(f"the replacement of {old!r} reads {old!r} itself")
            node = var.owner
            if node is None or var in fgraph.variables:
                continue
            if done:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((var, True))
            stack.extend((v, False) for v in node.inputs)
        grad = getattr(root.tag, "grad", None)
        canon = {}
        for node in order:
            if any(v in canon for v in node.inputs):
                node.inputs = [canon.get(v, v) for v in node.inputs]
            key = _node_key(node)
            found = self.index.get(key) if key is not None else None
            if found is not None and found is not node:
                canon.update(zip(node.outputs, found.outputs))
                continue
            node.source = root.source
            if grad is not None:
                node.tag.grad = grad
        return canon.get(new, new)


def _node_key(node):
    key = (node.op, tuple(map(id, node.inputs)))
    try:
        hash(key)
    except TypeError:  # unhashable params: never shared
        return None
    return key


def run_table(fgraph, table, pass_name, record, strict=False, budget=None):
    """Apply ``table`` to ``fgraph`` until no rule fires (or the budget runs out).

    ``strict`` (tests, DEBUG): a rule that raises, or a table that keeps firing,
    raises RewriteError; otherwise the rule is skipped with a warning naming it.
    """
    work = _Worklist(fgraph.toposort())
    if budget is None:
        budget = 8 * len(fgraph.apply_nodes) + 200
    fired: Counter = Counter()
    disabled: set = set()
    fgraph.attach_listener(work)
    try:
        while work.queue:
            node = work.pop()
            if node not in fgraph.apply_nodes:
                continue
            for r in table.candidates(node.op):
                if r in disabled:
                    continue
                if _try_rule(fgraph, node, r, pass_name, record, strict, disabled, work):
                    fired[r.name] += 1
                    if sum(fired.values()) > budget:
                        _over_budget(pass_name, fired, budget, strict)
                        return
                    break
    finally:
        fgraph.remove_listener(work)


def _try_rule(fgraph, node, r, pass_name, record, strict, disabled, work) -> bool:
    try:
        pairs = r.apply(fgraph, node)
        if not pairs:
            return False
        for old, new in pairs.items():
            if not isinstance(new, Variable):
                raise TypeError(f"returned {new!r} for {old!r}, not a variable")
        pairs = {
            old: new if new is old else work.share(fgraph, new, old, node)
            for old, new in pairs.items()
        }
        for old, new in pairs.items():
            if old is not new and not old.type.is_compatible(new.type):
                record.declined[(pass_name, r.name)] += 1
                return False
        fgraph.replace_all([(o, n) for o, n in pairs.items() if o is not n], reason=r.name)
    except Exception as exc:
        where = f"{node.op} built at {format_source(node.source)}"
        msg = f"rewrite rule {r.name!r} of pass {pass_name!r} failed on {where}: {exc}"
        report_failure(record, strict, exc, msg, "the rule is skipped", pass_name, r.name)
        disabled.add(r)
        return False
    record.fire(pass_name, r.name)
    return True


def report_failure(record, strict, exc, msg, outcome, pass_name, rule_name=None):
    """A rewrite step failed with ``exc`` (a bug in graphad): RewriteError in tests and
    DEBUG (``strict``), else a warning saying ``msg`` and the ``outcome``, kept in
    ``record.failures``."""
    if strict:
        raise RewriteError(msg) from exc
    warnings.warn(f"{msg}; {outcome} (please report this bug)", stacklevel=3)
    record.failures.append((pass_name, rule_name, str(exc)))


def _over_budget(pass_name, fired, budget, strict):
    name, n = fired.most_common(1)[0]
    msg = (
        f"pass {pass_name!r} stopped after {budget} rewrites without reaching a fixpoint; "
        f"rule {name!r} fired {n} times (it probably undoes another rule; please report)"
    )
    if strict:
        raise RewriteError(msg)
    warnings.warn(msg, stacklevel=3)


class RulePass:
    """A pipeline step that runs one rule table to a fixpoint."""

    def __init__(self, name, table):
        self.name = name
        self.table = table

    def run(self, fgraph, record, strict=False):
        run_table(fgraph, self.table, self.name, record, strict)
