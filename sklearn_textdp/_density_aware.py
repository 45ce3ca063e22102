"""DensityAwareSubstituter: selection among nearby words, calibrated to density."""

import numbers

import numpy as np

from ._array_api import check_device
from ._base import BaseSubstituter
from ._cache import cached
from ._density_graph import build_density_graph, graph_balls, scale_log_prior
from ._fitting import neighbor_graph, prior, tem_radius
from ._neighbors import warn_if_approximate
from ._text import normalize_words, tokenize
from .mechanisms import (
    CusText,
    FullExponential,
    GraphExponential,
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
#: Version of the density graph's definition, in its cache keys.
_GRAPH_FORMAT = 2
#: Largest (words x ball_size) table of graph balls computed and kept at fit
#: (int32 rows + float64 distances: 12 bytes each, ~130 MB): every word's at 20k
#: words; at 400k the 24,576 first (most frequent) words', the others' computed
#: for each chunk's distinct words at transform.
_BALL_TABLE_BUDGET = 12 * 1024 * 1024


class DensityAwareSubstituter(BaseSubstituter):
    """Replace words by private substitutes chosen among their neighbours.

    The noise adapts to how crowded the embedding is around each word (Feyisetan
    et al. 2021; Xu et al. 2021). By default, distances are measured in a
    *density graph* of the public vocabulary, whose unit is the local spacing of
    the embedding: a word in a crowded region is replaced by one of its close,
    similar words, and a word in a sparse region ("sensitive outlier") is protected
    just as much, by its own nearest words, however far they are. The published
    Euclidean mechanisms (truncated Gumbel, TEM, SanText, CusText) and a
    kernel-density prior are available as configurations.

    Parameters
    ----------
    epsilon : float, default=5.0
        Privacy parameter per unit of distance (of the density graph for
        ``truncation="graph"``, of the embedding otherwise), > 0 and finite.
    embeddings : None, str, path, Embeddings, (words, vectors) or dict, default=None
        The **public** word embedding; None is the bundled GloVe 6B 50d subset.
    truncation : {"graph", "knn", "radius", "partition"} or None, default="graph"
        - ``"graph"``: the exponential mechanism on the shortest-path metric
          ``d_G`` of the vocabulary's density graph (mutual ``graph_neighbors``-
          nearest-word edges plus a spanning tree that connects every word; an
          edge's length is the Euclidean distance divided by the local scale
          ``max(sigma_x, sigma_y)``, ``sigma`` the distance to the
          ``graph_neighbors``-th nearest word): output ``y`` with probability ~
          ``exp(-epsilon * min(d_G(x, y), rho(x)) / 2) * p(y)``, where ``rho(x)``
          is the ``d_G`` of the ``ball_size``-th nearest word. Exactly
          ``epsilon * d_G`` private at every epsilon (see Notes).
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
    prior : {"auto", "scale", "kde", "knn"} or None, default="auto"
        Public prior ``p`` of the exponential selection, a function of the
        embedding only. ``"auto"`` is ``"scale"`` for ``truncation="graph"`` and
        None (the published mechanisms' uniform base measure) otherwise.
        ``"scale"``: ``p(y) ~ r(y)^-4`` with ``r(y)`` the distance
        from ``y`` to its farthest listed neighbour (its ``2 * graph_neighbors``-th
        nearest word for ``truncation="graph"``), a tempered k-NN density that
        evens out how often crowded and sparse words are kept; ``"kde"``, a
        Gaussian kernel density (scikit-learn ``KernelDensity``); ``"knn"``, the
        k-nearest-neighbour density ``r(y)^-dim``; None, uniform. The Euclidean
        k-NN configuration of earlier releases used ``prior="kde"``.
    bandwidth : float or {"auto", "scott", "silverman"}, default="auto"
        Kernel bandwidth of ``prior="kde"``; ``"auto"`` is the median distance
        between a word and its nearest neighbour.
    prior_weight : float, default=1.0
        Exponent applied to the prior density (0 gives the uniform prior).
    poisson_mean : float or "auto", default="auto"
        Mean of the Poisson law of ``k``; ``"auto"`` is ``ln |W|``, the published
        choice.
    max_neighbors : int, default=64
        Neighbours listed per word (graph width), the largest ``k``
        (``truncation="knn"``). Capped, with a warning, at the vocabulary size
        minus one.
    graph_neighbors : int, default=4
        ``k`` of the density graph's mutual nearest-word edges and local scale
        (``truncation="graph"``); its spanning tree joins the ``2k`` nearest.
    ball_size : int, default=512
        Words listed per source word with their own score (``truncation="graph"``),
        the word itself included; every other word shares the score ``rho(x)``.
        Capped, with a warning, at the vocabulary size (the untruncated law).
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
        How the neighbour graph is built: exact tiled search, pynndescent, or
        exact up to 500,000 words (the 400k GloVe's graph takes a few minutes on
        2 cores the first time; it is cached on disk).
    device : str, default="cpu"
        Where the whole-vocabulary laws (``truncation=None`` or ``"radius"``:
        SanText, SanText+, TEM) and the exact neighbour search of ``fit`` run:
        ``"cpu"`` (numpy) or a GPU, ``"cuda"``, as in :class:`DPWordSubstituter`;
        the same graph and the same output for a given seed.
    unknown_words, placeholder, keep_words, perturb_on, max_document_epsilon, \
budget_action, n_jobs, verbose, random_state, store_embeddings_in_pickle
        As in :class:`DPWordSubstituter`.

    Attributes
    ----------
    embeddings_ : Embeddings
        The output vocabulary.
    graph_ : NeighborGraph
        The vocabulary's Euclidean neighbour graph, with ``min_distance``
        (Delta_0) and ``max_distance`` (Delta).
    density_graph_ : DensityGraph
        The density graph (``truncation="graph"``); ``mechanism_.distance(i, j)``
        is its shortest-path distance, the metric of the guarantee.
    ball_size_ : int
        The ``ball_size`` used (``truncation="graph"``).
    max_neighbors_ : int
        The ``max_neighbors`` used.
    prior_ : str or None
        The prior used (``prior`` with ``"auto"`` resolved).
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
        The largest privacy loss of one word, in units of epsilon: the
        vocabulary's Euclidean diameter, or for ``truncation="graph"`` the largest
        truncation radius ``max_x rho(x)`` (no two words are further apart).

    See Also
    --------
    DPWordSubstituter : Multivariate Laplace noise and nearest-word decoding.

    Notes
    -----
    **Unit of privacy**: one word; losses add up over a document
    (:meth:`privacy_cost`). Guarantees by configuration (``mechanism_.guarantee``
    states the fitted one):

    - ``truncation="graph"`` (default): for all words ``x, x', y``,
      ``P[M(x)=y] <= exp(epsilon * d_G(x, x')) P[M(x')=y]`` at every epsilon > 0,
      with ``d_G`` the density graph's shortest-path distance
      (``mechanism_.distance``). ``d_G`` is a metric and ``rho`` (the
      ``ball_size``-th smallest ``d_G(x, .)``) is 1-Lipschitz in it, so the score
      ``min(d_G(x, y), rho(x))`` is too; the prior does not depend on ``x``. The
      proof is in the mechanisms guide. It holds for whatever graph was built (an
      approximate neighbour list at 400k words changes the metric, not the
      guarantee). What it protects: words a few graph steps apart (a word and its
      nearest words, in a crowded or a sparse region alike) are hard to tell
      apart; words far apart in the graph are not, whatever their Euclidean
      distance. No pair is more than ``exp(epsilon * vocabulary_diameter_)``
      apart.
    - ``truncation="knn"``, ``"radius"`` or None with
      ``selection="exponential"``: for all words ``x, x', y``,
      ``P[M(x)=y] <= exp(epsilon * ||phi(x) - phi(x')||) P[M(x')=y]`` at every
      epsilon > 0. The score ``min(d(x, y), rho(x))`` is 1-Lipschitz in ``x`` (for
      ``"knn"``, ``rho`` is the distance to the k-th nearest word, itself
      1-Lipschitz; for ``"radius"`` it is the constant radius), and the prior and
      ``k`` do not depend on ``x``. For ``"knn"`` this needs the exact neighbour
      graph (the default up to 500,000 words); an approximate graph voids the bound
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
    >>> sub = DensityAwareSubstituter(epsilon=5, random_state=0)
    >>> sub.fit_transform(["The doctor said the movie was great!"])
    ['The nurse said part film later great!']
    >>> sub.mechanism_.name
    'graph-exponential'
    >>> round(float(sub.mechanism_.distance(sub.embeddings_.index_of(["movie"]),
    ...                                     sub.embeddings_.index_of(["film"]))[0]), 2)
    0.73
    """

    _parameter_constraints = {
        **BaseSubstituter._parameter_constraints,
        "truncation": [StrOptions({"graph", "knn", "radius", "partition"}), None],
        "selection": [StrOptions({"exponential", "gumbel"})],
        "prior": [StrOptions({"auto", "scale", "kde", "knn"}), None],
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
        "graph_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "ball_size": [Interval(numbers.Integral, 2, None, closed="left")],
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
        "device": [str],
    }

    def __init__(
        self,
        epsilon=5.0,
        *,
        embeddings=None,
        truncation="graph",
        selection="exponential",
        prior="auto",
        bandwidth="auto",
        prior_weight=1.0,
        poisson_mean="auto",
        max_neighbors=64,
        graph_neighbors=4,
        ball_size=512,
        radius="auto",
        partition_size=20,
        sensitive_fraction=None,
        perturb_probability=0.2,
        sensitive_frequencies="embedding",
        sampler="exact",
        mh_steps=200,
        neighbor_algorithm="auto",
        device="cpu",
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
        self.graph_neighbors = graph_neighbors
        self.ball_size = ball_size
        self.radius = radius
        self.partition_size = partition_size
        self.sensitive_fraction = sensitive_fraction
        self.perturb_probability = perturb_probability
        self.sensitive_frequencies = sensitive_frequencies
        self.sampler = sampler
        self.mh_steps = mh_steps
        self.neighbor_algorithm = neighbor_algorithm
        self.device = device
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
        check_device(self.device)  # even where the mechanism runs on the CPU
        if self.truncation == "graph" and (
            self.selection != "exponential"
            or self.sampler != "exact"
            or self.sensitive_fraction is not None
        ):
            raise ValueError(
                "truncation='graph' (the exponential mechanism on the density graph "
                "metric) is sampled exactly with selection='exponential', "
                "sampler='exact' and sensitive_fraction=None; got "
                f"selection={self.selection!r}, sampler={self.sampler!r}, "
                f"sensitive_fraction={self.sensitive_fraction!r}. The truncated "
                "Gumbel mechanism is truncation='knn', selection='gumbel'."
            )
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
        n_words = len(self.embeddings_)
        self.max_neighbors_ = self.max_neighbors
        if self.max_neighbors >= n_words and self.truncation != "graph":
            # Small vocabularies (audits, tests) list every other word instead.
            self.max_neighbors_ = n_words - 1
            warn_user(
                f"max_neighbors={self.max_neighbors} is not smaller than the "
                f"vocabulary ({n_words} words): using max_neighbors={n_words - 1}, "
                "every other word.",
                UserWarning,
            )

    def _fit_mechanism(self, docs=None):
        self._check_params()
        self.prior_ = self.prior
        if self.prior == "auto":
            self.prior_ = "scale" if self.truncation == "graph" else None
        vocabulary = self.embeddings_
        n_words = len(vocabulary)
        if self.truncation == "graph":
            return self._fit_graph(vocabulary)
        self.graph_ = neighbor_graph(
            vocabulary,
            self.max_neighbors_,
            self.neighbor_algorithm,
            self.n_jobs,
            self.device,
        )
        self.vocabulary_diameter_ = self.graph_.max_distance
        self.log_prior_ = self._log_prior(vocabulary)
        poisson_mean = None if self.poisson_mean == "auto" else self.poisson_mean
        if self.selection == "gumbel":
            warn_if_approximate(self.graph_, "The truncated Gumbel mechanism")
            if self.prior_ is not None:
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
                max_neighbors=self.max_neighbors_,
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
                device=self.device,
            )
        warn_if_approximate(self.graph_, "The truncated exponential mechanism")
        # Its per-word table costs ~0.5 s at 20k words: grid searches and
        # cross-validation refit with the same parameters many times.
        key = (
            "knn-exponential",
            vocabulary.fingerprint,
            self.graph_.exact,
            float(self.epsilon),
            self.prior_,
            str(self.bandwidth),
            float(self.prior_weight),
            poisson_mean,
            self.max_neighbors_,
        )
        return cached(
            key,
            lambda: TruncatedExponential(
                self.graph_,
                epsilon=self.epsilon,
                n_words=n_words,
                log_prior=self.log_prior_,
                poisson_mean=poisson_mean,
                max_neighbors=self.max_neighbors_,
            ),
            namespace="mechanisms",
        )

    def _fit_graph(self, vocabulary):
        n_words = len(vocabulary)
        k = int(min(self.graph_neighbors, n_words - 1))
        self.ball_size_ = int(min(self.ball_size, n_words))
        if self.ball_size_ < self.ball_size:
            warn_user(
                f"ball_size={self.ball_size} exceeds the vocabulary ({n_words} "
                f"words): using ball_size={n_words}, the untruncated law.",
                UserWarning,
            )
        # The Euclidean lists of width 2k give the mutual k-NN edges, the local
        # scales and the spanning tree that connects the graph.
        self.graph_ = neighbor_graph(
            vocabulary, 2 * k, self.neighbor_algorithm, self.n_jobs, self.device
        )
        # _GRAPH_FORMAT changes with the graph's definition: disk-cached graphs
        # and balls of an earlier definition are then ignored.
        key = (_GRAPH_FORMAT, vocabulary.fingerprint, k, self.graph_.exact)
        self.density_graph_ = cached(
            ("density-graph", *key),
            lambda: build_density_graph(
                vocabulary.vectors,
                self.graph_.indices,
                n_neighbors=k,
                connect_neighbors=2 * k,
                exact=self.graph_.exact,
            ),
        )
        self.log_prior_ = self._log_prior(vocabulary)
        # Independent of epsilon: computed once for a whole grid search. Large
        # vocabularies table the balls of their first (most frequent) words only;
        # the mechanism computes the others' per chunk.
        head = min(n_words, _BALL_TABLE_BUDGET // self.ball_size_)
        part = () if head == n_words else (head,)
        balls = cached(
            ("graph-balls", *key, self.ball_size_, *part),
            lambda: graph_balls(self.density_graph_, np.arange(head), self.ball_size_),
        )
        mechanism = GraphExponential(
            self.density_graph_,
            epsilon=self.epsilon,
            ball_size=self.ball_size_,
            log_prior=self.log_prior_,
            balls=balls,
        )
        self.vocabulary_diameter_ = cached(
            ("graph-largest-radius", *key, self.ball_size_),
            lambda: _largest_radius(mechanism, n_words),
        )
        return mechanism

    def _log_prior(self, vocabulary):
        if self.prior_ == "scale":
            return scale_log_prior(
                vocabulary.vectors, self.graph_.indices, self.prior_weight
            )
        return prior(
            vocabulary, self.prior_, self.graph_, self.bandwidth, self.prior_weight
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
                device=self.device,
            )
        mechanism = FullExponential(
            vocabulary.vectors,
            epsilon=self.epsilon,
            log_prior=self.log_prior_,
            sampler=self.sampler,
            graph=self.graph_,
            mh_steps=self.mh_steps,
            device=self.device,
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


def _largest_radius(mechanism, n_words, block=8192):
    """``max_x rho(x)``: no word's privacy loss exceeds epsilon times it."""
    return float(
        max(
            mechanism.truncation_radius(np.arange(s, min(n_words, s + block))).max()
            for s in range(0, n_words, block)
        )
    )
