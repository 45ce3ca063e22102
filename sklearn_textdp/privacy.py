"""Privacy plumbing: the epsilon rule, warnings and per-document accounting."""

import math
import numbers
import os
import sys
import warnings

import numpy as np
import pandas as pd

from .utils._sklearn_compat import Interval

__all__ = [
    "PrivacyLeakWarning",
    "EPSILON",
    "check_epsilon",
    "document_privacy_cost",
    "warn_user",
]


class PrivacyLeakWarning(RuntimeWarning):
    """A setting weakens the stated privacy guarantee.

    Raised for: words kept in clear (missing words kept, ``keep_words``), approximate
    neighbour graphs or decoders where a guarantee needs exact ones, a vocabulary or
    prior built from the private data, and mechanisms used outside the range where
    their published guarantee holds.
    """


_LIBRARY_DIRS = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (sys.modules[__package__],)
    + tuple(sys.modules[name] for name in ("sklearn",) if name in sys.modules)
)


def warn_user(message, category=PrivacyLeakWarning):
    """Warn, pointing at the first caller outside this library and scikit-learn.

    A warning raised deep in ``fit`` (through ``Pipeline``, ``GridSearchCV`` or
    scikit-learn's validation wrapper) then names the user's own line.
    """
    frame, level = sys._getframe(1), 2  # stacklevel 1 would be this function
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


#: Smallest accepted epsilon. Below it nothing is gained (the output law is already
#: the epsilon -> 0 law) and the noise norm, ~dim/epsilon, overflows the float32
#: decoding (below ~1e-37 every word became the first vocabulary word).
EPSILON_FLOOR = 1e-12


class _FinitePositiveReal(Interval):
    """A real number EPSILON_FLOOR <= x < inf (not a bool).

    An ``Interval`` so that scikit-learn's parameter validation accepts it.
    """

    def __init__(self):
        super().__init__(numbers.Real, 0, None, closed="neither")

    def is_satisfied_by(self, val):
        return (
            isinstance(val, numbers.Real)
            and not isinstance(val, (bool, np.bool_))
            and math.isfinite(val)
            and val >= EPSILON_FLOOR
        )

    def __str__(self):
        return f"a finite real number > 0 (at least {EPSILON_FLOOR:g}; not a bool)"


#: The one epsilon rule, reused by every estimator and function.
EPSILON = _FinitePositiveReal()


def check_epsilon(epsilon, name="epsilon"):
    """Validate a privacy parameter and return it as a float.

    Examples
    --------
    >>> check_epsilon(2)
    2.0
    >>> check_epsilon(float("inf"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: epsilon must be a finite real number > 0 (...; not a bool); got inf.
    """
    if not EPSILON.is_satisfied_by(epsilon):
        error = ValueError if isinstance(epsilon, numbers.Real) else TypeError
        raise error(f"{name} must be {EPSILON}; got {epsilon!r}.")
    return float(epsilon)


def document_privacy_cost(n_perturbed, epsilon, diameter):
    """Per-document privacy loss of independent word-level perturbation.

    Word-level metric DP composes over the words of a document: for two documents
    of the same length,
    ``P[M(x) = y] <= exp(epsilon * sum_i d(x_i, x'_i)) P[M(x') = y]``.

    Parameters
    ----------
    n_perturbed : array-like of int
        Words perturbed in each document.
    epsilon : float
        Privacy parameter per unit of embedding distance.
    diameter : float
        Largest distance between two vocabulary words.

    Returns
    -------
    cost : pandas.DataFrame
        ``n_perturbed``; ``epsilon_per_unit`` (``epsilon * n_perturbed``), the loss
        against a document whose words each lie one unit of embedding distance
        from this one's (against a document ``x'`` of the same length the loss is
        ``epsilon * sum_i d(x_i, x'_i)``); ``epsilon_worst_case``, the pure-DP bound
        against any other document of the same length
        (``epsilon * diameter * n_perturbed``).
    """
    n_perturbed = np.asarray(n_perturbed, dtype=np.int64)
    return pd.DataFrame(
        {
            "n_perturbed": n_perturbed,
            "epsilon_per_unit": epsilon * n_perturbed,
            "epsilon_worst_case": epsilon * diameter * n_perturbed,
        }
    )
