"""Whole-vocabulary mechanisms on a GPU: the GPU tests, then a short benchmark.

Meant for a machine with a CUDA GPU, PyTorch (or CuPy), numpy, scipy,
scikit-learn and pandas but no network: the missing pure-Python dependencies come
as wheels carried beside the repository, in ``.whl/`` (``--wheels``). Fetch them
once, on a machine with network, from the repository's root:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux_2_28_x86_64 \\
        --platform manylinux2014_x86_64 -d .whl \\
        array-api-compat==1.16.0 array-api-strict==2.6.1 pynndescent==0.7.0

(all three are ``py3-none-any``; the GPU image already holds numba, llvmlite,
joblib, threadpoolctl, pytest and hypothesis). Then, on the GPU machine:

    python3 benchmarks/bench_gpu.py --out "$OUT"

It installs what is missing into a temporary folder (``pip --no-index``), runs
``tests/test_array_api.py`` (the CUDA cases included), and times, in one run:

- exact multivariate Laplace decoding (epsilon 8, ``mechanism.sample``: noise on
  the host from the Generator, decoding on the GPU) at 20k words (the bundled
  GloVe) and 400k (random vectors of GloVe's shape: 50 dimensions, its mean and
  spread per dimension), plus the decoding alone (noisy vectors given);
- TEM (``FullExponential`` with TEM's radius for beta = 0.001) and SanText
  (``FullExponential`` with no radius) at 400k words;
- the same mechanisms on the CPU path with 2 threads, on fewer tokens, for the
  ratios, and the GPU outputs compared with the CPU outputs token for token;
- fitting: the exact neighbour lists of the default DensityAwareSubstituter
  (9 nearest words) over the 400k vectors on the GPU, 2,000 rows checked
  against the CPU path.

Goals (issue 19): >= 1,000,000 tokens/s exact Laplace at 20k words, >= 100,000 at
400k; >= 100x the 2-thread CPU path for TEM and SanText at 400k. Finishes in
under 5 minutes on one H200 (``--quick``: about a minute).
"""

import argparse
import datetime
import functools
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("TMPDIR", "/tmp")) / "sklearn_textdp_gpu_site"
NEEDED = {  # module -> wheel name
    "array_api_compat": "array_api_compat",
    "array_api_strict": "array_api_strict",
    "pynndescent": "pynndescent",
}


def ensure_dependencies(wheels):
    """Install the missing pure-Python dependencies from ``wheels`` (no network)."""
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing:
        found = sorted(
            str(p) for m in missing for p in Path(wheels).glob(f"{NEEDED[m]}-*.whl")
        )
        if not found:
            sys.exit(
                f"missing {missing} and no wheels for them in {wheels}: see the "
                "pip download command at the top of this script"
            )
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
            + ["--no-compile", "--no-cache-dir", "--upgrade", "--target", str(SITE)]
            + found,
            check=True,
        )
        sys.path.insert(0, str(SITE))
        importlib.invalidate_caches()
    sys.path.insert(0, str(REPO))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(SITE), str(REPO), os.environ.get("PYTHONPATH", "")]
    )
    return missing


def run_tests(timeout):
    """The array-namespace tests (CUDA cases included); returns (ok, summary)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["tests/test_array_api.py", "-o", "addopts=", "-rs"]
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout} s"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    print(done.stdout[-4000:], done.stderr[-2000:], flush=True)
    return done.returncode == 0, lines[-1] if lines else done.stderr[-500:]


def timed(fn, device=None):
    if device is not None:
        device.synchronize()
    t0 = time.perf_counter()
    result = fn()
    if device is not None:
        device.synchronize()
    return result, time.perf_counter() - t0


def glove_shaped(n_words, reference, seed=0):
    """Random vectors with the per-dimension mean and spread of ``reference``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mean, std = reference.mean(axis=0), reference.std(axis=0)
    return (rng.standard_normal((n_words, reference.shape[1])) * std + mean).astype(
        np.float32
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", default=str(REPO / ".whl"))
    parser.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--scale", type=float, default=None, help="token counts times this (smoke runs)"
    )
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--test-timeout", type=int, default=150)
    args = parser.parse_args()
    started = time.perf_counter()
    installed = ensure_dependencies(args.wheels)

    import numpy as np
    from threadpoolctl import threadpool_limits

    from sklearn_textdp import load_embeddings
    from sklearn_textdp._array_api import resolve_device
    from sklearn_textdp._fitting import tem_radius
    from sklearn_textdp.mechanisms import (
        CalibratedLaplace,
        ExactDecoder,
        FullExponential,
    )

    device = resolve_device(args.device)
    lines = [
        "# Whole-vocabulary mechanisms on a GPU",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- device: {args.device} -> {device!r}",
        f"- python {platform.python_version()}, numpy {np.__version__}",
        f"- installed from wheels: {installed or 'nothing'}",
    ]
    if device is not None and device._library == "torch":
        import torch

        lines.append(
            f"- torch {torch.__version__}, GPU {torch.cuda.get_device_name()}"
            if torch.cuda.is_available()
            else f"- torch {torch.__version__} (no CUDA)"
        )
    lines.append(f"- host CPU cores: {os.cpu_count()}; CPU path timed on 2 threads")
    if not args.skip_tests:
        ok, summary = run_tests(args.test_timeout)
        lines.append(
            f"- tests/test_array_api.py: {'PASS' if ok else 'FAIL'} ({summary})"
        )

    scale = args.scale if args.scale is not None else 0.2 if args.quick else 1.0
    emb20k = load_embeddings(None)
    vocabularies = {
        "20k": emb20k.vectors,
        "400k": glove_shaped(400_000, emb20k.vectors),
    }
    rows = []

    def add(**row):
        rows.append(row)
        print(row, flush=True)

    # ---------------------------------------------------------------- Laplace
    goals = {"20k": 1_000_000, "400k": 100_000}
    n_gpu = {"20k": int(2_000_000 * scale), "400k": int(300_000 * scale)}
    n_cpu = {"20k": min(20_000, n_gpu["20k"]), "400k": min(1_000, n_gpu["400k"])}
    for size, vectors in vocabularies.items():
        ids = np.random.default_rng(1).integers(0, len(vectors), n_gpu[size])
        gpu = CalibratedLaplace(vectors, epsilon=8.0, device=args.device)
        gpu.sample(ids[:4096], np.random.default_rng(0))  # warm: tables, kernels
        out, seconds = timed(
            functools.partial(gpu.sample, ids, np.random.default_rng(2)), device
        )
        noisy = gpu.noisy_vectors(ids, np.random.default_rng(2))
        _, decode_seconds = timed(
            functools.partial(gpu.decoder.nearest, noisy, ids), device
        )
        cpu = CalibratedLaplace(
            vectors, epsilon=8.0, decoder=ExactDecoder(vectors, n_jobs=2)
        )
        few = ids[: n_cpu[size]]
        with threadpool_limits(2):
            cpu_out, cpu_seconds = timed(
                functools.partial(cpu.sample, few, np.random.default_rng(3))
            )
        same = np.array_equal(gpu.sample(few, np.random.default_rng(3)), cpu_out)
        rate = len(ids) / seconds
        add(
            mechanism="laplace (exact)",
            words=size,
            gpu_tokens_per_s=rate,
            gpu_decoding_only_per_s=len(ids) / decode_seconds,
            cpu_2_threads_per_s=len(few) / cpu_seconds,
            speedup=rate * cpu_seconds / len(few),
            equal_to_cpu=f"{same} ({len(few):,} tokens)",
            goal=f">= {goals[size]:,}/s: {'PASS' if rate >= goals[size] else 'FAIL'}",
        )

    # ----------------------------------------------------------- TEM, SanText
    vectors = vocabularies["400k"]
    n_words = len(vectors)
    for name, gamma in (
        ("TEM", tem_radius(8.0, n_words, 0.001)),
        ("SanText", np.inf),
    ):
        ids = np.random.default_rng(4).integers(0, n_words, int(50_000 * scale))
        gpu = FullExponential(vectors, epsilon=8.0, gamma=gamma, device=args.device)
        gpu.sample(ids[:256], np.random.default_rng(0))
        _, seconds = timed(
            functools.partial(gpu.sample, ids, np.random.default_rng(5)), device
        )
        cpu = FullExponential(vectors, epsilon=8.0, gamma=gamma)
        few = ids[: min(300, len(ids))]
        with threadpool_limits(2):
            cpu_out, cpu_seconds = timed(
                functools.partial(cpu.sample, few, np.random.default_rng(6))
            )
        same = np.array_equal(gpu.sample(few, np.random.default_rng(6)), cpu_out)
        rate = len(ids) / seconds
        speedup = rate * cpu_seconds / len(few)
        add(
            mechanism=f"{name} (gamma={gamma:.3g})",
            words="400k",
            gpu_tokens_per_s=rate,
            gpu_decoding_only_per_s=None,
            cpu_2_threads_per_s=len(few) / cpu_seconds,
            speedup=speedup,
            equal_to_cpu=f"{same} ({len(few):,} tokens)",
            goal=f">= 100x CPU: {'PASS' if speedup >= 100 else 'FAIL'}",
        )

    # ------------------------------------------- fit: the exact neighbour graph
    # The default DensityAwareSubstituter's lists (9 nearest words, itself
    # included) over the 400k vectors, on the device; 2,000 rows checked against
    # the CPU path, whose rate on those rows gives the ratio.
    from sklearn_textdp._neighbors import build_neighbor_graph

    n_graph = int(400_000 * min(scale, 1.0))
    graph_vectors = vocabularies["400k"][:n_graph]
    graph, seconds = timed(
        functools.partial(
            build_neighbor_graph,
            graph_vectors,
            8,
            algorithm="exact",
            device=args.device,
        ),
        device,
    )
    sample = np.random.default_rng(7).choice(n_graph, 2_000, replace=False)
    with threadpool_limits(1):
        cpu_lists, cpu_seconds = timed(
            functools.partial(
                ExactDecoder(graph_vectors, n_jobs=2).nearest,
                graph_vectors[sample].astype(np.float64),
                k=9,
            )
        )
    same = np.array_equal(np.sort(graph.indices[sample], 1), np.sort(cpu_lists[0], 1))
    rate = n_graph / seconds
    add(
        mechanism=f"fit: exact 8-NN graph ({seconds:.1f} s; rows/s)",
        words=f"{n_graph // 1000}k",
        gpu_tokens_per_s=rate,
        gpu_decoding_only_per_s=None,
        cpu_2_threads_per_s=len(sample) / cpu_seconds,
        speedup=rate * cpu_seconds / len(sample),
        equal_to_cpu=f"{same} ({len(sample):,} rows)",
        goal="exact (no goal set)",
    )

    header = list(rows[0])
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            f"{v:,.0f}"
            if isinstance(v, float) and v >= 100
            else f"{v:.3g}"
            if isinstance(v, float)
            else str(v)
            for v in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if (
        device is not None
        and device._library == "torch"
        and device.device.type == "cuda"
    ):
        import torch

        lines.append(
            f"\n- GPU peak memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
        )
    lines.append(f"- run time: {time.perf_counter() - started:.0f} s")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.md").write_text(text)
    print(f"wrote {out / 'gpu.md'}")


if __name__ == "__main__":
    main()
