"""The exponential mechanism on the density graph's shortest-path metric.

Output ``y`` for the source word ``x`` with probability proportional to

    exp(-epsilon * min(d_G(x, y), rho(x)) / 2) * p(y),

where ``d_G`` is the shortest-path metric of the vocabulary's density graph
(:mod:`sklearn_textdp._density_graph`), ``rho(x)`` the ``m``-th smallest value of
``d_G(x, .)`` (the word itself counting as the first, at 0), and ``p`` a public prior
(uniform by default). The ``m`` nearest words in ``d_G`` are listed with their own
scores; every other word shares the score ``rho(x)``, as TEM's escape element does.

**Theorem.** For all words ``x, x', y``:
``P[M(x)=y] <= exp(epsilon * d_G(x, x')) * P[M(x')=y]``.

*Proof.* Write ``s(x, y) = min(d_G(x, y), rho(x))``. (i) ``rho`` is 1-Lipschitz for
``d_G``: by the triangle inequality ``d_G(x', y) <= d_G(x, y) + d_G(x, x')`` for
every ``y``, so the ``m``-th smallest value of ``d_G(x', .)`` is at most the
``m``-th smallest of ``d_G(x, .)`` plus ``d_G(x, x')``, and symmetrically.
(ii) ``s(., y)`` is then 1-Lipschitz, since ``|min(a, b) - min(a', b')| <=
max(|a - a'|, |b - b'|)``. (iii) The numerators ``exp(-epsilon s / 2) p(y)`` of
``x`` and ``x'`` differ by a factor of at most ``exp(epsilon d_G(x, x') / 2)``,
and so, term by term, do the normalisers ``Z(x) = sum_y exp(-epsilon s(x, y) / 2)
p(y)``; the two factors multiply to the bound. ``p`` and ``m`` do not depend on
``x``. The bound holds for whatever graph was built: an approximate neighbour list
changes which metric ``d_G`` is, not the guarantee in it. Moreover every score lies
in ``[0, rho]``, so no pair of words is more than ``exp(epsilon * max_x rho(x))``
apart, whatever their graph distance.

Sampling is exact: the law of each source word is computed in closed form (log
space) over its ``m`` listed words plus one escape outcome, and drawn by inverse
CDF with one uniform per token; an escape returns a prior draw from the words
outside the list (vectorised rejection, exact fallback).
"""

import numpy as np
from scipy.special import logsumexp

from .._density_graph import graph_balls, graph_distances
from ._base import Mechanism
from ._sampling import PriorSampler, categorical_cdf

__all__ = ["GraphExponential"]

#: Largest table (source words x outcomes) precomputed at construction, float64
#: elements (128 MB); beyond it, laws are computed per chunk for its distinct words.
_TABLE_BUDGET = 16 * 1024 * 1024
#: Distinct source words whose laws are computed at once when not tabled.
_SOURCE_BLOCK = 4096


class GraphExponential(Mechanism):
    """Exponential mechanism on the density graph metric, truncated to a ball.

    Parameters
    ----------
    graph : DensityGraph
        The vocabulary's density graph.
    epsilon : float
    ball_size : int, default=512
        ``m``: the words listed with their own score (the word itself included).
        Capped at the vocabulary size, where the law is the untruncated one.
    log_prior : ndarray of shape (n_words,), default=None
        Normalised public log prior; uniform when None.
    balls : tuple of ndarrays, default=None
        ``graph_balls(graph, np.arange(h), ball_size)`` for the first ``h`` words
        (all of them, or the most frequent ones in a frequency-ordered
        vocabulary), when already computed (the estimator caches them: they do
        not depend on epsilon). Computed here when None, for as many first words
        as the table budget holds. The laws of tabled words are tabled too; the
        other words' laws are computed per chunk for its distinct words. Either
        way a token gets the same law, uniform and output.
    """

    name = "graph-exponential"

    def __init__(self, graph, *, epsilon, ball_size=512, log_prior=None, balls=None):
        self.graph = graph
        self.epsilon = float(epsilon)
        self.n_words = graph.n_words
        self.ball_size = int(min(ball_size, self.n_words))
        self.log_prior = log_prior
        self._prior_sampler = PriorSampler(log_prior, self.n_words)
        # The first `head` words (the most frequent, in a frequency-ordered
        # vocabulary) get tabled balls and laws, within the table budget: at 20k
        # words all of them, at 400k the 32,000 that carry most tokens.
        head = min(self.n_words, _TABLE_BUDGET // (self.ball_size + 1))
        if balls is None:
            balls = graph_balls(graph, np.arange(head), self.ball_size)
        self._head = min(head, len(balls[0]))
        self._balls = (balls[0][: self._head], balls[1][: self._head])
        # Filled block by block: no second copy of the table at any time.
        self._cdf_table = np.empty((self._head, self.ball_size + 1))
        for start in range(0, self._head, _SOURCE_BLOCK):
            self._cdf_table[start : start + _SOURCE_BLOCK] = self._cdf_of_balls(
                self._balls[0][start : start + _SOURCE_BLOCK],
                self._balls[1][start : start + _SOURCE_BLOCK],
            )

    @property
    def guarantee(self):
        return (
            f"epsilon*d_G metric DP, epsilon={self.epsilon:g}, exactly and for every "
            "epsilon > 0: P[M(x)=y] <= exp(epsilon * d_G(x, x')) P[M(x')=y], where "
            "d_G is the shortest-path distance of the vocabulary's density graph "
            f"(mutual {self.graph.n_neighbors}-nearest-word edges plus the minimum "
            f"spanning tree of the {self.graph.connect_neighbors}-nearest-word "
            "graph; edge length = Euclidean distance / max(sigma_x, sigma_y), sigma "
            f"= distance to the {self.graph.n_neighbors}-th nearest word), see "
            "mechanism_.distance. Exponential mechanism with a public prior and "
            f"the 1-Lipschitz score min(d_G(x, y), rho(x)) over the {self.ball_size} "
            "nearest words in d_G; holds for the graph as built."
        )

    # ------------------------------------------------------------------ metric
    def distance(self, a, b):
        """``d_G`` between vocabulary rows ``a`` and ``b`` (broadcast together)."""
        a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
        sources, inverse = np.unique(a.ravel(), return_inverse=True)
        rows = graph_distances(self.graph, sources)
        return rows[inverse, b.ravel()].reshape(a.shape)

    def balls(self, sources):
        """The listed words and their ``d_G`` for each source (U, ball_size)."""
        sources = np.asarray(sources, dtype=np.int64)
        tabled = sources < self._head
        if tabled.all():
            return self._balls[0][sources], self._balls[1][sources]
        rows = np.empty((len(sources), self.ball_size), dtype=np.int32)
        dist = np.empty((len(sources), self.ball_size))
        rows[tabled], dist[tabled] = (
            self._balls[0][sources[tabled]],
            self._balls[1][sources[tabled]],
        )
        rows[~tabled], dist[~tabled] = graph_balls(
            self.graph, sources[~tabled], self.ball_size
        )
        return rows, dist

    def truncation_radius(self, sources):
        """``rho(x)``: the ``ball_size``-th smallest ``d_G(x, .)`` of each source."""
        return self.balls(sources)[1][:, -1]

    # -------------------------------------------------------------------- laws
    def _log_weights_of_balls(self, rows, dist):
        """Unnormalised log weights of the listed words and of the escape."""
        half_eps = 0.5 * self.epsilon
        rho = dist[:, -1:]
        if self.log_prior is None:
            log_w = -half_eps * dist
            outside = self.n_words - self.ball_size  # exact count, no rounding
            log_out = np.log(outside) if outside > 0 else -np.inf
            log_escape = -half_eps * rho + log_out
        else:
            log_w = -half_eps * dist + self.log_prior[rows]
            p_in = np.exp(self.log_prior[rows]).sum(axis=1, keepdims=True)
            with np.errstate(divide="ignore"):
                log_escape = -half_eps * rho + np.log(np.clip(1.0 - p_in, 0.0, None))
            if self.ball_size == self.n_words:
                log_escape[:] = -np.inf
        return np.concatenate([log_w, log_escape], axis=1)

    def _log_probabilities_of_balls(self, rows, dist):
        out = self._log_weights_of_balls(rows, dist)
        return out - logsumexp(out, axis=1, keepdims=True)

    def outcome_log_probabilities(self, sources):
        """Log probabilities of the listed words and of the escape (U, ball_size+1)."""
        return self._log_probabilities_of_balls(*self.balls(sources))

    def _cdf_of_balls(self, rows, dist):
        # The CDF is normalised by its last value: no logsumexp needed (it took
        # half of a fit from the disk cache).
        log_w = self._log_weights_of_balls(rows, dist)
        log_w -= log_w.max(axis=1, keepdims=True)
        return categorical_cdf(np.exp(log_w, out=log_w))

    def rest_weights(self, n_words):
        """The escape's mass is spread over the unlisted words by the prior."""
        if self.log_prior is None:
            return super().rest_weights(n_words)
        return np.exp(self.log_prior)

    def output_distribution(self, word_id):
        rows, dist = self.balls(np.array([word_id]))
        probs = np.exp(self._log_probabilities_of_balls(rows, dist)[0])
        return rows[0].astype(np.int64), probs[:-1], float(probs[-1])

    # ---------------------------------------------------------------- sampling
    def sample(self, ids, rng):
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return ids.copy()
        u = rng.random(len(ids))
        last = self.ball_size - 1
        everything = self._head == self.n_words
        if everything:  # the common case, without copies into token arrays
            outcome = _search_rows(self._cdf_table, ids, u)
            out = self._balls[0][ids, np.minimum(outcome, last)].astype(np.int64)
        else:
            # Tabled words from the table, the others' laws per block of
            # distinct words; the same uniforms in token order either way.
            outcome = np.empty(len(ids), dtype=np.int64)
            out = np.empty(len(ids), dtype=np.int64)
            tabled = np.flatnonzero(ids < self._head)
            outcome[tabled] = _search_rows(self._cdf_table, ids[tabled], u[tabled])
            out[tabled] = self._balls[0][ids[tabled], np.minimum(outcome[tabled], last)]
            rest = np.flatnonzero(ids >= self._head)
            sources, token_rows = np.unique(ids[rest], return_inverse=True)
            listed = np.empty((len(sources), self.ball_size), dtype=np.int32)
            for start in range(0, len(sources), _SOURCE_BLOCK):
                block = sources[start : start + _SOURCE_BLOCK]
                rows, dist = graph_balls(self.graph, block, self.ball_size)
                listed[start : start + len(block)] = rows
                mine = np.flatnonzero(
                    (token_rows >= start) & (token_rows < start + len(block))
                )
                outcome[rest[mine]] = _search_rows(
                    self._cdf_of_balls(rows, dist),
                    token_rows[mine] - start,
                    u[rest[mine]],
                )
            out[rest] = listed[token_rows, np.minimum(outcome[rest], last)]
        escape = np.flatnonzero(outcome == self.ball_size)
        if len(escape):
            lists = np.empty((len(escape), self.ball_size), dtype=np.int32)
            at_head = ids[escape] < self._head
            lists[at_head] = self._balls[0][ids[escape[at_head]]]
            if not everything:
                position = np.empty(len(ids), dtype=np.int64)
                position[rest] = token_rows
                lists[~at_head] = listed[position[escape[~at_head]]]
            out[escape] = self._prior_sampler.draw_outside(lists, rng)
        return out


def _search_rows(cdf, rows, u):
    """First outcome ``j`` with ``cdf[rows[i], j] > u[i]``, for every token ``i``.

    Vectorised bisection within each token's own row: exact in float64 (no offset
    tricks that would cost precision), ``ceil(log2(n_outcomes))`` passes.
    """
    n_outcomes = cdf.shape[1]
    flat = cdf.ravel()
    base = np.asarray(rows, dtype=np.int64) * n_outcomes
    lo = np.zeros(len(base), dtype=np.int64)
    hi = np.full(len(base), n_outcomes - 1, dtype=np.int64)
    for _ in range(int(np.ceil(np.log2(max(n_outcomes, 2))))):
        mid = (lo + hi) >> 1
        right = flat[base + mid] <= u
        lo = np.where(right, mid + 1, lo)
        hi = np.where(right, hi, mid)
    return np.minimum(lo, n_outcomes - 1)
