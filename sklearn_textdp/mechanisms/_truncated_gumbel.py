"""Truncated Gumbel mechanism (Xu, Feyisetan, Aggarwal, Xu, Teissier, FLAIRS 2021)."""

import math

import numpy as np
from scipy.special import lambertw

from ._base import Mechanism
from ._sampling import sample_truncated_gumbel, sample_truncated_poisson

__all__ = ["TruncatedGumbel", "truncated_gumbel_scale", "smallest_valid_epsilon"]


def smallest_valid_epsilon(n_words, min_distance):
    """Infimum of the epsilons for which the published noise scale ``b`` is positive.

    ``b > 0`` needs ``alpha > 0`` and ``ln(alpha * Delta_0) > 0``, that is
    ``epsilon > (2 (1 + ln|W|) + 3) / Delta_0``.
    """
    return (2.0 * (1.0 + math.log(n_words)) + 3.0) / min_distance


def truncated_gumbel_scale(epsilon, n_words, max_distance, min_distance):
    """The published ``alpha`` and Gumbel scale ``b`` (benchmark appendix restatement).

    ``alpha = (epsilon - 2 (1 + ln|W|) / Delta_0) / 3`` and
    ``b = 2 Delta / min(W_0(2 alpha Delta), ln(alpha Delta_0))``.

    Raises
    ------
    ValueError
        When ``b`` is not positive or undefined (``epsilon`` too small for the
        formula), stating the smallest valid epsilon for this vocabulary.
    """
    if min_distance <= 0:
        raise ValueError(
            "The truncated Gumbel mechanism needs distinct word vectors: two words "
            "share a vector (smallest inter-word distance 0), so its noise scale is "
            "undefined."
        )
    threshold = smallest_valid_epsilon(n_words, min_distance)
    alpha = (epsilon - 2.0 * (1.0 + math.log(n_words)) / min_distance) / 3.0
    if epsilon <= threshold:
        raise ValueError(
            f"The truncated Gumbel mechanism's published noise scale "
            f"b = 2*Delta / min(W0(2*alpha*Delta), ln(alpha*Delta_0)) is not positive "
            f"for epsilon={epsilon:g} on this vocabulary (|W|={n_words}, "
            f"Delta_0={min_distance:.4g}, Delta={max_distance:.4g}): it needs "
            f"epsilon > {threshold:.2f}. Use a larger epsilon, or the default "
            "selection='exponential', which is epsilon*d private at every epsilon > 0."
        )
    denominator = min(
        lambertw(2.0 * alpha * max_distance).real, math.log(alpha * min_distance)
    )
    return alpha, 2.0 * max_distance / denominator


class TruncatedGumbel(Mechanism):
    """Truncated Gumbel mechanism, as specified by the benchmark appendix pseudocode.

    For each word ``w``: ``k ~ Poisson(poisson_mean)`` truncated to
    ``[1, max_neighbors]`` (never 0); candidates are the ``k`` nearest words with ``w``
    itself first; ``g_j ~ Gumbel(0, b)`` truncated to ``|g_j| <= Delta``, sampled by
    inverse CDF; output the candidate minimising ``d(w, u_j) + g_j`` (true Euclidean
    distances, not squared).

    Parameters
    ----------
    graph : NeighborGraph
    epsilon : float
    n_words : int
        ``|W|``, the vocabulary size.
    poisson_mean : float, default=None
        ``ln |W|`` when None (the published choice).
    max_neighbors : int, default=None
        Largest candidate count; the graph's width when None.
    """

    name = "truncated-gumbel"

    def __init__(
        self, graph, *, epsilon, n_words, poisson_mean=None, max_neighbors=None
    ):
        self.graph = graph
        self.epsilon = float(epsilon)
        self.n_words = int(n_words)
        self.poisson_mean = math.log(n_words) if poisson_mean is None else poisson_mean
        self.max_neighbors = (
            graph.n_neighbors + 1 if max_neighbors is None else int(max_neighbors)
        )
        self.max_distance = graph.max_distance
        self.min_distance = graph.min_distance
        self.alpha, self.scale = truncated_gumbel_scale(
            self.epsilon, self.n_words, self.max_distance, self.min_distance
        )

    @property
    def guarantee(self):
        bound = smallest_valid_epsilon(self.n_words, self.min_distance)
        return (
            "epsilon*d metric DP (Euclidean) as claimed by Xu et al. (FLAIRS 2021) "
            f"for epsilon={self.epsilon:g} > {bound:.2f}, with |W|={self.n_words}, "
            f"Delta={self.max_distance:.4g}, Delta_0={self.min_distance:.4g} "
            f"(alpha={self.alpha:.4g}, b={self.scale:.4g})."
            " The paper's theorem and its conditions could not be checked; the formula "
            "follows the benchmark appendix's restatement."
        )

    def sample(self, ids, rng):
        n = len(ids)
        k = sample_truncated_poisson(self.poisson_mean, self.max_neighbors, n, rng)
        width = int(k.max()) if n else 1
        valid = np.arange(width) < k[:, None]
        noise = np.full((n, width), np.inf)
        noise[valid] = sample_truncated_gumbel(
            int(k.sum()), self.scale, self.max_distance, rng
        )
        scores = self.graph.distances[ids, :width].astype(np.float64) + noise
        best = scores.argmin(axis=1)
        return self.graph.indices[ids, best].astype(np.int64)
