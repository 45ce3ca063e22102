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
        half_sq = 0.5 * np.einsum(
            "ij,ij->i", vectors.astype(np.float64), vectors.astype(np.float64)
        )
        augmented = np.hstack([vectors, half_sq[:, None].astype(np.float32)])
        self._tile_starts = list(range(0, len(vectors), _TILE_WORDS))
        self._tiles = [
            np.ascontiguousarray(augmented[start : start + _TILE_WORDS].T)
            for start in self._tile_starts
        ]
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
        if self._device is None:
            picks, values, runner_up = self._top_scores_numpy(query, k, excluded)
        else:
            picks, values, runner_up = self._top_scores_device(query, k, excluded)
        # Rounding bound of a float32 dot product of length dim+1 (with slack), for
        # any summation order (BLAS, GPU): |float32 score - exact score| <= tol.
        roundoff = _F32_EPS if self._device is None else self._device.matmul_roundoff
        tol = (
            8.0
            * (y.shape[1] + 2)
            * roundoff
            * (np.linalg.norm(y, axis=1) * self._max_norm + self._max_half_sq)
        )
        gaps = np.diff(np.column_stack([values, runner_up]), axis=1)
        doubtful = np.flatnonzero((gaps <= 2.0 * tol[:, None]).any(axis=1))
        for row in doubtful:  # rare: near-ties within float32 rounding
            # Every true top-k word scores <= values[row, -1] + 2 tol in any float32
            # evaluation: this row's host scores give a superset of candidates.
            scores = np.concatenate([query[row] @ tile for tile in self._tiles])
            if excluded is not None:
                scores[excluded[row]] = np.inf
            bound = values[row, -1] + 2.0 * tol[row]
            candidates = np.flatnonzero(scores <= bound)
            dist_sq = ((self.vectors[candidates].astype(np.float64) - y[row]) ** 2).sum(
                1
            )
            picks[row] = candidates[np.lexsort((candidates, dist_sq))[:k]]
        return picks

    def _top_scores_numpy(self, query, k, excluded):
        """The ``k`` lowest float32 scores (``0.5 ||v||^2 - v . y``) of each row,
        their words, and the next lowest score (ties: lowest word first)."""
        n = len(query)
        rows = np.arange(n)
        kept = k + 1
        best_values = np.full((n, kept), np.inf, dtype=np.float32)
        best_words = np.zeros((n, kept), dtype=np.int64)
        tile_values = np.empty((n, kept), dtype=np.float32)
        tile_words = np.empty((n, kept), dtype=np.int64)
        for start, tile in zip(self._tile_starts, self._tiles, strict=True):
            scores = query @ tile
            if excluded is not None:
                local = excluded - start
                inside = (local >= 0) & (local < tile.shape[1])
                scores[rows[inside], local[inside]] = np.inf
            for j in range(min(kept, tile.shape[1])):
                pick = scores.argmin(axis=1)
                tile_words[:, j] = pick + start
                tile_values[:, j] = scores[rows, pick]
                scores[rows, pick] = np.inf
            tile_values[:, tile.shape[1] :] = np.inf
            values = np.concatenate([best_values, tile_values], axis=1)
            words = np.concatenate([best_words, tile_words], axis=1)
            # Stable: among equal scores the earlier tile's (lower) word first.
            order = np.argsort(values, axis=1, kind="stable")[:, :kept]
            best_values = np.take_along_axis(values, order, axis=1)
            best_words = np.take_along_axis(words, order, axis=1)
        values = best_values.astype(np.float64)
        return best_words[:, :k].copy(), values[:, :k], values[:, k]

    def _top_scores_device(self, query, k, excluded):
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
        for _ in range(k):
            pick = xp.argmin(scores, axis=1)
            values.append(xp.min(scores, axis=1))
            picks.append(pick)
            scores = xp.where(columns == pick[:, None], xp.inf, scores)
        runner_up = xp.min(scores, axis=1)
        stacked = xp.stack([*values, runner_up], axis=1)
        values_and_runner_up = dev.to_numpy(stacked).astype(np.float64)
        picks = dev.to_numpy(xp.stack(picks, axis=1)).astype(np.int64)
        return picks, values_and_runner_up[:, :k], values_and_runner_up[:, k]


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
