"""The density graph and its bounded Dijkstra search (sklearn_textdp._density_graph).

The metric is checked against the slow reference of ``tests/_graph_reference.py``
(written from the definition); the bounded search against scipy's full Dijkstra.
"""

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from sklearn_textdp import build_density_graph, build_neighbor_graph
from sklearn_textdp._density_graph import graph_balls, graph_distances

from ._graph_reference import graph_metric


def built(vectors, k):
    knn = build_neighbor_graph(vectors, 2 * k, algorithm="exact")
    return build_density_graph(
        vectors, knn.indices, n_neighbors=k, connect_neighbors=2 * k
    )


def test_components_apart_are_joined_as_the_reference_does():
    """Three tight clusters far apart: the 2k-nearest-word graph is disconnected,
    so the rare joining path runs; the metric still equals the reference."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 80.0]])
    vectors = np.vstack([c + rng.normal(scale=1.0, size=(7, 2)) for c in centres])
    graph = built(vectors, 2)
    ours = graph_distances(graph, np.arange(len(vectors)))
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, graph_metric(vectors, k=2), rtol=1e-9)


def test_duplicate_vectors_keep_a_metric():
    vectors = np.array([[0.0], [0.0], [0.0], [1.0], [2.0], [4.0]])
    graph = built(vectors, 2)
    d = graph_distances(graph, np.arange(6))
    assert np.isfinite(d).all() and (d[~np.eye(6, dtype=bool)] > 0).all()
    np.testing.assert_allclose(d, graph_metric(vectors, k=2), rtol=1e-9, atol=1e-15)


def test_edges_are_at_most_one_local_unit():
    """Mutual-neighbour edges have length d / max(sigma) <= 1 by construction."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(200, 5)) * rng.uniform(0.1, 3.0, size=(200, 1))
    graph = built(vectors, 4)
    knn = build_neighbor_graph(vectors, 4, algorithm="exact")
    near = {(i, int(j)) for i in range(200) for j in knn.indices[i, 1:]}
    csr = graph.as_csr()
    for i, j in near:
        if (j, i) in near:
            assert csr[i, j] <= 1.0 + 1e-12


@pytest.fixture(scope="module")
def bundled_graph():
    from sklearn_textdp import DensityAwareSubstituter

    return DensityAwareSubstituter().fit([]).density_graph_


def test_bounded_search_equals_full_dijkstra_on_the_bundled_embedding(bundled_graph):
    """300 random sources x 512 listed words (153,600 entries): the j-th listed
    distance is exactly the j-th smallest d_G, the listed words are those, and the
    source comes first."""
    rng = np.random.default_rng(2)
    sources = rng.choice(bundled_graph.n_words, 300, replace=False)
    rows, dist = graph_balls(bundled_graph, sources, 512)
    full = dijkstra(bundled_graph.as_csr(), directed=False, indices=sources)
    np.testing.assert_array_equal(rows[:, 0], sources)
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :512], rtol=1e-12)
    np.testing.assert_allclose(
        np.take_along_axis(full, rows.astype(np.int64), axis=1), dist, rtol=1e-12
    )
    assert (np.diff(dist, axis=1) >= 0).all()
    assert len(np.unique(rows[0])) == 512
