"""Compiled running top-k of score tiles (numba), for the exact decoder.

Kept apart so that importing the package never compiles it: the first exact
search does, once, and numba caches the compiled code on disk.
"""

import numba
import numpy as np

__all__ = ["merge_tile"]


@numba.njit(cache=True, nogil=True)
def merge_tile(scores, start, excluded, best_values, best_words):
    """Fold one tile of scores into each row's running lowest scores, in place.

    Row ``i`` of ``best_values`` / ``best_words`` holds the ``kept`` lowest scores
    seen so far and their words, sorted by (score, word). ``scores[i, j]`` is the
    score of word ``start + j``; ``excluded[i]`` (-1: none) is left out. Words
    come in increasing order and a score enters only when strictly lower than the
    last kept one, after every kept score equal to it: among equal scores the
    lowest word stays first, as a stable sort over the whole vocabulary would
    keep it. One pass over the tile (a comparison per score; most rows take
    only a few insertions per tile once their lists are warm), where ``kept``
    argmin passes cost ``kept`` reads and writes per score.
    """
    n_rows, n_columns = scores.shape
    kept = best_values.shape[1]
    for i in range(n_rows):
        worst = best_values[i, kept - 1]
        skip = excluded[i] - start
        for j in range(n_columns):
            value = scores[i, j]
            if value < worst and j != skip:
                p = kept - 1
                while p > 0 and best_values[i, p - 1] > value:
                    best_values[i, p] = best_values[i, p - 1]
                    best_words[i, p] = best_words[i, p - 1]
                    p -= 1
                best_values[i, p] = value
                best_words[i, p] = start + j
                worst = best_values[i, kept - 1]


def empty_top(n_rows, kept):
    """Running top-``kept`` lists before the first tile: +inf scores, word 0."""
    return (
        np.full((n_rows, kept), np.inf, dtype=np.float32),
        np.zeros((n_rows, kept), dtype=np.int64),
    )
