"""Exact nearest-word decoding of noisy vectors, in batches.

The reference is brute force in float64: ``argmin_u sum((v_u - y) ** 2)`` with ties
to the lowest row. :class:`ExactDecoder` returns exactly that, faster:

1. **Short-list proof.** With an exact neighbour graph, every word outside the
   ``K + 1`` nearest words of the source ``x`` lies at least ``d_K(x)`` from ``x``,
   hence at least ``d_K(x) - ||y - x||`` from the noisy vector ``y`` (triangle
   inequality). If the best word of the short list is closer than that, it is the
   nearest word of the whole vocabulary, found at the cost of ``K + 1`` distances.
2. **Full search** for the other tokens: float32 matrix products over vectors
   augmented with half their squared norm (``0.5 ||v||^2 - v . y`` has the same
   argmin as the distance), a block of queries times a tile of words at a time so
   that the scores stay in cache (the ``k + 1`` lowest scores of each row are kept
   across tiles), then a check that the float32 winner beats the runner-up by more
   than the rounding error bound; rows that do not are settled in float64 over the
   few words within that bound.

The full search runs its chunks on ``n_jobs`` threads, each with a single-threaded
BLAS (memory: one score chunk per thread), or on an array-API device (PyTorch,
CuPy: see :mod:`sklearn_textdp._array_api`), where only the float32 products and
the reductions over the vocabulary run; the near-tie re-check stays in float64 on
the host. Every path returns the float64 brute-force answer, so they agree token
for token.
"""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._array_api import resolve_device

__all__ = ["ExactDecoder", "brute_force_nearest"]

#: Queries of one host chunk (one chunk per thread at a time).
_QUERY_BLOCK = 512
#: Words of one tile of the vocabulary: a chunk's float32 scores against one tile
#: (512 x 4096 x 4 bytes = 8 MB) stay in cache while they are reduced. Measured
#: against one product over the whole vocabulary per chunk: +14 % tokens per
#: CPU-second at 20k words, +41 % at 400k (bench_decode.py).
_TILE_WORDS = 4096
#: Largest float32 score matrix materialised at once on a device (elements): 1 GB.
_DEVICE_SCORE_BUDGET = 256 * 1024 * 1024
#: Rows of one device chunk at most.
_MAX_DEVICE_CHUNK_ROWS = 32768
#: Largest gather of short-list vectors at once (float64 elements): 32 MB.
_GATHER_BUDGET = 4 * 1024 * 1024
#: Scores kept per row beyond the k + 1 the rounding check needs: near ties are
#: then re-ranked in float64 among the kept words, without a second pass over the
#: vocabulary, unless more than this many words lie within rounding of the k-th.
_SPARE_CANDIDATES = 8
#: On a device each kept score costs a pass over the chunk's scores: fewer spares.
_DEVICE_SPARE = 2
#: float32 unit roundoff; the rounding bound below is generous by a factor ~8.
_F32_EPS = float(np.finfo(np.float32).eps)


def brute_force_nearest(noisy, vectors, k=1, exclude=None):
    """Reference decoder: float64 brute force, one word at a time (for tests).

    Returns the ``k`` nearest rows of ``vectors`` for each row of ``noisy`` (ties
    to the lowest row), leaving out ``exclude[i]`` for row ``i`` when given.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    out = np.empty((len(noisy), k), dtype=np.int64)
    for i, y in enumerate(np.asarray(noisy, dtype=np.float64)):
        dist = ((vectors - y) ** 2).sum(axis=1)
        if exclude is not None:
            dist[exclude[i]] = np.inf
        out[i] = np.argsort(dist, kind="stable")[:k]
    return out


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0, None]  # threads inside single_threaded_blas(), their limiter


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS limited to one thread while any caller is inside (reference counted:
    concurrent callers never restore the limit under one another's feet)."""
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_USERS[1] = threadpool_limits(limits=1, user_api="blas")
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                _BLAS_USERS[1].restore_original_limits()
                _BLAS_USERS[1] = None


def effective_n_jobs(n_jobs):
    """Threads for ``n_jobs`` (None: 1; -1: every CPU; -2: all but one...)."""
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


class ExactDecoder:
    """Exact nearest words of noisy vectors (see the module docstring).

    Parameters
    ----------
    vectors : ndarray of float32, shape (n_words, dim)
    graph : NeighborGraph, default=None
        Used for the short-list proof when it is exact.
    n_jobs : int, default=None
        Threads of the full search on the host (None: one; -1: every CPU). Each
        thread multiplies its own chunk with a single-threaded BLAS. Called from a
        worker thread (a substituter's ``n_jobs`` already at work), the search
        stays on that thread. The output does not depend on it.
    device : str, default="cpu"
        ``"cpu"``: numpy. Otherwise an array namespace and device (``"cuda"``,
        ``"torch:cpu"``...; see :mod:`sklearn_textdp._array_api`) for the float32
        products and the reductions over the vocabulary.
    """

    def __init__(self, vectors, graph=None, *, n_jobs=None, device="cpu"):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors = vectors
        half_sq = np.empty(len(vectors))
        for start in range(0, len(vectors), 65536):  # float64 copies of 26 MB
            part = vectors[start : start + 65536].astype(np.float64)
            half_sq[start : start + 65536] = 0.5 * np.einsum("ij,ij->i", part, part)
        # Tiles of the vectors augmented with half their squared norm, transposed
        # ((dim + 1) x 4,096 float32, contiguous), built one at a time.
        self._tile_starts = list(range(0, len(vectors), _TILE_WORDS))
        self._tiles = []
        for start in self._tile_starts:
            words = slice(start, start + _TILE_WORDS)
            tile = np.empty((vectors.shape[1] + 1, len(vectors[words])), np.float32)
            tile[:-1] = vectors[words].T
            tile[-1] = half_sq[words]
            self._tiles.append(tile)
        self._max_norm = float(np.sqrt(2.0 * half_sq.max()))
        self._max_half_sq = float(half_sq.max())
        self.graph = graph if graph is not None and graph.exact else None
        self.n_jobs = n_jobs
        self.device = device
        self._device = resolve_device(device)
        self._device_table = None
        self._device_columns = None

    @property
    def _augmented_t(self):
        """The vectors augmented with half their squared norm, transposed (dim+1,
        n_words), float32."""
        return np.hstack(self._tiles)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_device"] = None  # device arrays and namespaces do not pickle
        state["_device_table"] = None
        state["_device_columns"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._device = resolve_device(self.device)

    def nearest(self, noisy, sources=None, *, k=1, exclude_source=False):
        """The ``k`` nearest words of each noisy vector, nearest first.

        Parameters
        ----------
        noisy : ndarray of float64, shape (n, dim)
        sources : ndarray of int, shape (n,), default=None
            The word each noisy vector was made from (enables the short-list proof).
        k : int, default=1
        exclude_source : bool, default=False
            Leave the source word out of the candidates (Vickrey mechanism).

        Returns
        -------
        nearest : ndarray of int64, shape (n, k)
        proven : ndarray of bool, shape (n,)
            Which rows the short-list proof settled.
        """
        noisy = np.asarray(noisy, dtype=np.float64)
        out = np.empty((len(noisy), k), dtype=np.int64)
        proven = np.zeros(len(noisy), dtype=bool)
        if self.graph is not None and sources is not None and len(noisy):
            # The proof needs ||y - x|| < d_K(x) (best list distance >= 0): only
            # tokens meeting that are tried, so small epsilons pay nothing for it.
            noise_norm = np.linalg.norm(
                noisy - self.vectors[sources].astype(np.float64), axis=1
            )
            hopeful = np.flatnonzero(noise_norm < self.graph.distances[sources, -1])
            if len(hopeful):
                settled, winners = self._short_list(
                    noisy[hopeful], sources[hopeful], k, exclude_source
                )
                proven[hopeful[settled]] = True
                out[hopeful[settled]] = winners
        rest = np.flatnonzero(~proven)
        if len(rest):
            excluded = sources[rest] if exclude_source else None
            out[rest] = self._full_search(noisy[rest], k, excluded)
        return out, proven

    def _short_list(self, noisy, sources, k, exclude_source):
        graph = self.graph
        proven = np.zeros(len(noisy), dtype=bool)
        winners = []
        step = max(
            1, _GATHER_BUDGET // (graph.indices.shape[1] * self.vectors.shape[1])
        )
        for start in range(0, len(noisy), step):
            y = noisy[start : start + step]
            src = sources[start : start + step]
            candidates = graph.indices[src]
            if exclude_source:
                candidates = candidates[:, 1:]
            gathered = self.vectors[candidates].astype(np.float64)
            dist_sq = ((gathered - y[:, None, :]) ** 2).sum(axis=2)
            order = np.lexsort((candidates, dist_sq), axis=1)[:, :k]
            kth = np.sqrt(np.take_along_axis(dist_sq, order[:, -1:], axis=1)[:, 0])
            noise_norm = np.linalg.norm(
                y - self.vectors[src].astype(np.float64), axis=1
            )
            outside = graph.distances[src, -1].astype(np.float64) - noise_norm
            # float32-stored graph distances: allow their rounding, plus slack.
            slack = 1e-6 * (1.0 + graph.distances[src, -1] + noise_norm)
            ok = kth + slack < outside - slack
            proven[start : start + step] = ok
            winners.append(np.take_along_axis(candidates, order, axis=1)[ok])
        return proven, np.concatenate(winners) if winners else np.empty((0, k), int)

    def _full_search(self, noisy, k, excluded):
        n_words = self.vectors.shape[0]
        if self._device is not None:
            step = max(1, min(_MAX_DEVICE_CHUNK_ROWS, _DEVICE_SCORE_BUDGET // n_words))
        else:
            step = _QUERY_BLOCK
        starts = range(0, len(noisy), step)
        out = np.empty((len(noisy), k), dtype=np.int64)

        def search(start):
            ex = None if excluded is None else excluded[start : start + step]
            out[start : start + step] = self._search_chunk(
                noisy[start : start + step], k, ex
            )

        n_jobs = effective_n_jobs(self.n_jobs)
        n_threads = min(n_jobs, len(starts))
        if self._device is not None or n_jobs <= 1:
            for start in starts:
                search(start)
            return out
        if n_threads <= 1 or threading.current_thread() is not threading.main_thread():
            # One chunk, or a worker thread of a parallel caller: stay on this
            # thread, with a single-threaded BLAS so that callers run side by side.
            with single_threaded_blas():
                for start in starts:
                    search(start)
            return out
        with single_threaded_blas(), ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(search, starts))  # list(): raise the workers' errors
        return out

    def _search_chunk(self, y, k, excluded):
        query = np.empty((len(y), y.shape[1] + 1), dtype=np.float32)
        query[:, :-1] = -y
        query[:, -1] = 1.0
        spare = _SPARE_CANDIDATES if self._device is None else _DEVICE_SPARE
        kept = k + 1 + spare
        if self._device is None:
            words, values = self._top_scores_numpy(query, kept, excluded)
        else:
            words, values = self._top_scores_device(query, kept, excluded)
        values = values.astype(np.float64)
        # Rounding bound of a float32 dot product of length dim+1 (with slack), for
        # any summation order (BLAS, GPU): |float32 score - exact score| <= tol.
        roundoff = _F32_EPS if self._device is None else self._device.matmul_roundoff
        tol = (
            8.0
            * (y.shape[1] + 2)
            * roundoff
            * (np.linalg.norm(y, axis=1) * self._max_norm + self._max_half_sq)
        )
        picks = words[:, :k].copy()
        gaps = np.diff(values[:, : k + 1], axis=1)
        doubtful = np.flatnonzero((gaps <= 2.0 * tol[:, None]).any(axis=1))
        if not len(doubtful):
            return picks
        # Near ties within float32 rounding. Every true top-k word scores <= the
        # k-th float32 score + 2 tol in any float32 evaluation, so the words under
        # that bound are a superset of the answer. Where the kept lists reach past
        # the bound they hold all of them: re-ranked in float64 at once.
        bound = values[doubtful, k - 1] + 2.0 * tol[doubtful]
        held = values[doubtful, -1] > bound
        rows = doubtful[held]
        if len(rows):
            candidates = words[rows]
            dist_sq = (
                (self.vectors[candidates].astype(np.float64) - y[rows, None, :]) ** 2
            ).sum(axis=2)
            dist_sq[values[rows] > bound[held, None]] = np.inf
            order = np.lexsort((candidates, dist_sq), axis=1)[:, :k]
            picks[rows] = np.take_along_axis(candidates, order, axis=1)
        for row in doubtful[~held]:  # rarer still: more candidates than kept
            scores = np.concatenate([query[row] @ tile for tile in self._tiles])
            if excluded is not None:
                scores[excluded[row]] = np.inf
            limit = values[row, k - 1] + 2.0 * tol[row]
            candidates = np.flatnonzero(scores <= limit)
            dist_sq = ((self.vectors[candidates].astype(np.float64) - y[row]) ** 2).sum(
                1
            )
            picks[row] = candidates[np.lexsort((candidates, dist_sq))[:k]]
        return picks

    def _top_scores_numpy(self, query, kept, excluded):
        """The ``kept`` lowest float32 scores (``0.5 ||v||^2 - v . y``) of each row
        and their words, by (score, word): one BLAS product per tile, folded into
        running lists by a compiled single pass (:mod:`._top_k`)."""
        from ._top_k import empty_top, merge_tile

        n = len(query)
        best_values, best_words = empty_top(n, kept)
        skip = np.full(n, -1, dtype=np.int64) if excluded is None else excluded
        skip = np.ascontiguousarray(skip, dtype=np.int64)
        widest = max(tile.shape[1] for tile in self._tiles)
        scores = np.empty((n, widest), dtype=np.float32)
        for start, tile in zip(self._tile_starts, self._tiles, strict=True):
            out = scores[:, : tile.shape[1]]
            np.matmul(query, tile, out=out)
            merge_tile(out, start, skip, best_values, best_words)
        return best_words, best_values

    def _top_scores_device(self, query, kept, excluded):
        """:meth:`_top_scores_numpy` in the device's array namespace."""
        dev = self._device
        xp = dev.xp
        if self._device_table is None:
            self._device_table = dev.asarray(self._augmented_t, dtype=np.float32)
            self._device_columns = xp.arange(
                self._augmented_t.shape[1], dtype=xp.int64, device=dev.device
            )
        columns = self._device_columns[None, :]
        scores = dev.asarray(query) @ self._device_table
        if excluded is not None:
            excluded = dev.asarray(excluded, dtype=np.int64)
            scores = xp.where(columns == excluded[:, None], xp.inf, scores)
        picks, values = [], []
        for _ in range(min(kept, scores.shape[1])):
            pick = xp.argmin(scores, axis=1)  # first minimum: the lowest word
            values.append(xp.min(scores, axis=1))
            picks.append(pick)
            scores = xp.where(columns == pick[:, None], xp.inf, scores)
        words = dev.to_numpy(xp.stack(picks, axis=1)).astype(np.int64)
        values = dev.to_numpy(xp.stack(values, axis=1)).astype(np.float32)
        if values.shape[1] < kept:  # a vocabulary smaller than the lists
            pad = kept - values.shape[1]
            values = np.pad(values, ((0, 0), (0, pad)), constant_values=np.inf)
            words = np.pad(words, ((0, 0), (0, pad)))
        return words, values


class ApproximateDecoder:
    """Approximate nearest words through a pynndescent index (for huge vocabularies).

    The output depends only on the noisy vector and the public index, so the noise's
    guarantee still holds (post-processing); but it is not always the exact nearest
    word, which shifts N_w / S_w and utility, and its query time depends on the query.
    """

    def __init__(
        self,
        vectors,
        *,
        random_state=0,
        n_neighbors=30,
        search_epsilon=0.1,
        search_width=10,
    ):
        from pynndescent import NNDescent

        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.search_epsilon = search_epsilon
        # Asking pynndescent for 10 candidates rather than 1 lifts agreement with
        # exact decoding from ~60% to ~96% at epsilon=10 (measured, 20k words).
        self.search_width = search_width
        self.index = NNDescent(
            self.vectors,
            n_neighbors=n_neighbors,
            metric="euclidean",
            random_state=random_state,
        )
        self.index.prepare()

    def nearest(self, noisy, sources=None, *, k=1, exclude_source=False):
        width = max(self.search_width, k + 1)
        found, _ = self.index.query(
            np.asarray(noisy, dtype=np.float32), k=width, epsilon=self.search_epsilon
        )
        found = found.astype(np.int64)[:, : k + 1 if exclude_source else k]
        if exclude_source:
            keep = found != sources[:, None]
            # Drop the source where present, else the farthest extra candidate.
            keep[keep.all(axis=1), -1] = False
            found = found[keep].reshape(len(found), k)
        return found[:, :k], np.zeros(len(found), dtype=bool)
