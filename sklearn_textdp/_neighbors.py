"""The vocabulary's neighbour graph and the distance extremes the mechanisms need."""

from dataclasses import dataclass

import numpy as np

from .privacy import warn_user

__all__ = ["NeighborGraph", "build_neighbor_graph", "vocabulary_diameter"]

#: Vocabularies up to this size get an exact graph when ``algorithm="auto"``.
#: Exact search grows quadratically: ~1 s at 20k words, ~4 min for the 9 nearest
#: words of the 400k GloVe on 2 cores (once: cached on disk); pynndescent takes
#: over beyond it.
EXACT_GRAPH_MAX_WORDS = 500_000


@dataclass(frozen=True, eq=False)
class NeighborGraph:
    """The ``n_neighbors`` nearest words of every vocabulary word.

    Row ``i`` of ``indices`` starts with ``i`` itself (distance 0) and continues with
    its neighbours by increasing Euclidean distance.

    Attributes
    ----------
    indices : ndarray of int32, shape (n_words, n_neighbors + 1)
    distances : ndarray of float32, shape (n_words, n_neighbors + 1)
    exact : bool
        Whether the lists are the exact nearest neighbours. Mechanisms whose
        guarantee rests on exact lists warn when this is False.
    min_distance : float
        Smallest distance between two different words. Exact when ``exact``; from an
        approximate graph it is an upper bound of the true minimum.
    max_distance : float
        Largest distance between two words: exact when ``max_distance_exact``,
        otherwise a guaranteed upper bound (see :func:`vocabulary_diameter`).
    max_distance_exact : bool
    """

    indices: np.ndarray
    distances: np.ndarray
    exact: bool
    min_distance: float
    max_distance: float
    max_distance_exact: bool

    @property
    def n_neighbors(self):
        return self.indices.shape[1] - 1


def build_neighbor_graph(
    vectors, n_neighbors, *, algorithm="auto", random_state=0, n_jobs=None, device="cpu"
):
    """Build the neighbour graph of the rows of ``vectors``.

    Parameters
    ----------
    vectors : ndarray of shape (n_words, dim)
    n_neighbors : int
        Neighbours per word, not counting the word itself. Capped at
        ``n_words - 1``.
    algorithm : {"auto", "exact", "approximate"}, default="auto"
        ``"exact"`` runs tiled brute force with the exact decoder's search
        (float32 products, a running top-k, near ties re-ranked in float64:
        bounded memory, the float64 answer with ties to the lowest row);
        ``"approximate"`` runs pynndescent; ``"auto"`` is exact up to
        ``EXACT_GRAPH_MAX_WORDS`` words.
    random_state : int, default=0
        Seed of pynndescent's random projection trees (never used as DP noise).
    n_jobs : int, default=None
        Threads for the graph construction (None: every CPU, as pynndescent).
    device : str, default="cpu"
        Where the exact search's products run (``"cuda"``, ``"torch:cpu"``...:
        see :mod:`sklearn_textdp._array_api`); the lists are the same on every
        device.

    Returns
    -------
    graph : NeighborGraph

    Examples
    --------
    >>> import numpy as np
    >>> graph = build_neighbor_graph(np.array([[0.0], [1.0], [3.0]]), 1)
    >>> graph.indices.tolist()
    [[0, 1], [1, 0], [2, 1]]
    >>> graph.min_distance, graph.max_distance
    (1.0, 3.0)
    """
    n_words = len(vectors)
    if n_words < 2:
        raise ValueError("A neighbour graph needs at least 2 words.")
    n_neighbors = int(min(n_neighbors, n_words - 1))
    if algorithm == "auto":
        algorithm = "exact" if n_words <= EXACT_GRAPH_MAX_WORDS else "approximate"
    if algorithm == "exact":
        indices, distances = _exact_knn(vectors, n_neighbors + 1, n_jobs, device)
    elif algorithm == "approximate":
        indices, distances = _approximate_knn(
            vectors, n_neighbors + 1, random_state, n_jobs
        )
    else:
        raise ValueError(
            f"algorithm must be 'auto', 'exact' or 'approximate'; got {algorithm!r}."
        )
    indices, distances = _put_self_first(indices, distances)
    max_distance, max_exact = vocabulary_diameter(vectors)
    return NeighborGraph(
        indices=indices,
        distances=distances,
        exact=algorithm == "exact",
        min_distance=float(distances[:, 1].min()),
        max_distance=max_distance,
        max_distance_exact=max_exact,
    )


def _exact_knn(vectors, k, n_jobs, device="cpu"):
    """The ``k`` nearest rows of every row (itself included), exactly.

    float32 vectors go through the exact decoder (:class:`~sklearn_textdp.
    mechanisms.ExactDecoder`): float32 products in tiles with a running top-k,
    the near ties re-ranked in float64, so each list is the float64 brute-force
    answer (ties to the lowest row), on ``n_jobs`` threads or on ``device``, in
    blocks of queries so that memory stays bounded by the block. Other dtypes
    (where float32 would round the vectors) go through scikit-learn's float64
    brute force.
    """
    from .mechanisms._decode import ExactDecoder, effective_n_jobs

    data = np.asarray(vectors)
    if data.dtype != np.float32 and not np.array_equal(
        data.astype(np.float32).astype(data.dtype), data
    ):
        return _sklearn_exact_knn(data, k, n_jobs)
    data = np.ascontiguousarray(data, dtype=np.float32)
    # Fitting is public work: every core by default (pynndescent does the same).
    threads = effective_n_jobs(-1 if n_jobs is None else n_jobs)
    decoder = ExactDecoder(data, n_jobs=threads, device=device)
    indices = np.empty((len(data), k), dtype=np.int32)
    distances = np.empty((len(data), k), dtype=np.float32)
    for start in range(0, len(data), _KNN_QUERY_BLOCK):
        block = data[start : start + _KNN_QUERY_BLOCK].astype(np.float64)
        found, _ = decoder.nearest(block, k=k)
        diff = data[found].astype(np.float64) - block[:, None, :]
        indices[start : start + len(block)] = found
        distances[start : start + len(block)] = np.sqrt((diff * diff).sum(axis=2))
    return indices, distances


#: Queries per block of the exact neighbour search: the block's float64 copy and
#: its neighbours' differences (k x 50 float64 per query) stay near 20 MB.
_KNN_QUERY_BLOCK = 4096


def _sklearn_exact_knn(data, k, n_jobs):
    from sklearn.neighbors import NearestNeighbors

    # float64 input makes scikit-learn's chunked GEMM kernel accurate to ~1e-12,
    # so the lists are the exact nearest neighbours up to float64 ties.
    data = np.asarray(data, dtype=np.float64)
    search = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=n_jobs)
    distances, indices = search.fit(data).kneighbors(data)
    return indices.astype(np.int32), distances.astype(np.float32)


def _approximate_knn(vectors, k, random_state, n_jobs):
    from pynndescent import NNDescent

    index = NNDescent(
        np.asarray(vectors, dtype=np.float32),
        n_neighbors=k,
        metric="euclidean",
        random_state=random_state,
        n_jobs=-1 if n_jobs is None else n_jobs,
        low_memory=True,
        compressed=True,
    )
    indices, distances = index.neighbor_graph
    return indices.astype(np.int32), distances.astype(np.float32)


def _put_self_first(indices, distances):
    """Make column 0 the word itself even when duplicate vectors tie at distance 0."""
    rows = np.arange(len(indices), dtype=indices.dtype)
    if np.array_equal(indices[:, 0], rows):
        distances[:, 0] = 0.0
        return indices, distances
    is_self = indices == rows[:, None]
    # Drop the self entry where present, else the last (farthest) neighbour.
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), indices.shape[1] - 1)
    keep = np.ones(indices.shape, dtype=bool)
    keep[rows, drop] = False
    k = indices.shape[1] - 1
    new_indices = np.empty_like(indices)
    new_distances = np.empty_like(distances)
    new_indices[:, 0] = rows
    new_distances[:, 0] = 0.0
    new_indices[:, 1:] = indices[keep].reshape(-1, k)
    new_distances[:, 1:] = distances[keep].reshape(-1, k)
    return new_indices, new_distances


def vocabulary_diameter(vectors, *, budget=2_000_000_000):
    """Largest Euclidean distance between two rows of ``vectors``.

    Exact by pruned search: with ``c`` the centroid and ``rho_i = ||v_i - c||``,
    ``d(v_i, v_j) <= rho_i + rho_j``, so only rows with ``rho_i + rho_max`` above
    the best distance found so far can end a longer pair. Rows are scanned from the
    farthest from ``c`` inwards. If the scan would cost more than ``budget`` pairs,
    it stops and returns the bound ``max(best, rho_i + rho_max)`` over the rows left,
    which is a guaranteed upper bound.

    Returns
    -------
    diameter : float
    exact : bool

    Examples
    --------
    >>> import numpy as np
    >>> vocabulary_diameter(np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]]))
    (5.0, True)
    """
    data = np.asarray(vectors)
    n_words = len(data)
    # float64 arithmetic on float64 copies of one tile of rows at a time: memory
    # stays near 40 MB whatever the vocabulary (a float64 copy of the 400k GloVe
    # alone is 160 MB).
    tile = min(n_words, _DIAMETER_TILE)
    mean = data.mean(axis=0, dtype=np.float64)
    radii = np.empty(n_words)
    squared_norms = np.empty(n_words)
    for at in range(0, n_words, tile):
        part = data[at : at + tile].astype(np.float64)
        squared_norms[at : at + tile] = np.einsum("ij,ij->i", part, part)
        part -= mean
        radii[at : at + tile] = np.sqrt(np.einsum("ij,ij->i", part, part))
    order = np.argsort(-radii, kind="stable")
    radii = radii[order]
    best = 0.0
    block = max(1, min(256, 20_000_000 // n_words))  # rows per step, as before tiling
    spent = 0
    start = 0
    while start < n_words and radii[start] + radii[0] > best:
        if spent + block * n_words > budget:
            return float(max(best, radii[start] + radii[0])), False
        rows = order[start : start + block]
        chosen = data[rows].astype(np.float64)
        for at in range(0, n_words, tile):
            squared = (
                squared_norms[rows, None]
                + squared_norms[None, at : at + tile]
                - 2.0 * chosen @ data[at : at + tile].astype(np.float64).T
            )
            best = max(best, float(np.sqrt(max(squared.max(), 0.0))))
        spent += len(rows) * n_words
        start += block
    return float(best), True


#: Rows per float64 tile of :func:`vocabulary_diameter` (16,384 x 256 products:
#: 32 MB).
_DIAMETER_TILE = 16_384


def warn_if_approximate(graph, what):
    """Warn that a guarantee resting on exact neighbour lists is weakened."""
    if not graph.exact:
        warn_user(
            f"{what} uses an approximate neighbour graph (pynndescent): a true "
            "neighbour missing from a list changes the output distribution, so the "
            "stated guarantee holds only for the word pairs the graph gets right. "
            "Use neighbor_algorithm='exact' for the full guarantee."
        )
