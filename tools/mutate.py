"""Mutation testing of the privacy code: does the test suite catch one-line bugs?

A small, dependency-free runner (mutmut 3 and cosmic-ray both rewrite or copy the
package inside the repository and run the whole suite per mutant; several people
share this checkout and two cores, so this runner works on a private snapshot and
runs only the tests relevant to each file, fastest first, stopping at the first
failure).

What it does:

1. **Snapshot.** ``git archive HEAD`` (or the working tree with ``--worktree``) is
   unpacked into a scratch folder; mutants are written there, never into the
   repository.
2. **Mutants.** Each target file is parsed; inside function bodies (docstrings,
   error messages, warnings, ``raise`` statements and the ``guarantee`` texts are
   left alone) every node matching an operator below yields one mutant: the kind
   of one-line bug a privacy implementation has had (a wrong operator or scale, a
   distance squared or not, a sign, an off-by-one, a constant from the wrong
   object, a fixed seed, a deleted statement).
3. **Runs.** A parent process imports the heavy third-party libraries once, then
   forks one child per mutant; the child writes the mutant into the snapshot and
   runs ``pytest -x`` on the file's relevant tests (those measured fastest run
   first) with a time limit. A failing (or timed-out) run *kills* the mutant.
4. **Report.** The score, and each survivor with its reason from
   ``tools/mutation_equivalents.txt`` (``equivalent: ...``, or ``gap`` when it is
   not listed). The score counts non-equivalent mutants only.

Usage (documented in ``docs/testing.md``)::

    python tools/mutate.py --sample 160 --seed 17 --out /tmp/mutation.json

``--list`` prints the mutants without running them; ``--only ID`` reruns some.
"""

import argparse
import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.txt")

#: Files mutated, and the tests that can kill their mutants (fastest first).
TARGETS = {
    "sklearn_textdp/mechanisms/_noise.py": ["tests/test_noise.py"],
    "sklearn_textdp/mechanisms/_laplace.py": [
        "tests/test_noise.py",
        "tests/test_dp_word.py",
        "tests/test_audit.py",
    ],
    "sklearn_textdp/mechanisms/_decode.py": [
        "tests/test_decode.py",
        "tests/test_mechanisms.py",
        "tests/test_dp_word.py",
    ],
    "sklearn_textdp/mechanisms/_sampling.py": [
        "tests/test_mechanisms.py",
        "tests/test_family.py",
    ],
    "sklearn_textdp/mechanisms/_exponential.py": [
        "tests/test_mechanisms.py",
        "tests/test_family.py",
    ],
    "sklearn_textdp/mechanisms/_truncated_gumbel.py": [
        "tests/test_mechanisms.py",
        "tests/test_privacy.py",
    ],
    "sklearn_textdp/mechanisms/_santext.py": ["tests/test_family.py"],
    "sklearn_textdp/mechanisms/_custext.py": ["tests/test_family.py"],
    "sklearn_textdp/mechanisms/_graph_exponential.py": [
        "tests/test_graph_exponential.py",
        "tests/test_audit.py",
    ],
    "sklearn_textdp/_base.py": [
        "tests/test_privacy.py",
        "tests/test_audit.py",
        "tests/test_hardening.py",
    ],
    "sklearn_textdp/privacy.py": ["tests/test_privacy.py", "tests/test_hardening.py"],
    "sklearn_textdp/_fitting.py": [
        "tests/test_family.py",
        "tests/test_mechanisms.py",
        "tests/test_privacy.py",
    ],
    "sklearn_textdp/audit.py": ["tests/test_audit.py"],
}

#: Functions of _base.py that are privacy plumbing (the rest is containers,
#: pickling and scikit-learn glue, tested elsewhere).
PLUMBING = {
    "sklearn_textdp/_base.py": {
        "_perturb",
        "_perturb_texts",
        "_lookup",
        "_perturb_block",
        "_replace_unknown",
        "_allowed_tokens",
        "_apply_budget",
        "_column_privacy_cost",
        "_warn_on_repeated_release",
        "transform",
        "fit_transform",
        "_fit_common",
        "output_vocabulary",
        "compute",
    }
}

BINOPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.Pow: ast.Mult,
    ast.FloorDiv: ast.Div,
}
CMPOPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
NAME_SWAPS = {
    "minimum": "maximum",
    "maximum": "minimum",
    "min": "max",
    "max": "min",
    "argmin": "argmax",
    "argmax": "argmin",
    "max_distance": "min_distance",
    "min_distance": "max_distance",
    "floor": "ceil",
    "ceil": "floor",
}
SKIP_CALLS = {"warn_user", "warn", "print", "_progress"}
#: Not privacy code, or not run without an accelerator: the approximate decoder
#: (post-processing by construction; its tests need minutes of numba
#: compilation), BLAS thread-limit bookkeeping, and array-API device paths
#: (functions with "device" in their name; run on GPU machines only).
SKIP_CLASSES = {"ApproximateDecoder"}
SKIP_FUNCTIONS = {
    "guarantee",
    "__repr__",
    "__sklearn_tags__",
    "__getstate__",
    "__setstate__",
    "single_threaded_blas",
    "effective_n_jobs",
}
SKIP_KEYWORDS = {
    "axis",
    "dtype",
    "kind",
    "stacklevel",
    "minlength",
    "limit",
    "keepdims",
    "return_inverse",
    "return_index",
    "check",
}


def _call_name(node):
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


class _Finder(ast.NodeVisitor):
    """Collects mutation points in a deterministic order."""

    def __init__(self, functions=None):
        self.points = []  # (node path index, kind, description, lineno)
        self.functions = functions
        self._in_function = 0
        self._counter = -1

    def _add(self, node, kind, description):
        self.points.append((self._counter, kind, description, node.lineno))

    def generic_visit(self, node):
        self._counter += 1
        me = self._counter
        if isinstance(node, ast.Raise | ast.JoinedStr | ast.Assert):
            return
        if isinstance(node, ast.Call) and _call_name(node) in SKIP_CALLS:
            return
        if isinstance(node, ast.keyword) and node.arg in SKIP_KEYWORDS:
            return
        if isinstance(node, ast.ClassDef) and node.name in SKIP_CLASSES:
            return
        if isinstance(node, ast.FunctionDef):
            if node.name in SKIP_FUNCTIONS or "device" in node.name:
                return
            if self.functions is not None and node.name not in self.functions:
                if not self._in_function:
                    return
            self._in_function += 1
            body = node.body
            if body and isinstance(body[0], ast.Expr):
                if isinstance(body[0].value, ast.Constant):
                    body = body[1:]  # docstring
            for stmt in node.args.defaults + node.args.kw_defaults:
                if stmt is not None:
                    self.visit(stmt)
            for stmt in body:
                self.visit(stmt)
            self._in_function -= 1
            return
        if self._in_function:
            self._points_of(node, me)
        super().generic_visit(node)

    def _points_of(self, node, me):
        self._counter, saved = me, self._counter
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            self._add(node, "binop", type(node.op).__name__)
        elif isinstance(node, ast.AugAssign):
            if type(node.op) in BINOPS:
                self._add(node, "binop", type(node.op).__name__ + "=")
            self._add(node, "delete", "statement removed")
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMPOPS:
                    self._add(node, f"cmp{i}", type(op).__name__)
        elif isinstance(node, ast.BoolOp):
            self._add(node, "boolop", type(node.op).__name__)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            self._add(node, "unary", type(node.op).__name__ + " removed")
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                self._add(node, "const", f"{value} -> {not value}")
            elif isinstance(value, int | float):
                self._add(node, "const", f"{value!r} -> {_bumped(value)!r}")
            elif value in ("left", "right"):
                self._add(node, "const", f"{value!r} swapped")
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "sqrt" and len(node.args) == 1:
                self._add(node, "unsqrt", "sqrt(x) -> x")
            if name == "log" and len(node.args) == 1:
                self._add(node, "logarg", "log(x) -> log(x - 1)")
            if name == "SeedSequence" and not node.args and not node.keywords:
                self._add(node, "seed", "SeedSequence() -> SeedSequence(0)")
        elif isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in NAME_SWAPS:
                self._add(node, "name", f"{name} -> {NAME_SWAPS[name]}")
        elif isinstance(node, ast.Slice) and node.upper is not None:
            if not isinstance(node.upper, ast.Constant | ast.UnaryOp):
                self._add(node, "slice", "upper bound + 1")
        elif isinstance(node, ast.Assign) and isinstance(
            node.targets[0], ast.Subscript
        ):
            self._add(node, "delete", "statement removed")
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and _call_name(node.value) not in SKIP_CALLS
        ):
            self._add(node, "delete", "statement removed")
        self._counter = saved


def _bumped(value):
    if isinstance(value, int):
        return value + 1
    return 1.0 if value == 0 else value * 2


class _Mutator(_Finder):
    """Walks like :class:`_Finder` and applies one point's mutation."""

    def __init__(self, target, kind, functions=None):
        super().__init__(functions)
        self.target, self.kind = target, kind
        self.done = False

    def _add(self, node, kind, description):
        if self._counter == self.target and kind == self.kind and not self.done:
            _apply(node, kind)
            self.done = True


def _apply(node, kind):
    if kind == "binop":
        node.op = BINOPS[type(node.op)]()
    elif kind.startswith("cmp"):
        i = int(kind[3:])
        node.ops[i] = CMPOPS[type(node.ops[i])]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "unary":
        node.op = ast.UAdd() if isinstance(node.op, ast.USub) else _NotNot()
    elif kind == "const":
        value = node.value
        if isinstance(value, bool):
            node.value = not value
        elif isinstance(value, int | float):
            node.value = _bumped(value)
        else:
            node.value = "left" if value == "right" else "right"
    elif kind == "unsqrt":
        node.func = ast.Name("_identity", ast.Load())
    elif kind == "logarg":
        node.args[0] = ast.BinOp(node.args[0], ast.Sub(), ast.Constant(1))
    elif kind == "seed":
        node.args = [ast.Constant(0)]
    elif kind == "name":
        if isinstance(node, ast.Attribute):
            node.attr = NAME_SWAPS[node.attr]
        else:
            node.id = NAME_SWAPS[node.id]
    elif kind == "slice":
        node.upper = ast.BinOp(node.upper, ast.Add(), ast.Constant(1))
    elif kind == "delete":
        node.__class__ = ast.Pass
    else:  # pragma: no cover
        raise ValueError(kind)


class _NotNot(ast.UAdd):
    """``not x`` -> ``x``: unparsed through the replacement below."""


def _render(tree):
    class Fix(ast.NodeTransformer):
        def visit_UnaryOp(self, node):
            self.generic_visit(node)
            if isinstance(node.op, _NotNot):
                return node.operand
            return node

    tree = Fix().visit(tree)
    source = ast.unparse(ast.fix_missing_locations(tree))
    return source + "\n\n\ndef _identity(x):\n    return x\n"


def _module_tree(path):
    tree = ast.parse(path.read_text())
    # Keep "from __future__" first (none in this package, but be safe).
    return tree


def mutants_of(rel, root):
    path = root / rel
    functions = PLUMBING.get(rel)
    finder = _Finder(functions)
    finder.visit(_module_tree(path))
    lines = path.read_text().splitlines()
    out, seen = [], {}
    for index, kind, description, lineno in finder.points:
        text = (lines[lineno - 1].strip(), kind[:3], description)
        seen[text] = seen.get(text, 0) + 1
        out.append(
            {
                "id": f"{rel}:{lineno}:{kind}:{index}",
                "file": rel,
                "line": lineno,
                "kind": kind,
                "index": index,
                "description": description,
                "source": lines[lineno - 1].strip(),
                "occurrence": seen[text],
            }
        )
    return out


def _stable_draw(mutant, seed):
    """A uniform number in [0, 1) fixed by the mutant's text, not its position."""
    import hashlib

    key = "|".join(
        [str(seed), mutant["file"], mutant["source"], mutant["kind"][:3]]
        + [mutant["description"], str(mutant["occurrence"])]
    )
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / 16**12


def mutated_source(mutant, root):
    tree = _module_tree(root / mutant["file"])
    mutator = _Mutator(mutant["index"], mutant["kind"], PLUMBING.get(mutant["file"]))
    mutator.visit(tree)
    if not mutator.done:
        raise RuntimeError(f"mutation point not found: {mutant['id']}")
    return _render(tree)


# ------------------------------------------------------------------ running
def snapshot(worktree):
    root = Path(tempfile.mkdtemp(prefix="textdp-mutation-"))
    if worktree:
        for name in ("sklearn_textdp", "tests", "pyproject.toml", "setup.cfg"):
            src = REPO / name
            if src.is_dir():
                shutil.copytree(
                    src, root / name, ignore=shutil.ignore_patterns("__pycache__")
                )
            elif src.exists():
                shutil.copy2(src, root / name)
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def _prewarm():
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest  # noqa: F401
    import scipy.integrate  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.special  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.base  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.neighbors  # noqa: F401

    try:
        import hypothesis  # noqa: F401
        import pynndescent  # noqa: F401
    except ImportError:
        pass


class _Order:
    """pytest plugin: run the tests measured fastest first; record durations."""

    def __init__(self, durations):
        self.durations = durations
        self.measured = {}
        self.failed = []

    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: self.durations.get(item.nodeid, 1e9))

    def pytest_runtest_logreport(self, report):
        self.measured[report.nodeid] = (
            self.measured.get(report.nodeid, 0.0) + report.duration
        )
        if report.failed:
            self.failed.append(report.nodeid)


def _run_child(root, tests, durations, result_path, stop_first=True):
    """In a forked child: run pytest on ``tests``; write the outcome as JSON."""
    import pytest

    os.chdir(root)
    sys.path.insert(0, str(root))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    plugin = _Order(durations)
    args = [*tests, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    args += ["-o", "addopts=", "--strict-markers", "-W", "ignore::DeprecationWarning"]
    # pynndescent (approximate graphs and decoders) is not privacy code, and its
    # numba compilation costs minutes per run.
    args += ["-k", "not approximate"]
    if stop_first:
        args.append("-x")
    code = pytest.main(args, plugins=[plugin])
    Path(result_path).write_text(
        json.dumps(
            {"code": int(code), "failed": plugin.failed, "durations": plugin.measured}
        )
    )
    os._exit(0)


def run_tests(root, tests, durations, timeout, stop_first=True):
    """Fork, run, wait; returns (status, failed tests, durations, seconds)."""
    fd, result_path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setpgid(0, 0)
            _run_child(root, tests, durations, result_path, stop_first)
        finally:
            os._exit(3)
    deadline = start + timeout
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return "timeout", [], {}, time.monotonic() - start
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    try:
        result = json.loads(Path(result_path).read_text())
    except (OSError, ValueError):
        return "crashed", [], {}, elapsed
    finally:
        Path(result_path).unlink(missing_ok=True)
    status = "passed" if result["code"] == 0 else "failed"
    if result["code"] not in (0, 1):
        status = f"error{result['code']}"
    return status, result["failed"], result["durations"], elapsed


def _text_key(mutant):
    """``file | source line | operator | occurrence``: stable across edits
    elsewhere in the file (occurrence counts equal mutants on equal lines)."""
    return " | ".join(
        [mutant["file"], mutant["source"], mutant["description"]]
        + [f"#{mutant['occurrence']}"]
    )


def load_equivalents():
    reasons = {}
    if EQUIVALENTS.exists():
        for line in EQUIVALENTS.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and line.count(" | ") >= 4:
                *key, reason = (part.strip() for part in line.split(" | "))
                reasons[" | ".join(key)] = reason
    return reasons


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=0, help="mutants drawn (0: all)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.0,
        help="keep each mutant with this probability, by a hash of its file, source "
        "line and operator (the same mutants across commits that leave a line alone)",
    )
    parser.add_argument("--files", nargs="*", help="restrict to these target files")
    parser.add_argument("--only", nargs="*", help="run these mutant ids only")
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument("--budget", type=float, default=0, help="stop after seconds")
    parser.add_argument("--worktree", action="store_true", help="snapshot the tree")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--out", default=None, help="JSON report path")
    parser.add_argument(
        "--rescore",
        nargs="*",
        help="reports (JSON) to merge and score again with the current reasons",
    )
    args = parser.parse_args(argv)
    if args.rescore:
        results = []
        for path in args.rescore:
            results += json.loads(Path(path).read_text())["results"]
        return report(results, None, args, argv)

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    os.environ.setdefault(
        "SKLEARN_TEXTDP_SHARED_DATA", str(REPO.parent / "shared" / "data")
    )
    os.environ.setdefault(
        "NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "textdp_numba_cache")
    )
    sys.dont_write_bytecode = True

    root = snapshot(args.worktree)
    files = [f for f in TARGETS if (root / f).exists()]
    if args.files:
        files = [f for f in files if f in args.files]
    mutants = [m for f in files for m in mutants_of(f, root)]
    total = len(mutants)
    if args.only:
        mutants = [m for m in mutants if m["id"] in set(args.only)]
    elif args.fraction:
        mutants = [m for m in mutants if _stable_draw(m, args.seed) < args.fraction]
    elif args.sample and args.sample < len(mutants):
        mutants = random.Random(args.seed).sample(mutants, args.sample)
        mutants.sort(key=lambda m: (m["file"], m["line"], m["index"]))
    if args.list:
        for m in mutants:
            print(f"{m['id']}  {m['description']:<34} {m['source']}")
        print(f"{len(mutants)} of {total} mutants", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
        return 0

    if not mutants:
        print("no mutant selected", file=sys.stderr)
        return 1
    _prewarm()
    reasons = load_equivalents()
    durations, baseline = {}, {}
    needed = sorted({t for m in mutants for t in TARGETS[m["file"]]})
    status, failed, durations, seconds = run_tests(
        root, needed, {}, 3600, stop_first=False
    )
    print(f"baseline {' '.join(needed)}: {status} in {seconds:.0f}s", flush=True)
    if status != "passed":
        print(f"  failing before mutation: {failed}", flush=True)
        return 2
    for f in {m["file"] for m in mutants}:
        baseline[f] = sum(
            d for nodeid, d in durations.items() if nodeid.split("::")[0] in TARGETS[f]
        )
        print(f"  tests of {f}: {baseline[f]:.0f}s", flush=True)

    results = []
    started = time.monotonic()
    for n, m in enumerate(mutants, 1):
        if args.budget and time.monotonic() - started > args.budget:
            print("budget spent; stopping", flush=True)
            break
        path = root / m["file"]
        original = path.read_text()
        try:
            path.write_text(mutated_source(m, root))
            timeout = args.timeout_factor * baseline[m["file"]] + 20
            status, failed, _, seconds = run_tests(
                root, TARGETS[m["file"]], durations, timeout
            )
        finally:
            path.write_text(original)
        killed = status != "passed"
        m.update(
            status=status,
            killed=killed,
            seconds=round(seconds, 1),
            killed_by=failed[:1],
            reason=None if killed else reasons.get(_text_key(m), "gap"),
        )
        results.append(m)
        mark = "killed" if killed else f"SURVIVED ({m['reason']})"
        print(
            f"[{n}/{len(mutants)}] {m['id']} {m['description']}: {mark} "
            f"{seconds:.0f}s {failed[:1]}",
            flush=True,
        )

    shutil.rmtree(root, ignore_errors=True)
    return report(results, total, args, argv)


def report(results, total, args, argv):
    """Print the score and the survivors; write the JSON report."""
    reasons = load_equivalents()
    for r in results:
        if not r["killed"]:
            r["reason"] = reasons.get(_text_key(r), "gap")
    equivalent = [r for r in results if not r["killed"] and r["reason"] != "gap"]
    gaps = [r for r in results if not r["killed"] and r["reason"] == "gap"]
    killed = sum(r["killed"] for r in results)
    scored = len(results) - len(equivalent)
    score = killed / scored if scored else 1.0
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python tools/mutate.py " + " ".join(argv or sys.argv[1:]),
        "mutants_total": total,
        "mutants_run": len(results),
        "killed": killed,
        "equivalent": len(equivalent),
        "gaps": len(gaps),
        "score": round(score, 4),
        "results": results,
    }
    print(
        f"\n{killed} killed, {len(equivalent)} equivalent, {len(gaps)} gaps of "
        f"{len(results)} run ({total} mutants in all): score {100 * score:.1f}% of "
        "non-equivalent mutants killed"
    )
    for r in equivalent + gaps:
        print(f"  survivor {_text_key(r)}")
        print(f"      reason: {r['reason']}")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
