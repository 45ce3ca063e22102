"""Build ``sklearn_textdp/data/glove.6B.50d.extended50k.npz``: the public
extended-vocabulary lookup (issue #20, item 3).

For every word of the 50,000 most frequent GloVe 6B 50d words that is missing
from the bundled 20,000-word embedding, the nearest bundled word: Euclidean
distance between the (float16-stored) 50d vectors, computed in float64, ties to
the lowest bundled row. It depends on the public embedding only, never on text.
Run once, offline; the result ships in the wheel (GloVe is PDDL):

    python tools/make_extended_lookup.py [--extended PATH/glove.6B.50d.top50k.f16.npz]

(default: ``../shared/data/embeddings/`` beside the repository).

The output holds two unicode arrays, ``word`` (the 50k words absent from the
bundled vocabulary, in GloVe frequency order) and ``target`` (their nearest
bundled word), compressed.
"""

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "sklearn_textdp" / "data" / "glove.6B.50d.top20k.f16.npz"
OUTPUT = ROOT / "sklearn_textdp" / "data" / "glove.6B.50d.extended50k.npz"
EXTENDED = ROOT.parent / "shared/data/embeddings/glove.6B.50d.top50k.f16.npz"
#: Candidates per word re-ranked by exact differences after the fast
#: ||a||^2 + ||b||^2 - 2 a.b pass (whose rounding could swap near-ties).
CANDIDATES = 16


def nearest_rows(queries, base, block=2048):
    """Row of ``base`` nearest to each row of ``queries`` (float64 Euclidean
    distance of the exact differences, ties to the lowest row)."""
    base_sq = np.einsum("ij,ij->i", base, base)
    out = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), block):
        q = queries[start : start + block]
        approx = base_sq[None, :] - 2.0 * (q @ base.T)
        candidates = np.argpartition(approx, CANDIDATES, axis=1)[:, :CANDIDATES]
        candidates.sort(axis=1)  # ascending rows: argmin then keeps the lowest
        exact = ((base[candidates] - q[:, None, :]) ** 2).sum(axis=2)
        out[start : start + len(q)] = candidates[
            np.arange(len(q)), np.argmin(exact, axis=1)
        ]
        # the re-ranking is exact when the best exact distance is clearly below
        # every approximate distance outside the candidates
        worst_kept = np.take_along_axis(approx, candidates, axis=1).max(axis=1)
        best = exact.min(axis=1) - np.einsum("ij,ij->i", q, q)
        if np.any(best + 1e-6 >= worst_kept):
            raise RuntimeError("too few candidates for an exact re-ranking")
    return out


def build(extended_path, bundled_path=BUNDLED):
    bundled = np.load(bundled_path)
    extended = np.load(extended_path)
    bundled_words = bundled["words"]
    row_of = {word: row for row, word in enumerate(bundled_words.tolist())}
    if len(row_of) != len(bundled_words):
        raise ValueError("duplicate words in the bundled embedding")
    words = extended["words"]
    absent = np.array([w not in row_of for w in words.tolist()])
    # the bundled words must be the same vectors in the larger file
    present = np.flatnonzero(~absent)
    rows = np.array([row_of[w] for w in words[present].tolist()])
    if len(present) != len(bundled_words) or not np.array_equal(
        extended["vectors"][present], bundled["vectors"][rows]
    ):
        raise ValueError("the extended file does not contain the bundled embedding")
    base = bundled["vectors"].astype(np.float64)
    queries = extended["vectors"][absent].astype(np.float64)
    target = bundled_words[nearest_rows(queries, base)]
    return words[absent], target


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extended", default=str(EXTENDED))
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args()
    word, target = build(args.extended)
    np.savez_compressed(args.output, word=word, target=target)
    size = Path(args.output).stat().st_size
    print(f"{args.output}: {len(word):,} words, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
