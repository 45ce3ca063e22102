"""Slow, obvious reference implementations shared by the tests.

Every expected law, constant and claim of the privacy tests is computed here from
**public inputs only** (the embedding's vectors and the declared parameters), by
code written independently of the modules it checks: loops over small vocabularies,
brute-force distances, ``scipy.linalg.sqrtm``, ``scipy.stats`` laws, numerical
integration. Nothing here imports ``sklearn_textdp``; nothing reads a mechanism's
derived attributes (its square-root covariance, graph distances, output sets,
sensitive mask, radius or scale).

It also holds the tools that show a law test has power: the total variation
distance between a correct and a broken law, and the exact power of the chi-square
test at a sample size (noncentral chi-square), so that a test can assert that the
bug it guards against is visible at its parameters.
"""

import math

import numpy as np
from scipy import integrate, linalg, stats
from scipy.special import lambertw, logsumexp

ALPHA = 1e-6


# ------------------------------------------------------------------ distances
def distances_from(vectors, source):
    """Euclidean distances from word ``source`` to every word (float64)."""
    v = np.asarray(vectors, dtype=np.float64)
    return np.sqrt(((v - v[source]) ** 2).sum(axis=1))


def pairwise(vectors):
    """All Euclidean distances, one row at a time."""
    v = np.asarray(vectors, dtype=np.float64)
    return np.array([distances_from(v, i) for i in range(len(v))])


def diameter_and_min_distance(vectors):
    """(largest distance, smallest distance between different words)."""
    largest, smallest = 0.0, np.inf
    v = np.asarray(vectors, dtype=np.float64)
    for i in range(len(v)):
        d = distances_from(v, i)
        largest = max(largest, d.max())
        d[i] = np.inf
        smallest = min(smallest, d.min())
    return float(largest), float(smallest)


def sorted_neighbours(vectors, source):
    """Rows by increasing distance from ``source`` (itself first), and distances."""
    d = distances_from(vectors, source)
    d_rest = d.copy()
    d_rest[source] = -1.0  # the word itself first, even against duplicates
    order = np.argsort(d_rest, kind="stable")
    return order, d[order]


def nearest_rows(noisy, vectors, k=1, exclude=None, block=1024):
    """Brute-force float64 nearest rows (ties to the lowest row), in blocks.

    Candidates are the ``k + 8`` best by the expanded form ``|v|^2 - 2 v.y``
    (float64 BLAS); their exact squared distances ``sum((v - y)^2)`` decide."""
    v = np.asarray(vectors, dtype=np.float64)
    y_all = np.asarray(noisy, dtype=np.float64)
    squared = (v**2).sum(axis=1)
    width = min(k + 8, len(v))
    out = np.empty((len(y_all), k), dtype=np.int64)
    for start in range(0, len(y_all), block):
        y = y_all[start : start + block]
        approx = squared[None, :] - 2.0 * (y @ v.T)
        if width < len(v):
            near = np.argpartition(approx, width - 1, axis=1)[:, :width]
        else:
            near = np.tile(np.arange(len(v)), (len(y), 1))
        exact = ((v[near] - y[:, None, :]) ** 2).sum(axis=2)
        if exclude is not None:
            exact[near == np.asarray(exclude)[start : start + block, None]] = np.inf
        order = np.lexsort((near, exact), axis=1)[:, :k]
        out[start : start + block] = np.take_along_axis(near, order, axis=1)
    return out


def plain_words(words, vectors):
    """The entries that are plain lower-case ASCII words (each its own output
    word), so that ``|W|`` is known without the library's vocabulary rules."""
    keep = [
        i for i, w in enumerate(words) if w.isascii() and w.isalpha() and w.islower()
    ]
    return [words[i] for i in keep], np.asarray(vectors)[keep]


# ------------------------------------------------------------ published constants
def truncated_poisson_pmf(mean, k_max):
    """P(k), k = 1..k_max, of Poisson(mean) conditioned on 1 <= k <= k_max."""
    k = np.arange(1, k_max + 1)
    pmf = stats.poisson(mean).pmf(k)
    return pmf / pmf.sum()


def tem_radius(epsilon, n_words, beta=0.001):
    """TEM's truncation radius (Carvalho et al. 2023, Theorem 2):
    ``gamma = (2 / epsilon) ln((1 - beta) |W| / beta)``."""
    return 2.0 / epsilon * math.log((1.0 - beta) * n_words / beta)


def gumbel_alpha_and_scale(epsilon, n_words, delta, delta0):
    """The truncated Gumbel mechanism's published ``alpha`` and ``b`` (benchmark
    appendix): ``alpha = (eps - 2 (1 + ln|W|) / Delta_0) / 3``,
    ``b = 2 Delta / min(W_0(2 alpha Delta), ln(alpha Delta_0))``."""
    alpha = (epsilon - (2.0 * (1.0 + math.log(n_words))) / delta0) / 3.0
    denominator = min(lambertw(2.0 * alpha * delta).real, math.log(alpha * delta0))
    return alpha, 2.0 * delta / denominator


def regularized_covariance(vectors, weight):
    """``M = lambda Sigma + (1 - lambda) I`` with ``Sigma`` scaled to trace dim."""
    v = np.asarray(vectors, dtype=np.float64)
    centred = v - v.mean(axis=0)
    sigma = centred.T @ centred / (len(v) - 1)
    sigma = sigma * (v.shape[1] / np.trace(sigma))
    return weight * sigma + (1.0 - weight) * np.eye(v.shape[1])


def sqrt_covariance(vectors, weight):
    """``M^(1/2)`` by ``scipy.linalg.sqrtm``."""
    return np.real(linalg.sqrtm(regularized_covariance(vectors, weight)))


def mahalanobis_distance(vectors, weight, a, b):
    """``sqrt((x - x')^T M^-1 (x - x'))`` for rows ``a`` and ``b``."""
    m = regularized_covariance(vectors, weight)
    v = np.asarray(vectors, dtype=np.float64)
    diff = v[a] - v[b]
    return float(np.sqrt(diff @ np.linalg.solve(m, diff)))


# ------------------------------------------------------------------ exact laws
def exponential_law(scores, epsilon, log_prior=None):
    """``P[y] ~ exp(-epsilon * score[y] / 2) * p(y)``."""
    logits = -0.5 * epsilon * np.asarray(scores, dtype=np.float64)
    if log_prior is not None:
        logits = logits + log_prior
    return np.exp(logits - logsumexp(logits))


def knn_exponential_law(vectors, source, epsilon, poisson_mean, k_max, log_prior=None):
    """k-NN truncated exponential mechanism: ``k ~ Poisson`` on ``[1, k_max]``; the
    ``k`` nearest words (itself first) keep their distance as score, every other
    word gets the distance of the (k+1)-th nearest word (the escape)."""
    d = distances_from(vectors, source)
    _, sorted_d = sorted_neighbours(vectors, source)
    law = np.zeros(len(d))
    for k, p_k in enumerate(truncated_poisson_pmf(poisson_mean, k_max), start=1):
        law += p_k * exponential_law(np.minimum(d, sorted_d[k]), epsilon, log_prior)
    return law


def tem_law(distances, epsilon, gamma):
    """TEM as written (Carvalho et al.): Gumbel-max over the words within
    ``gamma`` and the escape element of score ``-gamma + (2/eps) ln|W \\ L|``,
    a uniform draw outside on escape."""
    distances = np.asarray(distances, dtype=np.float64)
    inside = distances <= gamma
    scores = np.where(inside, -distances, -np.inf)
    n_out = int((~inside).sum())
    bottom = -gamma + (2 / epsilon) * math.log(n_out) if n_out else -np.inf
    logits = 0.5 * epsilon * np.append(scores, bottom)
    probs = np.exp(logits - logsumexp(logits))
    law = probs[:-1].copy()
    if n_out:
        law[~inside] = probs[-1] / n_out
    return law


def sensitive_rows(n_words, fraction):
    """SanText+'s sensitive words: the ``round(fraction * n)`` least frequent,
    i.e. the last rows of a frequency-ordered embedding."""
    mask = np.zeros(n_words, dtype=bool)
    count = int(round(fraction * n_words))
    if count:
        mask[n_words - count :] = True
    return mask


def santext_plus_law(vectors, source, sensitive, epsilon, p):
    d = distances_from(vectors, source)
    logits = np.where(sensitive, -0.5 * epsilon * d, -np.inf)
    inner = np.exp(logits - logsumexp(logits))
    if sensitive[source]:
        return inner
    law = p * inner
    law[source] += 1 - p
    return law


def custext_partition(vectors, size):
    """CusText's disjoint sets: words in row order; each word not yet placed
    founds a set with its ``size`` nearest unplaced words (itself included)."""
    v = np.asarray(vectors, dtype=np.float64)
    placed = np.full(len(v), -1)
    sets = []
    for founder in range(len(v)):
        if placed[founder] >= 0:
            continue
        free = np.flatnonzero(placed < 0)
        d = distances_from(v, founder)[free]
        chosen = free[np.argsort(d, kind="stable")[:size]]
        placed[chosen] = len(sets)
        sets.append(chosen)
    return placed, sets


def custext_law(vectors, members, source, epsilon):
    """Law over ``members``: utility ``-(d - d_min) / (d_max - d_min)``,
    ``P ~ exp(epsilon * u / 2)``."""
    d = distances_from(vectors, source)[members]
    span = d.max() - d.min()
    utility = -(d - d.min()) / span if span > 0 else np.zeros_like(d)
    return np.exp(0.5 * epsilon * utility - logsumexp(0.5 * epsilon * utility))


def laplace_line_law(positions, source, epsilon):
    """1-D Laplace noise + nearest point: Laplace CDF over the Voronoi intervals."""
    positions = np.asarray(positions, dtype=float)
    order = np.argsort(positions)
    p = positions[order]
    bounds = np.concatenate([[-np.inf], (p[1:] + p[:-1]) / 2, [np.inf]])
    cdf = stats.laplace(loc=positions[source], scale=1 / epsilon).cdf(bounds)
    law = np.zeros(len(p))
    law[order] = np.diff(cdf)
    return law


def planar_laplace_law(vectors, source, epsilon, shape=None, n_angles=1 << 14):
    """Exact output law of 2-D noise ``z = r * shape @ u`` (``r ~ Gamma(2, 1/eps)``,
    ``u`` uniform on the circle) followed by the nearest word (polar integration
    over the convex Voronoi cells; 16,384 angles, absolute error below 1e-5)."""
    v = np.asarray(vectors, dtype=np.float64)
    x = v[source]
    shape = np.eye(2) if shape is None else np.asarray(shape, dtype=np.float64)
    theta = (np.arange(n_angles) + 0.5) * (2 * np.pi / n_angles)
    directions = np.column_stack([np.cos(theta), np.sin(theta)]) @ shape.T
    squared = (v**2).sum(axis=1)

    def tail(r):  # P(R > r), R ~ Gamma(2, 1/eps)
        finite = np.isfinite(r)
        r = np.where(finite, np.clip(r, 0.0, None), 0.0)
        return np.where(finite, (1 + epsilon * r) * np.exp(-epsilon * r), 0.0)

    law = np.zeros(len(v))
    for o in range(len(v)):
        normal = v - v[o]
        offset = 0.5 * (squared - squared[o]) - normal @ x
        slope = directions @ normal.T
        with np.errstate(divide="ignore", invalid="ignore"):
            t = offset[None, :] / slope
        hi = np.where(slope > 0, t, np.inf).min(axis=1)
        lo = np.maximum(np.where(slope < 0, t, -np.inf).max(axis=1), 0.0)
        blocked = ((slope == 0) & (offset[None, :] < 0)).any(axis=1)
        inside = (hi > lo) & ~blocked
        law[o] = np.where(inside, tail(lo) - tail(hi), 0.0).mean()
    return law


def truncated_gumbel_law(distances, k_pmf, scale, bound, sign=1.0):
    """Output law of ``argmin_j d_j + sign * g_j`` over the first ``k`` candidates,
    ``g ~ Gumbel(0, scale)`` truncated to ``|g| <= bound``, by integration.
    ``sign=-1`` is the law of the sign-error variant."""
    law = stats.gumbel_r(scale=scale)
    lo, hi = law.cdf(-bound), law.cdf(bound)

    def density(g):
        return law.pdf(g) / (hi - lo)

    def survival(t):  # P(sign * g > t)
        if sign > 0:
            return np.clip((hi - law.cdf(np.clip(t, -bound, bound))) / (hi - lo), 0, 1)
        return np.clip((law.cdf(np.clip(-t, -bound, bound)) - lo) / (hi - lo), 0, 1)

    out = np.zeros(len(distances))
    for k, p_k in enumerate(k_pmf, start=1):
        for j in range(k):
            others = [i for i in range(k) if i != j]

            def integrand(g, j=j, others=others):
                value = sign * g
                return density(g) * np.prod(
                    [survival(distances[j] + value - distances[i]) for i in others]
                )

            value, _ = integrate.quad(integrand, -bound, bound, limit=200, epsabs=1e-11)
            out[j] += p_k * value
    return out


# ------------------------------------------------------------------ test power
def chi_square_pvalue(samples, rows, probabilities):
    """Goodness of fit of ``samples`` to the law ``probabilities`` over ``rows``;
    outcomes with expected count below 5 are pooled into one cell."""
    n = len(samples)
    expected = n * np.asarray(probabilities, dtype=float)
    observed = np.array([(samples == r).sum() for r in rows], dtype=float)
    other_observed = n - observed.sum()
    other_expected = max(n - expected.sum(), 0.0)
    small = expected < 5
    obs = np.append(observed[~small], observed[small].sum() + other_observed)
    exp = np.append(expected[~small], expected[small].sum() + other_expected)
    if exp[-1] < 5:  # pool the leftovers into the largest cell
        big = np.argmax(exp[:-1])
        obs[big] += obs[-1]
        exp[big] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def total_variation(p, q):
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum())


def chi_square_power(law, broken, n, alpha=ALPHA):
    """Probability that :func:`chi_square_pvalue` with ``n`` draws from ``broken``
    rejects ``law`` at level ``alpha`` (noncentral chi-square, same pooling)."""
    law = np.asarray(law, dtype=float)
    broken = np.asarray(broken, dtype=float)
    small = n * law < 5
    p = np.append(law[~small], law[small].sum())
    q = np.append(broken[~small], broken[small].sum())
    if p[-1] * n < 5:
        big = np.argmax(p[:-1])
        p[big] += p[-1]
        q[big] += q[-1]
        p, q = p[:-1], q[:-1]
    df = len(p) - 1
    if df < 1:
        return 0.0
    noncentrality = n * float(((q - p) ** 2 / p).sum())
    critical = stats.chi2.ppf(1 - alpha, df)
    return float(stats.ncx2.sf(critical, df, noncentrality))


def draws_to_detect(law, broken, alpha=ALPHA, power=0.99):
    """Smallest power of two of draws at which the chi-square test rejects
    ``law`` under ``broken`` with probability ``power``."""
    n = 16
    while chi_square_power(law, broken, n, alpha) < power:
        n *= 2
        if n > 1 << 40:
            return math.inf
    return n
