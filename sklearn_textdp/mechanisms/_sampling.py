"""Exact vectorised samplers shared by the selection mechanisms."""

import numpy as np
from scipy.special import gammaln

__all__ = [
    "truncated_poisson_pmf",
    "sample_truncated_poisson",
    "sample_truncated_gumbel",
    "categorical_cdf",
    "sample_categorical_rows",
    "sample_dense_rows",
    "sample_by_source_blocks",
    "PriorSampler",
]

#: Tokens per chunk when a (tokens x outcomes) matrix is materialised.
_CHUNK = 16384


def truncated_poisson_pmf(mean, k_max):
    """P(k) for k = 1..k_max of a Poisson(mean) conditioned on 1 <= k <= k_max.

    Examples
    --------
    >>> truncated_poisson_pmf(1.0, 2).round(3).tolist()  # P(1) : P(2) = 1 : 1/2
    [0.667, 0.333]
    """
    k = np.arange(1, k_max + 1, dtype=np.float64)
    log_pmf = k * np.log(mean) - gammaln(k + 1.0)
    log_pmf -= log_pmf.max()
    pmf = np.exp(log_pmf)
    return pmf / pmf.sum()


def sample_truncated_poisson(mean, k_max, n, rng):
    """``n`` draws of k ~ Poisson(mean) truncated to [1, k_max], by inverse CDF.

    Never 0, never above ``k_max``, one uniform per draw (no rejection loop).
    """
    cdf = np.cumsum(truncated_poisson_pmf(mean, k_max))
    cdf[-1] = 1.0
    k = np.searchsorted(cdf, rng.random(n), side="right") + 1
    return np.minimum(k, k_max)


def sample_truncated_gumbel(n, scale, bound, rng):
    """Gumbel(0, scale) conditioned on ``|g| <= bound``, by inverse CDF.

    With ``F(g) = exp(-exp(-g / scale))``, draw ``u`` uniform on
    ``[F(-bound), F(bound)]`` and return ``-scale * log(-log(u))``. One uniform per
    draw; no rejection loop.
    """
    low = np.exp(-np.exp(bound / scale))  # underflows to 0 when F(-bound) < 1e-308
    high = np.exp(-np.exp(-bound / scale))
    u = low + (high - low) * rng.random(n)
    with np.errstate(divide="ignore"):
        g = -scale * np.log(-np.log(u))
    return np.clip(g, -bound, bound)


def categorical_cdf(probabilities):
    """Row-wise cumulative distribution, each row ending exactly at 1."""
    cdf = np.cumsum(probabilities, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    return cdf


def sample_categorical_rows(cdf, rows, rng):
    """For each token ``i``, one outcome of the law whose CDF is ``cdf[rows[i]]``.

    Inverse CDF, one uniform per token, exact to float64 precision: the outcome is
    the first ``j`` with ``cdf[row, j] > u``.
    """
    out = np.empty(len(rows), dtype=np.int64)
    u = rng.random(len(rows))
    last = cdf.shape[1] - 1
    for start in range(0, len(rows), _CHUNK):
        stop = start + _CHUNK
        counts = (cdf[rows[start:stop]] <= u[start:stop, None]).sum(axis=1)
        out[start:stop] = np.minimum(counts, last)
    return out


def sample_dense_rows(row_laws, token_rows, u):
    """Inverse-CDF draws from wide laws (one row per source word, many outcomes).

    Token ``i`` draws from row ``token_rows[i]`` with its uniform ``u[i]``. Each
    row's CDF is offset by its row number so that one ``searchsorted`` serves every
    token (absolute precision ~ rows * 1e-16).
    """
    cdf = categorical_cdf(row_laws)
    n_outcomes = cdf.shape[1]
    shifted = (cdf + np.arange(len(cdf))[:, None]).ravel()
    flat = np.searchsorted(shifted, token_rows + u, side="right")
    return np.minimum(flat - token_rows * n_outcomes, n_outcomes - 1)


def sample_by_source_blocks(sources, rng, laws_of, n_outcomes, budget=4 * 1024 * 1024):
    """One draw per token from the law of its source word, computing the laws of
    the distinct sources in blocks of at most ``budget`` probabilities."""
    unique, rows = np.unique(sources, return_inverse=True)
    u = rng.random(len(sources))
    out = np.empty(len(sources), dtype=np.int64)
    step = max(1, budget // n_outcomes)
    for start in range(0, len(unique), step):
        mine = np.flatnonzero((rows >= start) & (rows < start + step))
        out[mine] = sample_dense_rows(
            laws_of(unique[start : start + step]), rows[mine] - start, u[mine]
        )
    return out


class PriorSampler:
    """Draws words from a public prior over the vocabulary, optionally excluding some.

    Parameters
    ----------
    log_prior : ndarray of shape (n_words,) or None
        Normalised log probabilities; None is the uniform law.
    n_words : int
    """

    def __init__(self, log_prior, n_words):
        self.n_words = n_words
        if log_prior is None:
            self._cdf = None
        else:
            cdf = np.cumsum(np.exp(log_prior - log_prior.max()))
            self._cdf = cdf / cdf[-1]
        self._prior = None if log_prior is None else np.exp(log_prior)

    def draw(self, n, rng):
        if self._cdf is None:
            return rng.integers(0, self.n_words, size=n)
        picks = np.searchsorted(self._cdf, rng.random(n), side="right")
        return np.minimum(picks, self.n_words - 1)

    def draw_outside(self, excluded, rng, max_rounds=64):
        """One word per row of ``excluded`` (n, m), drawn from the prior restricted
        to the words not in that row.

        Rejection sampling in vectorised rounds; the rare rows still rejected after
        ``max_rounds`` rounds are drawn exactly from the explicit restricted law.
        """
        n = len(excluded)
        out = np.empty(n, dtype=np.int64)
        pending = np.arange(n)
        for _ in range(max_rounds):
            if len(pending) == 0:
                return out
            picks = self.draw(len(pending), rng)
            accepted = ~(excluded[pending] == picks[:, None]).any(axis=1)
            out[pending[accepted]] = picks[accepted]
            pending = pending[~accepted]
        for row in pending:
            weights = (
                np.ones(self.n_words) if self._prior is None else self._prior.copy()
            )
            weights[excluded[row]] = 0.0
            if weights.sum() <= 0:
                raise ValueError("No word is left outside the excluded set.")
            out[row] = rng.choice(self.n_words, p=weights / weights.sum())
        return out
