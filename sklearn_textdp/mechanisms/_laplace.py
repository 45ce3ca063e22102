"""Noise-then-decode mechanisms: multivariate Laplace, Mahalanobis and Vickrey."""

import numpy as np

from ._base import Mechanism
from ._decode import ExactDecoder
from ._noise import sample_laplace_noise

__all__ = ["CalibratedLaplace", "Mahalanobis", "Vickrey", "regularized_sqrt_covariance"]


class CalibratedLaplace(Mechanism):
    """Calibrated multivariate perturbation (Feyisetan et al., WSDM 2020).

    For each word ``w``: ``y = phi(w) + z`` with ``p(z) ~ exp(-epsilon ||z||)`` (norm
    ``Gamma(dim, 1/epsilon)``, uniform direction), then the vocabulary word nearest to
    ``y``, ``w`` itself included.

    Parameters
    ----------
    vectors : ndarray of float32, shape (n_words, dim)
    epsilon : float
    decoder : ExactDecoder or ApproximateDecoder, default=None
        Exact brute-force-equivalent decoding when None.
    device : str, default="cpu"
        Device of the default :class:`ExactDecoder` (ignored when ``decoder`` is
        given): ``"cpu"`` or an array-API device such as ``"cuda"``. The noise is
        drawn from the Generator on the host either way.
    """

    name = "laplace"

    def __init__(self, vectors, *, epsilon, decoder=None, device="cpu"):
        self.vectors = vectors
        self.epsilon = float(epsilon)
        self.decoder = (
            decoder if decoder is not None else ExactDecoder(vectors, device=device)
        )

    @property
    def guarantee(self):
        return (
            f"epsilon*d metric DP with epsilon={self.epsilon:g} and d the Euclidean "
            "distance between word vectors: P[M(w)=o] <= exp(epsilon*d(w,w')) "
            "P[M(w')=o] for all words w, w', o. Decoding depends only on the noisy "
            "vector and the public vocabulary (post-processing)."
        )

    def noise(self, n, rng):
        return sample_laplace_noise(n, self.vectors.shape[1], self.epsilon, rng)

    def noisy_vectors(self, ids, rng):
        return self.vectors[ids].astype(np.float64) + self.noise(len(ids), rng)

    def sample(self, ids, rng):
        nearest, _ = self.decoder.nearest(self.noisy_vectors(ids, rng), ids)
        return nearest[:, 0]


def regularized_sqrt_covariance(vectors, covariance_weight):
    """Square root of ``lambda * Sigma + (1 - lambda) * I``, computed once.

    ``Sigma`` is the sample covariance of the embedding scaled to trace ``dim`` (as
    the identity), so that ``lambda`` trades shape, not scale.
    """
    cov = np.atleast_2d(np.cov(np.asarray(vectors, dtype=np.float64), rowvar=False))
    dim = cov.shape[0]
    cov *= dim / np.trace(cov)
    regularized = covariance_weight * cov + (1.0 - covariance_weight) * np.eye(dim)
    eigenvalues, eigenvectors = np.linalg.eigh(regularized)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


class Mahalanobis(CalibratedLaplace):
    """Mahalanobis mechanism (Xu, Aggarwal, Feyisetan, Teissier, PrivateNLP 2020).

    Noise ``z = r * M^(1/2) u`` with ``M = lambda * Sigma + (1 - lambda) * I``,
    ``r ~ Gamma(dim, 1/epsilon)`` and ``u`` uniform on the sphere (no renormalisation,
    unlike pyPANTERA), so ``p(z) ~ exp(-epsilon ||z||_M)``; then exact Euclidean
    nearest-word decoding. ``M^(1/2)`` is computed once at construction.
    """

    name = "mahalanobis"

    def __init__(
        self, vectors, *, epsilon, covariance_weight=0.2, decoder=None, device="cpu"
    ):
        super().__init__(vectors, epsilon=epsilon, decoder=decoder, device=device)
        self.covariance_weight = float(covariance_weight)
        self.sqrt_covariance = regularized_sqrt_covariance(vectors, covariance_weight)

    @property
    def guarantee(self):
        return (
            f"epsilon*d_M metric DP with epsilon={self.epsilon:g} and the regularised "
            "Mahalanobis distance d_M(x, x') = sqrt((x-x')^T M^-1 (x-x')), "
            f"M = {self.covariance_weight:g}*Sigma + {1 - self.covariance_weight:g}*I "
            "(Sigma: the embedding covariance scaled to trace dim)."
        )

    def noise(self, n, rng):
        return super().noise(n, rng) @ self.sqrt_covariance


class Vickrey(Mechanism):
    """Vickrey mechanism (Xu, Aggarwal, Feyisetan, Teissier, PrivateNLP 2021).

    Noise as in the multivariate Laplace (or Mahalanobis) mechanism, then the two
    vocabulary words nearest to ``y`` *other than the input word*, ``w1`` and ``w2``;
    output ``w1`` with probability
    ``p = (1-t) d(w2, y) / (t d(w1, y) + (1-t) d(w2, y))``, else ``w2``.

    The input word is never emitted. That makes the mechanism *not* metric-DP in the
    strict sense: for output ``w`` the likelihood ratio between input ``w`` (probability
    0) and a neighbour ``w'`` (positive probability) is unbounded. Only the noise step
    carries the epsilon guarantee; the selection uses the input word.
    """

    name = "vickrey"

    def __init__(
        self,
        vectors,
        *,
        epsilon,
        threshold=0.5,
        covariance_weight=None,
        decoder=None,
        device="cpu",
    ):
        self.vectors = vectors
        self.epsilon = float(epsilon)
        self.threshold = float(threshold)
        if covariance_weight is None:
            self.noise_mechanism = CalibratedLaplace(
                vectors, epsilon=epsilon, decoder=decoder, device=device
            )
        else:
            self.noise_mechanism = Mahalanobis(
                vectors,
                epsilon=epsilon,
                decoder=decoder,
                covariance_weight=covariance_weight,
                device=device,
            )
        self.decoder = self.noise_mechanism.decoder

    @property
    def guarantee(self):
        return (
            "None as metric DP: the input word is excluded from the output, so the "
            "likelihood ratio for output w between inputs w and w' is unbounded. The "
            f"noise step alone is epsilon*d private (epsilon={self.epsilon:g})."
        )

    def sample(self, ids, rng):
        noisy = self.noise_mechanism.noisy_vectors(ids, rng)
        choose_first = rng.random(len(ids))
        two, _ = self.decoder.nearest(noisy, ids, k=2, exclude_source=True)
        d1 = np.linalg.norm(self.vectors[two[:, 0]] - noisy, axis=1)
        d2 = np.linalg.norm(self.vectors[two[:, 1]] - noisy, axis=1)
        t = self.threshold
        denominator = t * d1 + (1.0 - t) * d2
        p_first = np.divide(
            (1.0 - t) * d2, denominator, out=np.ones_like(d2), where=denominator > 0
        )
        return np.where(choose_first < p_first, two[:, 0], two[:, 1])
