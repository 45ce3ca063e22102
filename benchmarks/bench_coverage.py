"""Share of word tokens missing from the vocabulary (<unk>), before and after the
fallback lookup (issue #20, item 3).

Three columns: *no fallback*, the normalised word (NFC, lower case) looked up as
it is; *fallback keys*, with the earlier public fallback keys (accents folded,
contraction halves, apostrophe-less contractions and text-message abbreviations,
inflection endings stripped); *+ extended*, as ``transform`` does it now: also
the extended-vocabulary table (nearest bundled word of each of the 50,000 most
frequent GloVe words) and drawn-out words with their runs of 3+ equal letters
cut to two, then one. Datasets: the bundled SMS data and every CSV of the shared
benchmark data.

    python benchmarks/bench_coverage.py [--data ../shared/data] [--full-glove]
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_textdp import DPWordSubstituter, load_embeddings
from sklearn_textdp._base import _inflections, _rows_of, output_vocabulary
from sklearn_textdp._text import fallback_keys, normalize_words, split_chunk
from sklearn_textdp.datasets import load_sms_spam


def unknown_shares(texts, vocabulary):
    lookup = DPWordSubstituter()  # only its lookup: no fit needed
    lookup.embeddings_, lookup.keep_words_ = vocabulary, frozenset()
    chunk = split_chunk(texts)
    keys = normalize_words(chunk.words)
    before = vocabulary.index_of(keys) < 0
    # the lookup of commit d5c5dd9: fallback keys, then inflected forms
    second = fallback_keys(keys[before])
    found = _rows_of(vocabulary, second)
    table = _inflections(vocabulary)
    found[found < 0] = [table.get(key, -1) for key in second[found < 0]]
    fallback = before.copy()
    fallback[before] = found < 0
    after = lookup._lookup(chunk)[0] < 0
    shares = (float(m.mean()) for m in (before, fallback, after))
    return len(chunk.words), *shares


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
    )
    parser.add_argument("--full-glove", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    sets = {"SMS (load_sms_spam)": list(load_sms_spam().data)}
    for path in sorted(Path(args.data, "datasets").glob("*.csv")):
        if "tiny" not in path.name and "sms" not in path.name:
            sets[path.stem] = pd.read_csv(path)["text"].dropna().astype(str).tolist()
    embeddings = {"bundled 20k": None}
    if args.full_glove:
        embeddings["GloVe 400k"] = "glove-6b-50d"
    rows = []
    for label, source in embeddings.items():
        vocabulary = output_vocabulary(load_embeddings(source))
        for name, texts in sets.items():
            n, before, fallback, after = unknown_shares(texts, vocabulary)
            rows.append(
                {
                    "embedding": label,
                    "dataset": name,
                    "word tokens": f"{n:,}",
                    "<unk> no fallback": f"{before:.2%}",
                    "<unk> fallback keys": f"{fallback:.2%}",
                    "<unk> + extended": f"{after:.2%}",
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    header = "| " + " | ".join(table.columns) + " |"
    lines = [header, "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in table.to_numpy()]
    out = Path(__file__).resolve().parent / "results" / "coverage.md"
    out.write_text(
        "# Vocabulary coverage: share of word tokens that become <unk>\n\n"
        f"Command: `python benchmarks/{Path(sys.argv[0]).name} "
        f"{' '.join(sys.argv[1:])}`\n\n" + "\n".join(lines) + "\n"
    )
    print(out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
