"""Selection mechanisms against their closed-form output laws.

Every sampler is compared with an exact law (chi-square, fixed seeds, rejection at
p < 1e-6), every closed form with a slow, obviously correct reference, and the
metric-DP inequality is checked exactly on small vocabularies. Each check is shown
to reject a deliberately broken variant.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
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

from . import _reference as ref

ALPHA = ref.ALPHA
chi_square_pvalue = ref.chi_square_pvalue  # test_dp_word imports both from here


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
    pmf = ref.truncated_poisson_pmf(math.log(20000), 64)
    # Power: a mean of log10|W| (4.3) for ln|W| (9.9) is far; ln|W| + 0.1 (TV 0.03)
    # is detected from ~20,000 draws; the test draws 200,000.
    near = ref.truncated_poisson_pmf(math.log(20000) + 0.1, 64)
    assert ref.chi_square_power(pmf, near, 200_000) > 0.999
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


truncated_gumbel_law = ref.truncated_gumbel_law


class SquaredDistanceGumbel(TruncatedGumbel):
    """The anchor's bug (mldp-text faiss path): noise added to squared distances."""

    def sample(self, ids, rng):
        original = self.graph.distances
        object.__setattr__(self.graph, "distances", original.astype(np.float64) ** 2)
        try:
            return super().sample(ids, rng)
        finally:
            object.__setattr__(self.graph, "distances", original)


class SignErrorGumbel(TruncatedGumbel):
    """argmin(d - g) instead of argmin(d + g): the Gumbel-max trick misapplied."""

    def sample(self, ids, rng):
        n = len(ids)
        k = sample_truncated_poisson(self.poisson_mean, self.max_neighbors, n, rng)
        width = int(k.max())
        valid = np.arange(width) < k[:, None]
        noise = np.full((n, width), np.inf)
        noise[valid] = -sample_truncated_gumbel(
            int(k.sum()), self.scale, self.max_distance, rng
        )
        scores = self.graph.distances[ids, :width].astype(np.float64) + noise
        return self.graph.indices[ids, scores.argmin(axis=1)].astype(np.int64)


#: epsilon of the law test. At the smallest valid epsilon + 5 (b = 66 against a
#: truncation of 9.5) the truncated Gumbel is nearly uniform and a sign error is
#: invisible (TV < 1e-4; 5e11 draws to detect); at epsilon = 1e6, b = 1.71 and the
#: sign error is at TV 0.016 (16,384 draws detect it), squared distances at TV 0.031
#: (8,192 draws). The test draws 100,000.
GUMBEL_LAW_EPSILON = 1e6


def test_truncated_gumbel_output_matches_its_exact_law(line_embeddings, seed):
    """Expected law from the vectors and the published formulas only: Delta and
    Delta_0 by brute force, b from the reference formula, candidates from sorted
    brute-force distances (never the mechanism's graph, scale or Delta)."""
    vectors = line_embeddings.vectors
    delta, delta0 = ref.diameter_and_min_distance(vectors)
    graph = build_neighbor_graph(vectors, 4, algorithm="exact")
    eps = GUMBEL_LAW_EPSILON
    _, scale = ref.gumbel_alpha_and_scale(eps, 12, delta, delta0)
    mech = TruncatedGumbel(
        graph, epsilon=eps, n_words=12, poisson_mean=2.0, max_neighbors=5
    )
    source = 0
    rows, dist = ref.sorted_neighbours(vectors, source)
    rows, dist = rows[:5], dist[:5]
    k_pmf = ref.truncated_poisson_pmf(2.0, 5)
    exact = truncated_gumbel_law(dist, k_pmf, scale, delta)
    assert exact.sum() == pytest.approx(1.0, abs=1e-6)
    sign = truncated_gumbel_law(dist, k_pmf, scale, delta, sign=-1.0)
    squared = truncated_gumbel_law(dist**2, k_pmf, scale, delta)
    for broken in (sign, squared):  # the regime where both bugs are visible
        assert ref.total_variation(exact, broken) > 0.01
        assert ref.chi_square_power(exact, broken, 100_000) > 0.999
    ids = np.full(100_000, source)
    draws = mech.sample(ids, np.random.default_rng(seed))
    assert set(np.unique(draws)) <= set(rows.tolist())
    assert chi_square_pvalue(draws, rows, exact) > ALPHA
    for cls in (SquaredDistanceGumbel, SignErrorGumbel):
        buggy = cls(graph, epsilon=eps, n_words=12, poisson_mean=2.0, max_neighbors=5)
        bad = buggy.sample(ids, np.random.default_rng(seed))
        assert chi_square_pvalue(bad, rows, exact) < ALPHA, cls.__name__


def test_truncated_gumbel_defaults_follow_the_paper_on_glove(glove2k):
    """Poisson mean ln|W|, Delta the vocabulary diameter, Delta_0 the smallest
    distance, alpha and b the published formulas: all from the vectors."""
    from sklearn_textdp import DensityAwareSubstituter

    words, vectors = ref.plain_words(glove2k.words.tolist(), glove2k.vectors)
    delta, delta0 = ref.diameter_and_min_distance(vectors)
    n_words = len(words)
    eps = smallest_valid_epsilon(n_words, delta0) + 1.0
    sub = DensityAwareSubstituter(
        epsilon=eps,
        embeddings=(words, vectors),
        truncation="knn",
        selection="gumbel",
        prior=None,
        max_neighbors=16,
    ).fit([])
    assert len(sub.embeddings_) == n_words  # every plain word is an output word
    alpha, scale = ref.gumbel_alpha_and_scale(eps, n_words, delta, delta0)
    # Delta_0 is read from float32 neighbour distances: agreement to 1e-5.
    assert sub.alpha_ == pytest.approx(alpha, rel=1e-5)
    assert sub.gumbel_scale_ == pytest.approx(scale, rel=1e-5)
    mech = sub.mechanism_
    assert mech.poisson_mean == pytest.approx(math.log(n_words), rel=1e-12)
    assert mech.max_distance == pytest.approx(delta, rel=1e-9)
    assert mech.min_distance == pytest.approx(delta0, rel=1e-5)
    assert smallest_valid_epsilon(n_words, delta0) == pytest.approx(
        (2 * (1 + math.log(n_words)) + 3) / delta0
    )


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
    """The reference law (brute-force sorted distances; ``graph`` is not read)."""
    return ref.knn_exponential_law(
        vectors, source, epsilon, poisson_mean, k_max, log_prior
    )


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
    vectors = plane_embeddings.vectors
    for source in (0, 17):
        law = ref.knn_exponential_law(vectors, source, 1.5, 2.5, 6, lp)
        # Power: the score not halved (epsilon for epsilon / 2) is rejected.
        doubled = ref.knn_exponential_law(vectors, source, 3.0, 2.5, 6, lp)
        assert ref.chi_square_power(law, doubled, 100_000) > 0.999
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
    # epsilon = 1.5, not 1: at 1, epsilon * x and x / epsilon cannot be told apart.
    mech = FullExponential(vectors, epsilon=1.5, log_prior=lp, gamma=gamma)
    d = pairwise(vectors)
    score = -0.75 * np.minimum(d, gamma) + lp
    expected = np.exp(score - logsumexp(score, axis=1, keepdims=True))
    laws = np.array([mech.output_distribution(s)[1] for s in range(30)])
    assert all(mech.output_distribution(s)[2] == 0.0 for s in (0, 29))  # no rest
    np.testing.assert_allclose(laws, expected, atol=1e-12)
    assert max_privacy_loss_ratio(laws, d, 1.5) <= 1 + 1e-9
    ids = np.repeat([3, 11, 29], 60_000)
    draws = mech.sample(ids, np.random.default_rng(seed))
    for source in (3, 11, 29):
        doubled = ref.exponential_law(np.minimum(d[source], gamma), 3.0, lp)
        assert ref.chi_square_power(expected[source], doubled, 60_000) > 0.999
        assert (
            chi_square_pvalue(draws[ids == source], np.arange(30), expected[source])
            > ALPHA
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


def test_knn_exponential_default_poisson_mean_is_ln_w_on_glove(glove2k):
    """The published k ~ Poisson(ln|W|): the whole output law of real words
    equals the reference law built with ln|W| from brute-force distances."""
    from sklearn_textdp import DensityAwareSubstituter

    words, vectors = ref.plain_words(glove2k.words.tolist(), glove2k.vectors)
    sub = DensityAwareSubstituter(
        epsilon=4.0,
        embeddings=(words, vectors),
        truncation="knn",
        prior=None,
        max_neighbors=16,
    ).fit([])
    n = len(words)
    for source in (0, 17, n - 1):
        expected = ref.knn_exponential_law(vectors, source, 4.0, math.log(n), 16)
        np.testing.assert_allclose(
            sub.mechanism_.output_law(source, n), expected, atol=1e-10
        )
    # The anchor's mean ln(|W| - 1) moves the law far beyond the tolerance.
    law = ref.knn_exponential_law(vectors, 0, 4.0, math.log(n), 16)
    other = ref.knn_exponential_law(vectors, 0, 4.0, math.log(n - 1), 16)
    assert np.abs(other - law).max() > 1e-6


# ------------------------------------------------ rare paths: every shortcut exact
def test_exact_decoder_equals_brute_force_on_1e5_tokens(glove2k):
    """The short-list proof, the float32 search and its float64 re-check against
    the reference brute force, on 100,000 tokens over 5 epsilons (the proof
    settles from almost no token at epsilon 5 to most at 80), plus the Vickrey
    path (two nearest, source excluded) on 20,000."""
    from sklearn_textdp.mechanisms import ExactDecoder, sample_laplace_noise

    vectors = glove2k.vectors[:500]  # 500 real words: the reference stays cheap
    decoder = ExactDecoder(
        vectors, build_neighbor_graph(vectors, 64, algorithm="exact")
    )
    rng = np.random.default_rng(17)
    proven_share = []
    for eps in (5.0, 10.0, 20.0, 40.0, 80.0):
        ids = rng.integers(0, len(vectors), size=20_000)
        noisy = vectors[ids].astype(np.float64) + sample_laplace_noise(
            len(ids), vectors.shape[1], eps, rng
        )
        got, proven = decoder.nearest(noisy, ids)
        np.testing.assert_array_equal(got[:, 0], ref.nearest_rows(noisy, vectors)[:, 0])
        proven_share.append(proven.mean())
        if eps == 20.0:
            two, _ = decoder.nearest(noisy, ids, k=2, exclude_source=True)
            expected = ref.nearest_rows(noisy, vectors, k=2, exclude=ids)
            np.testing.assert_array_equal(two, expected)
    assert proven_share[0] < 0.05 and proven_share[-1] > 0.5, proven_share


@given(
    st.integers(2, 12),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=25, deadline=None, derandomize=True)
def test_exact_decoder_ties_and_near_ties_property(n_words, dim, seed):
    """Exhaustive-style property: vocabularies with duplicated and nearly
    duplicated rows, queried at the words, at midpoints (exact ties) and at
    random points: always the reference's nearest word (ties to the lowest row)."""
    from sklearn_textdp.mechanisms import ExactDecoder

    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n_words, dim)).astype(np.float32)
    vectors[-1] = vectors[0]  # a duplicate
    if n_words > 2:
        vectors[1] = vectors[2] + np.float32(1e-7)  # below float32 resolution
    v = vectors.astype(np.float64)
    i, j = rng.integers(0, n_words, size=(2, 20))
    queries = np.vstack([v, (v[i] + v[j]) / 2, rng.normal(size=(20, dim))])
    sources = np.concatenate([np.arange(n_words), i, rng.integers(0, n_words, 20)])
    expected = ref.nearest_rows(queries, vectors)[:, 0]
    graph = build_neighbor_graph(vectors, min(3, n_words - 1), algorithm="exact")
    for decoder in (ExactDecoder(vectors), ExactDecoder(vectors, graph)):
        got, _ = decoder.nearest(queries, sources)
        np.testing.assert_array_equal(got[:, 0], expected)


def test_prior_sampler_exact_fallback_follows_the_restricted_law(seed):
    """The fallback after the rejection rounds (reached once in 2^64 calls in
    practice) is forced here: it must draw from the prior outside the excluded."""
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    sampler = PriorSampler(np.log(prior), 4)
    excluded = np.tile([0], (6000, 1))
    rng = np.random.default_rng(seed)
    fallback = sampler.draw_outside(excluded, rng, max_rounds=0)
    law = np.array([0.0, 0.5, 1 / 3, 1 / 6])
    assert chi_square_pvalue(fallback, np.arange(4), law) > ALPHA
    uniform = PriorSampler(None, 4).draw_outside(excluded, rng, max_rounds=0)
    assert chi_square_pvalue(uniform, np.arange(4), [0, 1 / 3, 1 / 3, 1 / 3]) > ALPHA


def test_tem_escape_fallback_and_blocks_follow_the_law(plane_embeddings, seed):
    """TEM's escape fallback (forced) and its per-block sampling (forced to many
    blocks) against the reference law from the vectors."""
    import sklearn_textdp.mechanisms._exponential as exponential

    vectors = plane_embeddings.vectors
    mech = FullExponential(vectors, epsilon=1.0, gamma=1.2)
    source = 3
    d = ref.distances_from(vectors, source)
    outside = np.flatnonzero(d >= 1.2)
    draws = mech._draw_outside_ball(
        np.full(20_000, source), np.random.default_rng(seed), max_rounds=0
    )
    assert set(np.unique(draws)) <= set(outside.tolist())
    law = np.zeros(30)
    law[outside] = 1 / len(outside)
    assert chi_square_pvalue(draws, np.arange(30), law) > ALPHA
    ids = np.repeat(np.arange(30), 200)
    one_block = mech.sample(ids, np.random.default_rng(seed))
    original = exponential._ROW_BUDGET
    exponential._ROW_BUDGET = 60  # two source words per block
    try:
        many_blocks = mech.sample(ids, np.random.default_rng(seed))
    finally:
        exponential._ROW_BUDGET = original
    np.testing.assert_array_equal(one_block, many_blocks)


def test_truncated_exponential_table_and_per_chunk_laws_agree(plane_embeddings, seed):
    """Large vocabularies skip the precomputed table: both paths, same draws."""
    graph = build_neighbor_graph(plane_embeddings.vectors, 6, algorithm="exact")
    mech = TruncatedExponential(
        graph, epsilon=1.5, n_words=30, poisson_mean=2.5, max_neighbors=6
    )
    ids = np.random.default_rng(seed).integers(0, 30, size=50_000)
    tabled = mech.sample(ids, np.random.default_rng(seed))
    np.testing.assert_array_equal(  # laws computed in chunks of 7 words
        mech._cdf_of(np.arange(30), step=7), mech._cdf_of(np.arange(30))
    )
    mech._cdf_table = None
    chunked = mech.sample(ids, np.random.default_rng(seed))
    np.testing.assert_array_equal(tabled, chunked)
    law = ref.knn_exponential_law(plane_embeddings.vectors, 7, 1.5, 2.5, 6)
    assert chi_square_pvalue(chunked[ids == 7], np.arange(30), law) > ALPHA


def test_exact_decoder_near_ties_at_float32_resolution_in_50_dimensions(glove2k):
    """Words 1e-6 apart (far below float32 resolution at GloVe norms): the
    float32 search cannot order them and must hand every such row to the float64
    re-check. Queries on the segment between the two words, in 50-d."""
    from sklearn_textdp.mechanisms import ExactDecoder

    rng = np.random.default_rng(3)
    base = glove2k.vectors[:300].astype(np.float64)
    twins = base[:100] + 1e-6 * rng.normal(size=(100, 50))
    vectors = np.vstack([base, twins]).astype(np.float32)
    v = vectors.astype(np.float64)
    pick = rng.integers(0, 100, size=4000)
    t = rng.random(4000)[:, None]
    queries = (1 - t) * v[pick] + t * v[300 + pick]
    queries += 1e-7 * rng.normal(size=queries.shape)
    expected = ref.nearest_rows(queries, vectors)[:, 0]
    assert len(np.unique(expected)) > 100  # both twins win somewhere
    got, _ = ExactDecoder(vectors).nearest(queries)
    np.testing.assert_array_equal(got[:, 0], expected)


def test_truncated_poisson_law_for_any_mean():
    """Large user-given means (the parameter accepts any positive value): the
    law stays a normalised Poisson conditioned on [1, k_max]."""
    for mean, k_max in ((0.01, 3), (10.0, 64), (900.0, 1200)):
        pmf = truncated_poisson_pmf(mean, k_max)
        np.testing.assert_allclose(
            pmf, ref.truncated_poisson_pmf(mean, k_max), rtol=1e-9, atol=1e-300
        )


@pytest.mark.parametrize("use_prior", [False, True])
def test_truncated_exponential_on_a_wider_graph_uses_max_neighbors(
    plane_embeddings, use_prior
):
    """The estimator's cached graph may list more neighbours than max_neighbors:
    the law must still be the one with K = max_neighbors."""
    vectors = plane_embeddings.vectors
    wide = build_neighbor_graph(vectors, 12, algorithm="exact")
    lp = random_log_prior(30, 5) if use_prior else None
    mech = TruncatedExponential(
        wide, epsilon=2.0, n_words=30, log_prior=lp, poisson_mean=2.5, max_neighbors=6
    )
    for source in (0, 13, 29):
        expected = ref.knn_exponential_law(vectors, source, 2.0, 2.5, 6, lp)
        np.testing.assert_allclose(mech.output_law(source, 30), expected, atol=1e-12)
        draws = mech.sample(np.full(20_000, source), np.random.default_rng(source))
        assert chi_square_pvalue(draws, np.arange(30), expected) > ALPHA


@pytest.mark.parametrize("k_max", [5, 6, 7])
def test_truncated_exponential_when_the_lists_nearly_cover_the_vocabulary(k_max):
    """8 words: lists of K+1 = 6, 7 or all 8 words (the escape then has 2, 1 or
    no word left): the law is still the reference one, every word reachable."""
    vectors = np.random.default_rng(4).normal(size=(8, 3))
    graph = build_neighbor_graph(vectors, 7, algorithm="exact")
    mech = TruncatedExponential(
        graph, epsilon=1.0, n_words=8, poisson_mean=2.0, max_neighbors=k_max
    )
    for source in range(8):
        expected = ref.knn_exponential_law(vectors, source, 1.0, 2.0, k_max)
        np.testing.assert_allclose(mech.output_law(source, 8), expected, atol=1e-12)


def test_tem_escape_with_a_word_exactly_on_the_radius(seed):
    """Integer spacing puts words exactly at distance gamma = 1: the law (the same
    whether that word counts as inside or is an escape draw) must give it its
    mass; single-token escape draws must be outside the ball."""
    vectors = np.arange(6, dtype=np.float64)[:, None]
    mech = FullExponential(vectors, epsilon=2.0, gamma=1.0)
    law = ref.tem_law(ref.distances_from(vectors, 0), 2.0, 1.0)
    draws = mech.sample(np.zeros(40_000, dtype=np.int64), np.random.default_rng(seed))
    assert chi_square_pvalue(draws, np.arange(6), law) > ALPHA
    rng = np.random.default_rng(seed)
    singles = [int(mech._draw_outside_ball(np.array([0]), rng)[0]) for _ in range(300)]
    assert set(singles) <= {1, 2, 3, 4, 5} and len(set(singles)) == 5
