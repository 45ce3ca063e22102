"""Plumbing shared by the substituters: documents in, perturbed documents out.

Subclasses build a fitted :class:`~sklearn_textdp.mechanisms.Mechanism` in
``_fit_mechanism``; this class does everything around it: validation, the public
output vocabulary, tokenisation, words missing from the vocabulary, words kept in
clear, case, per-document budgets, seeding, parallelism and output containers.
"""

import itertools
import math
import numbers
import os
import threading
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.utils.validation import check_is_fitted

from ._cache import cached
from ._documents import check_documents
from ._embeddings import Embeddings, is_named_embedding, load_embeddings
from ._text import (
    apply_case,
    case_patterns,
    collapsed_keys,
    extended_lookup,
    fallback_keys,
    inflection_table,
    is_word,
    normalize_words,
    rebuild_chunk,
    split_chunk,
)
from .privacy import EPSILON, document_privacy_cost, warn_user
from .utils._random import block_rng, root_seed_sequence
from .utils._sklearn_compat import Interval, StrOptions, _fit_context

__all__ = ["BaseSubstituter", "fitted_substituter", "output_vocabulary"]

#: Documents per random-stream block: the unit of parallel work. Fixed, so that a
#: seeded transform gives the same output whatever n_jobs is.
_BLOCK_DOCS = 2048
#: Word tokens handed to a mechanism at once (bounds the memory of noise blocks).
_TOKEN_CHUNK = 32768
_CALL_COUNT_LOCK = threading.Lock()


def output_vocabulary(embeddings):
    """The words a substituter may emit: the embedding's single-word entries.

    Words are normalised as lookups are (NFC, lower case); rows that are not one word
    for the tokenizer (punctuation, numbers, multi-word entries) are dropped, and of
    words equal after normalisation the first row (the most frequent, in
    frequency-ordered files) is kept. The result depends only on the embedding.
    """

    def compute():
        keys = normalize_words(embeddings.words)
        single = np.fromiter((is_word(k) for k in keys), dtype=bool, count=len(keys))
        first = ~pd.Index(keys).duplicated()
        rows = np.flatnonzero(single & first)
        if len(rows) < 2:
            raise ValueError(
                "The embeddings hold fewer than 2 single-word entries; nothing to "
                "substitute with."
            )
        if len(rows) == len(embeddings) and np.array_equal(keys, embeddings.words):
            return embeddings
        return Embeddings._trusted(
            keys[rows], embeddings.vectors[rows], embeddings.source
        )

    return cached(("vocabulary", embeddings.fingerprint), compute)


def fitted_substituter(substituter):
    """``substituter`` itself when fitted, else a fitted clone (the public embedding
    is all a fit needs, so no documents are required)."""
    try:
        check_is_fitted(substituter, "mechanism_")
    except NotFittedError:
        return clone(substituter).fit([])
    return substituter


class BaseSubstituter(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Base class of the word substituters (not for direct use)."""

    _parameter_constraints = {
        "epsilon": [EPSILON],
        # load_embeddings validates sources with messages naming the bad row.
        "embeddings": "no_validation",
        "unknown_words": [StrOptions({"placeholder", "sample", "keep"})],
        "placeholder": [str],
        "keep_words": [None, StrOptions({"english"}), list, tuple, set, frozenset],
        "perturb_on": [StrOptions({"always", "fit"})],
        "max_document_epsilon": [
            None,
            Interval(numbers.Real, 0, None, closed="neither"),
        ],
        "budget_action": [StrOptions({"raise", "truncate"})],
        "n_jobs": [
            None,
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(numbers.Integral, None, -1, closed="right"),
        ],
        "verbose": ["verbose"],
        "random_state": [
            None,
            Interval(numbers.Integral, 0, None, closed="left"),
            np.random.Generator,
            np.random.RandomState,
        ],
        "store_embeddings_in_pickle": ["boolean"],
    }

    #: Fitted attributes rebuilt from the public embedding when it is not pickled.
    _PUBLIC_STATE = ("embeddings_", "graph_", "log_prior_", "mechanism_")

    # ------------------------------------------------------------------ fitting
    def _fit_common(self):
        self._check_keep_words()
        try:
            embeddings = load_embeddings(self.embeddings)
        except (TypeError, ValueError) as exc:
            if "embeddings" in str(exc):
                raise
            error = TypeError if isinstance(exc, TypeError) else ValueError
            raise error(f"Invalid 'embeddings' parameter: {exc}") from exc
        self.embeddings_ = output_vocabulary(embeddings)
        self.keep_words_ = self._normalized_keep_words()
        if self.unknown_words == "keep":
            warn_user(
                "unknown_words='keep' releases every word missing from the vocabulary "
                "in clear (names, typos, rare words): they get no privacy at all."
            )
        if self.keep_words_:
            warn_user(
                f"keep_words: {len(self.keep_words_)} words are released in clear "
                "wherever they occur; only use a public list (e.g. stop words)."
            )

    def _check_keep_words(self):
        if self.keep_words is None or isinstance(self.keep_words, str):
            return
        bad = [w for w in self.keep_words if not isinstance(w, str)]
        if bad:
            raise TypeError(f"keep_words must hold str; got {bad[0]!r}.")

    def _normalized_keep_words(self):
        if self.keep_words is None:
            return frozenset()
        words = ENGLISH_STOP_WORDS if self.keep_words == "english" else self.keep_words
        return frozenset(normalize_words(np.array(sorted(words), dtype=object)))

    def _record_input_shape(self, docs):
        if docs.one_dimensional:
            for attr in ("n_features_in_", "feature_names_in_"):
                if hasattr(self, attr):
                    delattr(self, attr)
            self._input_name = docs.names[0]
        else:
            self.n_features_in_ = len(docs.columns)
            if docs.kind == "frame":
                self.feature_names_in_ = np.asarray(docs.names, dtype=object)
            self._input_name = None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the substituter on the public embedding.

        ``X`` is only validated: nothing about the documents is stored.

        Parameters
        ----------
        X : list, tuple, array, pandas Series or DataFrame of str
            Documents; missing values allowed.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        docs = check_documents(X)
        self.__dict__.pop("_transform_calls", None)  # a new model: a new count
        self._record_input_shape(docs)
        self._fit_common()
        self.mechanism_ = self._fit_mechanism(docs)
        self._warn_on_little_deniability()
        return self

    def _fit_mechanism(self, docs):
        """Build the fitted mechanism (``docs`` only for data-dependent options)."""
        raise NotImplementedError

    # --------------------------------------------------------------- transforming
    def fit_transform(self, X, y=None):
        """Fit, then perturb ``X`` (also when ``perturb_on="fit"``)."""
        return self.fit(X, y)._perturb(X)

    def transform(self, X):
        """Replace every vocabulary word of ``X`` by a private substitute.

        Parameters
        ----------
        X : list, tuple, array, pandas Series or DataFrame of str
            Documents. Missing values stay missing; order and index are kept.

        Returns
        -------
        X_new : same kind as ``X``
            Perturbed documents (unchanged documents when ``perturb_on="fit"``).

        Notes
        -----
        After the call, ``unknown_share_`` is the share of the word tokens of
        ``X`` that are in the vocabulary under no lookup key (the word itself,
        its accent-free form, a contraction half, an abbreviation, an inflected
        form, its nearest word in the extended-vocabulary table or a drawn-out
        form cut short: see :func:`~sklearn_textdp._text.fallback_keys`) and so were
        handled by ``unknown_words``. It describes the last input, which is
        private: pickles leave it out, and ``del est.unknown_share_`` resets it.
        """
        check_is_fitted(self, "mechanism_")
        if self.perturb_on == "fit":
            docs = check_documents(X)
            return docs.rebuild(
                [docs.texts(i) for i in range(len(docs.columns))], self._output_kind()
            )
        self._warn_on_repeated_release()
        return self._perturb(X)

    @property
    def unknown_share_(self):
        """Share of the word tokens of the last ``transform`` input missing from
        the vocabulary under every lookup key (see :meth:`transform`)."""
        try:
            return self.__dict__["_unknown_share"]
        except KeyError:
            raise AttributeError(
                "unknown_share_ is set by transform; call transform first."
            ) from None

    @unknown_share_.deleter
    def unknown_share_(self):
        self.__dict__.pop("_unknown_share", None)

    def _warn_on_repeated_release(self):
        """Each transform is a new release: say so once, at the second call.

        With fresh noise, perturbing a text twice composes (epsilon adds up) and
        averaging the releases reveals more. A fitted estimator keeps no trace of
        what it perturbed, so only the call count is known, not the texts.
        """
        with _CALL_COUNT_LOCK:  # threads sharing one estimator count every call
            calls = self.__dict__.get("_transform_calls", 0) + 1
            self.__dict__["_transform_calls"] = calls
        if calls == 2 and self.random_state is None:
            warn_user(
                "This substituter has perturbed text more than once. Each call draws "
                "fresh noise: any document perturbed in two calls is released twice, "
                "its privacy loss doubles, and the releases can be averaged. Perturb "
                "each document once (sklearn_textdp.perturb_once) and account with "
                "privacy_cost."
            )

    #: Vocabulary words (evenly spaced rows) behind the deniability check at fit,
    #: and draws per word where the mechanism has no closed-form law.
    _DENIABILITY_WORDS = 50
    _DENIABILITY_DRAWS = 20
    #: Median probability of returning the word itself above which the output is
    #: (nearly) the input.
    _DENIABILITY_LIMIT = 0.99

    def _median_keep_probability(self):
        """Median N_w (the probability that a word is returned unchanged) over a
        fixed, evenly spaced set of vocabulary words, and how it was computed:
        from the mechanism's exact law where it has one, else from a few seeded
        draws. Depends only on the public embedding and the parameters."""
        mechanism, n_words = self.mechanism_, len(self.embeddings_)
        ids = np.unique(
            np.linspace(0, n_words - 1, self._DENIABILITY_WORDS).astype(np.int64)
        )
        try:
            keep, rest_weights = [], None
            for word in ids:
                rows, probabilities, rest = mechanism.output_distribution(int(word))
                inside = rows == word
                if inside.any() or rest <= 0:
                    keep.append(float(probabilities[inside].sum()))
                    continue
                if rest_weights is None:
                    rest_weights = mechanism.rest_weights(n_words)
                outside = rest_weights.sum() - rest_weights[rows].sum()
                keep.append(rest * rest_weights[word] / outside if outside else 0.0)
            return float(np.median(keep)), "exact"
        except NotImplementedError:  # no closed form: count seeded draws
            return self._median_keep_share_drawn(ids), (
                f"{self._DENIABILITY_DRAWS} draws per word"
            )

    def _median_keep_share_drawn(self, ids):
        """Median share of seeded draws that keep the word. A median above the
        limit needs more than half the words kept in every draw: one draw per word
        first, and the other draws only if enough words were kept (at usual
        epsilons, 50 decodings instead of 1,000)."""
        rng = np.random.default_rng(0)
        first = self.mechanism_.sample(ids, rng) == ids
        if first.sum() <= len(ids) // 2:
            return float(np.median(first))
        rest = self._DENIABILITY_DRAWS - 1
        sources = np.repeat(ids, rest)
        kept = (self.mechanism_.sample(sources, rng) == sources).reshape(-1, rest)
        return float(np.median((first + kept.sum(axis=1)) / self._DENIABILITY_DRAWS))

    def _warn_on_little_deniability(self):
        """Warn at fit when epsilon leaves (almost) no plausible deniability.

        A large enough epsilon returns nearly every word unchanged: the text is
        released as it is, and only the epsilon in the accounts says otherwise.
        """
        median, how = self._median_keep_probability()
        if median > self._DENIABILITY_LIMIT:
            warn_user(
                f"epsilon={self.epsilon:g} leaves almost no plausible deniability: "
                f"the median vocabulary word is returned unchanged with probability "
                f"{median:.3f} (N_w over {self._DENIABILITY_WORDS} words, {how}), so "
                "the output is nearly the input. Choose a smaller epsilon (see "
                "plausible_deniability, or textdp stats)."
            )

    def _perturb(self, X, seed_sequence=None):
        """Perturb ``X``; noise comes from ``seed_sequence`` (a SeedSequence) when
        given, else from ``random_state``. Partitioned runs (Dask, Spark) pass one
        spawned SeedSequence per partition."""
        docs = check_documents(X)
        if (
            getattr(self, "feature_names_in_", None) is not None
            and docs.kind == "frame"
        ):
            if list(docs.names) != list(self.feature_names_in_):
                raise ValueError(
                    f"X has columns {docs.names}, but the substituter was fitted on "
                    f"{list(self.feature_names_in_)}."
                )
        root = (
            root_seed_sequence(self.random_state)
            if seed_sequence is None
            else seed_sequence
        )
        outputs = []
        for column in range(len(docs.columns)):
            column_root = np.random.SeedSequence(
                root.entropy, spawn_key=(*root.spawn_key, column)
            )
            outputs.append(self._perturb_texts(docs.texts(column), column_root))
        n_words = sum(getattr(out, "n_words", 0) for out in outputs)
        n_unknown = sum(getattr(out, "n_unknown", 0) for out in outputs)
        # Of the last call: how much text the vocabulary missed (see transform).
        self.__dict__["_unknown_share"] = n_unknown / n_words if n_words else 0.0
        return docs.rebuild(outputs, self._output_kind())

    def _perturb_texts(self, texts, root):
        starts = range(0, len(texts), _BLOCK_DOCS)
        blocks = [(texts[s : s + _BLOCK_DOCS], i) for i, s in enumerate(starts)]
        n_jobs = self.n_jobs if self.n_jobs is not None else 1
        if n_jobs == 1 or len(blocks) <= 1:
            iterator = blocks
            if self.verbose:
                iterator = _progress(blocks, total=len(blocks))
            results = [
                self._perturb_block(docs, block_rng(root, i)) for docs, i in iterator
            ]
        else:
            from joblib import Parallel, delayed

            results = Parallel(
                n_jobs=n_jobs, prefer="threads", verbose=int(self.verbose)
            )(
                delayed(self._perturb_block)(docs, block_rng(root, i))
                for docs, i in blocks
            )
        out = _Texts(doc for block in results for doc in block)
        out.n_words = sum(getattr(block, "n_words", 0) for block in results)
        out.n_unknown = sum(getattr(block, "n_unknown", 0) for block in results)
        return out

    def _lookup(self, batch, case=False):
        """Vocabulary rows of the words (-1: missing) and the words kept in clear;
        with ``case=True`` also the case pattern of every word.

        Each distinct word form is normalised, looked up and classified once (a
        chunk of text repeats its frequent words many times). A form missing from
        the vocabulary is looked up again under its public fallback keys, in
        order (:func:`~sklearn_textdp._text.fallback_keys`): accents folded,
        contraction halves such as "ve" and abbreviations such as "txt" mapped to
        a word; an inflected form of a vocabulary word; the extended-vocabulary
        table (:func:`~sklearn_textdp._text.extended_lookup`: "landline" ->
        "cellphone", the target then looked up in this vocabulary); and, for a
        drawn-out word, the same with its runs of three or more equal letters cut
        to two, then to one ("sooo" -> "soo", "so"). A form found this way is then
        perturbed like any vocabulary word (never passed through). Every key is a
        fixed public function of the form alone.
        """
        codes, forms = pd.factorize(batch.words)
        keys = normalize_words(forms)
        rows = _rows_with_fallback(self.embeddings_, keys)
        left = np.flatnonzero(rows < 0)
        if len(left):  # drawn-out words: "sooo" -> "soo", then "so"
            positions, twice, once = collapsed_keys(keys[left])
            at = left[positions]
            for collapsed in (twice, once):
                retry = _rows_with_fallback(self.embeddings_, collapsed)
                fill = (rows[at] < 0) & (retry >= 0)
                rows[at[fill]] = retry[fill]
        rows = rows[codes]
        if self.keep_words_:
            kept = pd.Index(keys).isin(list(self.keep_words_))[codes]
        else:
            kept = np.zeros(len(codes), dtype=bool)
        if not case:
            return rows, kept
        return rows, kept, case_patterns(forms)[codes]

    def _perturb_block(self, docs, rng):
        chunk = split_chunk(docs)
        words = chunk.words
        rows, kept, patterns = self._lookup(chunk, case=True)
        perturbed = np.flatnonzero((rows >= 0) & ~kept)
        unknown = np.flatnonzero((rows < 0) & ~kept)
        new_words = words.copy()
        if len(perturbed):
            chosen = np.concatenate(
                [
                    self.mechanism_.sample(rows[perturbed[s : s + _TOKEN_CHUNK]], rng)
                    for s in range(0, len(perturbed), _TOKEN_CHUNK)
                ]
            )
            replacement = self.embeddings_.words[chosen]
            new_words[perturbed] = apply_case(replacement, patterns[perturbed])
        if len(unknown):
            self._replace_unknown(new_words, words, unknown, rng)
        cut_at = None
        if self.max_document_epsilon is not None:
            cut_at = self._apply_budget(chunk, perturbed)
        lengths = None
        if len(perturbed):
            lengths = chunk.word_lengths.copy()
            # lengths of the vocabulary words; case changes keep them for ASCII
            vocabulary_lengths = _word_lengths(self.embeddings_)
            lengths[perturbed] = vocabulary_lengths[chosen]
            redo = unknown
            if (vocabulary_lengths < 0).any():  # non-ASCII words: measure them
                redo = np.concatenate([redo, perturbed[vocabulary_lengths[chosen] < 0]])
            if len(redo):
                lengths[redo] = [len(w) for w in new_words[redo]]
        out = _Texts(rebuild_chunk(chunk, new_words, cut_at, lengths))
        out.n_words, out.n_unknown = len(words), len(unknown)
        return out

    def _replace_unknown(self, new_words, words, unknown, rng):
        if self.unknown_words == "placeholder":
            new_words[unknown] = self.placeholder
        elif self.unknown_words == "sample":
            # Drawn independently of the missing word: it reveals nothing about it.
            picks = rng.integers(0, len(self.embeddings_), size=len(unknown))
            new_words[unknown] = apply_case(
                self.embeddings_.words[picks], case_patterns(words[unknown])
            )

    def _allowed_tokens(self):
        return math.floor(self.max_document_epsilon / self.epsilon + 1e-9)

    def _apply_budget(self, chunk, perturbed):
        """Per document, the word where it is cut to fit ``max_document_epsilon``
        (its first perturbed word over the budget), or -1."""
        allowed = self._allowed_tokens()
        counts = np.bincount(chunk.word_docs[perturbed], minlength=chunk.n_docs)
        cut_at = np.full(chunk.n_docs, -1, dtype=np.int64)
        over = np.flatnonzero(counts > allowed)
        if len(over) == 0:
            return cut_at
        if self.budget_action == "raise":
            raise ValueError(
                f"Document {int(over[0])} of this batch has {int(counts[over[0]])} "
                f"perturbed words: epsilon * words = "
                f"{self.epsilon * counts[over[0]]:g} exceeds max_document_epsilon="
                f"{self.max_document_epsilon:g} (at most {allowed} words). Use "
                "budget_action='truncate' to cut such documents instead."
            )
        # perturbed is sorted, so a document's perturbed words are consecutive
        first = np.searchsorted(chunk.word_docs[perturbed], over)
        cut_at[over] = perturbed[first + allowed]
        return cut_at

    # --------------------------------------------------------------- reporting
    def privacy_cost(self, X):
        """The privacy loss of perturbing each document of ``X``.

        Deterministic (no noise is drawn). Word-level metric DP composes over the
        words of a document, so the loss grows with the number of perturbed words.

        Parameters
        ----------
        X : documents (as for :meth:`transform`)

        Returns
        -------
        cost : pandas.DataFrame
            One row per document, or per row of a 2-D input, whose text columns'
            costs add up (missing documents cost 0): ``n_words``,
            ``n_perturbed`` (words run through the mechanism), ``n_unknown`` (missing
            from the vocabulary), ``n_kept`` (kept in clear), ``epsilon_per_unit``
            (``epsilon * n_perturbed``: the loss when each perturbed word is changed
            by one unit of embedding distance; against a document ``x'`` of the
            same length it is ``epsilon * sum_i d(x_i, x'_i)``) and
            ``epsilon_worst_case`` (times the vocabulary diameter: the pure-DP bound
            against any document of the same length).
        """
        check_is_fitted(self, "mechanism_")
        docs = check_documents(X)
        total = None
        for column in range(len(docs.columns)):
            cost = self._column_privacy_cost(docs, column)
            total = cost if total is None else total + cost
        if docs.kind in ("series", "frame"):
            total.index = docs.original.index
        return total

    def _column_privacy_cost(self, docs, column):
        batch = split_chunk(docs.texts(column))
        rows, kept = self._lookup(batch)
        n = batch.n_docs

        def per_doc(mask):
            return np.bincount(batch.word_docs[mask], minlength=n)

        n_perturbed = per_doc((rows >= 0) & ~kept)
        if self.max_document_epsilon is not None:
            n_perturbed = np.minimum(n_perturbed, self._allowed_tokens())
        cost = document_privacy_cost(
            n_perturbed, self.epsilon, self.vocabulary_diameter_
        )
        cost.insert(0, "n_words", batch.words_per_doc())
        cost.insert(2, "n_unknown", per_doc((rows < 0) & ~kept))
        cost.insert(3, "n_kept", per_doc(kept))
        full = pd.DataFrame(
            0,
            index=np.arange(len(docs.columns[column])),
            columns=cost.columns,
            dtype=float,
        )
        full.loc[~docs.missing[column]] = cost.to_numpy()
        return full.astype(
            dict.fromkeys(("n_words", "n_perturbed", "n_unknown", "n_kept"), np.int64)
        )

    # --------------------------------------------------------------- persistence
    #: Fitted attributes recorded from the documents (kept in every pickle).
    _INPUT_STATE = ("n_features_in_", "feature_names_in_")

    def _pickles_public_state_by_reference(self):
        """Whether pickles leave out what the public embedding rebuilds.

        Named public embeddings (the bundled one, ``"glove-6b-50d"``) always do: the
        pickle holds their name and fingerprint (kilobytes, not tens of megabytes);
        loading refits the public state and checks the fingerprint. Other
        embeddings only with ``store_embeddings_in_pickle=False``. A fit that
        depends on the documents is stored whole.
        """
        data_dependent = getattr(self, "sensitive_frequencies", "embedding") == "data"
        if is_named_embedding(self.embeddings):
            return not data_dependent
        if getattr(self, "store_embeddings_in_pickle", True):
            return False
        if data_dependent:
            raise ValueError(
                "store_embeddings_in_pickle=False cannot rebuild a substituter fitted "
                "with sensitive_frequencies='data' (it depends on the fit data)."
            )
        source = self.embeddings
        if not isinstance(source, (str, os.PathLike)):
            raise ValueError(
                "store_embeddings_in_pickle=False needs embeddings given as None, a "
                "registered name or a file path, so that they can be reloaded; got "
                f"{type(source).__name__}."
            )
        return True

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never strip the live estimator
        state.pop("_transform_calls", None)
        state.pop("_unknown_share", None)  # a statistic of private input
        if "mechanism_" not in state or not self._pickles_public_state_by_reference():
            return state
        rebuilt = [
            name
            for name in state
            if name.endswith("_")
            and not name.startswith("_")
            and name not in self._INPUT_STATE
        ]
        for name in rebuilt:
            del state[name]
        state["_embeddings_fingerprint"] = self.embeddings_.fingerprint
        state["_rebuilt_on_load"] = rebuilt
        return state

    def __setstate__(self, state):
        fingerprint = state.pop("_embeddings_fingerprint", None)
        rebuilt = state.pop("_rebuilt_on_load", ())
        super().__setstate__(state)
        if fingerprint is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all said at fit; loading is silent
            self._fit_common()
            if self.embeddings_.fingerprint != fingerprint:
                source = self.embeddings or "glove-6b-50d-20k"
                raise ValueError(
                    f"The embeddings at {source!r} differ from those the substituter "
                    "was fitted on (SHA-256 mismatch); refusing to load."
                )
            self.mechanism_ = self._fit_mechanism(None)
        missing = [name for name in rebuilt if name not in self.__dict__]
        if missing:
            raise ValueError(
                f"Loading did not rebuild the fitted attributes {missing}; refit the "
                "substituter."
            )

    # --------------------------------------------------------------- sklearn API
    def set_output(self, *, transform=None):
        """Choose the output container: "default" (as the input), "pandas", "polars".

        1-D inputs give a Series under "pandas"; 2-D inputs a DataFrame.
        """
        if transform is not None:
            if transform not in ("default", "pandas", "polars"):
                raise ValueError(
                    "transform must be 'default', 'pandas' or 'polars'; got "
                    f"{transform!r}."
                )
            self._output_config = transform
        return self

    def _output_kind(self):
        config = getattr(self, "_output_config", None)
        if config is None:
            from sklearn import get_config

            config = get_config().get("transform_output", "default")
        return config

    def get_feature_names_out(self, input_features=None):
        """One output column per input column, with the same name."""
        check_is_fitted(self, "mechanism_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return np.asarray(names, dtype=object)
        n = getattr(self, "n_features_in_", None)
        if n is not None:
            return np.asarray([f"x{i}" for i in range(n)], dtype=object)
        return np.asarray([self._input_name or "text"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags


def _rows_of(embeddings, keys):
    """``embeddings.index_of(keys)`` through a dict (a few distinct forms per call:
    faster than a pandas index; memory only)."""
    index = cached(
        ("vocabulary-dict", embeddings.fingerprint),
        lambda: {word: row for row, word in enumerate(embeddings.words.tolist())},
    )
    return np.fromiter(
        map(index.get, keys, itertools.repeat(-1)), dtype=np.int64, count=len(keys)
    )


def _rows_with_fallback(embeddings, keys):
    """Rows of normalised ``keys`` (-1: missing), the missing ones looked up
    again under their fallback keys (:func:`_fallback_rows`)."""
    rows = _rows_of(embeddings, keys)
    missing = np.flatnonzero(rows < 0)
    if len(missing):
        rows[missing] = _fallback_rows(embeddings, keys[missing])
    return rows


def _fallback_rows(embeddings, keys):
    """Rows of normalised ``keys`` missing from ``embeddings`` under their fallback
    keys (-1: still missing): the accent-free form or alias, an inflected form,
    then the target of the extended-vocabulary table."""
    second = fallback_keys(keys)
    found = _rows_of(embeddings, second)
    left = np.flatnonzero(found < 0)
    if len(left):  # an inflected form of a vocabulary word
        table = _inflections(embeddings)
        found[left] = [table.get(key, -1) for key in second[left]]
        left = left[found[left] < 0]
    if len(left):  # a word of the extended vocabulary: its nearest bundled word
        extended = extended_lookup()
        found[left] = _rows_of(embeddings, [extended.get(key) for key in second[left]])
    return found


def _inflections(embeddings):
    """:func:`~sklearn_textdp._text.inflection_table` of a vocabulary (memory
    only: it holds words)."""
    return cached(
        ("vocabulary-inflections", embeddings.fingerprint),
        lambda: inflection_table(embeddings.words),
    )


def _word_lengths(embeddings):
    """``len`` of each vocabulary word, -1 for the non-ASCII ones (whose length
    may change with their case: "ß".upper() is "SS")."""

    def compute():
        words = embeddings.words
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        ascii_words = np.fromiter(map(str.isascii, words), bool, count=len(words))
        lengths[~ascii_words] = -1
        return lengths

    return cached(("vocabulary-lengths", embeddings.fingerprint), compute)


class _Texts(list):
    """Perturbed texts, with the counts of word tokens and of unknown ones."""

    n_words = 0
    n_unknown = 0


def _progress(iterable, total):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, unit="block", desc="perturbing")
