"""DPWordSubstituter: end-to-end laws, decoding, mechanisms and parameters."""

import re

import numpy as np
import pytest
from scipy import stats

from sklearn_textdp import DPWordSubstituter, load_embeddings
from sklearn_textdp.mechanisms import ExactDecoder, brute_force_nearest
from sklearn_textdp.mechanisms._laplace import regularized_sqrt_covariance

from .test_mechanisms import ALPHA, chi_square_pvalue


def laplace_voronoi_law(positions, source, epsilon):
    """Exact output law of 1-D Laplace noise + nearest point (Voronoi intervals)."""
    positions = np.asarray(positions, dtype=float)
    bounds = np.concatenate([[-np.inf], (positions[1:] + positions[:-1]) / 2, [np.inf]])
    cdf = stats.laplace(loc=positions[source], scale=1 / epsilon).cdf(bounds)
    return np.diff(cdf)


def test_transform_follows_the_exact_one_dimensional_law(line_embeddings, seed):
    """Whole pipeline (tokenizer, lookup, noise, decoding, detokenizer) against the
    closed form; a 2x epsilon mutant is rejected."""
    positions = line_embeddings.vectors[:, 0]
    source = 5
    words = line_embeddings.words.tolist()
    docs = [f"{words[source]}."] * 100_000
    for eps, should_pass in ((1.0, True), (2.0, False)):
        sub = DPWordSubstituter(
            epsilon=eps, embeddings=line_embeddings, random_state=seed
        )
        out = sub.fit_transform(docs)
        assert all(doc.endswith(".") for doc in out)
        draws = np.array([words.index(doc[:-1]) for doc in out])
        pvalue = chi_square_pvalue(
            draws, np.arange(12), laplace_voronoi_law(positions, source, 1.0)
        )
        assert (pvalue > ALPHA) == should_pass, f"epsilon={eps}: p={pvalue:.2g}"


def test_the_exact_law_is_epsilon_metric_private_and_tight(line_embeddings):
    positions = line_embeddings.vectors[:, 0].astype(float)
    eps = 1.3
    laws = np.array([laplace_voronoi_law(positions, s, eps) for s in range(12)])
    dist = np.abs(positions[:, None] - positions[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(laws[:, None, :] / laws[None, :, :]) / (eps * dist[:, :, None])
    worst = np.nanmax(np.where(dist[:, :, None] > 0, ratio, 0))
    assert worst <= 1 + 1e-9
    assert worst > 0.99, "in 1-D the bound is attained: the check is not vacuous"


def test_keep_probability_rises_with_epsilon(seed):
    sub = DPWordSubstituter(random_state=seed).fit(["x"])
    rng = np.random.default_rng(seed)
    words = rng.choice(len(sub.embeddings_), size=150, replace=False)
    ids = np.repeat(words, 100)
    kept = []
    for eps in (4.0, 6.0, 8.0, 11.0, 16.0):
        sub.set_params(epsilon=eps).fit(["x"])
        kept.append((sub.mechanism_.sample(ids, rng) == ids).mean())
    assert np.all(np.diff(kept) > 0.02), kept
    assert kept[0] < 0.1 and kept[-1] > 0.95


@pytest.mark.parametrize("mechanism", ["laplace", "mahalanobis"])
def test_decoding_equals_brute_force_under_one_seed(mechanism, seed):
    sub = DPWordSubstituter(epsilon=20, mechanism=mechanism).fit(["x"])
    mech = sub.mechanism_
    ids = np.random.default_rng(seed).integers(0, len(sub.embeddings_), size=400)
    noisy = mech.noisy_vectors(ids, np.random.default_rng(seed))
    fast = mech.sample(ids, np.random.default_rng(seed))
    np.testing.assert_array_equal(fast, brute_force_nearest(noisy, mech.vectors)[:, 0])


@pytest.mark.parametrize("weight", [0.2, 1.0])
def test_mahalanobis_noise_follows_gamma_in_its_own_norm(weight, seed):
    emb = load_embeddings(max_words=2000)
    sub = DPWordSubstituter(
        epsilon=4.0, mechanism="mahalanobis", covariance_weight=weight, embeddings=emb
    ).fit(["x"])
    z = sub.mechanism_.noise(5000, np.random.default_rng(seed))
    root = regularized_sqrt_covariance(emb.vectors, weight)
    whitened = np.linalg.solve(root, z.T).T
    norm = np.linalg.norm(whitened, axis=1)
    assert stats.kstest(norm, stats.gamma(emb.dim, scale=1 / 4.0).cdf).pvalue > ALPHA
    # pyPANTERA's variant renormalises the shaped direction: caught by the same test.
    if weight == 1.0:
        rng = np.random.default_rng(seed)
        u = rng.standard_normal((20_000, emb.dim))
        shaped = u @ root
        shaped /= np.linalg.norm(shaped, axis=1, keepdims=True)
        renormalised = shaped * rng.gamma(emb.dim, 1 / 4.0, size=20_000)[:, None]
        bad = np.linalg.norm(np.linalg.solve(root, renormalised.T).T, axis=1)
        assert stats.kstest(bad, stats.gamma(emb.dim, scale=1 / 4.0).cdf).pvalue < ALPHA
    identity = regularized_sqrt_covariance(emb.vectors, 0.0)
    np.testing.assert_allclose(identity, np.eye(emb.dim), atol=1e-12)


@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_vickrey_selection_probability_and_exclusion(line_embeddings, t, seed):
    # Huge epsilon: the noisy vector is the word itself, so d1, d2 are known.
    sub = DPWordSubstituter(
        epsilon=1e9, mechanism="vickrey", threshold=t, embeddings=line_embeddings
    ).fit(["x"])
    positions = line_embeddings.vectors[:, 0].astype(float)
    source = 5  # 3.0: nearest others are 3.2 (d=0.2) then 2.7 (d=0.3)
    draws = sub.mechanism_.sample(np.full(40_000, source), np.random.default_rng(seed))
    assert set(np.unique(draws)) <= {6, 4}
    d1, d2 = abs(positions[6] - 3.0), abs(positions[4] - 3.0)
    p_first = (1 - t) * d2 / (t * d1 + (1 - t) * d2)
    observed = (draws == 6).mean()
    assert (
        abs(observed - p_first) < 6 * np.sqrt(p_first * (1 - p_first) / 40_000) + 1e-9
    )


def test_vickrey_never_returns_the_input_word(seed):
    sub = DPWordSubstituter(epsilon=50, mechanism="vickrey-mahalanobis").fit(["x"])
    ids = np.random.default_rng(seed).integers(0, len(sub.embeddings_), size=2000)
    out = sub.mechanism_.sample(ids, np.random.default_rng(seed))
    assert (out != ids).all()
    assert "not metric DP" in sub.mechanism_.guarantee.replace(
        "None as metric DP", "not metric DP"
    )


def test_short_list_proof_is_used_at_large_epsilon(seed):
    sub = DPWordSubstituter(epsilon=40).fit(["x"])
    mech = sub.mechanism_
    ids = np.random.default_rng(seed).integers(0, len(sub.embeddings_), size=500)
    noisy = mech.noisy_vectors(ids, np.random.default_rng(seed))
    _, proven = mech.decoder.nearest(noisy, ids)
    assert proven.mean() > 0.5
    assert isinstance(mech.decoder, ExactDecoder) and mech.decoder.graph is not None


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "10", None])
def test_bad_epsilon_is_refused_naming_the_parameter(bad):
    with pytest.raises((ValueError, TypeError), match=re.escape("'epsilon' parameter")):
        DPWordSubstituter(epsilon=bad).fit(["a"])


def test_approximate_decoder_is_warned_and_mostly_exact(seed):
    pytest.importorskip("pynndescent")
    from sklearn_textdp import PrivacyLeakWarning

    emb = load_embeddings(max_words=2000)
    with pytest.warns(PrivacyLeakWarning, match="approximate"):
        approx = DPWordSubstituter(
            epsilon=10, decoder="approximate", embeddings=emb
        ).fit(["x"])
    exact = DPWordSubstituter(epsilon=10, embeddings=emb).fit(["x"])
    ids = np.random.default_rng(seed).integers(0, len(exact.embeddings_), size=2000)
    a = approx.mechanism_.sample(ids, np.random.default_rng(seed))
    b = exact.mechanism_.sample(ids, np.random.default_rng(seed))
    assert (a == b).mean() > 0.9
