"""The text path of ``transform`` before the chunk tokenizer (commit d699796), kept
so that bench_speed.py times the old and the new path in the same run.

Per document: one regex split, the pieces flattened into an object array, every
word token normalised, looked up and case-classified, one join per document. No
fallback lookup keys (the old coverage). Not used by the library.
"""

import numpy as np
import pandas as pd

from sklearn_textdp import _base
from sklearn_textdp._text import (
    apply_case,
    case_patterns,
    detokenize,
    normalize_words,
    tokenize,
)


def _lookup(substituter, batch):
    keys = normalize_words(batch.words)
    rows = substituter.embeddings_.index_of(keys)
    if substituter.keep_words_:
        kept = pd.Index(keys).isin(list(substituter.keep_words_))
    else:
        kept = np.zeros(len(keys), dtype=bool)
    return rows, kept


def perturb_block(self, docs, rng):
    """``BaseSubstituter._perturb_block`` as it was (without budgets)."""
    batch = tokenize(docs)
    words = batch.words
    rows, kept = _lookup(self, batch)
    perturbed = np.flatnonzero((rows >= 0) & ~kept)
    unknown = np.flatnonzero((rows < 0) & ~kept)
    new_words = words.copy()
    if len(perturbed):
        chunk = _base._TOKEN_CHUNK
        chosen = np.concatenate(
            [
                self.mechanism_.sample(rows[perturbed[s : s + chunk]], rng)
                for s in range(0, len(perturbed), chunk)
            ]
        )
        replacement = self.embeddings_.words[chosen]
        new_words[perturbed] = apply_case(replacement, case_patterns(words[perturbed]))
    if len(unknown):
        self._replace_unknown(new_words, words, unknown, rng)
    pieces = batch.pieces.copy()
    pieces[batch.word_positions] = new_words
    return detokenize(batch, pieces)
