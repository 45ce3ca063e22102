"""Word-level metric differential privacy for text, as scikit-learn transformers.

Every word of a document is replaced by a private substitute drawn from a public
word embedding's vocabulary; whitespace, punctuation and everything else between
words is kept. See :class:`DPWordSubstituter` and :class:`DensityAwareSubstituter`.
"""

from ._cache import cache_directory, clear_cache, set_disk_cache
from ._density_aware import DensityAwareSubstituter
from ._density_graph import DensityGraph, build_density_graph
from ._distributed import perturb_dask, spark_perturber
from ._dp_word import DPWordSubstituter
from ._embeddings import Embeddings, load_embeddings
from ._huggingface import HuggingFacePerturber, perturb_hf_dataset
from ._neighbors import NeighborGraph, build_neighbor_graph, vocabulary_diameter
from .model_selection import (
    perturb_once,
    plausible_deniability,
    plot_privacy_utility,
    privacy_utility_curve,
)
from .privacy import PrivacyLeakWarning

__version__ = "0.1.0"

__all__ = [
    "DPWordSubstituter",
    "DensityAwareSubstituter",
    "DensityGraph",
    "Embeddings",
    "NeighborGraph",
    "HuggingFacePerturber",
    "PrivacyLeakWarning",
    "build_density_graph",
    "build_neighbor_graph",
    "cache_directory",
    "clear_cache",
    "load_embeddings",
    "perturb_dask",
    "perturb_hf_dataset",
    "perturb_once",
    "plausible_deniability",
    "plot_privacy_utility",
    "privacy_utility_curve",
    "set_disk_cache",
    "spark_perturber",
    "vocabulary_diameter",
    "__version__",
]
