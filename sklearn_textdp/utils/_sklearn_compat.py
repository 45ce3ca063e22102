"""The only module that imports scikit-learn's private names.

Third-party estimators (imbalanced-learn, skrub) rely on the same private
parameter-validation machinery; keeping every such import here means a change in
scikit-learn touches one file.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "validate_params",
]
