"""Cached construction of the public artefacts the mechanisms need."""

import numpy as np

from ._cache import cached
from ._density import log_prior
from ._neighbors import EXACT_GRAPH_MAX_WORDS, build_neighbor_graph, vocabulary_diameter

__all__ = ["neighbor_graph", "diameter", "prior", "resolve_graph_algorithm"]

#: Random seed of pynndescent's trees and of the density subsample: public data
#: only, never DP noise, fixed so that fits are reproducible and cacheable.
PUBLIC_SEED = 0


def resolve_graph_algorithm(algorithm, n_words):
    if algorithm == "auto":
        return "exact" if n_words <= EXACT_GRAPH_MAX_WORDS else "approximate"
    return algorithm


def neighbor_graph(
    embeddings, n_neighbors, algorithm="auto", n_jobs=None, device="cpu"
):
    algorithm = resolve_graph_algorithm(algorithm, len(embeddings))
    n_neighbors = int(min(n_neighbors, len(embeddings) - 1))
    # The device is not part of the key: every device builds the same lists.
    return cached(
        ("graph", embeddings.fingerprint, n_neighbors, algorithm),
        lambda: build_neighbor_graph(
            embeddings.vectors,
            n_neighbors,
            algorithm=algorithm,
            random_state=PUBLIC_SEED,
            n_jobs=n_jobs,
            device=device,
        ),
    )


def diameter(embeddings):
    return cached(
        ("diameter", embeddings.fingerprint),
        lambda: vocabulary_diameter(embeddings.vectors),
    )


def prior(embeddings, kind, graph, bandwidth, weight):
    if kind is None:
        return None
    key = (
        "prior",
        embeddings.fingerprint,
        kind,
        str(bandwidth),
        float(weight),
        graph.n_neighbors if graph is not None else None,
    )
    return cached(
        key,
        lambda: log_prior(
            embeddings.vectors,
            kind,
            graph=graph,
            bandwidth=bandwidth,
            weight=weight,
            random_state=PUBLIC_SEED,
        ),
    )


def tem_radius(epsilon, n_words, beta):
    """TEM's truncation radius for failure probability ``beta`` (Carvalho et al.)."""
    return 2.0 / epsilon * np.log((1.0 - beta) * n_words / beta)
