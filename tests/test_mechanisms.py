"""Selection mechanisms against their closed-form output laws.

Every sampler is compared with an exact law (chi-square, fixed seeds, rejection at
p < 1e-6), every closed form with a slow, obviously correct reference, and the
metric-DP inequality is checked exactly on small vocabularies. Each check is shown
to reject a deliberately broken variant.
"""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import logsumexp

from sklearn_textdp import build_neighbor_graph
from sklearn_textdp.mechanisms import (
    FullExponential,
    PriorSampler,
    TruncatedExponential,
    TruncatedGumbel,
    sample_truncated_gumbel,
    sample_truncated_poisson,
    smallest_valid_epsilon,
    truncated_gumbel_scale,
    truncated_poisson_pmf,
)

ALPHA = 1e-6


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


def pairwise(vectors):
    v = np.asarray(vectors, dtype=np.float64)
    return np.sqrt(((v[:, None, :] - v[None, :, :]) ** 2).sum(-1))


def max_privacy_loss_ratio(laws, distances, epsilon):
    """max over x, x', y of log(P[y|x] / P[y|x']) / (epsilon d(x, x'))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_laws = np.log(laws)
        loss = log_laws[:, None, :] - log_laws[None, :, :]
        bound = epsilon * distances[:, :, None]
        ratio = np.where(bound > 0, loss / bound, 0.0)
    return np.nanmax(ratio)


# --------------------------------------------------------------- small samplers
def test_truncated_poisson_is_never_zero_and_follows_its_law(seed):
    rng = np.random.default_rng(seed)
    k = sample_truncated_poisson(math.log(20000), 64, 200_000, rng)
    assert k.min() >= 1 and k.max() <= 64
    pmf = truncated_poisson_pmf(math.log(20000), 64)
    assert chi_square_pvalue(k, np.arange(1, 65), pmf) > ALPHA
    k_small = sample_truncated_poisson(0.01, 3, 10_000, rng)  # Poisson mass at 0
    assert k_small.min() == 1


def test_truncated_gumbel_sampler_matches_its_cdf(seed):
    rng = np.random.default_rng(seed)
    scale, bound = 2.5, 4.0
    g = sample_truncated_gumbel(20_000, scale, bound, rng)
    assert np.abs(g).max() <= bound
    law = stats.gumbel_r(scale=scale)
    lo, hi = law.cdf(-bound), law.cdf(bound)
    assert stats.kstest(g, lambda t: (law.cdf(t) - lo) / (hi - lo)).pvalue > ALPHA
    # A plain (untruncated) Gumbel is caught.
    plain = np.clip(rng.gumbel(scale=scale, size=20_000), -bound, bound)
    assert stats.kstest(plain, lambda t: (law.cdf(t) - lo) / (hi - lo)).pvalue < ALPHA


def test_truncated_gumbel_with_underflowing_lower_tail():
    g = sample_truncated_gumbel(1000, 1.0, 50.0, np.random.default_rng(0))
    assert np.isfinite(g).all() and np.abs(g).max() <= 50.0


def test_prior_sampler_draws_outside_the_excluded_rows(seed):
    rng = np.random.default_rng(seed)
    log_prior = np.log(np.array([0.5, 0.3, 0.1, 0.1]))
    sampler = PriorSampler(log_prior, 4)
    excluded = np.tile([0, 1], (40_000, 1))
    draws = sampler.draw_outside(excluded, rng)
    assert set(np.unique(draws)) == {2, 3}
    assert chi_square_pvalue(draws, [2, 3], [0.5, 0.5]) > ALPHA
    # Rows whose exclusions cover almost all the mass still finish (exact fallback).
    heavy = PriorSampler(np.log(np.array([1 - 1e-12, 1e-12])), 2)
    assert heavy.draw_outside(np.zeros((3, 1), dtype=int), rng).tolist() == [1, 1, 1]


# ------------------------------------------------------------- truncated Gumbel
def test_published_scale_formula_and_its_valid_range():
    n_words, delta, delta0 = 20000, 18.74, 0.351
    threshold = smallest_valid_epsilon(n_words, delta0)
    assert threshold == pytest.approx(70.68, abs=0.01)
    alpha, b = truncated_gumbel_scale(80.0, n_words, delta, delta0)
    expected_alpha = (80.0 - 2 * (1 + math.log(n_words)) / delta0) / 3
    assert alpha == pytest.approx(expected_alpha)
    from scipy.special import lambertw

    expected_b = (
        2
        * delta
        / min(
            lambertw(2 * expected_alpha * delta).real, math.log(expected_alpha * delta0)
        )
    )
    assert b == pytest.approx(expected_b) and b > 0
    for eps in (1.0, 10.0, 70.0, threshold):
        with pytest.raises(ValueError, match=r"needs epsilon > 70\.68"):
            truncated_gumbel_scale(eps, n_words, delta, delta0)


def truncated_gumbel_law(distances, k_pmf, scale, bound):
    """Exact output law of the truncated Gumbel mechanism by numerical integration."""
    law = stats.gumbel_r(scale=scale)
    lo, hi = law.cdf(-bound), law.cdf(bound)

    def density(g):
        return law.pdf(g) / (hi - lo)

    def survival(t):
        return np.clip((hi - law.cdf(np.clip(t, -bound, bound))) / (hi - lo), 0, 1)

    out = np.zeros(len(distances))
    for k, p_k in enumerate(k_pmf, start=1):
        for j in range(k):
            others = [i for i in range(k) if i != j]

            def integrand(g, j=j, others=others):
                return density(g) * np.prod(
                    [survival(distances[j] + g - distances[i]) for i in others]
                )

            value, _ = integrate.quad(integrand, -bound, bound, limit=200, epsabs=1e-11)
            out[j] += p_k * value
    return out


class SquaredDistanceGumbel(TruncatedGumbel):
    """The anchor's bug (mldp-text faiss path): noise added to squared distances."""

    def sample(self, ids, rng):
        original = self.graph.distances
        object.__setattr__(self.graph, "distances", original.astype(np.float64) ** 2)
        try:
            return super().sample(ids, rng)
        finally:
            object.__setattr__(self.graph, "distances", original)


def test_truncated_gumbel_output_matches_its_exact_law(line_embeddings, seed):
    graph = build_neighbor_graph(line_embeddings.vectors, 4, algorithm="exact")
    eps = smallest_valid_epsilon(12, graph.min_distance) + 5
    mech = TruncatedGumbel(
        graph, epsilon=eps, n_words=12, poisson_mean=2.0, max_neighbors=5
    )
    source = 5
    rows = graph.indices[source]
    k_pmf = truncated_poisson_pmf(2.0, 5)
    exact = truncated_gumbel_law(
        graph.distances[source].astype(float), k_pmf, mech.scale, mech.max_distance
    )
    assert exact.sum() == pytest.approx(1.0, abs=1e-6)
    ids = np.full(200_000, source)
    draws = mech.sample(ids, np.random.default_rng(seed))
    assert set(np.unique(draws)) <= set(rows.tolist())
    assert chi_square_pvalue(draws, rows, exact) > ALPHA
    buggy = SquaredDistanceGumbel(
        graph, epsilon=eps, n_words=12, poisson_mean=2.0, max_neighbors=5
    )
    bad = buggy.sample(ids, np.random.default_rng(seed))
    assert chi_square_pvalue(bad, rows, exact) < ALPHA


@pytest.mark.slow
def test_ten_million_truncated_gumbel_draws_without_error(glove2k, seed):
    graph = build_neighbor_graph(glove2k.vectors, 64, algorithm="exact")
    mech = TruncatedGumbel(
        graph,
        epsilon=smallest_valid_epsilon(2000, graph.min_distance) + 1,
        n_words=2000,
    )
    rng = np.random.default_rng(seed)
    total = 0
    for _ in range(10):
        ids = rng.integers(0, 2000, size=1_000_000)
        out = mech.sample(ids, rng)
        assert out.min() >= 0 and out.max() < 2000
        total += len(out)
    assert total == 10_000_000


# --------------------------------------------------------- exponential family
def slow_knn_law(vectors, source, graph, epsilon, poisson_mean, k_max, log_prior=None):
    """Mixture over k of the full-vocabulary law with score min(d, d_k(x))."""
    d = pairwise(vectors)[source]
    n = len(vectors)
    lp = np.full(n, -math.log(n)) if log_prior is None else log_prior
    law = np.zeros(n)
    for k, p_k in enumerate(truncated_poisson_pmf(poisson_mean, k_max), start=1):
        rho = graph.distances[source, k]
        score = -0.5 * epsilon * np.minimum(d, rho) + lp
        law += p_k * np.exp(score - logsumexp(score))
    return law


def random_log_prior(n, seed):
    weights = np.random.default_rng(seed).gamma(2.0, size=n)
    return np.log(weights / weights.sum())


@pytest.mark.parametrize("use_prior", [False, True])
def test_truncated_exponential_closed_form_equals_slow_reference(
    plane_embeddings, use_prior
):
    vectors = plane_embeddings.vectors
    graph = build_neighbor_graph(vectors, 6, algorithm="exact")
    lp = random_log_prior(30, 1) if use_prior else None
    mech = TruncatedExponential(
        graph, epsilon=2.0, n_words=30, log_prior=lp, poisson_mean=2.5, max_neighbors=6
    )
    for source in range(30):
        slow = slow_knn_law(vectors, source, graph, 2.0, 2.5, 6, lp)
        np.testing.assert_allclose(mech.output_law(source, 30), slow, atol=1e-12)


@pytest.mark.parametrize("use_prior", [False, True])
def test_truncated_exponential_samples_follow_the_law(
    plane_embeddings, use_prior, seed
):
    graph = build_neighbor_graph(plane_embeddings.vectors, 6, algorithm="exact")
    lp = random_log_prior(30, 2) if use_prior else None
    mech = TruncatedExponential(
        graph, epsilon=1.5, n_words=30, log_prior=lp, poisson_mean=2.5, max_neighbors=6
    )
    for source in (0, 17):
        law = mech.output_law(source, 30)
        draws = mech.sample(
            np.full(100_000, source), np.random.default_rng([seed, source])
        )
        assert chi_square_pvalue(draws, np.arange(30), law) > ALPHA


@pytest.mark.parametrize("use_prior", [False, True])
@pytest.mark.parametrize("epsilon", [0.3, 2.0, 8.0])
def test_truncated_exponential_is_exactly_epsilon_metric_private(
    plane_embeddings, use_prior, epsilon
):
    vectors = plane_embeddings.vectors
    graph = build_neighbor_graph(vectors, 6, algorithm="exact")
    lp = random_log_prior(30, 3) if use_prior else None
    mech = TruncatedExponential(
        graph,
        epsilon=epsilon,
        n_words=30,
        log_prior=lp,
        poisson_mean=2.5,
        max_neighbors=6,
    )
    laws = np.array([mech.output_law(s, 30) for s in range(30)])
    assert max_privacy_loss_ratio(laws, pairwise(vectors), epsilon) <= 1 + 1e-9


def test_metric_privacy_check_catches_broken_exponential_mechanisms(plane_embeddings):
    vectors = plane_embeddings.vectors
    graph = build_neighbor_graph(vectors, 6, algorithm="exact")
    # Broken 1: the score's full epsilon instead of epsilon / 2.
    doubled = TruncatedExponential(
        graph, epsilon=4.0, n_words=30, poisson_mean=2.5, max_neighbors=6
    )
    laws = np.array([doubled.output_law(s, 30) for s in range(30)])
    assert max_privacy_loss_ratio(laws, pairwise(vectors), 2.0) > 1.05
    # Broken 2: an approximate graph whose lists miss each word's nearest neighbour.
    wide = build_neighbor_graph(vectors, 7, algorithm="exact")
    keep = [0, 2, 3, 4, 5, 6, 7]
    broken_graph = type(graph)(
        wide.indices[:, keep],
        wide.distances[:, keep],
        False,
        wide.min_distance,
        wide.max_distance,
        True,
    )
    mech = TruncatedExponential(
        broken_graph, epsilon=2.0, n_words=30, poisson_mean=1.0, max_neighbors=6
    )
    laws = np.array([mech.output_law(s, 30) for s in range(30)])
    assert max_privacy_loss_ratio(laws, pairwise(vectors), 2.0) > 1.05


@pytest.mark.parametrize("gamma", [np.inf, 1.2])
def test_full_exponential_law_sampling_and_privacy(plane_embeddings, gamma, seed):
    vectors = plane_embeddings.vectors
    lp = random_log_prior(30, 4)
    mech = FullExponential(vectors, epsilon=1.0, log_prior=lp, gamma=gamma)
    d = pairwise(vectors)
    score = -0.5 * np.minimum(d, gamma) + lp
    expected = np.exp(score - logsumexp(score, axis=1, keepdims=True))
    laws = np.array([mech.output_distribution(s)[1] for s in range(30)])
    np.testing.assert_allclose(laws, expected, atol=1e-12)
    assert max_privacy_loss_ratio(laws, d, 1.0) <= 1 + 1e-9
    ids = np.repeat([3, 11, 29], 60_000)
    draws = mech.sample(ids, np.random.default_rng(seed))
    for source in (3, 11, 29):
        assert (
            chi_square_pvalue(draws[ids == source], np.arange(30), laws[source]) > ALPHA
        )


def test_metropolis_chain_approaches_the_target_law(plane_embeddings, seed):
    vectors = plane_embeddings.vectors
    graph = build_neighbor_graph(vectors, 5, algorithm="exact")
    mech = FullExponential(
        vectors, epsilon=1.0, sampler="metropolis", graph=graph, mh_steps=60
    )
    target = mech.output_distribution(4)[1]
    states, acceptance = mech.metropolis(
        np.full(50_000, 4), np.random.default_rng(seed)
    )
    assert 0.05 < acceptance < 1.0
    empirical = np.bincount(states, minlength=30) / len(states)
    total_variation = 0.5 * np.abs(empirical - target).sum()
    assert total_variation < 0.02
    short = FullExponential(
        vectors, epsilon=1.0, sampler="metropolis", graph=graph, mh_steps=1
    )
    states, _ = short.metropolis(np.full(50_000, 4), np.random.default_rng(seed))
    short_tv = 0.5 * np.abs(np.bincount(states, minlength=30) / 50_000 - target).sum()
    assert short_tv > 0.1, (
        "a one-step chain stays near its start: the TV check has power"
    )
