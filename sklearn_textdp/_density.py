"""Public priors over the vocabulary: kernel density and k-nearest-neighbour density.

A prior is a base measure of the exponential mechanisms; it is computed from the
public embedding only, so it does not affect the privacy guarantee.
"""

import math

import numpy as np
from scipy.special import logsumexp

__all__ = ["log_prior"]

#: Points the kernel density is fitted on (a fixed, seeded subsample of the
#: vocabulary). Scoring costs n_words x this many kernel evaluations.
KDE_SAMPLE_SIZE = 2000


def log_prior(
    vectors, kind, *, graph=None, bandwidth="auto", weight=1.0, random_state=0
):
    """Normalised log prior over the rows of ``vectors``, or None for uniform.

    Parameters
    ----------
    vectors : ndarray of shape (n_words, dim)
    kind : {"kde", "knn"} or None
        ``"kde"``: Gaussian kernel density (scikit-learn ``KernelDensity``) fitted on
        a seeded subsample of at most ``KDE_SAMPLE_SIZE`` words and evaluated at
        every word, leaving each sampled word's own kernel out.
        ``"knn"``: k-nearest-neighbour density ``p(y) ~ r_k(y)^(-dim)`` with ``r_k``
        the distance to the graph's farthest listed neighbour.
    graph : NeighborGraph, default=None
        Needed by ``"knn"`` and by ``bandwidth="auto"``.
    bandwidth : float or {"auto", "scott", "silverman"}, default="auto"
        Kernel bandwidth; ``"auto"`` is the median nearest-neighbour distance.
    weight : float, default=1.0
        Exponent applied to the density (0 gives the uniform prior).
    random_state : int, default=0
        Seed of the subsample (public data only; never DP noise).

    Returns
    -------
    log_p : ndarray of float64, shape (n_words,) or None

    Examples
    --------
    >>> import numpy as np
    >>> vectors = np.array([[0.0], [0.1], [0.2], [5.0]])
    >>> p = np.exp(log_prior(vectors, "kde", bandwidth=0.5))
    >>> bool(p[1] > p[3]), round(float(p.sum()), 6)
    (True, 1.0)
    """
    if kind is None or weight == 0:
        return None
    if kind == "kde":
        density = _kde_log_density(vectors, graph, bandwidth, random_state)
    elif kind == "knn":
        if graph is None:
            raise ValueError("prior='knn' needs the neighbour graph.")
        radius = np.maximum(graph.distances[:, -1].astype(np.float64), 1e-12)
        density = -vectors.shape[1] * np.log(radius)
    else:
        raise ValueError(f"prior must be 'kde', 'knn' or None; got {kind!r}.")
    if not np.isfinite(density).all():
        raise ValueError(
            f"The {kind!r} prior is zero or undefined at some words: the bandwidth "
            f"({bandwidth!r}) is too small for this embedding."
        )
    scaled = weight * density
    return scaled - logsumexp(scaled)


def _resolve_bandwidth(bandwidth, graph, vectors):
    if bandwidth != "auto":
        return bandwidth
    if graph is not None:
        return float(np.median(graph.distances[:, 1]))
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=2).fit(vectors).kneighbors(vectors)
    return float(np.median(dist[:, 1]))


def _kde_log_density(vectors, graph, bandwidth, random_state):
    from sklearn.neighbors import KernelDensity

    data = np.asarray(vectors, dtype=np.float64)
    n_words, dim = data.shape
    rng = np.random.default_rng(random_state)
    size = min(KDE_SAMPLE_SIZE, n_words)
    sample = np.sort(rng.choice(n_words, size=size, replace=False))
    kde = KernelDensity(
        kernel="gaussian",
        algorithm="ball_tree",
        bandwidth=_resolve_bandwidth(bandwidth, graph, data),
    )
    log_density = kde.fit(data[sample]).score_samples(data)
    if size < 2:
        return log_density
    # Leave each sampled word's own kernel out: log((m e^s - K(0)) / (m - 1)).
    h = kde.bandwidth_
    log_self = -0.5 * dim * (math.log(2.0 * math.pi) + 2.0 * math.log(h))
    log_total = log_density[sample] + math.log(size)
    with np.errstate(divide="ignore"):
        loo = log_total + np.log1p(-np.exp(np.minimum(log_self - log_total, 0.0)))
    loo -= math.log(size - 1)
    finite = np.isfinite(loo)
    floor = log_density.min() if not finite.all() else None
    log_density[sample] = np.where(finite, loo, floor if floor is not None else loo)
    return log_density
