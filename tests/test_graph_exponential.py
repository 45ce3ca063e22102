"""The density-graph exponential mechanism (DensityAwareSubstituter's default).

Every expected law, distance and bound is computed by ``tests/_graph_reference.py``
from the embedding's vectors and the declared parameters (loops, Floyd-Warshall),
never from the mechanism's own graph, balls or tables.
"""

import warnings

import numpy as np
import pytest
from scipy import stats

from sklearn_textdp import DensityAwareSubstituter, Embeddings
from sklearn_textdp.mechanisms import MECHANISMS, GraphExponential
from sklearn_textdp.mechanisms._graph_exponential import _search_rows

from ._graph_reference import graph_law, graph_metric, scale_prior

N_WORDS = 48


@pytest.fixture(scope="module")
def small(glove2k):
    """48 real GloVe words from ranks 300-1,500 (a sparse, uneven sample)."""
    rows = np.sort(
        np.random.default_rng(3).choice(np.arange(300, 1500), N_WORDS, replace=False)
    )
    return Embeddings(glove2k.words[rows], glove2k.vectors[rows])


@pytest.fixture(scope="module")
def reference_metric(small):
    return graph_metric(np.asarray(small.vectors, dtype=np.float64), k=4)


@pytest.fixture(scope="module")
def reference_prior(small):
    return scale_prior(np.asarray(small.vectors, dtype=np.float64), k=4, exponent=4.0)


def fit(emb, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return DensityAwareSubstituter(embeddings=emb, **params).fit([])


def test_published_defaults():
    sub = DensityAwareSubstituter()
    assert sub.truncation == "graph"
    assert sub.epsilon == 5.0
    assert sub.graph_neighbors == 4
    assert sub.ball_size == 512
    assert sub.prior == "auto"
    assert DensityAwareSubstituter(embeddings=None).prior_weight == 1.0
    from sklearn_textdp._density_graph import SCALE_PRIOR_EXPONENT

    assert SCALE_PRIOR_EXPONENT == 4.0
    assert sub.selection == "exponential"
    assert MECHANISMS["graph-exponential"] is GraphExponential


def test_distance_is_the_reference_graph_metric(small, reference_metric):
    sub = fit(small, ball_size=16)
    n = len(small)
    ours = sub.mechanism_.distance(np.arange(n)[:, None], np.arange(n)[None, :])
    np.testing.assert_allclose(ours, reference_metric, rtol=1e-9, atol=1e-12)
    # A metric: symmetric, zero only on the diagonal, triangle inequality.
    assert np.allclose(ours, ours.T)
    assert (ours[~np.eye(n, dtype=bool)] > 0).all()
    assert (ours[:, :, None] <= ours[:, None, :] + ours.T[None, :, :] + 1e-9).all()


@pytest.mark.parametrize("prior", ["auto", None])
@pytest.mark.parametrize("ball_size", [1 + 15, N_WORDS])
@pytest.mark.parametrize("epsilon", [0.5, 3.0, 12.0])
def test_exact_law_equals_reference(
    small, reference_metric, reference_prior, epsilon, ball_size, prior
):
    """The default ("auto" = the local-scale prior) and the uniform prior."""
    sub = fit(small, epsilon=epsilon, ball_size=ball_size, prior=prior)
    assert sub.prior_ == ("scale" if prior == "auto" else None)
    log_prior = reference_prior if prior == "auto" else None
    for x in range(N_WORDS):
        expected = graph_law(reference_metric, x, epsilon, ball_size, log_prior)
        got = sub.mechanism_.output_law(x, N_WORDS)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


def test_exact_privacy_over_all_pairs(small, reference_metric):
    """P[M(x)=y] <= exp(eps d_G(x, x')) P[M(x')=y] for all 48^3 triples, d_G from
    the reference; and the bound is nearly attained (the audit is not vacuous)."""
    for epsilon, ball_size in [(1.0, 16), (4.0, 16), (4.0, N_WORDS), (20.0, 8)]:
        sub = fit(small, epsilon=epsilon, ball_size=ball_size)
        laws = np.stack([sub.mechanism_.output_law(x, N_WORDS) for x in range(N_WORDS)])
        log_laws = np.log(laws)
        loss = log_laws[:, None, :] - log_laws[None, :, :]
        bound = epsilon * reference_metric[:, :, None]
        assert (loss <= bound + 1e-9).all()
        off = ~np.eye(N_WORDS, dtype=bool)
        ratio = (loss.max(axis=2)[off] / (epsilon * reference_metric[off])).max()
        assert ratio > 0.5, ratio


def test_broken_variants_break_the_bound_or_the_law(small, reference_metric):
    """The checks above can fail: each plausible bug changes the law by a total
    variation the chi-square test below detects, or breaks the privacy bound."""
    eps, m = 4.0, 16
    good = np.stack([graph_law(reference_metric, x, eps, m) for x in range(N_WORDS)])
    # epsilon instead of epsilon/2 in the exponent: same support, sharper law.
    sharp = np.stack(
        [graph_law(reference_metric, x, eps, m, half=False) for x in range(N_WORDS)]
    )
    tv = 0.5 * np.abs(good - sharp).sum(axis=1)
    assert tv.max() > 0.1
    # Off by one in the truncation rank.
    shifted = np.stack(
        [graph_law(reference_metric, x, eps, m, off_by_one=1) for x in range(N_WORDS)]
    )
    assert 0.5 * np.abs(good - shifted).sum(axis=1).max() > 0.01
    # Euclidean distances in place of d_G break the graph bound.
    euclid = np.sqrt(((small.vectors[:, None] - small.vectors[None]) ** 2).sum(-1))
    bad = np.stack(
        [graph_law(euclid.astype(np.float64), x, eps, m) for x in range(N_WORDS)]
    )
    loss = np.log(bad)[:, None, :] - np.log(bad)[None, :, :]
    assert (loss > eps * reference_metric[:, :, None] + 1e-6).any()


def chi_square(samples, law):
    counts = np.bincount(samples, minlength=len(law))
    expected = law * len(samples)
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:
        obs, exp = obs[:-1], exp[:-1]
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


@pytest.mark.parametrize("epsilon", [0.3, 4.0])
def test_samples_follow_the_reference_law(
    small, reference_metric, reference_prior, epsilon, seed
):
    """Sampling (table, bisection, escape to the words outside the ball) draws the
    reference law; at epsilon 0.3 most draws take the escape, the rare path."""
    m, n = 12, 60_000
    sub = fit(small, epsilon=epsilon, ball_size=m)
    rng = np.random.default_rng(seed)
    sources = np.array([0, 7, 19, 40])
    for x in sources:
        law = graph_law(reference_metric, x, epsilon, m, reference_prior)
        draws = sub.mechanism_.sample(np.full(n, x), rng)
        assert chi_square(draws, law) > 1e-4
        # Power: the same test rejects the epsilon-instead-of-epsilon/2 law and
        # the law without the prior.
        assert (
            chi_square(
                rng.choice(
                    N_WORDS, size=n, p=graph_law(reference_metric, x, epsilon, m)
                ),
                law,
            )
            < 1e-6
        )
        wrong = graph_law(reference_metric, x, epsilon, m, reference_prior, half=False)
        assert chi_square(rng.choice(N_WORDS, size=n, p=wrong), law) < 1e-6


def test_law_through_transform(small, reference_metric, reference_prior):
    """The estimator's transform draws the reference law (text in, text out)."""
    epsilon, m = 3.0, 16
    sub = fit(small, epsilon=epsilon, ball_size=m, random_state=5)
    word = str(small.words[11])
    out = sub.transform([" ".join([word] * 20_000)])[0].split()
    rows = small.index_of(np.asarray(out, dtype=object))
    law = graph_law(reference_metric, 11, epsilon, m, reference_prior)
    assert chi_square(rows, law) > 1e-4


@pytest.mark.parametrize("head", [0, 7])
def test_untabled_path_matches_tabled(small, monkeypatch, seed, head):
    """Laws computed per chunk (large vocabularies), for every word or for all but
    the first ``head`` ones, equal the precomputed table: same words, escapes
    included (epsilon 0.5 on 16-word balls escapes often)."""
    import sklearn_textdp.mechanisms._graph_exponential as module

    sub = fit(small, epsilon=0.5, ball_size=16)
    tabled = sub.mechanism_
    monkeypatch.setattr(module, "_TABLE_BUDGET", 17 * head + 10)
    untabled = GraphExponential(
        tabled.graph, epsilon=0.5, ball_size=16, log_prior=tabled.log_prior
    )
    assert untabled._head == head and len(untabled._cdf_table) == head
    ids = np.random.default_rng(seed).integers(0, N_WORDS, 5000)
    a = tabled.sample(ids, np.random.default_rng(1))
    b = untabled.sample(ids, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    escaped = ~(tabled.balls(ids)[0] == a[:, None]).any(axis=1)
    assert escaped.mean() > 0.05 and escaped[ids >= head].any()
    assert head == 0 or escaped[ids < head].any()
    np.testing.assert_array_equal(untabled.balls(ids)[0], tabled.balls(ids)[0])


def test_bisection_equals_searchsorted(seed):
    """The row-wise bisection is exact: the first outcome whose CDF exceeds u."""
    rng = np.random.default_rng(seed)
    for n_outcomes in (1, 2, 3, 17, 513):
        p = rng.random((50, n_outcomes)) ** 8
        p[:, rng.random(n_outcomes) < 0.3] = 0.0
        p[:, -1] += 1e-12
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        cdf[:, -1] = 1.0
        rows = rng.integers(0, 50, 20_000)
        u = rng.random(20_000)
        u[:100] = cdf[rows[:100], rng.integers(0, n_outcomes, 100)]  # exact ties
        expected = np.array(
            [
                np.searchsorted(cdf[r], v, side="right")
                for r, v in zip(rows, u, strict=True)
            ]
        )
        expected = np.minimum(expected, n_outcomes - 1)  # u = 1.0 ties the last
        np.testing.assert_array_equal(_search_rows(cdf, rows, u), expected)


def test_small_vocabulary_adapts_and_says_so(small):
    with pytest.warns(UserWarning, match="ball_size=512 exceeds the vocabulary") as w:
        sub = DensityAwareSubstituter(embeddings=small).fit([])
    assert sub.ball_size_ == N_WORDS
    assert not any("max_neighbors" in str(r.message) for r in w)  # unused here
    with pytest.warns(UserWarning, match="max_neighbors=64 is not smaller"):
        sub = DensityAwareSubstituter(embeddings=small, truncation="knn").fit([])
    assert sub.max_neighbors_ == N_WORDS - 1


def test_guarantee_and_radius(small, reference_metric):
    sub = fit(small, epsilon=2.0, ball_size=10)
    assert "d_G" in sub.mechanism_.guarantee and "epsilon=2" in sub.mechanism_.guarantee
    rho = np.sort(reference_metric, axis=1)[:, 9]
    assert sub.vocabulary_diameter_ == pytest.approx(rho.max(), rel=1e-9)
    np.testing.assert_allclose(
        sub.mechanism_.truncation_radius(np.arange(N_WORDS)), rho, rtol=1e-9
    )


def test_configurations_that_do_not_apply_raise(small):
    for params in (
        {"selection": "gumbel"},
        {"sampler": "metropolis"},
        {"sensitive_fraction": 0.5},
    ):
        with pytest.raises(ValueError, match="truncation='graph'"):
            DensityAwareSubstituter(embeddings=small, **params).fit([])


def test_unknown_device_is_refused_even_on_the_cpu_path(small):
    with pytest.raises(ValueError, match="device must be"):
        DensityAwareSubstituter(embeddings=small, device="abacus").fit([])
