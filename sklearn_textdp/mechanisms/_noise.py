"""Noise with density proportional to exp(-epsilon * ||z||), drawn in blocks."""

import numpy as np

__all__ = ["sample_laplace_noise", "uniform_directions"]


def uniform_directions(n, dim, rng):
    """``n`` unit vectors uniform on the sphere S^(dim-1) (normalised Gaussians)."""
    directions = rng.standard_normal((n, dim))
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    degenerate = norms[:, 0] == 0.0  # probability ~2**-50 per row in 1-D; never NaN
    if degenerate.any():
        directions[degenerate] = 0.0
        directions[degenerate, 0] = 1.0
        norms[degenerate] = 1.0
    directions /= norms
    return directions


def sample_laplace_noise(n, dim, epsilon, rng):
    """Multivariate Laplace noise of Feyisetan et al. (2020), ``n`` rows at once.

    The density ``p(z)`` is proportional to ``exp(-epsilon * ||z||_2)`` on R^dim:
    the norm follows Gamma(shape=dim, scale=1/epsilon) and the direction is uniform
    on the sphere, independently.

    Examples
    --------
    >>> import numpy as np
    >>> z = sample_laplace_noise(20000, 50, 10.0, np.random.default_rng(0))
    >>> round(float(np.linalg.norm(z, axis=1).mean()), 1)  # E||z|| = dim / epsilon
    5.0
    """
    radii = rng.gamma(dim, 1.0 / epsilon, size=n)
    return uniform_directions(n, dim, rng) * radii[:, None]
