"""Word-level mechanisms: pure, vectorised functions of word ids and a Generator.

Each mechanism lives in its own module and is listed in :data:`MECHANISMS`; the
estimators look mechanisms up there, so a new mechanism is one new module and one
registry entry.
"""

from ._base import Mechanism
from ._custext import CusText, partition_vocabulary
from ._decode import ApproximateDecoder, ExactDecoder, brute_force_nearest
from ._exponential import FullExponential, TruncatedExponential
from ._graph_exponential import GraphExponential
from ._laplace import CalibratedLaplace, Mahalanobis, Vickrey
from ._noise import sample_laplace_noise, uniform_directions
from ._sampling import (
    PriorSampler,
    sample_truncated_gumbel,
    sample_truncated_poisson,
    truncated_poisson_pmf,
)
from ._santext import SanTextPlus, sensitive_words_by_rank
from ._truncated_gumbel import (
    TruncatedGumbel,
    smallest_valid_epsilon,
    truncated_gumbel_scale,
)

#: Registry: mechanism name -> class.
MECHANISMS = {
    cls.name: cls
    for cls in (
        CalibratedLaplace,
        Mahalanobis,
        Vickrey,
        TruncatedExponential,
        FullExponential,
        TruncatedGumbel,
        SanTextPlus,
        CusText,
        GraphExponential,
    )
}

__all__ = [
    "MECHANISMS",
    "Mechanism",
    "ApproximateDecoder",
    "ExactDecoder",
    "brute_force_nearest",
    "CalibratedLaplace",
    "Mahalanobis",
    "Vickrey",
    "TruncatedExponential",
    "FullExponential",
    "TruncatedGumbel",
    "SanTextPlus",
    "CusText",
    "GraphExponential",
    "partition_vocabulary",
    "sensitive_words_by_rank",
    "sample_laplace_noise",
    "uniform_directions",
    "PriorSampler",
    "sample_truncated_gumbel",
    "sample_truncated_poisson",
    "truncated_poisson_pmf",
    "smallest_valid_epsilon",
    "truncated_gumbel_scale",
]
