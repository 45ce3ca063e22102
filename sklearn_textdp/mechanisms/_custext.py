"""CusText (Chen, Mo, Wang, Chen, Nie, Wang, Cui, Findings of ACL 2023)."""

import numpy as np

from ._base import Mechanism
from ._sampling import categorical_cdf, sample_categorical_rows

__all__ = ["CusText", "partition_vocabulary"]


def partition_vocabulary(vectors, size, graph=None):
    """CusText's disjoint output sets ("conservative" mapping).

    Words are visited in row order (frequency order for GloVe-style files); each
    word not yet in a set founds one with its ``size`` nearest words not yet in a
    set (itself included), so the sets are disjoint. The graph's lists are tried
    first; a full search over the remaining words is the fallback.

    Returns
    -------
    set_of_word : ndarray of int64, shape (n_words,)
    members : ndarray of int64, shape (n_sets, size)
        Rows of each set by increasing distance from its founder; -1 pads the last
        set when fewer than ``size`` words remain.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    n_words = len(vectors)
    set_of_word = np.full(n_words, -1, dtype=np.int64)
    members = []
    squared = np.einsum("ij,ij->i", vectors, vectors)
    for founder in range(n_words):
        if set_of_word[founder] >= 0:
            continue
        chosen = None
        if graph is not None:
            listed = graph.indices[founder]
            free = listed[set_of_word[listed] < 0]
            if len(free) >= size:
                chosen = free[:size]
        if chosen is None:
            free = np.flatnonzero(set_of_word < 0)
            dist = squared[free] - 2.0 * vectors[free] @ vectors[founder]
            take = min(size, len(free))
            nearest = (
                np.argpartition(dist, take - 1)[:take]
                if take < len(free)
                else (np.arange(len(free)))
            )
            chosen = free[nearest[np.argsort(dist[nearest], kind="stable")]]
        set_of_word[chosen] = len(members)
        row = np.full(size, -1, dtype=np.int64)
        row[: len(chosen)] = chosen
        members.append(row)
    return set_of_word, np.array(members, dtype=np.int64).reshape(-1, size)


class CusText(Mechanism):
    """CusText: an exponential mechanism inside customised, disjoint output sets.

    Each word's output set is the disjoint set of :func:`partition_vocabulary` that
    holds it. Within it, the utility of ``y`` for ``x`` is the min-max normalised
    distance ``u = -(d(x, y) - d_min) / (d_max - d_min)`` in ``[-1, 0]`` and
    ``P[M(x)=y] ~ exp(epsilon * u / 2)``.

    Parameters
    ----------
    vectors : ndarray of shape (n_words, dim)
    epsilon : float
    partition_size : int, default=20
        ``K`` (``top_k`` in the paper's code).
    graph : NeighborGraph, default=None
        Speeds up the partition.
    """

    name = "custext"

    def __init__(self, vectors, *, epsilon, partition_size=20, graph=None):
        self.epsilon = float(epsilon)
        self.partition_size = int(partition_size)
        vectors = np.asarray(vectors, dtype=np.float64)
        self.set_of_word, self.members = partition_vocabulary(
            vectors, self.partition_size, graph
        )
        self._candidates = self.members[self.set_of_word]  # (n_words, K), -1 padded
        self._cdf = categorical_cdf(self._laws(vectors))

    def _laws(self, vectors, step=16384):
        """Each word's law over its set, in chunks of rows (a whole-vocabulary
        gather of the sets' vectors would take 3 GB at 400k words)."""
        return np.vstack(
            [
                self._laws_of(vectors, np.arange(s, min(s + step, len(vectors))))
                for s in range(0, len(vectors), step)
            ]
        )

    def _laws_of(self, vectors, rows):
        candidates = self._candidates[rows]
        valid = candidates >= 0
        safe = np.where(valid, candidates, 0)
        diff = vectors[safe] - vectors[rows][:, None, :]
        dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        d_min = np.where(valid, dist, np.inf).min(axis=1, keepdims=True)
        d_max = np.where(valid, dist, -np.inf).max(axis=1, keepdims=True)
        span = d_max - d_min
        utility = np.divide(
            -(dist - d_min), span, out=np.zeros_like(dist), where=span > 0
        )
        logits = np.where(valid, 0.5 * self.epsilon * utility, -np.inf)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)

    @property
    def guarantee(self):
        return (
            f"epsilon-DP (epsilon={self.epsilon:g}) between words of the same output "
            f"set of {self.partition_size} words (exponential mechanism, utility "
            "range 1). Words of different sets have disjoint outputs: the set itself "
            "is revealed. Not metric DP."
        )

    def output_distribution(self, word_id):
        row = self._candidates[word_id]
        valid = row >= 0
        probs = np.diff(np.concatenate([[0.0], self._cdf[word_id]]))
        return row[valid], probs[valid], 0.0

    def sample(self, ids, rng):
        ids = np.asarray(ids, dtype=np.int64)
        picks = sample_categorical_rows(self._cdf, ids, rng)
        return self._candidates[ids, picks]
