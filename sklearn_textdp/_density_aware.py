"""DensityAwareSubstituter: selection among nearby words, calibrated to density."""

import numbers

import numpy as np

from ._base import BaseSubstituter
from ._cache import cached
from ._fitting import neighbor_graph, prior, tem_radius
from ._neighbors import warn_if_approximate
from ._text import normalize_words, tokenize
from .mechanisms import (
    CusText,
    FullExponential,
    SanTextPlus,
    TruncatedExponential,
    TruncatedGumbel,
    sensitive_words_by_rank,
)
from .privacy import warn_user
from .utils._sklearn_compat import Interval, StrOptions

__all__ = ["DensityAwareSubstituter"]

#: Vocabulary words on which the Metropolis-Hastings acceptance rate is measured.
_MH_DIAGNOSTIC_WORDS = 256


class DensityAwareSubstituter(BaseSubstituter):
    """Replace words by private substitutes chosen among their neighbours.

    Candidates are truncated to the neighbourhood of each word, so the noise adapts
    to how crowded the embedding is around it (Xu et al. 2021; Feyisetan et al.
    2021); a public kernel-density prior can weight the candidates.

    Parameters
    ----------
    epsilon : float, default=10.0
        Privacy parameter per unit of embedding distance, > 0 and finite.
    embeddings : None, str, path, Embeddings, (words, vectors) or dict, default=None
        The **public** word embedding; None is the bundled GloVe 6B 50d subset.
    truncation : {"knn", "radius", "partition"} or None, default="knn"
        - ``"knn"``: the ``k`` nearest words (the word itself first), ``k`` drawn
          from a Poisson with mean ``poisson_mean`` truncated to
          ``[1, max_neighbors]``, never 0.
        - ``"radius"``: the words within ``radius`` of the word (TEM, Carvalho et
          al. 2023): with the exponential selection, words outside share the score
          of the radius (the escape element), so in sparse regions, where a word may
          have no neighbour inside the radius, it is either kept or replaced by a
          prior draw from outside the radius: it is still protected; see Notes.
        - ``"partition"``: CusText's disjoint output sets of ``partition_size``
          words, built once at ``fit`` (Chen et al. 2023); selection inside the set
          by an exponential mechanism on min-max normalised distances.
        - ``None``: every vocabulary word (SanText, Yue et al. 2021, with the uniform
          prior; SanText+ with ``sensitive_fraction``).
    selection : {"exponential", "gumbel"}, default="exponential"
        - ``"exponential"``: output ``y`` with probability ~
          ``exp(-epsilon * min(d(x, y), rho(x)) / 2) * p(y)``, where ``rho(x)`` is
          the truncation radius (the distance of the k-th nearest word for
          ``"knn"``) and ``p`` the prior: words beyond the truncation share the
          score of its boundary, as TEM's escape element does. Sampled exactly.
          epsilon*d private for **every** epsilon > 0.
        - ``"gumbel"``: the published truncated Gumbel mechanism (``truncation="knn"``
          only): output ``argmin_j d(x, u_j) + g_j`` with ``g_j`` Gumbel noise of the
          published scale ``b`` truncated to ``|g| <= Delta``. Its formula needs
          ``epsilon > (2 (1 + ln|W|) + 3) / Delta_0`` (about 70.6 on the bundled
          embedding); smaller values raise a ValueError stating that bound.
    prior : {"kde", "knn"} or None, default="kde"
        Public prior ``p`` of the exponential selection: a Gaussian kernel density
        of the embedding (scikit-learn ``KernelDensity``), a k-nearest-neighbour
        density, or None (uniform).
    bandwidth : float or {"auto", "scott", "silverman"}, default="auto"
        Kernel bandwidth of ``prior="kde"``; ``"auto"`` is the median distance
        between a word and its nearest neighbour.
    prior_weight : float, default=1.0
        Exponent of the prior density (0 gives the uniform prior).
    poisson_mean : float or "auto", default="auto"
        Mean of the Poisson law of ``k``; ``"auto"`` is ``ln |W|``, the published
        choice.
    max_neighbors : int, default=64
        Neighbours listed per word (graph width), the largest ``k``.
    radius : float or "auto", default="auto"
        Truncation radius of ``truncation="radius"``; ``"auto"`` is TEM's
        ``(2 / epsilon) ln((1 - beta) |W| / beta)`` with ``beta = 0.001``.
    partition_size : int, default=20
        Size of CusText's output sets (``truncation="partition"``).
    sensitive_fraction : float, default=None
        SanText+ (``truncation=None``): the least frequent ``sensitive_fraction`` of
        the vocabulary is sensitive and always perturbed, into sensitive words only;
        other words are perturbed with probability ``perturb_probability``. None
        (the default) treats every word as sensitive (SanText).
    perturb_probability : float, default=0.2
        SanText+'s ``p``.
    sensitive_frequencies : {"embedding", "data"}, default="embedding"
        Word frequencies that decide which words are sensitive: the embedding's
        public frequency order, or (warned: the fitted estimator then depends on the
        private data) the frequencies in ``X`` at ``fit``.
    sampler : {"exact", "metropolis"}, default="exact"
        How ``truncation=None`` is sampled: exactly (one row of the whole vocabulary
        per distinct source word) or by Metropolis-Hastings on the neighbour graph
        (approximate; see Notes).
    mh_steps : int, default=200
        Chain length of the Metropolis-Hastings sampler.
    neighbor_algorithm : {"auto", "exact", "approximate"}, default="auto"
        How the neighbour graph is built: exact brute force, pynndescent, or exact
        up to 60,000 words.
    unknown_words, placeholder, keep_words, perturb_on, max_document_epsilon, \
budget_action, n_jobs, verbose, random_state, store_embeddings_in_pickle
        As in :class:`DPWordSubstituter`.

    Attributes
    ----------
    embeddings_ : Embeddings
        The output vocabulary.
    graph_ : NeighborGraph
        The vocabulary's neighbour graph, with ``min_distance`` (Delta_0) and
        ``max_distance`` (Delta).
    log_prior_ : ndarray of shape (n_words,) or None
        The normalised log prior (None: uniform).
    mechanism_ : Mechanism
        The fitted mechanism; ``mechanism_.guarantee`` states its guarantee.
    alpha_, gumbel_scale_ : float
        ``alpha`` and ``b`` of the truncated Gumbel mechanism (``selection="gumbel"``).
    radius_ : float
        The truncation radius (``truncation="radius"``).
    mh_acceptance_rate_ : float
        Acceptance rate of the Metropolis-Hastings chains, measured at ``fit`` on
        256 vocabulary words (``sampler="metropolis"``).
    vocabulary_diameter_ : float

    See Also
    --------
    DPWordSubstituter : Multivariate Laplace noise and nearest-word decoding.

    Notes
    -----
    **Unit of privacy**: one word; losses add up over a document
    (:meth:`privacy_cost`). Guarantees by configuration (``mechanism_.guarantee``
    states the fitted one):

    - ``truncation="knn"`` (default), ``"radius"`` or None with
      ``selection="exponential"``: for all words ``x, x', y``,
      ``P[M(x)=y] <= exp(epsilon * ||phi(x) - phi(x')||) P[M(x')=y]`` at every
      epsilon > 0. The score ``min(d(x, y), rho(x))`` is 1-Lipschitz in ``x`` (for
      ``"knn"``, ``rho`` is the distance to the k-th nearest word, itself
      1-Lipschitz; for ``"radius"`` it is the constant radius), and the prior and
      ``k`` do not depend on ``x``. For ``"knn"`` this needs the exact neighbour
      graph (the default up to 60,000 words); an approximate graph voids the bound
      for the word pairs it misses, and is warned about.
    - ``selection="gumbel"``: the published truncated Gumbel mechanism, as claimed by
      its paper for epsilon above its valid bound (not proven here).
    - ``truncation="partition"`` (CusText): epsilon-DP (not metric) between the
      words of one output set; words of different sets have disjoint outputs.
    - ``sensitive_fraction`` (SanText+): the metric bound holds between sensitive
      words only; non-sensitive words are released in clear with probability
      ``1 - perturb_probability``.
    - ``sampler="metropolis"``: a finite chain started at the input word only
      approximates the target law: if its law is within total variation ``delta``
      of the target, the guarantee becomes ``(epsilon*d, (1 + e^(epsilon*d)) delta)``;
      no bound on ``delta`` is proven, so prefer ``sampler="exact"``.

    **Sparse regions.** A word far from every other (an outlier such as a rare
    name) has few or no words inside a radius. With the exponential selection it is
    then either kept or replaced by a prior draw from beyond the truncation (the
    escape), so it still gets the guarantee, at a utility cost; a Gumbel selection
    over the words inside a radius would never change it, which is why the Gumbel
    selection is offered with ``truncation="knn"`` only. Under metric DP, outliers
    are by construction distinguishable from far-away words: the bound is
    ``exp(epsilon * distance)``.

    ``fit`` reads only the public embedding. What is not protected is listed in
    :class:`DPWordSubstituter`.

    References
    ----------
    .. [1] N. Xu, O. Feyisetan, A. Aggarwal, Z. Xu, N. Teissier. "Density-Aware
       Differentially Private Textual Perturbations Using Truncated Gumbel Noise".
       FLAIRS 2021.
    .. [2] O. Feyisetan, A. Aggarwal, Z. Xu, N. Teissier. "Research Challenges in
       Designing Differentially Private Text Generation Mechanisms". FLAIRS 2021.
    .. [3] R. S. Carvalho, T. Vasiloudis, O. Feyisetan, K. Wang. "TEM: High Utility
       Metric Differential Privacy on Text". SDM 2023.

    Examples
    --------
    >>> from sklearn_textdp import DensityAwareSubstituter
    >>> sub = DensityAwareSubstituter(epsilon=10, random_state=0)
    >>> sub.fit_transform(["The movie was great!"])
    ['The movie was great!']
    >>> sub.set_params(epsilon=5).fit_transform(["The movie was great!"])
    ['Cobb fascination californians drew!']
    """

    _parameter_constraints = {
        **BaseSubstituter._parameter_constraints,
        "truncation": [StrOptions({"knn", "radius", "partition"}), None],
        "selection": [StrOptions({"exponential", "gumbel"})],
        "prior": [StrOptions({"kde", "knn"}), None],
        "bandwidth": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto", "scott", "silverman"}),
        ],
        "prior_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "poisson_mean": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "max_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "radius": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "partition_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "sensitive_fraction": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "perturb_probability": [Interval(numbers.Real, 0, 1, closed="both")],
        "sensitive_frequencies": [StrOptions({"embedding", "data"})],
        "sampler": [StrOptions({"exact", "metropolis"})],
        "mh_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "neighbor_algorithm": [StrOptions({"auto", "exact", "approximate"})],
    }

    def __init__(
        self,
        epsilon=10.0,
        *,
        embeddings=None,
        truncation="knn",
        selection="exponential",
        prior="kde",
        bandwidth="auto",
        prior_weight=1.0,
        poisson_mean="auto",
        max_neighbors=64,
        radius="auto",
        partition_size=20,
        sensitive_fraction=None,
        perturb_probability=0.2,
        sensitive_frequencies="embedding",
        sampler="exact",
        mh_steps=200,
        neighbor_algorithm="auto",
        unknown_words="placeholder",
        placeholder="<unk>",
        keep_words=None,
        perturb_on="always",
        max_document_epsilon=None,
        budget_action="raise",
        n_jobs=None,
        verbose=0,
        random_state=None,
        store_embeddings_in_pickle=True,
    ):
        self.epsilon = epsilon
        self.embeddings = embeddings
        self.truncation = truncation
        self.selection = selection
        self.prior = prior
        self.bandwidth = bandwidth
        self.prior_weight = prior_weight
        self.poisson_mean = poisson_mean
        self.max_neighbors = max_neighbors
        self.radius = radius
        self.partition_size = partition_size
        self.sensitive_fraction = sensitive_fraction
        self.perturb_probability = perturb_probability
        self.sensitive_frequencies = sensitive_frequencies
        self.sampler = sampler
        self.mh_steps = mh_steps
        self.neighbor_algorithm = neighbor_algorithm
        self.unknown_words = unknown_words
        self.placeholder = placeholder
        self.keep_words = keep_words
        self.perturb_on = perturb_on
        self.max_document_epsilon = max_document_epsilon
        self.budget_action = budget_action
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state
        self.store_embeddings_in_pickle = store_embeddings_in_pickle

    def _check_params(self):
        if self.selection == "gumbel" and self.truncation != "knn":
            raise ValueError(
                "selection='gumbel' (the truncated Gumbel mechanism) is defined for "
                f"truncation='knn' only; got truncation={self.truncation!r}. With a "
                "radius, a word without neighbours inside it would never change."
            )
        if self.sensitive_fraction is not None and (
            self.truncation is not None or self.sampler != "exact"
        ):
            raise ValueError(
                "sensitive_fraction (SanText+) perturbs over the whole vocabulary: use "
                "it with truncation=None and sampler='exact'."
            )
        if self.sampler == "metropolis" and self.truncation is not None:
            raise ValueError(
                "sampler='metropolis' samples the untruncated law: use it with "
                f"truncation=None (got truncation={self.truncation!r})."
            )
        if self.max_neighbors >= len(self.embeddings_):
            raise ValueError(
                f"max_neighbors={self.max_neighbors} must be smaller than the "
                f"vocabulary ({len(self.embeddings_)} words)."
            )

    def _fit_mechanism(self, docs=None):
        self._check_params()
        vocabulary = self.embeddings_
        n_words = len(vocabulary)
        self.graph_ = neighbor_graph(
            vocabulary, self.max_neighbors, self.neighbor_algorithm, self.n_jobs
        )
        self.vocabulary_diameter_ = self.graph_.max_distance
        self.log_prior_ = prior(
            vocabulary, self.prior, self.graph_, self.bandwidth, self.prior_weight
        )
        poisson_mean = None if self.poisson_mean == "auto" else self.poisson_mean
        if self.selection == "gumbel":
            warn_if_approximate(self.graph_, "The truncated Gumbel mechanism")
            if self.prior is not None:
                warn_user(
                    "prior is ignored by selection='gumbel' (the published "
                    "mechanism has no prior).",
                    UserWarning,
                )
            mechanism = TruncatedGumbel(
                self.graph_,
                epsilon=self.epsilon,
                n_words=n_words,
                poisson_mean=poisson_mean,
                max_neighbors=self.max_neighbors,
            )
            self.alpha_, self.gumbel_scale_ = mechanism.alpha, mechanism.scale
            return mechanism
        if self.truncation is None:
            return self._fit_full(vocabulary, docs)
        if self.truncation == "partition":
            return CusText(
                vocabulary.vectors,
                epsilon=self.epsilon,
                partition_size=self.partition_size,
                graph=self.graph_,
            )
        if self.truncation == "radius":
            self.radius_ = (
                tem_radius(self.epsilon, n_words, 0.001)
                if self.radius == "auto"
                else float(self.radius)
            )
            return FullExponential(
                vocabulary.vectors,
                epsilon=self.epsilon,
                log_prior=self.log_prior_,
                gamma=self.radius_,
            )
        warn_if_approximate(self.graph_, "The truncated exponential mechanism")
        # Its per-word table costs ~0.5 s at 20k words: grid searches and
        # cross-validation refit with the same parameters many times.
        key = (
            "knn-exponential",
            vocabulary.fingerprint,
            self.graph_.exact,
            float(self.epsilon),
            self.prior,
            str(self.bandwidth),
            float(self.prior_weight),
            poisson_mean,
            self.max_neighbors,
        )
        return cached(
            key,
            lambda: TruncatedExponential(
                self.graph_,
                epsilon=self.epsilon,
                n_words=n_words,
                log_prior=self.log_prior_,
                poisson_mean=poisson_mean,
                max_neighbors=self.max_neighbors,
            ),
            namespace="mechanisms",
        )

    def _sensitive_words(self, vocabulary, docs):
        if self.sensitive_frequencies == "embedding":
            return sensitive_words_by_rank(len(vocabulary), self.sensitive_fraction)
        warn_user(
            "sensitive_frequencies='data' chooses the sensitive words from the word "
            "frequencies of the private documents given to fit: the fitted estimator "
            "and the support of its outputs depend on the private data, which the "
            "guarantee does not cover."
        )
        texts = [t for i in range(len(docs.columns)) for t in docs.texts(i)]
        batch = tokenize(texts)
        rows = vocabulary.index_of(normalize_words(batch.words))
        counts = np.bincount(rows[rows >= 0], minlength=len(vocabulary))
        # Rank by decreasing count; the embedding's order breaks ties.
        rank = np.empty(len(vocabulary), dtype=np.int64)
        rank[np.lexsort((np.arange(len(vocabulary)), -counts))] = np.arange(
            len(vocabulary)
        )
        return sensitive_words_by_rank(len(vocabulary), self.sensitive_fraction, rank)

    def _fit_full(self, vocabulary, docs):
        if self.sensitive_fraction is not None:
            return SanTextPlus(
                vocabulary.vectors,
                epsilon=self.epsilon,
                sensitive=self._sensitive_words(vocabulary, docs),
                perturb_probability=self.perturb_probability,
            )
        mechanism = FullExponential(
            vocabulary.vectors,
            epsilon=self.epsilon,
            log_prior=self.log_prior_,
            sampler=self.sampler,
            graph=self.graph_,
            mh_steps=self.mh_steps,
        )
        if self.sampler == "metropolis":
            warn_user(
                "sampler='metropolis' returns approximate samples: the guarantee holds "
                "only up to the chain's distance to its target law (see Notes)."
            )
            rng = np.random.default_rng(0)  # diagnostics on public words only
            words = rng.choice(
                len(vocabulary),
                size=min(_MH_DIAGNOSTIC_WORDS, len(vocabulary)),
                replace=False,
            )
            _, self.mh_acceptance_rate_ = mechanism.metropolis(words, rng)
        return mechanism
