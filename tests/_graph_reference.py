"""Slow, obvious reference code for the density graph and its mechanism.

Written from the definitions in the documentation, independently of
``sklearn_textdp._density_graph`` and ``mechanisms/_graph_exponential.py``: plain
loops, brute-force distances, Kruskal's spanning tree with a hand-made union-find
and Floyd-Warshall. Only for vocabularies of a few dozen words.
"""

import math

import numpy as np


def euclidean(vectors):
    n = len(vectors)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d[i, j] = math.sqrt(
                sum((a - b) ** 2 for a, b in zip(vectors[i], vectors[j], strict=True))
            )
    return d


def nearest(d, i, k):
    """The k nearest other words of i (ties by row number)."""
    others = sorted((d[i, j], j) for j in range(len(d)) if j != i)
    return [j for _, j in others[:k]]


def density_graph_edges(vectors, k):
    """Edge lengths {(i, j): length} of the density graph, i < j."""
    d = euclidean(vectors)
    n = len(d)
    k = min(k, n - 1)
    c = min(2 * k, n - 1)
    sigma = [d[i, nearest(d, i, k)[-1]] for i in range(n)]
    # A word with k duplicates has no spacing of its own: the smallest positive
    # scale stands in (as documented).
    positive = [s for s in sigma if s > 0]
    sigma = [max(s, min(positive) if positive else 1.0) for s in sigma]

    def length(i, j):
        return max(d[i, j] / max(sigma[i], sigma[j]), 1e-9)

    edges = {}
    for i in range(n):
        for j in nearest(d, i, k):
            if i in nearest(d, j, k):
                edges[(min(i, j), max(i, j))] = length(i, j)
    # Kruskal on the symmetrised c-nearest-word graph.
    candidates = {}
    for i in range(n):
        for j in nearest(d, i, c):
            candidates[(min(i, j), max(i, j))] = length(i, j)
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    # Ties broken by the rows (i < j), as documented: the tree is unique.
    for (i, j), w in sorted(candidates.items(), key=lambda item: (item[1], *item[0])):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[ri] = rj
            edges[(i, j)] = w
    # Components still apart: each but the largest joins its nearest outside word.
    while True:
        labels = _components(n, edges)
        sizes = {lab: labels.count(lab) for lab in set(labels)}
        if len(sizes) == 1:
            return edges, d
        largest = max(sizes, key=lambda lab: (sizes[lab], -lab))
        for lab in sorted(sizes):
            if lab == largest:
                continue
            best = None
            for i in range(n):
                for j in range(n):
                    if labels[i] == lab and labels[j] != lab:
                        if best is None or d[i, j] < best[0]:
                            best = (d[i, j], i, j)
            _, i, j = best
            edges[(min(i, j), max(i, j))] = length(i, j)


def _components(n, edges):
    labels = list(range(n))
    changed = True
    while changed:
        changed = False
        for i, j in edges:
            low = min(labels[i], labels[j])
            if labels[i] != low or labels[j] != low:
                labels[i] = labels[j] = low
                changed = True
    return labels


def graph_metric(vectors, k=4):
    """All-pairs shortest-path distances of the density graph (Floyd-Warshall)."""
    edges, _ = density_graph_edges(vectors, k)
    n = len(vectors)
    g = np.full((n, n), np.inf)
    np.fill_diagonal(g, 0.0)
    for (i, j), w in edges.items():
        g[i, j] = g[j, i] = min(g[i, j], w)
    for m in range(n):
        for i in range(n):
            for j in range(n):
                if g[i, m] + g[m, j] < g[i, j]:
                    g[i, j] = g[i, m] + g[m, j]
    return g


def scale_prior(vectors, k=4, exponent=4.0):
    """log p(y) ~ -exponent * log(distance from y to its 2k-th nearest word)."""
    d = euclidean(vectors)
    n = len(d)
    width = min(2 * k, n - 1)
    log_p = np.array(
        [-exponent * math.log(d[i, nearest(d, i, width)[-1]]) for i in range(n)]
    )
    return log_p - math.log(sum(math.exp(v) for v in log_p))


def graph_law(
    metric, x, epsilon, ball_size, log_prior=None, *, half=True, off_by_one=0
):
    """P[M(x) = .] of the exponential mechanism on ``metric`` truncated at the
    ``ball_size``-th smallest distance from x (x itself counting as the first).

    ``half=False`` and ``off_by_one`` build deliberately broken variants for the
    power checks of the tests.
    """
    n = len(metric)
    row = metric[x]
    rank = min(ball_size + off_by_one, n)
    rho = sorted(row)[rank - 1]
    scale = 0.5 * epsilon if half else epsilon
    prior = np.full(n, 1.0 / n) if log_prior is None else np.exp(log_prior)
    weights = np.array(
        [math.exp(-scale * min(row[y], rho)) * prior[y] for y in range(n)]
    )
    return weights / weights.sum()
