"""The density graph of a public vocabulary and its shortest-path metric.

The graph metric is what makes :class:`DensityAwareSubstituter` density-aware by
construction. Its edges join each word to its *mutual* nearest words, with a length
measured in units of the local spacing of the embedding:

- ``sigma_i`` is the Euclidean distance from word ``i`` to its ``n_neighbors``-th
  nearest word (the local scale: small in crowded regions, large in sparse ones);
- ``i`` and ``j`` are joined when each is among the other's ``n_neighbors`` nearest
  words, by an edge of length ``||phi_i - phi_j|| / max(sigma_i, sigma_j)``: at most
  1, since ``j`` is within ``sigma_i`` of ``i``;
- the minimum spanning tree of the (symmetrised) ``connect_neighbors``-nearest
  word graph, with the same lengths (Kruskal's, ties broken by the word rows, so
  that it is unique), is added so that no word is isolated, and any component
  still apart is joined to its nearest outside word.

``d_G(x, y)``, the length of the shortest path between two words, is a metric on
the vocabulary. In a crowded region one unit of ``d_G`` spans a short Euclidean
distance; in a sparse region a long one, so an isolated word (a rare name, say) is
as close to its own nearest words as a crowded word is to its. Mutual edges keep
"hub" words (near to many words that are not near to them) from short-cutting the
graph.

Everything here is a deterministic function of the public vectors and the declared
parameters: the graph never sees private text.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.special import logsumexp

__all__ = [
    "DensityGraph",
    "build_density_graph",
    "graph_balls",
    "graph_distances",
    "scale_log_prior",
]

#: Exponent of the local-scale prior, p(y) ~ r(y)^-SCALE_PRIOR_EXPONENT. Chosen on
#: the bundled GloVe 6B 50d subset, where it makes the probability of keeping a
#: word the same in the sparsest and the densest fifth of the vocabulary (see the
#: density benchmark); the k-NN density itself would be r^-50.
SCALE_PRIOR_EXPONENT = 4.0

#: Float64 elements of a block of edge vectors (bounds the memory of the build).
_BLOCK_ELEMENTS = 4 * 1024 * 1024
#: Smallest edge length: duplicate vectors would give 0, which scipy's sparse
#: graphs treat as a missing edge. 1e-9 of the local scale is far below any real
#: spacing and keeps d_G a metric (positive between distinct words).
_MIN_EDGE = 1e-9


@dataclass(frozen=True, eq=False)
class DensityGraph:
    """A symmetric weighted graph over the vocabulary, in CSR form.

    Attributes
    ----------
    indptr, indices : ndarray of int64
        CSR structure: the neighbours of word ``i`` are
        ``indices[indptr[i]:indptr[i + 1]]``.
    lengths : ndarray of float64
        Edge lengths, aligned with ``indices``.
    n_neighbors, connect_neighbors : int
        The parameters the graph was built with.
    exact : bool
        Whether it was built from exact nearest-neighbour lists (the metric is a
        metric either way; an approximate list only changes which metric).
    """

    indptr: np.ndarray
    indices: np.ndarray
    lengths: np.ndarray
    n_neighbors: int
    connect_neighbors: int
    exact: bool

    @property
    def n_words(self):
        return len(self.indptr) - 1

    def as_csr(self):
        n = self.n_words
        return sp.csr_matrix((self.lengths, self.indices, self.indptr), shape=(n, n))


def build_density_graph(
    vectors, knn_indices, *, n_neighbors=4, connect_neighbors=8, exact=True
):
    """Build the density graph from nearest-neighbour lists of ``vectors``.

    Parameters
    ----------
    vectors : ndarray of shape (n_words, dim)
        The public embedding (used only to join components the lists leave apart).
    knn_indices : ndarray of shape (n_words, >= connect_neighbors + 1)
        Each word's nearest words, itself first (a :class:`NeighborGraph`'s
        ``indices``); the lengths are recomputed in float64 from ``vectors``.
    n_neighbors : int, default=4
        ``k`` of the mutual k-nearest-neighbour edges and of the local scale.
    connect_neighbors : int, default=8
        Width of the neighbour graph whose minimum spanning tree connects the words.
    exact : bool, default=True
        Recorded on the result: whether the lists are exact.

    Returns
    -------
    graph : DensityGraph

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_textdp import build_neighbor_graph
    >>> x = np.array([[0.0], [1.0], [2.0], [10.0]])
    >>> knn = build_neighbor_graph(x, 3)
    >>> g = build_density_graph(x, knn.indices, n_neighbors=1, connect_neighbors=2)
    >>> graph_distances(g, [3])[0].round(3).tolist()
    [3.0, 2.0, 1.0, 0.0]
    """
    n_words = len(knn_indices)
    width = knn_indices.shape[1] - 1
    k = int(min(n_neighbors, width))
    c = int(min(max(connect_neighbors, k), width))
    vectors = np.asarray(vectors)
    # int32 ids: the edge arrays are the bulk of the memory at 400k words.
    rows = np.repeat(np.arange(n_words, dtype=np.int32), c)
    cols = knn_indices[:, 1 : c + 1].ravel().astype(np.int32)
    # Lengths in float64 from the vectors (the lists store float32 distances):
    # the metric is then reproducible by any float64 reference computation.
    # Blocks of words bound the memory (~50 MB at any vocabulary size).
    euclid = np.empty(n_words * c)
    step = max(1, _BLOCK_ELEMENTS // (c * max(1, vectors.shape[1])))
    for start in range(0, n_words * c, step * c):
        stop = min(n_words * c, start + step * c)
        diff = vectors[rows[start:stop]].astype(np.float64)
        diff -= vectors[cols[start:stop]]
        euclid[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    euclid = euclid.reshape(n_words, c)
    sigma = euclid[:, k - 1].copy()
    positive = sigma[sigma > 0]
    # Words with k exact duplicates have no spacing of their own: the smallest
    # positive scale stands in, so their edges stay finite.
    sigma = np.maximum(sigma, positive.min() if len(positive) else 1.0)

    directed = _scaled_edges(rows, cols, euclid, sigma, k)
    mutual = directed.minimum(directed.T)  # only edges listed in both directions
    del directed
    wide = _scaled_edges(rows, cols, euclid, sigma, c)
    del rows, cols, euclid  # the intermediates go as soon as they are used
    wide = sp.triu(wide.maximum(wide.T)).tocoo()
    from ._graph_search import minimum_spanning_forest

    keep = minimum_spanning_forest(n_words, wide.row, wide.col, wide.data)
    tree = sp.csr_matrix(
        (wide.data[keep], (wide.row[keep], wide.col[keep])), shape=(n_words, n_words)
    )
    del wide, keep
    graph = mutual.maximum(tree.maximum(tree.T)).tocsr()
    graph = _join_components(graph, vectors, sigma)
    graph.sort_indices()
    return DensityGraph(
        indptr=graph.indptr.astype(np.int64),
        indices=graph.indices.astype(np.int64),
        lengths=graph.data.astype(np.float64),
        n_neighbors=k,
        connect_neighbors=c,
        exact=bool(exact),
    )


def _scaled_edges(rows, cols, euclid, sigma, width):
    """Sparse matrix of the edges to each word's ``width`` nearest listed words,
    of length ``d(x, y) / max(sigma_x, sigma_y)`` (at least ``_MIN_EDGE``)."""
    n_words, c = euclid.shape
    r = rows.reshape(n_words, c)[:, :width].ravel()
    t = cols.reshape(n_words, c)[:, :width].ravel()
    lengths = euclid[:, :width].ravel() / np.maximum(sigma[r], sigma[t])
    lengths = np.maximum(lengths, _MIN_EDGE)
    return sp.csr_matrix((lengths, (r, t)), shape=(n_words, n_words))


def _join_components(graph, vectors, sigma):
    """Join every component but the largest to its nearest outside word (Boruvka
    rounds over the small components only; rare: the spanning tree of the wide
    list graph is almost always connected)."""
    n_comp, labels = connected_components(graph, directed=False)
    if n_comp > 1:
        vectors = np.asarray(vectors, dtype=np.float64)
        squared = np.einsum("ij,ij->i", vectors, vectors)
    while n_comp > 1:
        largest = np.argmax(np.bincount(labels))
        rows, cols, lengths = [], [], []
        for comp in range(n_comp):
            if comp == largest:
                continue
            members = np.flatnonzero(labels == comp)
            d2 = (
                squared[members, None]
                + squared[None, :]
                - 2 * vectors[members] @ vectors.T
            )
            d2[:, labels == comp] = np.inf
            i, j = np.unravel_index(np.argmin(d2), d2.shape)
            a, b = members[i], j
            rows.append(a)
            cols.append(b)
            dist = float(np.linalg.norm(vectors[a] - vectors[b]))
            lengths.append(max(dist / max(sigma[a], sigma[b]), _MIN_EDGE))
        extra = sp.csr_matrix((lengths, (rows, cols)), shape=graph.shape)
        graph = graph.maximum(extra.maximum(extra.T)).tocsr()
        n_comp, labels = connected_components(graph, directed=False)
    return graph


def graph_distances(graph, sources):
    """Shortest-path distances from each of ``sources`` to every word (U, n_words)."""
    sources = np.atleast_1d(np.asarray(sources, dtype=np.int64))
    return dijkstra(graph.as_csr(), directed=False, indices=sources)


def graph_balls(graph, sources, size):
    """The ``size`` nearest words of each source in the graph metric.

    Dijkstra's search from each source, stopped after ``size`` words are settled:
    the first column is the source itself (distance 0), then words by increasing
    ``d_G`` (ties in settling order). Exact: the ``j``-th column holds the ``j``-th
    smallest value of ``d_G(source, .)``.

    Returns
    -------
    rows : ndarray of int32, shape (U, size)
    distances : ndarray of float64, shape (U, size)
    """
    sources = np.ascontiguousarray(np.atleast_1d(sources), dtype=np.int64)
    size = int(min(size, graph.n_words))
    from ._graph_search import bounded_dijkstra

    return bounded_dijkstra(graph.indptr, graph.indices, graph.lengths, sources, size)


def scale_log_prior(vectors, knn_indices, weight=1.0):
    """The local-scale prior: ``p(y) ~ r(y) ** (-4 * weight)``, normalised (log).

    ``r(y)`` is the Euclidean distance from ``y`` to its farthest listed neighbour
    (the last column of ``knn_indices``), in float64: words in crowded regions
    are a priori likelier outputs than words in sparse ones. A tempered k-nearest-
    neighbour density (which would be ``r ** -dim``): mild enough to keep outputs
    near the input, and it evens out how often crowded and sparse words are kept.
    Public: a function of the embedding only.

    Examples
    --------
    >>> import numpy as np
    >>> vectors = np.array([[0.0], [1.0], [3.0]])
    >>> p = np.exp(scale_log_prior(vectors, np.array([[0, 1], [1, 0], [2, 1]])))
    >>> (p / p.min()).round(3).tolist()
    [16.0, 16.0, 1.0]
    """
    if weight == 0:
        return None
    vectors = np.asarray(vectors)
    farthest = np.asarray(knn_indices)[:, -1]
    radius = np.empty(len(vectors))
    step = max(1, _BLOCK_ELEMENTS // max(1, vectors.shape[1]))
    for start in range(0, len(vectors), step):  # float64 blocks of ~50 MB
        diff = vectors[start : start + step].astype(np.float64)
        diff -= vectors[farthest[start : start + step]]
        radius[start : start + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    radius = np.maximum(radius, 1e-12)
    log_p = -SCALE_PRIOR_EXPONENT * float(weight) * np.log(radius)
    return log_p - logsumexp(log_p)
