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


def gemm_timer(vectors):
    """Plain float32 products of the decoder's shapes (a chunk of queries, dim + 1
    columns, times each tile of the vocabulary): a function timing them on
    ``threads`` BLAS threads, giving (wall, CPU) seconds; and the chunk's rows."""
    n_words = len(vectors)
    rows = _decode._QUERY_BLOCK
    rng = np.random.default_rng(0)
    tiles = [
        rng.standard_normal(
            (vectors.shape[1] + 1, min(_decode._TILE_WORDS, n_words - s))
        ).astype(np.float32)
        for s in range(0, n_words, _decode._TILE_WORDS)
    ]
    query = rng.standard_normal((rows, vectors.shape[1] + 1)).astype(np.float32)

    def once(threads):
        with pinned_threads(threads):
            wall, cpu = time.perf_counter(), time.process_time()
            for tile in tiles:
                query @ tile
            return time.perf_counter() - wall, time.process_time() - cpu

    return once, rows


def square_peak(threads, repeats):
    """GFLOP per wall second and per CPU-second of a square-ish float32 GEMM."""
    a = np.ones((2048, 512), np.float32)
    b = np.ones((512, 4096), np.float32)
    flop = 2.0 * 2048 * 512 * 4096
    with pinned_threads(threads):
        a @ b
        wall = cpu = np.inf
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            a @ b
            wall = min(wall, time.perf_counter() - w)
            cpu = min(cpu, time.process_time() - c)
    return flop / wall / 1e9, flop / cpu / 1e9


def run_size(size, emb, args, report):
    vectors = emb.vectors
    n_tokens = TOKENS[size] // (4 if args.quick else 1)
    ids = np.random.default_rng(args.seed).integers(0, len(vectors), n_tokens)
    mechs = {name: mechanisms(vectors, n_jobs) for name, (_, n_jobs) in CONFIGS.items()}
    for by_name in mechs.values():  # warm: Mahalanobis' square root, first calls
        for mech in by_name.values():
            mech.sample(ids[:64], np.random.default_rng(0))
    names = ("laplace", "mahalanobis", "vickrey")
    times = {(c, m): np.inf for c in CONFIGS for m in names}
    cpu_times = {(c, m): np.inf for c in CONFIGS for m in names}
    gemm_once, gemm_rows = gemm_timer(vectors)
    gemm_once(1)
    gemm = {1: [np.inf, np.inf], 2: [np.inf, np.inf]}
    outputs = {}
    peaks = {}
    for _ in range(args.repeats):  # interleaved: same-run ratios
        for config, (threads, _) in CONFIGS.items():
            for name, mech in mechs[config].items():
                with pinned_threads(threads):
                    wall, cpu = time.perf_counter(), time.process_time()
                    out = mech.sample(ids, np.random.default_rng(args.seed))
                    wall = time.perf_counter() - wall
                    cpu = time.process_time() - cpu
                times[config, name] = min(times[config, name], wall)
                cpu_times[config, name] = min(cpu_times[config, name], cpu)
                previous = outputs.setdefault(name, out)
                if not np.array_equal(previous, out):
                    raise AssertionError(f"{config} / {name}: output differs")
            for threads in (1, 2):
                wall, cpu = gemm_once(threads)
                gemm[threads] = [
                    min(gemm[threads][0], wall),
                    min(gemm[threads][1], cpu),
                ]
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
    gemm_rate = {t: gemm_rows / gemm[t][0] for t in (1, 2)}
    gemm_cpu_rate = {t: gemm_rows / gemm[t][1] for t in (1, 2)}
    flop_per_row = 2.0 * (vectors.shape[1] + 1) * len(vectors)
    rows = []
    for name in names:
        for config in CONFIGS:
            rate = n_tokens / times[config, name]
            threads = CONFIGS[config][0]
            rows.append(
                {
                    "mechanism": name,
                    "configuration": config,
                    "tokens/s": rate,
                    "x 1 thread": times["1 thread", name] / times[config, name],
                    "tokens per CPU-s": n_tokens / cpu_times[config, name],
                    "of GEMM rows/s (same threads)": rate / gemm_rate[threads],
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
        + f"- GEMM of the decoder's shapes ({gemm_rows} x {vectors.shape[1] + 1} @ "
        f"{vectors.shape[1] + 1} x {_decode._TILE_WORDS} per tile, "
        f"{len(vectors):,} words), same loop: 1 thread "
        f"{fmt(gemm_rate[1])} rows/s ({fmt(gemm_rate[1] * flop_per_row / 1e9)} "
        f"GFLOP/s), 2 threads {fmt(gemm_rate[2])} rows/s "
        f"({fmt(gemm_rate[2] * flop_per_row / 1e9)} GFLOP/s); per CPU-second: "
        f"{fmt(gemm_cpu_rate[1])} rows (1 thread), {fmt(gemm_cpu_rate[2])} (2)\n"
        "- tokens per CPU-s: tokens over the process's CPU time (both threads "
        "counted), robust to other jobs on a shared machine; twice it is the "
        "2-thread rate of an idle 2-core machine if the work splits evenly\n"
        f"- all configurations equal token for token: yes; {check} Laplace tokens "
        f"equal to float64 brute force: {fmt(exact)}\n"
        f"- goal >= {goal:,} tokens/s with 2 threads: {verdicts}\n",
    )
    return frame, gemm_rate


def main():
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated: 20k,400k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.threads = 2
    sizes = (args.sizes or ("20k" if args.quick else "20k,400k")).split(",")
    report = Report("Exact decoding on both cores", args)
    peaks = {t: square_peak(t, 3 * args.repeats) for t in (1, 2)}
    report.add(
        "Square-ish float32 GEMM (2048x512 @ 512x4096), the arithmetic peak: "
        f"1 thread {fmt(peaks[1][0])} GFLOP/s, 2 threads {fmt(peaks[2][0])} GFLOP/s "
        f"(wall); per CPU-second {fmt(peaks[1][1])} (1 thread), {fmt(peaks[2][1])} "
        "(2)."
    )
    for size in sizes:
        emb = load_embeddings(None if size == "20k" else "glove-6b-50d")
        frame, gemm = run_size(size, emb, args, report)
        flops = 2.0 * (emb.dim + 1) * len(emb)

        def share(per_cpu_second, flops=flops):
            return 100 * per_cpu_second * flops / 1e9 / peaks[1][1]

        lines = []
        for config in CONFIGS:
            mine = frame[frame["configuration"] == config]
            lines.append(
                f"- {config}: "
                + ", ".join(
                    f"{r['mechanism']} {share(r['tokens per CPU-s']):.0f} %"
                    for _, r in mine.iterrows()
                )
            )
        report.add(
            f"{size}: the products of the decoders (2 (dim+1) n_words flop per token) "
            "per CPU-second, as a share of the square GEMM's per CPU-second on one "
            "thread (the core's peak as BLAS reaches it):\n\n" + "\n".join(lines)
        )
    report.write("decode")


if __name__ == "__main__":
    main()
