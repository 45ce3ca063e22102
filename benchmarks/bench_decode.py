"""Exact decoding on both cores: tokens/s of the noise-then-decode mechanisms.

For the multivariate Laplace, Mahalanobis and Vickrey mechanisms at epsilon 8 (noise
drawn and decoded: ``mechanism.sample``), at 20k words (the bundled embedding) and
400k (the full GloVe 6B 50d), in one run:

- **1 thread**: BLAS on one thread, ``n_jobs=1`` (the code path before and after);
- **2 threads, before**: BLAS on two threads, ``n_jobs=1`` (chunks one after the
  other, each matrix product split by BLAS: what ``main`` did before threading);
- **2 threads, after**: ``n_jobs=2``: chunks on two threads, single-threaded BLAS
  each;
- **GEMM peak**: a plain float32 matrix product of the decoder's shape (one chunk
  of queries, ``dim + 1`` columns, times the vocabulary) on 1 and 2 BLAS threads,
  in rows/s: the speed of the product alone, the ceiling of the full search; and a
  square-ish float32 GEMM, the machine's arithmetic peak.

Configurations are interleaved and each is timed ``--repeats`` times (best kept),
so ratios come from the same minutes of a shared machine. Every configuration's
output is compared token for token with the others, and a sample with float64
brute force.

    python benchmarks/bench_decode.py            # 20k and 400k
    python benchmarks/bench_decode.py --quick    # 20k, fewer tokens
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import (  # noqa: E402
    Report,
    fmt,
    make_parser,
    markdown_table,
    mb,
    peak_memory,
    pinned_threads,
)

from sklearn_textdp import load_embeddings  # noqa: E402
from sklearn_textdp.mechanisms import (  # noqa: E402
    CalibratedLaplace,
    ExactDecoder,
    Mahalanobis,
    Vickrey,
    _decode,  # noqa: E402
    brute_force_nearest,
)

EPSILON = 8.0
GOALS = {"20k": 35_000, "400k": 3_000}
TOKENS = {"20k": 40_000, "400k": 4_000}
CONFIGS = {
    # name: (BLAS threads, decoder n_jobs)
    "1 thread": (1, 1),
    "2 threads, before (BLAS 2, n_jobs 1)": (2, 1),
    "2 threads, after (n_jobs 2)": (2, 2),
}


def mechanisms(vectors, n_jobs):
    decoder = ExactDecoder(vectors, n_jobs=n_jobs)
    return {
        "laplace": CalibratedLaplace(vectors, epsilon=EPSILON, decoder=decoder),
        "mahalanobis": Mahalanobis(vectors, epsilon=EPSILON, decoder=decoder),
        "vickrey": Vickrey(vectors, epsilon=EPSILON, decoder=decoder),
    }


def gemm_rows_per_s(vectors, threads, repeats):
    n_words = len(vectors)
    rows = max(1, min(_decode._MAX_CHUNK_ROWS, _decode._SCORE_BUDGET // n_words))
    rng = np.random.default_rng(0)
    table = np.ascontiguousarray(
        rng.standard_normal((vectors.shape[1] + 1, n_words)).astype(np.float32)
    )
    query = rng.standard_normal((rows, vectors.shape[1] + 1)).astype(np.float32)
    with pinned_threads(threads):
        query @ table
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            query @ table
            best = min(best, time.perf_counter() - t0)
    return rows / best, 2.0 * rows * table.shape[0] * n_words / best / 1e9


def square_peak(threads, repeats):
    a = np.ones((2048, 512), np.float32)
    b = np.ones((512, 4096), np.float32)
    with pinned_threads(threads):
        a @ b
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2.0 * 2048 * 512 * 4096 / best / 1e9


def run_size(size, emb, args, report):
    vectors = emb.vectors
    n_tokens = TOKENS[size] // (4 if args.quick else 1)
    ids = np.random.default_rng(args.seed).integers(0, len(vectors), n_tokens)
    mechs = {name: mechanisms(vectors, n_jobs) for name, (_, n_jobs) in CONFIGS.items()}
    for by_name in mechs.values():  # warm: Mahalanobis' square root, first calls
        for mech in by_name.values():
            mech.sample(ids[:64], np.random.default_rng(0))
    times = {
        (c, m): np.inf for c in CONFIGS for m in ("laplace", "mahalanobis", "vickrey")
    }
    outputs = {}
    peaks = {}
    for _ in range(args.repeats):  # interleaved: same-run ratios
        for config, (threads, _) in CONFIGS.items():
            for name, mech in mechs[config].items():
                with pinned_threads(threads):
                    t0 = time.perf_counter()
                    out = mech.sample(ids, np.random.default_rng(args.seed))
                    dt = time.perf_counter() - t0
                times[config, name] = min(times[config, name], dt)
                previous = outputs.setdefault(name, out)
                if not np.array_equal(previous, out):
                    raise AssertionError(f"{config} / {name}: output differs")
    for config, (threads, _) in CONFIGS.items():
        mech = mechs[config]["laplace"]
        with pinned_threads(threads):
            _, peaks[config] = peak_memory(
                lambda mech=mech: mech.sample(ids, np.random.default_rng(args.seed))
            )
    # float64 brute force on a sample of the Laplace mechanism's tokens.
    check = min(len(ids), 300 if size == "20k" else 40)
    mech = mechs["1 thread"]["laplace"]
    noisy = mech.noisy_vectors(ids[:check], np.random.default_rng(args.seed))
    decoded, _ = mech.decoder.nearest(noisy, ids[:check])
    exact = np.array_equal(decoded[:, 0], brute_force_nearest(noisy, vectors)[:, 0])
    gemm = {t: gemm_rows_per_s(vectors, t, args.repeats) for t in (1, 2)}
    rows = []
    for name in ("laplace", "mahalanobis", "vickrey"):
        for config in CONFIGS:
            rate = n_tokens / times[config, name]
            threads = CONFIGS[config][0]
            rows.append(
                {
                    "mechanism": name,
                    "configuration": config,
                    "tokens/s": rate,
                    "x 1 thread": times["1 thread", name] / times[config, name],
                    "of GEMM rows/s (same threads)": rate / gemm[threads][0],
                    "peak MB": mb(peaks[config]) if name == "laplace" else None,
                }
            )
    frame = pd.DataFrame(rows)
    goal = GOALS[size]
    after = frame[frame["configuration"] == "2 threads, after (n_jobs 2)"]
    verdicts = ", ".join(
        f"{r['mechanism']} {'PASS' if r['tokens/s'] >= goal else 'FAIL'}"
        for _, r in after.iterrows()
    )
    report.section(
        f"{size} words ({len(vectors):,}), epsilon {EPSILON:g}, {n_tokens:,} tokens",
        markdown_table(frame)
        + "\n\n"
        + f"- GEMM of the decoder's shape: 1 thread {fmt(gemm[1][0])} rows/s "
        f"({fmt(gemm[1][1])} GFLOP/s), 2 threads {fmt(gemm[2][0])} rows/s "
        f"({fmt(gemm[2][1])} GFLOP/s)\n"
        f"- all configurations equal token for token: yes; {check} Laplace tokens "
        f"equal to float64 brute force: {fmt(exact)}\n"
        f"- goal >= {goal:,} tokens/s with 2 threads: {verdicts}\n",
    )
    return frame, gemm


def main():
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated: 20k,400k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.threads = 2
    sizes = (args.sizes or ("20k" if args.quick else "20k,400k")).split(",")
    report = Report("Exact decoding on both cores", args)
    peaks = {t: square_peak(t, args.repeats) for t in (1, 2)}
    report.add(
        f"Square-ish float32 GEMM (2048x512 @ 512x4096), the arithmetic peak: "
        f"1 thread {fmt(peaks[1])} GFLOP/s, 2 threads {fmt(peaks[2])} GFLOP/s."
    )
    for size in sizes:
        emb = load_embeddings(None if size == "20k" else "glove-6b-50d")
        frame, gemm = run_size(size, emb, args, report)
        after = frame[frame["configuration"] == "2 threads, after (n_jobs 2)"]
        flops = 2.0 * (emb.dim + 1) * len(emb)
        report.add(
            f"{size}: 2 threads reach "
            + ", ".join(
                f"{r['mechanism']} {100 * r['tokens/s'] * flops / 1e9 / peaks[2]:.0f} %"
                for _, r in after.iterrows()
            )
            + " of the 2-thread square GEMM peak (the products alone, counted as "
            "2 (dim+1) n_words flop per token)."
        )
    report.write("decode")


if __name__ == "__main__":
    main()
