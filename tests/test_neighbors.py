import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from sklearn_textdp import build_neighbor_graph, vocabulary_diameter


def test_exact_graph_matches_scikit_learn_and_starts_with_self(glove2k):
    graph = build_neighbor_graph(glove2k.vectors, 10, algorithm="exact")
    assert graph.exact and graph.n_neighbors == 10
    assert graph.indices.shape == (2000, 11)
    np.testing.assert_array_equal(graph.indices[:, 0], np.arange(2000))
    np.testing.assert_array_equal(graph.distances[:, 0], 0.0)
    assert (np.diff(graph.distances, axis=1) >= 0).all()
    ref_dist, _ = NearestNeighbors(n_neighbors=11).fit(glove2k.vectors).kneighbors()
    np.testing.assert_allclose(graph.distances[:, 1:], ref_dist[:, :10], rtol=1e-5)
    movie = int(glove2k.index_of(["movie"])[0])
    assert "film" in glove2k.words[graph.indices[movie, 1:4]]


def test_min_and_max_distances_are_exact_on_small_vocabularies(glove2k):
    graph = build_neighbor_graph(glove2k.vectors, 5)
    data = glove2k.vectors.astype(np.float64)
    sq = (data**2).sum(1)
    dist = np.sqrt(np.clip(sq[:, None] + sq[None, :] - 2 * data @ data.T, 0, None))
    np.fill_diagonal(dist, np.inf)
    assert graph.min_distance == pytest.approx(dist.min(), rel=1e-5)
    np.fill_diagonal(dist, 0)
    assert graph.max_distance == pytest.approx(dist.max(), rel=1e-9)
    assert graph.max_distance_exact


def test_diameter_falls_back_to_a_guaranteed_upper_bound():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 8))
    exact, is_exact = vocabulary_diameter(data)
    bound, bound_exact = vocabulary_diameter(data, budget=1000)
    assert is_exact and not bound_exact
    assert bound >= exact


def test_duplicate_vectors_keep_self_first():
    vectors = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    graph = build_neighbor_graph(vectors, 2, algorithm="exact")
    np.testing.assert_array_equal(graph.indices[:, 0], np.arange(4))
    assert graph.min_distance == 0.0
    assert set(graph.indices[0, 1:]) == {1, 2}


def test_neighbour_count_is_capped_by_the_vocabulary():
    graph = build_neighbor_graph(np.eye(4), 50)
    assert graph.n_neighbors == 3


def test_bad_algorithm():
    with pytest.raises(ValueError, match="algorithm must be"):
        build_neighbor_graph(np.eye(3), 1, algorithm="kd")


def test_approximate_graph_has_high_recall(glove2k):
    pytest.importorskip("pynndescent")
    exact = build_neighbor_graph(glove2k.vectors, 10, algorithm="exact")
    approx = build_neighbor_graph(glove2k.vectors, 10, algorithm="approximate")
    assert not approx.exact
    np.testing.assert_array_equal(approx.indices[:, 0], np.arange(2000))
    hits = [
        len(set(a[1:]) & set(e[1:]))
        for a, e in zip(approx.indices, exact.indices, strict=True)
    ]
    recall = np.mean(hits) / 10
    assert recall >= 0.95, f"recall@10 {recall:.3f}"
    assert approx.min_distance >= exact.min_distance - 1e-6  # an upper bound
