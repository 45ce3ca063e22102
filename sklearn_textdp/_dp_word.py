"""DPWordSubstituter: noise on the word vector, then the nearest word."""

import numbers

from ._array_api import check_device, resolve_device
from ._base import BaseSubstituter
from ._fitting import PUBLIC_SEED, diameter, neighbor_graph
from .mechanisms import ApproximateDecoder, ExactDecoder
from .mechanisms._laplace import CalibratedLaplace, Mahalanobis, Vickrey
from .privacy import warn_user
from .utils._sklearn_compat import Interval, StrOptions

__all__ = ["DPWordSubstituter"]

#: Width of the short lists used to prove a decoding without a full search.
SHORT_LIST_SIZE = 64
#: The short-list graph is built up to this many words. Beyond, its 64 nearest
#: words cost more to find than the proof saves: at 400k words and epsilon 8 the
#: proof settles almost no token (benchmarks/results/speed.md).
SHORT_LIST_MAX_WORDS = 60_000


class DPWordSubstituter(BaseSubstituter):
    """Replace words by private substitutes: noisy vector, then nearest word.

    The calibrated multivariate Laplace mechanism of Feyisetan et al. (2020) and
    its relatives. For every word ``w`` in the vocabulary, noise is added to its
    vector ``phi(w)`` and the vocabulary word nearest to the noisy vector is emitted
    (``w`` itself included). Whitespace, punctuation, digits and every other
    character between words are kept as they are.

    Parameters
    ----------
    epsilon : float, default=10.0
        Privacy parameter per unit of embedding distance, > 0 and finite. Larger is
        less private: see :func:`~sklearn_textdp.plausible_deniability`.
    embeddings : None, str, path, Embeddings, (words, vectors) or dict, default=None
        The **public** word embedding (see :func:`~sklearn_textdp.load_embeddings`);
        None is the bundled GloVe 6B 50d 20k-word subset. Outputs are always words of
        this embedding, never of the private data.
    mechanism : {"laplace", "mahalanobis", "vickrey", "vickrey-mahalanobis"}, \
default="laplace"
        - ``"laplace"``: noise ``z`` with density ~ ``exp(-epsilon ||z||)``: norm
          ``Gamma(dim, 1/epsilon)``, uniform direction (Feyisetan et al. 2020).
        - ``"mahalanobis"``: ``z = r * M^(1/2) u`` with the regularised covariance
          ``M = lambda Sigma + (1 - lambda) I`` (Xu et al. 2020).
        - ``"vickrey"``, ``"vickrey-mahalanobis"``: the same noise, then a random choice
          between the two nearest words other than the input word (Xu et al. 2021);
          see Notes on its guarantee.
    covariance_weight : float, default=0.2
        ``lambda`` of the Mahalanobis mechanisms, in [0, 1].
    threshold : float, default=0.5
        ``t`` of the Vickrey mechanisms, in [0, 1]: the nearest candidate is chosen
        with probability ``(1-t) d2 / (t d1 + (1-t) d2)``.
    decoder : {"exact", "approximate"}, default="exact"
        ``"exact"`` returns exactly the nearest word (identical to float64 brute
        force). ``"approximate"`` queries a pynndescent index: faster on huge
        vocabularies, not always the nearest word.
    unknown_words : {"placeholder", "sample", "keep"}, default="placeholder"
        What replaces a word missing from the vocabulary: ``placeholder``, a word
        drawn uniformly from the vocabulary independently of it, or (warned) the word
        itself in clear.
    placeholder : str, default="<unk>"
    keep_words : None, "english" or collection of str, default=None
        A public list of words never to perturb (e.g. ``"english"`` stop words); they
        are released in clear.
    perturb_on : {"always", "fit"}, default="always"
        ``"always"``: ``fit_transform`` and ``transform`` both perturb (nothing passes
        in clear). ``"fit"``: only ``fit_transform`` perturbs; ``transform`` returns
        its input (train on private data, predict on your own text).
    max_document_epsilon : float, default=None
        Per-document budget on ``epsilon * (perturbed words)``.
    budget_action : {"raise", "truncate"}, default="raise"
        Over budget: raise a ValueError, or cut the document before the first word
        over budget.
    n_jobs : int, default=None
        Threads over blocks of documents, and over chunks of tokens in the exact
        decoder's search (each with a single-threaded BLAS). The output does not
        depend on it.
    device : str, default="cpu"
        Where exact decoding searches the vocabulary (and ``fit`` its short-list
        graph). ``"cpu"``: numpy. ``"cuda"``
        (or ``"cuda:N"``): a GPU through PyTorch or CuPy and array-api-compat
        (``pip install "sklearn-textdp[gpu]" torch``); ``"torch:DEVICE"``,
        ``"cupy"``, ``"cupy:N"`` name the library. The noise is drawn on the host
        from the same Generator and near ties are re-checked in float64 there, so
        the output is the same on every device for a given seed. Ignored by
        ``decoder="approximate"``.
    verbose : int, default=0
        Show a progress bar (tqdm) when > 0.
    random_state : None, int, Generator or RandomState, default=None
        ``None`` draws fresh operating-system entropy at every call (use this in
        production). A fixed seed is for tests and benchmarks: anyone who knows it
        can remove the noise.
    store_embeddings_in_pickle : bool, default=True
        When False, pickles hold the embedding's name or path and SHA-256 instead of
        the vectors, graph and tables; they are rebuilt (and checked) on unpickling.
        Keeps task graphs small when shipping a fitted substituter to workers.
        Named public embeddings (``None``, ``"glove-6b-50d-20k"``,
        ``"glove-6b-50d"``) are always pickled that way (under 2 MB).

    Attributes
    ----------
    embeddings_ : Embeddings
        The output vocabulary: single-word entries of the embedding, lower case.
    mechanism_ : Mechanism
        The fitted mechanism; ``mechanism_.guarantee`` states its guarantee.
    graph_ : NeighborGraph or None
        Exact neighbour lists used to prove decodings without a full search.
    vocabulary_diameter_ : float
        Largest distance between two output words (or an upper bound).

    See Also
    --------
    DensityAwareSubstituter : Noise calibrated to the local density of the embedding.

    Notes
    -----
    **Unit of privacy**: one word. For ``"laplace"``, for any words ``w, w'`` and
    output ``o``, ``P[M(w)=o] <= exp(epsilon * ||phi(w) - phi(w')||) P[M(w')=o]``
    (metric DP). Over a document, the losses of its words add up (see
    :meth:`privacy_cost`). ``"mahalanobis"`` gives the same with the regularised
    Mahalanobis distance. The Vickrey mechanisms never emit the input word, so for
    that output the likelihood ratio is unbounded: they are **not** metric-DP.

    ``fit`` reads only the public embedding: ``X`` is validated and discarded.
    What is not protected: document length and word count, the characters between
    words (digits included), the case pattern of each word, words in ``keep_words``,
    and (with ``unknown_words="placeholder"``) which words are missing from the
    vocabulary. Each call of ``transform`` with ``random_state=None`` draws new noise:
    releasing two perturbations of the same text spends epsilon twice.

    References
    ----------
    .. [1] O. Feyisetan, B. Balle, T. Drake, T. Diethe. "Privacy- and
       Utility-Preserving Textual Analysis via Calibrated Multivariate
       Perturbations". WSDM 2020.
    .. [2] Z. Xu, A. Aggarwal, O. Feyisetan, N. Teissier. "A Differentially Private
       Text Perturbation Method Using a Regularized Mahalanobis Metric".
       PrivateNLP 2020.
    .. [3] Z. Xu, A. Aggarwal, O. Feyisetan, N. Teissier. "On a Utilitarian
       Approach to Privacy Preserving Text Generation". PrivateNLP 2021.

    Examples
    --------
    >>> from sklearn_textdp import DPWordSubstituter
    >>> sub = DPWordSubstituter(epsilon=40, random_state=0)
    >>> sub.fit_transform(["The movie was great!", None])
    ['The movie was great!', None]
    >>> sub.set_params(epsilon=10).fit_transform(["The movie was great!"])
    ['Law movie after great!']
    """

    _parameter_constraints = {
        **BaseSubstituter._parameter_constraints,
        "mechanism": [
            StrOptions({"laplace", "mahalanobis", "vickrey", "vickrey-mahalanobis"})
        ],
        "covariance_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "threshold": [Interval(numbers.Real, 0, 1, closed="both")],
        "decoder": [StrOptions({"exact", "approximate"})],
        "device": [str],
    }

    def __init__(
        self,
        epsilon=10.0,
        *,
        embeddings=None,
        mechanism="laplace",
        covariance_weight=0.2,
        threshold=0.5,
        decoder="exact",
        unknown_words="placeholder",
        placeholder="<unk>",
        keep_words=None,
        perturb_on="always",
        max_document_epsilon=None,
        budget_action="raise",
        n_jobs=None,
        device="cpu",
        verbose=0,
        random_state=None,
        store_embeddings_in_pickle=True,
    ):
        self.epsilon = epsilon
        self.embeddings = embeddings
        self.mechanism = mechanism
        self.covariance_weight = covariance_weight
        self.threshold = threshold
        self.decoder = decoder
        self.unknown_words = unknown_words
        self.placeholder = placeholder
        self.keep_words = keep_words
        self.perturb_on = perturb_on
        self.max_document_epsilon = max_document_epsilon
        self.budget_action = budget_action
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose
        self.random_state = random_state
        self.store_embeddings_in_pickle = store_embeddings_in_pickle

    def _fit_mechanism(self, docs=None):
        check_device(self.device)
        device = resolve_device(self.device) if self.decoder == "exact" else None
        vocabulary = self.embeddings_
        vectors = vocabulary.vectors
        self.graph_ = None
        if self.decoder == "exact" and len(vocabulary) <= SHORT_LIST_MAX_WORDS:
            self.graph_ = neighbor_graph(
                vocabulary,
                SHORT_LIST_SIZE,
                "exact",
                device="cpu" if device is None else self.device,
            )
            self.vocabulary_diameter_ = self.graph_.max_distance
        else:
            self.vocabulary_diameter_ = diameter(vocabulary)[0]
        if self.decoder == "exact":
            decoder = ExactDecoder(
                vectors,
                self.graph_,
                n_jobs=self.n_jobs,
                device="cpu" if device is None else self.device,
            )
        else:
            warn_user(
                "decoder='approximate' does not always return the nearest word: the "
                "noise's guarantee still holds (the decoding only reads the noisy "
                "vector and the public index), but N_w / S_w and utility shift, and "
                "the query time depends on the query (a timing side channel)."
            )
            decoder = ApproximateDecoder(vectors, random_state=PUBLIC_SEED)
        kwargs = {"epsilon": self.epsilon, "decoder": decoder}
        if self.mechanism == "laplace":
            return CalibratedLaplace(vectors, **kwargs)
        if self.mechanism == "mahalanobis":
            return Mahalanobis(
                vectors, covariance_weight=self.covariance_weight, **kwargs
            )
        weight = (
            self.covariance_weight if self.mechanism == "vickrey-mahalanobis" else None
        )
        return Vickrey(
            vectors, threshold=self.threshold, covariance_weight=weight, **kwargs
        )
