"""The noise samplers against their closed-form laws, and the power of those tests."""

import numpy as np
import pytest
from scipy import stats

from sklearn_textdp.mechanisms import sample_laplace_noise, uniform_directions

ALPHA = 1e-6  # OpenDP's rejection level: a false alarm once in a million runs
N = 5000


def correct(n, dim, eps, rng):
    return sample_laplace_noise(n, dim, eps, rng)


def double_epsilon(n, dim, eps, rng):
    return sample_laplace_noise(n, dim, 2 * eps, rng)


def exponential_radius(n, dim, eps, rng):
    return uniform_directions(n, dim, rng) * rng.exponential(1 / eps, size=n)[:, None]


def per_coordinate_laplace(n, dim, eps, rng):
    return rng.laplace(scale=1 / eps, size=(n, dim))


def gaussian_same_mean_norm(n, dim, eps, rng):
    z = rng.standard_normal((n, dim))
    return z * (dim / eps) / np.sqrt(dim)


def radius_pvalue(z, dim, eps):
    return stats.kstest(
        np.linalg.norm(z, axis=1), stats.gamma(dim, scale=1 / eps).cdf
    ).pvalue


def direction_pvalue(z, dim):
    cos = z[:, 0] / np.linalg.norm(z, axis=1)
    return stats.kstest(
        (cos + 1) / 2, stats.beta((dim - 1) / 2, (dim - 1) / 2).cdf
    ).pvalue


@pytest.mark.parametrize("dim", [1, 2, 50, 300])
@pytest.mark.parametrize("eps", [0.5, 5.0, 40.0])
def test_noise_radius_follows_gamma_dim_over_epsilon(dim, eps, seed):
    z = correct(N, dim, eps, np.random.default_rng([seed, dim, int(eps * 10)]))
    assert radius_pvalue(z, dim, eps) > ALPHA


@pytest.mark.parametrize("dim", [2, 50, 300])
def test_noise_direction_is_uniform_on_the_sphere(dim, seed):
    z = correct(N, dim, 3.0, np.random.default_rng([seed, dim]))
    assert direction_pvalue(z, dim) > ALPHA
    # Mean vector is zero (Wald z-test per coordinate, |z| < 6).
    mean = z.mean(axis=0) / (z.std(axis=0) / np.sqrt(N))
    assert np.abs(mean).max() < 6


def test_one_dimensional_noise_is_the_laplace_distribution(seed):
    z = correct(N, 1, 2.0, np.random.default_rng(seed))[:, 0]
    assert stats.kstest(z, stats.laplace(scale=0.5).cdf).pvalue > ALPHA


@pytest.mark.parametrize(
    "mutant",
    [
        double_epsilon,
        exponential_radius,
        per_coordinate_laplace,
        gaussian_same_mean_norm,
    ],
)
@pytest.mark.parametrize("dim", [2, 50, 300])
def test_radius_test_rejects_every_broken_sampler(mutant, dim, seed):
    z = mutant(N, dim, 3.0, np.random.default_rng([seed, dim]))
    assert radius_pvalue(z, dim, 3.0) < ALPHA, (
        f"{mutant.__name__} not caught at d={dim}"
    )


@pytest.mark.parametrize("dim", [50, 300])
def test_direction_test_rejects_per_coordinate_laplace(dim, seed):
    z = per_coordinate_laplace(N, dim, 3.0, np.random.default_rng([seed, dim]))
    assert direction_pvalue(z, dim) < ALPHA


def test_noise_is_drawn_in_blocks_from_the_given_generator():
    a = sample_laplace_noise(10, 5, 1.0, np.random.default_rng(3))
    b = sample_laplace_noise(10, 5, 1.0, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (10, 5)


# ------------------------------------------- Mahalanobis: the published default
@pytest.mark.parametrize("through", ["mechanism", "estimator"])
def test_mahalanobis_default_weight_and_noise_in_the_reference_norm(glove2k, through):
    """lambda defaults to 0.2 (Xu et al. 2020), and the noise whitened by the
    reference M^(1/2) (scipy.linalg.sqrtm of 0.2 Sigma + 0.8 I, Sigma scaled to
    trace dim, from the vectors alone) has norm Gamma(dim, 1/epsilon). Power:
    noise built with lambda = 0.4 is rejected at this sample size (p ~ 1e-11)."""
    from sklearn_textdp import DPWordSubstituter
    from sklearn_textdp.mechanisms import Mahalanobis

    from . import _reference as ref

    words, vectors = ref.plain_words(glove2k.words.tolist(), glove2k.vectors)
    if through == "mechanism":
        mech = Mahalanobis(vectors, epsilon=3.0)
    else:
        sub = DPWordSubstituter(
            epsilon=3.0, mechanism="mahalanobis", embeddings=(words, vectors)
        ).fit([])
        mech = sub.mechanism_
    whiten = np.linalg.inv(ref.sqrt_covariance(vectors, 0.2))
    z = mech.noise(N, np.random.default_rng(1)) @ whiten.T
    assert radius_pvalue(z, 50, 3.0) > ALPHA
    wrong = Mahalanobis(vectors, epsilon=3.0, covariance_weight=0.4)
    z = wrong.noise(N, np.random.default_rng(1)) @ whiten.T
    assert radius_pvalue(z, 50, 3.0) < ALPHA
