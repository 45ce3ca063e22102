"""Privacy audits of fitted substituters: measure, don't trust.

A guarantee is a claim about the output laws ``P[M(w) = o]`` of a mechanism. The
functions here check it from the outside, through the fitted estimator:

- :func:`empirical_privacy_loss` estimates, by sampling, a **lower bound** on the
  privacy loss ``max_E log(P[M(w) in E] / P[M(w') in E])`` of word pairs and puts it
  next to the loss the mechanism's guarantee allows (:func:`claimed_privacy_loss`).
  A lower bound above the claim is a proof (at the stated confidence) that the
  implementation does not keep its promise.
- :func:`exact_privacy_loss` computes the loss exactly for mechanisms with a closed
  form output law (``mechanism_.output_distribution``).
- :func:`leaked_words`, :func:`error_channel_words`, :func:`fit_depends_on_data`,
  :func:`stream_agreement`, :func:`decoding_errors` and :func:`accounting_errors`
  look for the implementation bugs that break DP without changing any single
  output law: words missing from the vocabulary passed through in clear, errors
  raised only for some words, a fitted state (output vocabulary, sensitive set)
  derived from the private data, random streams shared between blocks, columns,
  partitions or unseeded calls, a decoding shortcut that is rarely wrong, and a
  reported privacy cost that differs from the audit's own count.

Every claim is computed from the public embedding and the estimator's declared
parameters by the audit's own code, never from ``mechanism_``.

**Limits** (read them before trusting a green audit):

- **Lower bounds only.** An audit can show that a mechanism is *not* private; it
  can never show that it is. Only events that were sampled often enough can be
  bounded, so rare outputs and pairs not audited are not covered.
- **Little power in realistic dimensions.** On the 50-d GloVe vocabulary the
  nearest-word output of the multivariate Laplace mechanism is 5 to 7 times more
  private than its ``epsilon * d`` bound, so the audit does not notice noise
  calibrated for twice the claimed epsilon there. In one or two dimensions the
  bound is nearly tight and the audit catches such errors; the sampler-level tests
  of the noise itself cover high dimensions. The exponential mechanisms stay
  nearly tight in 50 dimensions (exact ratios 0.65 to 0.89).

See the documentation page "Privacy audit" for the measured results.
"""

import numbers
import string

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone

from ._base import fitted_substituter
from ._text import normalize_words, tokenize
from .utils._random import check_rng

__all__ = [
    "claimed_privacy_loss",
    "empirical_privacy_loss",
    "exact_privacy_loss",
    "leaked_words",
    "error_channel_words",
    "fit_depends_on_data",
    "stream_agreement",
    "decoding_errors",
    "accounting_errors",
]

#: Draws handed to a mechanism at once.
_DRAW_CHUNK = 262_144


# ----------------------------------------------------------------------- helpers
def _rows_of(vocabulary, items, what):
    rows = []
    for item in items:
        if isinstance(item, numbers.Integral) and not isinstance(item, bool):
            row = int(item)
            if not 0 <= row < len(vocabulary):
                raise ValueError(
                    f"{what}: row {row} is outside the vocabulary "
                    f"({len(vocabulary)} words)."
                )
        elif isinstance(item, str):
            row = int(vocabulary.index_of(normalize_words(np.array([item], object)))[0])
            if row < 0:
                raise ValueError(f"{what}: {item!r} is not in the output vocabulary.")
        else:
            raise TypeError(
                f"{what}: expected a word (str) or a row (int); got "
                f"{type(item).__name__}."
            )
        rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def _resolve_pairs(fitted, pairs, n_pairs, rng, pair_selection="nearest"):
    """Rows ``(a, b)`` of the audited pairs: given, or random words each paired
    with its nearest other word (the pairs with the smallest claimed loss) and,
    with ``pair_selection="mixed"``, every other one with a uniformly random word
    instead (far pairs: where a bug that grows with distance shows)."""
    vocabulary = fitted.embeddings_
    if pair_selection not in ("nearest", "mixed"):
        raise ValueError(
            f"pair_selection must be 'nearest' or 'mixed'; got {pair_selection!r}."
        )
    if pairs is None:
        n = len(vocabulary)
        a = np.sort(rng.choice(n, size=min(n_pairs, n), replace=False))
        vectors = vocabulary.vectors.astype(np.float64)
        squared = np.einsum("ij,ij->i", vectors, vectors)
        dist = squared[a, None] + squared[None, :] - 2.0 * vectors[a] @ vectors.T
        dist[np.arange(len(a)), a] = np.inf
        b = dist.argmin(axis=1).astype(np.int64)
        if pair_selection == "mixed":
            far = np.arange(len(a)) % 2 == 1
            other = (a + rng.integers(1, n, size=len(a))) % n  # never a itself
            b = np.where(far, other, b)
        # Mutual nearest neighbours would be audited twice: keep one of each.
        keys = np.sort(np.column_stack([a, b]), axis=1)
        _, first = np.unique(keys, axis=0, return_index=True)
        keep = np.sort(first)
        return a[keep], b[keep]
    pairs = list(pairs)
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError("pairs must be a non-empty list of (word, word) pairs.")
    a = _rows_of(vocabulary, [p[0] for p in pairs], "pairs")
    b = _rows_of(vocabulary, [p[1] for p in pairs], "pairs")
    return a, b


def _euclidean(vectors, a, b):
    diff = vectors[a].astype(np.float64) - vectors[b].astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


# ------------------------------------------------- claims from declared parameters
# The claimed bound of a pair is computed from the public embedding and the
# estimator's *declared* parameters, by the audit's own (slow, plain) code: never
# from ``mechanism_`` or its derived attributes (a square-root covariance, output
# sets, a sensitive mask, a graph), so that a bug in how those were derived cannot
# move the claim with it.
_CLAIM_CACHE = {}


def _declared_mechanism(fitted):
    """The mechanism the estimator's parameters declare (a name)."""
    from ._density_aware import DensityAwareSubstituter
    from ._dp_word import DPWordSubstituter

    if isinstance(fitted, DPWordSubstituter):
        return fitted.mechanism
    if isinstance(fitted, DensityAwareSubstituter):
        if fitted.selection == "gumbel":
            return "gumbel"
        truncation = fitted.truncation
        if truncation is None:
            if fitted.sensitive_fraction is not None:
                return "santext+"
            return "metropolis" if fitted.sampler != "exact" else "exponential"
        return {"partition": "custext", "graph": "graph"}.get(truncation, "exponential")
    raise TypeError(
        f"No known guarantee for {type(fitted).__name__}: the audit cannot state "
        "its claimed loss."
    )


def _declared_vocabulary(fitted):
    """The public output vocabulary of the declared embedding; the fitted one must
    be the same (a vocabulary grown from the fit data is refused)."""
    from ._base import output_vocabulary
    from ._embeddings import load_embeddings

    vocabulary = output_vocabulary(load_embeddings(fitted.embeddings))
    if vocabulary.fingerprint != fitted.embeddings_.fingerprint:
        raise ValueError(
            "The fitted output vocabulary differs from the declared embedding's "
            f"({len(fitted.embeddings_)} words fitted, {len(vocabulary)} declared): "
            "the fitted state depends on something other than the public embedding."
        )
    return vocabulary


def _cached_claim_part(key, compute):
    if key not in _CLAIM_CACHE:
        if len(_CLAIM_CACHE) > 16:
            _CLAIM_CACHE.clear()
        _CLAIM_CACHE[key] = compute()
    return _CLAIM_CACHE[key]


def _regularized_covariance(vectors, weight):
    """``lambda Sigma + (1 - lambda) I``, ``Sigma`` the sample covariance scaled to
    trace ``dim`` (the guarantee's metric is ``d_M^2 = x^T M^-1 x``)."""
    v = np.asarray(vectors, dtype=np.float64)
    centred = v - v.mean(axis=0)
    sigma = centred.T @ centred / (len(v) - 1)
    sigma *= v.shape[1] / np.trace(sigma)
    return weight * sigma + (1.0 - weight) * np.eye(v.shape[1])


def _partition(vectors, size):
    """CusText's disjoint output sets: in row order, each word not yet in a set
    founds one with its ``size`` nearest words not yet in a set (itself
    included). Returns the set of each word."""
    v = np.asarray(vectors, dtype=np.float64)
    set_of = np.full(len(v), -1, dtype=np.int64)
    n_sets = 0
    for founder in range(len(v)):
        if set_of[founder] >= 0:
            continue
        free = np.flatnonzero(set_of < 0)
        diff = v[free] - v[founder]
        dist = np.einsum("ij,ij->i", diff, diff)
        set_of[free[np.argsort(dist, kind="stable")[:size]]] = n_sets
        n_sets += 1
    return set_of


def _kruskal(n, heads, tails, lengths):
    """Minimum spanning forest, ties broken by ``(length, head, tail)``."""
    parent = list(range(n))

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    kept = []
    for e in np.lexsort((tails, heads, lengths)):
        ra, rb = root(int(heads[e])), root(int(tails[e]))
        if ra != rb:
            parent[ra] = rb
            kept.append(e)
    return np.asarray(kept, dtype=np.int64)


def _density_graph_distances(vectors, k, sources):
    """Shortest-path distances of the density graph from ``sources``, rebuilt from
    its definition: edges between mutual ``k``-nearest words plus the minimum
    spanning tree (Kruskal, ties by length then rows) of the symmetrised
    ``2k``-nearest-word graph, each of length ``d(x, y) / max(sigma_x, sigma_y)``
    (``sigma``: distance to the k-th nearest word, at least the smallest positive
    one; lengths at least 1e-9); components left apart are joined through their
    nearest outside word."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, dijkstra
    from sklearn.neighbors import NearestNeighbors

    v = np.asarray(vectors, dtype=np.float64)
    n = len(v)
    k = min(k, n - 1)
    c = min(max(2 * k, k), n - 1)
    _, idx = NearestNeighbors(n_neighbors=c + 1, algorithm="brute").fit(v).kneighbors(v)
    idx = np.array([[j for j in row if j != i][:c] for i, row in enumerate(idx)])
    scale = np.linalg.norm(v - v[idx[:, k - 1]], axis=1)
    sigma = np.maximum(scale, scale[scale > 0].min() if (scale > 0).any() else 1.0)

    def lengths(i, j):
        d = np.linalg.norm(v[i] - v[j], axis=1)
        return np.maximum(d / np.maximum(sigma[i], sigma[j]), 1e-9)

    def pairs_of(i, j):
        return np.unique(np.column_stack([np.minimum(i, j), np.maximum(i, j)]), axis=0)

    def symmetric(pairs):
        lo, hi = pairs[:, 0], pairs[:, 1]
        m = coo_matrix((lengths(lo, hi), (lo, hi)), shape=(n, n)).tocsr()
        return m.maximum(m.T)

    wide = pairs_of(np.repeat(np.arange(n), c), idx.ravel())
    tree = wide[_kruskal(n, wide[:, 0], wide[:, 1], lengths(wide[:, 0], wide[:, 1]))]
    heads = np.repeat(np.arange(n), k).tolist()
    near = set(zip(heads, idx[:, :k].ravel().tolist(), strict=True))
    mutual = [(i, j) for i, j in near if i < j and (j, i) in near]
    edges = np.vstack([tree, np.array(mutual, dtype=np.int64).reshape(-1, 2)])
    graph = symmetric(pairs_of(edges[:, 0], edges[:, 1]))
    n_comp, labels = connected_components(graph, directed=False)
    while n_comp > 1:  # join each smaller component to its nearest outside word
        largest = np.argmax(np.bincount(labels))
        joins = []
        for comp in range(n_comp):
            if comp == largest:
                continue
            members = np.flatnonzero(labels == comp)
            d = np.linalg.norm(v[members][:, None, :] - v[None, :, :], axis=2)
            d[:, labels == comp] = np.inf
            i, j = np.unravel_index(np.argmin(d), d.shape)
            joins.append((members[i], j))
        joins = np.array(joins, dtype=np.int64)
        graph = graph.maximum(symmetric(pairs_of(joins[:, 0], joins[:, 1])))
        n_comp, labels = connected_components(graph, directed=False)
    return dijkstra(graph, directed=False, indices=np.asarray(sources))


def _claim(fitted, a, b):
    """(distance, claimed loss, claim label) of each pair, from the declared
    parameters and the public embedding only."""
    kind = _declared_mechanism(fitted)
    vocabulary = _declared_vocabulary(fitted)
    vectors = vocabulary.vectors
    key = vocabulary.fingerprint
    euclid = _euclidean(vectors, a, b)
    same = a == b
    eps = float(fitted.epsilon)
    if kind in ("vickrey", "vickrey-mahalanobis"):
        # Never emits the input word: the likelihood ratio of that output is unbounded.
        return euclid, np.where(same, 0.0, np.inf), "none (input word never emitted)"
    if kind == "mahalanobis":
        weight = float(fitted.covariance_weight)
        m = _cached_claim_part(
            ("covariance", key, weight),
            lambda: _regularized_covariance(vectors, weight),
        )
        diff = vectors[a].astype(np.float64) - vectors[b].astype(np.float64)
        dist = np.sqrt(np.einsum("ij,ij->i", diff, np.linalg.solve(m, diff.T).T))
        return dist, eps * dist, "epsilon * d_M (regularised Mahalanobis)"
    if kind == "santext+":
        if getattr(fitted, "sensitive_frequencies", "embedding") != "embedding":
            claim = np.where(same, 0.0, np.inf)
            return euclid, claim, "none (sensitive set chosen from the fit data)"
        n = len(vocabulary)
        count = int(round(float(fitted.sensitive_fraction) * n))
        sensitive = np.arange(n) >= n - count  # the least frequent (last) rows
        both = sensitive[a] & sensitive[b]
        claim = np.where(both, eps * euclid, np.inf)
        return euclid, np.where(same, 0.0, claim), "epsilon * d between sensitive words"
    if kind == "custext":
        size = int(fitted.partition_size)
        set_of = _cached_claim_part(
            ("partition", key, size), lambda: _partition(vectors, size)
        )
        claim = np.where(set_of[a] == set_of[b], eps, np.inf)
        return euclid, np.where(same, 0.0, claim), "epsilon within an output set"
    if kind == "graph":
        k = int(fitted.graph_neighbors)
        sources, inverse = np.unique(a, return_inverse=True)
        rows = _density_graph_distances(vectors, k, sources)
        dist = rows[inverse, b]
        return dist, eps * dist, "epsilon * d_G (density graph shortest paths)"
    if kind == "metropolis":
        return euclid, eps * euclid, "epsilon * d (target law; approximate sampler)"
    if kind == "gumbel":
        return euclid, eps * euclid, "epsilon * d (as published, unverified)"
    return euclid, eps * euclid, "epsilon * d"


def claimed_privacy_loss(substituter, words, others):
    """The privacy loss the declared mechanism's guarantee allows for word pairs.

    Computed by the audit from the public embedding and the estimator's declared
    parameters, never from ``mechanism_`` (whose derived attributes are what an
    audit must not trust): ``epsilon * d(w, w')`` (Euclidean) for the
    multivariate Laplace, exponential and truncated Gumbel mechanisms;
    ``epsilon * d_M(w, w')`` with the regularised Mahalanobis distance (the
    audit's own covariance) for ``mechanism="mahalanobis"``; ``epsilon * d_G``
    with the density graph rebuilt by the audit for ``truncation="graph"``;
    ``inf`` for the Vickrey mechanisms (not metric DP: the input word is never
    emitted), for SanText+ pairs involving a non-sensitive word (the last
    ``round(sensitive_fraction * |W|)`` rows are sensitive) and for CusText pairs
    in different output sets (the audit rebuilds the partition); ``epsilon`` for
    CusText pairs in the same set.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        Fitted, or fitted on demand (a clone).
    words, others : sequence of str or int
        Vocabulary words (or rows) of each pair.

    Returns
    -------
    claimed : ndarray of float64
    """
    fitted = fitted_substituter(substituter)
    a = _rows_of(fitted.embeddings_, words, "words")
    b = _rows_of(fitted.embeddings_, others, "others")
    return _claim(fitted, a, b)[1]


def _clopper_pearson(counts, n, alpha):
    """One-sided Clopper-Pearson bounds at level ``alpha`` each: (lower, upper)."""
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lower = np.where(counts > 0, stats.beta.ppf(alpha, counts, n - counts + 1), 0.0)
        upper = np.where(
            counts < n, stats.beta.ppf(1 - alpha, counts + 1, n - counts), 1.0
        )
    return lower, upper


def _output_counts(mechanism, rows, n_samples, n_words, rng):
    """Output counts of ``n_samples`` perturbations of each word of ``rows``."""
    counts = np.zeros((len(rows), n_words), dtype=np.int64)
    for i, row in enumerate(rows):
        left = n_samples
        while left:
            size = min(left, _DRAW_CHUNK)
            out = np.asarray(mechanism.sample(np.full(size, row, dtype=np.int64), rng))
            if out.shape != (size,) or out.min() < 0 or out.max() >= n_words:
                raise ValueError(
                    f"{type(mechanism).__name__}.sample returned rows outside the "
                    f"vocabulary [0, {n_words}) or of the wrong shape."
                )
            counts[i] += np.bincount(out, minlength=n_words)
            left -= size
    return counts


def _candidate_events(num, den, min_count, max_events):
    """Nested output sets ordered by the plug-in likelihood ratio (the most
    powerful tests), of sizes 1, 2, 4, ... (at most ``max_events`` sets)."""
    support = np.flatnonzero(num >= min_count)
    if len(support) == 0:
        return []
    ratio = (num[support] + 0.5) / (den[support] + 0.5)
    order = support[np.argsort(-ratio, kind="stable")]
    sizes, size = [], 1
    while size < len(order) and len(sizes) < max_events - 1:
        sizes.append(size)
        size *= 2
    sizes.append(min(size, len(order)))
    return [order[:s] for s in dict.fromkeys(sizes)]


def empirical_privacy_loss(
    substituter,
    pairs=None,
    *,
    n_samples=50_000,
    confidence=0.99,
    n_pairs=20,
    max_events=8,
    min_count=10,
    pair_selection="mixed",
    random_state=None,
):
    """Lower confidence bounds on the privacy loss of word pairs, by sampling.

    For a pair ``(w, w')`` the privacy loss is
    ``L = max_E |log(P[M(w) in E] / P[M(w') in E])|`` over sets of outputs ``E``;
    the mechanism's guarantee promises ``L <= claimed`` (e.g. ``epsilon * d(w, w')``).

    Method (in the spirit of DP-Sniper and Google's statistical testers):

    1. *Selection.* ``n_samples`` perturbations of each audited word are drawn
       through the fitted mechanism (vectorised, ``mechanism_.sample``). For each
       pair and direction, outputs seen at least ``min_count`` times are ranked by
       their plug-in likelihood ratio; the ``max_events`` nested sets of the top
       1, 2, 4, ... outputs are the candidate events.
    2. *Check.* ``n_samples`` **fresh** perturbations of each word are drawn. For
       each candidate event, a one-sided Clopper-Pearson lower bound on its
       probability under the numerator word and an upper bound under the other
       word give a lower bound on the loss of that event. All bounds of the call
       hold simultaneously with probability ``confidence`` (Bonferroni over every
       bound computed), so with that probability every reported
       ``empirical_loss`` is below the pair's true loss.

    The selection sees different draws from the check, so choosing the most
    extreme events does not bias the bounds.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        Fitted, or fitted on demand (a clone; the argument is left untouched).
    pairs : list of (word, word), default=None
        Pairs to audit (vocabulary words or rows). None draws ``n_pairs`` random
        vocabulary words and pairs them as ``pair_selection`` says.
    n_samples : int, default=50_000
        Perturbations per word in each of the two phases.
    confidence : float, default=0.99
        Simultaneous confidence of all the lower bounds.
    n_pairs : int, default=20
        Pairs drawn when ``pairs`` is None.
    pair_selection : {"mixed", "nearest"}, default="mixed"
        How pairs are drawn when ``pairs`` is None: each random word with its
        nearest other word (``"nearest"``: the smallest claims, where a
        mis-scaled noise shows first), or every other one with a random word
        instead (``"mixed"``: far pairs too, where a loss growing faster than the
        distance shows, e.g. a squared distance).
    max_events : int, default=8
        Candidate events per pair and direction.
    min_count : int, default=10
        Outputs seen fewer times in the selection phase are not candidates.
    random_state : None, int or Generator, default=None

    Returns
    -------
    audit : pandas.DataFrame
        One row per pair: ``word``, ``other``, ``distance`` (in the guarantee's
        metric), ``claimed_loss``, ``empirical_loss`` (the lower bound, >= 0),
        ``ratio`` (``empirical_loss / claimed_loss``; above 1 means the guarantee is
        violated at the stated confidence), ``plugin_loss`` (the point estimate
        for the same event), ``numerator`` (the word whose probability is the
        larger), ``event_size`` and ``event_top`` (the event's most extreme
        output), ``p_numerator`` and ``p_other`` (the event's empirical
        probabilities). ``audit.attrs`` records the method, ``confidence``,
        ``n_samples``, ``n_bounds`` and ``alpha_per_bound`` (the Bonferroni
        split of ``1 - confidence``), the claim and the mechanism's ``guarantee``.

    Notes
    -----
    A lower bound only: a green audit does not prove privacy. On the 50-d GloVe
    vocabulary the multivariate Laplace mechanism is 5 to 7 times more private than
    its bound, so the audit has no power there against a mis-scaled epsilon; in one
    or two dimensions the bound is nearly tight and it has.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_textdp import DPWordSubstituter
    >>> from sklearn_textdp.audit import empirical_privacy_loss
    >>> words = ["one", "two", "three", "four", "five"]
    >>> line = (words, np.array([[0.0], [0.3], [0.7], [1.2], [2.0]]))
    >>> sub = DPWordSubstituter(epsilon=3.0, embeddings=line).fit([])
    >>> audit = empirical_privacy_loss(sub, [("two", "three")], n_samples=20_000,
    ...                                random_state=0)
    >>> round(float(audit.loc[0, "claimed_loss"]), 6)  # epsilon * |0.7 - 0.3|
    1.2
    >>> bool(audit.loc[0, "empirical_loss"] <= audit.loc[0, "claimed_loss"])
    True
    """
    if not (isinstance(n_samples, numbers.Integral) and n_samples >= 1):
        raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    fitted = fitted_substituter(substituter)
    rng = check_rng(random_state)
    vocabulary = fitted.embeddings_
    n_words = len(vocabulary)
    a, b = _resolve_pairs(fitted, pairs, n_pairs, rng, pair_selection)
    distance, claimed, claim_label = _claim(fitted, a, b)
    words = np.unique(np.concatenate([a, b]))
    slot = {int(w): i for i, w in enumerate(words)}
    mechanism = fitted.mechanism_

    selection = _output_counts(mechanism, words, n_samples, n_words, rng)
    candidates = []  # (pair index, numerator row, other row, event rows)
    for p, (x, y) in enumerate(zip(a, b, strict=False)):
        for num, den in ((x, y), (y, x)):
            for event in _candidate_events(
                selection[slot[int(num)]],
                selection[slot[int(den)]],
                min_count,
                max_events,
            ):
                candidates.append((p, int(num), int(den), event))
    check = _output_counts(mechanism, words, n_samples, n_words, rng)

    alpha = (1.0 - confidence) / max(1, 2 * len(candidates))
    best = [None] * len(a)
    if candidates:
        c_num = np.array([check[slot[num], ev].sum() for _, num, _, ev in candidates])
        c_den = np.array([check[slot[den], ev].sum() for _, _, den, ev in candidates])
        lower, _ = _clopper_pearson(c_num, n_samples, alpha)
        _, upper = _clopper_pearson(c_den, n_samples, alpha)
        with np.errstate(divide="ignore"):
            bound = np.log(lower) - np.log(upper)
            plugin = np.log(c_num) - np.log(c_den)
        for i, (p, num, _, event) in enumerate(candidates):
            if best[p] is None or bound[i] > best[p][0]:
                best[p] = (bound[i], plugin[i], num, event, c_num[i], c_den[i])

    rows = []
    for p, (x, y) in enumerate(zip(a, b, strict=False)):
        bound, plugin, num, event, cn, cd = (
            best[p] if best[p] is not None else (0.0, np.nan, x, [], 0, 0)
        )
        loss = max(0.0, float(bound))
        claim = float(claimed[p])
        ratio = loss / claim if claim > 0 else (0.0 if loss == 0 else np.inf)
        rows.append(
            {
                "word": vocabulary.words[x],
                "other": vocabulary.words[y],
                "distance": float(distance[p]),
                "claimed_loss": claim,
                "empirical_loss": loss,
                "ratio": float(ratio),
                "plugin_loss": float(plugin),
                "numerator": vocabulary.words[num],
                "event_size": len(event),
                "event_top": vocabulary.words[event[0]] if len(event) else None,
                "p_numerator": cn / n_samples,
                "p_other": cd / n_samples,
            }
        )
    audit = pd.DataFrame(rows)
    audit.attrs.update(
        {
            "method": "Clopper-Pearson lower bound, selection/check split, Bonferroni",
            "confidence": confidence,
            "n_bounds": 2 * len(candidates),
            "alpha_per_bound": alpha,
            "n_samples": n_samples,
            "claim": claim_label,
            "guarantee": mechanism.guarantee,
        }
    )
    return audit


def exact_privacy_loss(
    substituter, pairs=None, *, n_pairs=20, pair_selection="mixed", random_state=None
):
    """The exact privacy loss of word pairs, from the mechanism's closed-form law.

    Only for mechanisms with ``mechanism_.output_distribution`` (the exponential
    family: truncated and full exponential, SanText+, CusText). The loss of a pair
    is ``max_o |log(P[M(w)=o] / P[M(w')=o])|`` (``inf`` when one word can emit an
    output the other cannot).

    Parameters
    ----------
    substituter, pairs, n_pairs, pair_selection, random_state
        As in :func:`empirical_privacy_loss`.

    Returns
    -------
    audit : pandas.DataFrame
        ``word``, ``other``, ``distance``, ``claimed_loss``, ``exact_loss``,
        ``ratio`` and ``output`` (the output attaining the loss).

    Raises
    ------
    NotImplementedError
        For mechanisms without a closed-form law (multivariate Laplace,
        Mahalanobis, Vickrey, truncated Gumbel): use
        :func:`empirical_privacy_loss`.
    """
    fitted = fitted_substituter(substituter)
    rng = check_rng(random_state)
    vocabulary = fitted.embeddings_
    n_words = len(vocabulary)
    a, b = _resolve_pairs(fitted, pairs, n_pairs, rng, pair_selection)
    distance, claimed, claim_label = _claim(fitted, a, b)
    laws = {}
    rows = []
    for p, (x, y) in enumerate(zip(a, b, strict=False)):
        for w in (x, y):
            if w not in laws:
                laws[w] = fitted.mechanism_.output_law(int(w), n_words)
        px, py = laws[x], laws[y]
        support = (px > 0) | (py > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.abs(np.log(px) - np.log(py))
        loss = np.where(support, loss, 0.0)
        worst = int(np.argmax(loss))
        value, claim = float(loss[worst]), float(claimed[p])
        ratio = value / claim if claim > 0 else (0.0 if value == 0 else np.inf)
        rows.append(
            {
                "word": vocabulary.words[x],
                "other": vocabulary.words[y],
                "distance": float(distance[p]),
                "claimed_loss": claim,
                "exact_loss": value,
                "ratio": float(ratio),
                "output": vocabulary.words[worst],
            }
        )
    audit = pd.DataFrame(rows)
    audit.attrs.update(
        {
            "method": "exact",
            "claim": claim_label,
            "guarantee": fitted.mechanism_.guarantee,
        }
    )
    return audit


# ------------------------------------------------------------ implementation bugs
def _canaries(n, vocabulary, rng, length=10):
    """Random lower-case letter strings that are not vocabulary words."""
    letters = np.array(list(string.ascii_lowercase))
    out = []
    while len(out) < n:
        draws = rng.choice(letters, size=(n, length))
        words = ["zq" + "".join(row) for row in draws]
        missing = vocabulary.index_of(np.array(words, dtype=object)) < 0
        out.extend(w for w, m in zip(words, missing, strict=False) if m)
    return out[:n]


def _output_words(texts):
    texts = [t for t in texts if isinstance(t, str)]
    return set(normalize_words(tokenize(texts).words).tolist())


def leaked_words(substituter, n_canaries=200, *, random_state=None):
    """Words missing from the vocabulary that appear verbatim in the output.

    Random canary strings (never vocabulary words) are perturbed inside ordinary
    sentences, in lower, title and upper case; any canary found among the output
    words (case-insensitively) is returned. With the default
    ``unknown_words="placeholder"`` (or ``"sample"``) the list must be empty;
    ``unknown_words="keep"`` releases every canary, by design and with a warning,
    and so does ``perturb_on="fit"``, whose ``transform`` returns its input.
    The canary documents do not count as releases in the estimator's call count.

    Returns
    -------
    leaked : list of str
        The canaries that appeared in the output, sorted.
    """
    fitted = fitted_substituter(substituter)
    rng = check_rng(random_state)
    vocabulary = fitted.embeddings_
    canaries = _canaries(n_canaries, vocabulary, rng)
    common = vocabulary.words[rng.integers(0, len(vocabulary), size=3 * n_canaries)]
    docs = [
        f"{common[3 * i]} {c}, {common[3 * i + 1]} {c.title()}! {c.upper()} "
        f"{common[3 * i + 2]}."
        for i, c in enumerate(canaries)
    ]
    out = _release(fitted, docs, int(rng.integers(0, 2**63)))
    return sorted(_output_words(out) & set(canaries))


def error_channel_words(
    substituter, *, batch_size=4096, n_repeats=1, random_state=None
):
    """Vocabulary words whose perturbation raises an error.

    A mechanism that fails for some inputs only (rare words, say) leaks through
    its error channel (Google's ``CountNoDpError`` test): the error tells which
    word was there. Every vocabulary word is perturbed ``n_repeats`` times through
    ``transform``, in batches; a failing batch is split until the failing words
    are isolated.

    Returns
    -------
    failures : list of (str, str)
        ``(word, "ExceptionType: message")`` for each failing word; empty when
        every word goes through the same successful path.
    """
    fitted = fitted_substituter(substituter)
    rng = check_rng(random_state)
    words = fitted.embeddings_.words.tolist()
    failures = []

    def run(chunk):
        try:
            seed = int(rng.integers(0, 2**63))
            out = _release(fitted, chunk, seed)
            if len(out) != len(chunk):
                raise ValueError(f"{len(out)} outputs for {len(chunk)} documents")
        except Exception as exc:  # noqa: BLE001 - the point is to catch anything
            if len(chunk) == 1:
                failures.append((chunk[0], f"{type(exc).__name__}: {exc}"))
            else:
                half = len(chunk) // 2
                run(chunk[:half])
                run(chunk[half:])

    for _ in range(n_repeats):
        for start in range(0, len(words), batch_size):
            run(words[start : start + batch_size])
    return sorted(set(failures))


def _release(fitted, docs, seed):
    """What ``transform`` releases for ``docs``, with noise from ``seed``.

    Goes through the partition hook so that audit documents (public canaries) do
    not count as releases of private text in the estimator's call count; with
    ``perturb_on="fit"``, ``transform`` returns its input, and so does this.
    """
    if getattr(fitted, "perturb_on", "always") == "fit":
        return fitted.transform(docs)
    return fitted._perturb(docs, np.random.SeedSequence(seed))


def _fitted_state(estimator, X):
    fitted = clone(estimator).fit(X)
    n_words = len(fitted.embeddings_)
    ids = np.repeat(np.arange(n_words), 4)
    outputs = fitted.mechanism_.sample(ids, np.random.default_rng(0))
    return fitted.embeddings_.fingerprint, np.asarray(outputs)


def fit_depends_on_data(substituter, X, *, n_canaries=20, random_state=None):
    """Whether the fitted mechanism depends on the documents given to ``fit``.

    The output vocabulary, the candidate sets and every other fitted part of a
    mechanism must come from public data only: a private word that becomes a
    possible output, or a sensitive set chosen from private frequencies, breaks the
    guarantee (AWS's data-derived vocabulary). Clones are fitted on ``X`` and on
    ``X`` plus documents holding canary words and the rarest vocabulary words
    repeated many times; the two fits must have the same output vocabulary and
    give the same outputs for every vocabulary word under a shared seed.

    Returns
    -------
    report : dict
        ``same_vocabulary``, ``same_outputs`` (bools) and ``depends`` (True when
        either differs).
    """
    rng = check_rng(random_state)
    base = fitted_substituter(substituter)
    vocabulary = base.embeddings_
    canaries = _canaries(n_canaries, vocabulary, rng)
    # The rarest words (the tail of a frequency-ordered embedding), made frequent.
    rare = vocabulary.words[-min(50, max(1, len(vocabulary) // 4)) :].tolist()
    extra = [" ".join(canaries)] * 5 + [" ".join(rare)] * 200
    X = list(X)
    first_vocabulary, first_outputs = _fitted_state(substituter, X)
    second_vocabulary, second_outputs = _fitted_state(substituter, X + extra)
    same_vocabulary = first_vocabulary == second_vocabulary
    same_outputs = first_outputs.shape == second_outputs.shape and bool(
        np.array_equal(first_outputs, second_outputs)
    )
    return {
        "same_vocabulary": bool(same_vocabulary),
        "same_outputs": same_outputs,
        "depends": not (same_vocabulary and same_outputs),
    }


def stream_agreement(
    substituter, word=None, *, mode="blocks", n_docs=4096, random_state=None
):
    """Test whether copies of one document in different random streams agree
    more often than independent draws would.

    Noise must be independent across document blocks, text columns, partitions
    (Dask/Spark) and calls: a seed shared by two of them releases the same
    perturbation twice for equal documents, and different documents become
    linked. The document ``word`` is perturbed ``n_docs`` times in two streams:
    ``mode="blocks"`` (two consecutive blocks of one call), ``"columns"`` (two
    identical columns of a DataFrame), ``"partitions"`` (two partitions seeded by
    spawned SeedSequences, as the distributed runners do) or ``"calls"`` (two
    calls of ``transform`` with ``random_state=None``, the production setting:
    each call must draw fresh operating-system entropy). The agreement rate of
    matching positions is compared with that of shifted positions (an estimate of
    ``sum_o P[o]^2`` under independence) by a one-sided Fisher exact test.

    ``mode="calls"`` runs the estimator's own ``transform`` (``random_state`` set
    to None for the two calls, then restored; the two audit calls do not count as
    releases, and the repeated-release warning is not shown).

    Returns
    -------
    result : dict
        ``agreement`` (matching positions), ``baseline`` (shifted positions) and
        ``pvalue`` (small: the streams are not independent).
    """
    fitted = fitted_substituter(substituter)
    rng = check_rng(random_state)
    vocabulary = fitted.embeddings_
    if word is None:
        word = vocabulary.words[0]
    root = np.random.SeedSequence(int(rng.integers(0, 2**63)))
    docs = [str(word)] * n_docs
    if mode == "blocks":
        from ._base import _BLOCK_DOCS

        block = _BLOCK_DOCS
        docs = [str(word)] * (2 * block)
        out = fitted._perturb(docs, root)
        first, second = out[:block], out[block:]
    elif mode == "columns":
        frame = pd.DataFrame({"a": docs, "b": docs})
        out = fitted._perturb(frame, root)
        first, second = out["a"].tolist(), out["b"].tolist()
    elif mode == "partitions":
        left, right = root.spawn(2)
        first, second = fitted._perturb(docs, left), fitted._perturb(docs, right)
    elif mode == "calls":
        first, second = _two_unseeded_calls(fitted, docs)
    else:
        raise ValueError(
            f"mode must be 'blocks', 'columns', 'partitions' or 'calls'; got {mode!r}."
        )
    first = np.asarray(first, dtype=object)
    second = np.asarray(second, dtype=object)
    same = int((first == second).sum())
    shifted = int((first == np.roll(second, 1)).sum())
    n = len(first)
    table = [[same, n - same], [shifted, n - shifted]]
    pvalue = float(stats.fisher_exact(table, alternative="greater").pvalue)
    return {"agreement": same / n, "baseline": shifted / n, "pvalue": pvalue}


def _two_unseeded_calls(fitted, docs):
    """Two ``transform`` calls with ``random_state=None``; the estimator's seed and
    call count are restored afterwards."""
    import warnings

    from .privacy import PrivacyLeakWarning

    saved_state = fitted.random_state
    saved_calls = fitted.__dict__.get("_transform_calls")
    try:
        fitted.random_state = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            return fitted.transform(docs), fitted.transform(docs)
    finally:
        fitted.random_state = saved_state
        if saved_calls is None:
            fitted.__dict__.pop("_transform_calls", None)
        else:
            fitted.__dict__["_transform_calls"] = saved_calls


# ---------------------------------------------------------------- rare paths
def _nearest_rows(vectors, noisy, k, exclude=None, block=1024):
    """Brute-force float64 nearest rows (ties to the lowest row)."""
    v = np.asarray(vectors, dtype=np.float64)
    squared = np.einsum("ij,ij->i", v, v)
    out = np.empty((len(noisy), k), dtype=np.int64)
    for start in range(0, len(noisy), block):
        y = noisy[start : start + block]
        # Exact float64 distances (not the expanded form, whose rounding could
        # reorder near ties): sum of squared differences per word.
        dist = squared[None, :] - 2.0 * (y @ v.T)
        width = min(k + 8, len(v))
        near = (
            np.argpartition(dist, width - 1, axis=1)[:, :width]
            if width < len(v)
            else np.argsort(dist, axis=1)
        )
        rows = np.arange(len(y))[:, None]
        exact = ((v[near] - y[:, None, :]) ** 2).sum(axis=2)
        if exclude is not None:
            exact[near == exclude[start : start + block, None]] = np.inf
        order = np.lexsort((near, exact), axis=1)[:, :k]
        out[start : start + block] = near[rows, order]
    return out


def decoding_errors(substituter, n_tokens=100_000, *, random_state=None):
    """Tokens whose noise-then-decode output is not the exact nearest word.

    For the multivariate Laplace and Mahalanobis mechanisms the output must be
    the vocabulary word nearest to the noisy vector (ties to the lowest row),
    and for the Vickrey mechanisms one of the two nearest words other than the
    input: a decoding shortcut that is wrong once in a few thousand tokens makes
    the output depend on more than the noisy vector. ``n_tokens`` noisy vectors
    of random vocabulary words are drawn with ``mechanism_.noisy_vectors`` and
    the mechanism's outputs under the same generator state are compared with a
    float64 brute-force search over the declared vocabulary.

    Returns
    -------
    report : dict
        ``n_tokens``, ``n_wrong`` and ``examples`` (up to 10 ``(word, output,
        expected)`` triples). ``n_wrong`` is None for mechanisms without a
        decoding step.
    """
    fitted = fitted_substituter(substituter)
    kind = _declared_mechanism(fitted)
    if kind not in ("laplace", "mahalanobis", "vickrey", "vickrey-mahalanobis"):
        return {"n_tokens": 0, "n_wrong": None, "examples": []}
    vocabulary = _declared_vocabulary(fitted)
    mechanism = fitted.mechanism_
    noise = getattr(mechanism, "noise_mechanism", mechanism)
    seed = int(check_rng(random_state).integers(0, 2**63))
    ids = np.random.default_rng(seed).integers(0, len(vocabulary), size=n_tokens)
    wrong, examples = 0, []
    for start in range(0, n_tokens, 8192):
        chunk = ids[start : start + 8192]
        step_seed = [seed, start]
        noisy = noise.noisy_vectors(chunk, np.random.default_rng(step_seed))
        out = np.asarray(mechanism.sample(chunk, np.random.default_rng(step_seed)))
        if kind.startswith("vickrey"):
            two = _nearest_rows(vocabulary.vectors, noisy, 2, exclude=chunk)
            bad = (out != two[:, 0]) & (out != two[:, 1])
            expected = two[:, 0]
        else:
            expected = _nearest_rows(vocabulary.vectors, noisy, 1)[:, 0]
            bad = out != expected
        wrong += int(bad.sum())
        for i in np.flatnonzero(bad)[: 10 - len(examples)]:
            examples.append(
                (
                    vocabulary.words[chunk[i]],
                    vocabulary.words[out[i]],
                    vocabulary.words[expected[i]],
                )
            )
    return {"n_tokens": int(n_tokens), "n_wrong": wrong, "examples": examples}


def _exact_diameter(vectors, block=1024):
    """Largest distance between two words, by blocked brute force."""
    v = np.asarray(vectors, dtype=np.float64)
    squared = np.einsum("ij,ij->i", v, v)
    largest = 0.0
    for start in range(0, len(v), block):
        part = v[start : start + block]
        dist = squared[start : start + block, None] + squared[None, :]
        dist -= 2.0 * part @ v.T
        largest = max(largest, float(dist.max()))
    return float(np.sqrt(max(largest, 0.0)))


def accounting_errors(substituter, X, *, rtol=1e-9):
    """Documents whose reported privacy cost differs from the audit's own count.

    ``privacy_cost`` must report ``epsilon * n`` (``epsilon_per_unit``) and
    ``epsilon * diameter * n`` (``epsilon_worst_case``) for the ``n`` perturbed
    words of each document, with ``diameter`` the largest distance between two
    words of the declared vocabulary. The audit counts the words itself (words
    of the vocabulary not in ``keep_words``, capped by ``max_document_epsilon``)
    and computes the diameter by brute force, never from the fitted estimator.
    For ``truncation="graph"`` the unit is the graph distance and the worst case
    is the estimator's own; only ``epsilon_per_unit`` is checked there.

    Returns
    -------
    errors : pandas.DataFrame
        One row per wrong document (empty when the accounting is right):
        ``document``, ``column``, ``reported`` and ``expected`` (the wrong
        column's values). ``errors.attrs["diameter"]`` is the audit's diameter.
    """
    from ._documents import check_documents

    fitted = fitted_substituter(substituter)
    kind = _declared_mechanism(fitted)
    vocabulary = _declared_vocabulary(fitted)
    diameter = _cached_claim_part(
        ("diameter", vocabulary.fingerprint),
        lambda: _exact_diameter(vocabulary.vectors),
    )
    docs = check_documents(X)
    keep = fitted.keep_words
    if keep == "english":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        keep = ENGLISH_STOP_WORDS
    kept = set(normalize_words(np.array(sorted(keep or ()), dtype=object)).tolist())
    eps = float(fitted.epsilon)
    counts = np.zeros(len(docs.columns[0]), dtype=np.int64)
    for column in range(len(docs.columns)):
        texts = docs.texts(column)
        present = np.flatnonzero(~np.asarray(docs.missing[column]))
        for i, text in zip(present, texts, strict=True):
            words = normalize_words(tokenize([text]).words)
            rows = vocabulary.index_of(words)
            n = sum(
                1 for w, r in zip(words, rows, strict=True) if r >= 0 and w not in kept
            )
            if fitted.max_document_epsilon is not None:
                n = min(n, int(np.floor(fitted.max_document_epsilon / eps + 1e-9)))
            counts[i] += n
    cost = fitted.privacy_cost(X)
    expected = {
        "n_perturbed": counts,
        "epsilon_per_unit": eps * counts,
        "epsilon_worst_case": eps * diameter * counts,
    }
    if kind == "graph":
        expected.pop("epsilon_worst_case")
    rows = []
    for column, values in expected.items():
        reported = cost[column].to_numpy(dtype=np.float64)
        bad = ~np.isclose(reported, values, rtol=rtol, atol=1e-12)
        for i in np.flatnonzero(bad):
            rows.append(
                {
                    "document": i,
                    "column": column,
                    "reported": float(reported[i]),
                    "expected": float(values[i]),
                }
            )
    errors = pd.DataFrame(rows, columns=["document", "column", "reported", "expected"])
    errors.attrs["diameter"] = diameter
    return errors
