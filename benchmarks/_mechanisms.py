"""The mechanisms every benchmark covers, and how to build them.

Each entry names the estimator and its parameters, the mldp-text class that
implements the same mechanism (if any), and the per-word reference loop that
mimics how the anchors work. Entries the installed library cannot build (a
TypeError or ValueError from construction or ``fit``) are reported as "not
available" and skipped, so the table can list mechanisms before they land.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sklearn_textdp import DensityAwareSubstituter, DPWordSubstituter


@dataclass(frozen=True)
class Spec:
    key: str
    label: str
    estimator: type
    params: dict = field(default_factory=dict)
    family: str = "selection"  # "noise" (DPWordSubstituter) or "selection"
    anchor: str = None  # mldp-text class implementing the same mechanism
    anchor_kwargs: dict = field(default_factory=dict)
    reference: str = None  # kind of per-word reference loop (see reference_loop)
    in_utility: bool = True

    def build(self, epsilon, embeddings=None, **extra):
        return self.estimator(
            epsilon, embeddings=embeddings, **{**self.params, **extra}
        )


DP = DPWordSubstituter
DA = DensityAwareSubstituter

SPECS = [
    Spec(
        "laplace",
        "DPWord laplace (CMP)",
        DP,
        {"mechanism": "laplace"},
        "noise",
        "MultivariateCalibrated",
        {},
        "laplace",
    ),
    Spec(
        "laplace-approx",
        "DPWord laplace, approximate decoder",
        DP,
        {"mechanism": "laplace", "decoder": "approximate"},
        "noise",
        None,
        {},
        "laplace",
        in_utility=False,
    ),
    Spec(
        "mahalanobis",
        "DPWord mahalanobis",
        DP,
        {"mechanism": "mahalanobis"},
        "noise",
        "Mahalanobis",
        {},
        "mahalanobis",
    ),
    Spec(
        "vickrey",
        "DPWord vickrey",
        DP,
        {"mechanism": "vickrey"},
        "noise",
        "VickreyMechanism",
        {},
        "vickrey",
    ),
    Spec(
        "vickrey-mahalanobis",
        "DPWord vickrey-mahalanobis",
        DP,
        {"mechanism": "vickrey-mahalanobis"},
        "noise",
        None,
        {},
        "vickrey",
    ),
    Spec(
        "da-graph",
        "DensityAware default (density graph)",
        DA,
        {},
        "selection",
        None,
        {},
        None,
    ),
    Spec(
        "da-knn-kde",
        "DensityAware knn, kde prior (Euclidean; the old default)",
        DA,
        {"truncation": "knn", "prior": "kde"},
        "selection",
        None,
        {},
        "knn-exponential",
    ),
    Spec(
        "da-knn-knnprior",
        "DensityAware knn, knn prior",
        DA,
        {"truncation": "knn", "prior": "knn"},
        "selection",
        None,
        {},
        "knn-exponential",
    ),
    Spec(
        "da-knn-uniform",
        "DensityAware knn, uniform prior",
        DA,
        {"truncation": "knn", "prior": None},
        "selection",
        None,
        {},
        "knn-exponential",
    ),
    Spec(
        "da-radius-kde",
        "DensityAware radius, kde prior",
        DA,
        {"truncation": "radius", "prior": "kde"},
        "selection",
        None,
        {},
        "full-exponential",
    ),
    Spec(
        "tem",
        "TEM (radius, no prior)",
        DA,
        {"truncation": "radius", "prior": None},
        "selection",
        "TEM",
        {},
        "full-exponential",
    ),
    Spec(
        "truncated-gumbel",
        "truncated Gumbel",
        DA,
        {"truncation": "knn", "selection": "gumbel"},
        "selection",
        "TruncatedGumbel",
        {},
        "truncated-gumbel",
    ),
    Spec(
        "santext",
        "SanText (full, no prior)",
        DA,
        {"truncation": None, "prior": None},
        "selection",
        None,
        {},
        "full-exponential",
    ),
    Spec(
        "santext+",
        "SanText+ (w=0.5, p=0.2)",
        DA,
        {
            "truncation": None,
            "prior": None,
            "sensitive_fraction": 0.5,
            "perturb_probability": 0.2,
        },
        "selection",
        None,
        {},
        "santext+",
    ),
    Spec(
        "custext",
        "CusText (K=20)",
        DA,
        {"truncation": "partition", "partition_size": 20, "prior": None},
        "selection",
        None,
        {},
        "custext",
    ),
    Spec(
        "full-kde",
        "DensityAware full, kde prior (exact sampler)",
        DA,
        {"truncation": None, "prior": "kde"},
        "selection",
        None,
        {},
        "full-exponential",
        in_utility=False,
    ),
    Spec(
        "full-kde-mh",
        "DensityAware full, kde prior, Metropolis",
        DA,
        {"truncation": None, "prior": "kde", "sampler": "metropolis"},
        "selection",
        None,
        {},
        None,
        in_utility=False,
    ),
]

BY_KEY = {s.key: s for s in SPECS}


def select(keys):
    if not keys:
        return list(SPECS)
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise SystemExit(f"unknown mechanisms {unknown}; choose from {list(BY_KEY)}")
    return [BY_KEY[k] for k in keys]


def try_fit(spec, epsilon, embeddings=None, **extra):
    """(fitted estimator, None) or (None, reason) when the library cannot build it."""
    try:
        est = spec.build(epsilon, embeddings, **extra)
        est.fit([])
        return est, None
    except (TypeError, ValueError) as exc:
        return None, f"not available: {type(exc).__name__}: {str(exc)[:160]}"


def gumbel_epsilon(embeddings, factor=1.15, graph=None):
    """An epsilon comfortably above the truncated Gumbel's valid bound (rounded)."""
    from sklearn_textdp.mechanisms import smallest_valid_epsilon

    if graph is None:
        est = DA(10.0, embeddings=embeddings, truncation="knn").fit([])
        graph, n_words = est.graph_, len(est.embeddings_)
    else:
        n_words = len(graph.indices)
    bound = smallest_valid_epsilon(n_words, graph.min_distance)
    return float(math.ceil(bound * factor / 5.0) * 5.0), bound


# ------------------------------------------------------------ reference loops
def reference_loop(spec, fitted):
    """A per-word function ``run(ids, rng) -> ids`` mimicking the anchors.

    Laplace family: per token one noise draw (``rng.standard_normal(dim)`` and a
    gamma radius, the cheap form, not mldp-text's ``multivariate_normal``) and one
    full search over the vocabulary (``np.linalg.norm(V - y, axis=1)``, as
    mldp-text's brute-force branch). Selection mechanisms: per token the distances
    from the word to the whole vocabulary, then the selection (mldp-text's
    brute-force path). Returns None when no loop is defined.
    """
    kind = spec.reference
    mech = fitted.mechanism_
    vectors32 = np.asarray(fitted.embeddings_.vectors, dtype=np.float32)
    eps = float(fitted.epsilon)
    n_words, dim = vectors32.shape

    def draw_from_log_weights(logw, rng):
        # inverse CDF on unnormalised weights, as the per-word research code does it
        cdf = np.cumsum(np.exp(logw - logw.max()))
        return min(np.searchsorted(cdf, rng.random() * cdf[-1], "right"), len(cdf) - 1)

    def distances_from(w, among=vectors32):
        return np.linalg.norm(among - vectors32[w].astype(np.float64), axis=1)

    def exponential_loop(clip_radius, log_prior):
        # epsilon/2 scores of the distances clipped at a per-token radius, plus the
        # prior: the k-NN and whole-vocabulary mechanisms differ only in the radius
        def run(ids, rng):
            out = np.empty(len(ids), dtype=np.int64)
            for i, w in enumerate(ids):
                d = distances_from(w)
                logw = -0.5 * eps * np.minimum(d, clip_radius(d, rng))
                if log_prior is not None:
                    logw += log_prior
                out[i] = draw_from_log_weights(logw, rng)
            return out

        return run

    def noise(rng, sqrt_cov=None):
        z = rng.standard_normal(dim)
        z /= np.linalg.norm(z)
        z *= rng.gamma(dim, 1.0 / eps)
        return z if sqrt_cov is None else z @ sqrt_cov

    if kind in ("laplace", "mahalanobis"):
        sqrt_cov = (
            getattr(mech, "sqrt_covariance", None) if kind == "mahalanobis" else None
        )

        def run(ids, rng):
            out = np.empty(len(ids), dtype=np.int64)
            for i, w in enumerate(ids):
                y = vectors32[w] + noise(rng, sqrt_cov)
                out[i] = np.argmin(np.linalg.norm(vectors32 - y, axis=1))
            return out

        return run

    if kind == "vickrey":
        inner = getattr(mech, "noise_mechanism", mech)
        sqrt_cov = getattr(inner, "sqrt_covariance", None)
        t = float(mech.threshold)

        def run(ids, rng):
            out = np.empty(len(ids), dtype=np.int64)
            for i, w in enumerate(ids):
                y = vectors32[w] + noise(rng, sqrt_cov)
                d = np.linalg.norm(vectors32 - y, axis=1)
                d[w] = np.inf
                two = np.argpartition(d, 1)[:2]
                two = two[np.argsort(d[two])]
                d1, d2 = d[two[0]], d[two[1]]
                den = t * d1 + (1 - t) * d2
                p = (1 - t) * d2 / den if den > 0 else 1.0
                out[i] = two[0] if rng.random() < p else two[1]
            return out

        return run

    if kind == "knn-exponential":
        from sklearn_textdp.mechanisms import sample_truncated_poisson

        mean, big_k = mech.poisson_mean, mech.max_neighbors

        def distance_of_kth_neighbour(d, rng):
            k = int(sample_truncated_poisson(mean, big_k, 1, rng)[0])
            return np.partition(d, k)[k]

        return exponential_loop(distance_of_kth_neighbour, mech.log_prior)

    if kind == "full-exponential":
        gamma = float(getattr(mech, "gamma", np.inf))
        return exponential_loop(lambda d, rng: gamma, getattr(mech, "log_prior", None))

    if kind == "truncated-gumbel":
        from sklearn_textdp.mechanisms import (
            sample_truncated_gumbel,
            sample_truncated_poisson,
        )

        mean, big_k = mech.poisson_mean, mech.max_neighbors
        scale, bound = mech.scale, mech.max_distance

        def run(ids, rng):
            out = np.empty(len(ids), dtype=np.int64)
            for i, w in enumerate(ids):
                d = distances_from(w)
                k = int(sample_truncated_poisson(mean, big_k, 1, rng)[0])
                near = (
                    np.argpartition(d, k - 1)[:k] if k < n_words else np.arange(n_words)
                )
                g = sample_truncated_gumbel(len(near), scale, bound, rng)
                out[i] = near[np.argmin(d[near] + g)]
            return out

        return run

    if kind == "santext+":
        sensitive = mech.sensitive
        domain = mech.domain
        dvec = vectors32[domain]
        p = mech.perturb_probability

        def run(ids, rng):
            out = np.empty(len(ids), dtype=np.int64)
            for i, w in enumerate(ids):
                if sensitive[w] or rng.random() < p:
                    d = distances_from(w, among=dvec)
                    logw = -0.5 * eps * d
                    out[i] = domain[draw_from_log_weights(logw, rng)]
                else:
                    out[i] = w
            return out

        return run

    if kind == "custext":
        members = mech.members
        set_of_word = mech.set_of_word

        def run(ids, rng):
            out = np.empty(len(ids), dtype=np.int64)
            for i, w in enumerate(ids):
                cand = members[set_of_word[w]]
                cand = cand[cand >= 0]
                d = distances_from(w, among=vectors32[cand])
                span = d.max() - d.min()
                u = -(d - d.min()) / span if span > 0 else np.zeros_like(d)
                prob = np.exp(0.5 * eps * u)
                out[i] = rng.choice(cand, p=prob / prob.sum())
            return out

        return run

    return None


# ------------------------------------------------- plain batched brute force
def batched_brute_force(fitted, budget=4 * 2**20):
    """DPWordSubstituter's noise in one batch, then one float32 GEMM per chunk and
    an argmin (argpartition for Vickrey): no short-list proof, no rounding check.
    Chunks hold at most ``budget`` scores (at least 64 rows), so that the score
    block stays in cache. Returns ``run(ids, rng) -> ids`` or None for other
    mechanisms."""
    mech = fitted.mechanism_
    vectors = np.asarray(fitted.embeddings_.vectors, dtype=np.float32)
    chunk = max(64, min(2048, budget // len(vectors)))
    half_sq = 0.5 * np.einsum("ij,ij->i", vectors, vectors)
    vickrey = hasattr(mech, "noise_mechanism")
    noise_mech = mech.noise_mechanism if vickrey else mech
    if not hasattr(noise_mech, "noisy_vectors"):
        return None
    t = getattr(mech, "threshold", 0.5)

    def run(ids, rng):
        noisy = noise_mech.noisy_vectors(ids, rng).astype(np.float32)
        out = np.empty(len(ids), dtype=np.int64)
        for s in range(0, len(ids), chunk):
            y = noisy[s : s + chunk]
            scores = half_sq[None, :] - y @ vectors.T
            if not vickrey:
                out[s : s + chunk] = scores.argmin(axis=1)
                continue
            rows = np.arange(len(y))
            scores[rows, ids[s : s + chunk]] = np.inf
            two = np.argpartition(scores, 1, axis=1)[:, :2]
            swap = scores[rows, two[:, 0]] > scores[rows, two[:, 1]]
            two[swap] = two[swap][:, ::-1]
            d1 = np.linalg.norm(vectors[two[:, 0]] - y, axis=1)
            d2 = np.linalg.norm(vectors[two[:, 1]] - y, axis=1)
            den = t * d1 + (1 - t) * d2
            p = np.divide((1 - t) * d2, den, out=np.ones_like(d2), where=den > 0)
            out[s : s + chunk] = np.where(rng.random(len(y)) < p, two[:, 0], two[:, 1])
        return out

    return run
