"""Compiled bounded Dijkstra search (numba), kept apart so that importing the
package never compiles it: only a fit of the graph mechanism does, once, and the
compiled code is cached on disk by numba."""

import numba
import numpy as np

__all__ = ["bounded_dijkstra"]


@numba.njit(cache=True, nogil=True)
def _heap_push(keys, nodes, size, key, node):
    i = size
    keys[i] = key
    nodes[i] = node
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        nodes[parent], nodes[i] = nodes[i], nodes[parent]
        i = parent
    return size + 1


@numba.njit(cache=True, nogil=True)
def _heap_pop(keys, nodes, size):
    key = keys[0]
    node = nodes[0]
    size -= 1
    keys[0] = keys[size]
    nodes[0] = nodes[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            child = left + 1
        if keys[i] <= keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        nodes[child], nodes[i] = nodes[i], nodes[child]
        i = child
    return key, node, size


@numba.njit(cache=True, nogil=True)
def _search(indptr, indices, lengths, sources, size, out_rows, out_dist):
    n_words = len(indptr) - 1
    best = np.full(n_words, np.inf)
    done = np.zeros(n_words, dtype=np.bool_)
    touched = np.empty(n_words, dtype=np.int64)
    capacity = len(indices) + 1
    keys = np.empty(capacity, dtype=np.float64)
    nodes = np.empty(capacity, dtype=np.int64)
    for s in range(len(sources)):
        n_touched = 0
        source = sources[s]
        best[source] = 0.0
        touched[n_touched] = source
        n_touched += 1
        heap = _heap_push(keys, nodes, 0, 0.0, source)
        settled = 0
        while heap > 0 and settled < size:
            key, node, heap = _heap_pop(keys, nodes, heap)
            if done[node]:
                continue
            done[node] = True
            out_rows[s, settled] = node
            out_dist[s, settled] = key
            settled += 1
            for e in range(indptr[node], indptr[node + 1]):
                other = indices[e]
                if done[other]:
                    continue
                candidate = key + lengths[e]
                if candidate < best[other]:
                    if best[other] == np.inf:
                        touched[n_touched] = other
                        n_touched += 1
                    best[other] = candidate
                    heap = _heap_push(keys, nodes, heap, candidate, other)
        # Words the graph cannot reach (never for a connected density graph).
        for j in range(settled, size):
            out_rows[s, j] = -1
            out_dist[s, j] = np.inf
        for t in range(n_touched):
            best[touched[t]] = np.inf
            done[touched[t]] = False


def bounded_dijkstra(indptr, indices, lengths, sources, size):
    """The ``size`` nearest words of each source (see :func:`graph_balls`)."""
    out_rows = np.empty((len(sources), size), dtype=np.int32)
    out_dist = np.empty((len(sources), size), dtype=np.float64)
    if len(sources):
        _search(
            np.ascontiguousarray(indptr, dtype=np.int64),
            np.ascontiguousarray(indices, dtype=np.int64),
            np.ascontiguousarray(lengths, dtype=np.float64),
            np.ascontiguousarray(sources, dtype=np.int64),
            int(size),
            out_rows,
            out_dist,
        )
    return out_rows, out_dist


@numba.njit(cache=True, nogil=True)
def _kruskal(n_nodes, heads, tails, order, keep):
    parent = np.arange(n_nodes)
    for e in order:
        a = heads[e]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        b = tails[e]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            parent[a] = b
            keep[e] = True


def minimum_spanning_forest(n_nodes, heads, tails, lengths):
    """Kruskal's minimum spanning forest with ties broken by ``(length, head,
    tail)`` (heads < tails): unlike scipy's, the forest is unique, so the graph
    metric does not depend on how an implementation orders equal lengths (edges
    of length exactly 1 are common in the density graph). Returns a mask of the
    edges kept."""
    order = np.lexsort((tails, heads, lengths))
    keep = np.zeros(len(heads), dtype=np.bool_)
    _kruskal(
        int(n_nodes),
        np.ascontiguousarray(heads, dtype=np.int64),
        np.ascontiguousarray(tails, dtype=np.int64),
        order.astype(np.int64),
        keep,
    )
    return keep
