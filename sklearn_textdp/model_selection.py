"""Choosing epsilon from evidence: plausible deniability and privacy-utility curves.

Every call that perturbs private documents is a *release*: cross-validation and
grid search perturb each training document once per fold and grid point, and an
observer of all those outputs sees the privacy losses add up. The functions here
report that cost, and :func:`perturb_once` releases each document once per
epsilon so that model selection can reuse the releases.
"""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import check_cv, cross_val_score
from sklearn.pipeline import Pipeline

from ._base import BaseSubstituter, fitted_substituter
from ._fitting import neighbor_graph
from ._text import normalize_words
from .privacy import check_epsilon
from .utils._random import check_rng

__all__ = [
    "plausible_deniability",
    "privacy_utility_curve",
    "plot_privacy_utility",
    "perturb_once",
]

#: Draws handed to a mechanism at once when estimating N_w / S_w.
_DRAW_CHUNK = 262_144
#: A replacement is "near" when it is among the source's this many nearest words
#: (Euclidean), and a word's local scale is the distance to its this-th nearest.
NEAR_WORDS = 10


def plausible_deniability(
    substituter, words=None, n_samples=1000, random_state=None, *, by=None
):
    """Plausible-deniability statistics of a substituter, per word or per density.

    For each word ``w``, ``n_samples`` independent perturbations are drawn:
    ``N_w`` is the share that returns ``w`` itself (the probability that the word
    is kept) and ``S_w`` the number of distinct outputs (its effective support).
    High ``N_w`` and low ``S_w`` mean little deniability (Feyisetan et al. 2020).

    A density-aware mechanism should protect words alike wherever they sit in the
    embedding and replace them by *near* words: each word's ``local_scale`` (the
    Euclidean distance to its 10th nearest vocabulary word: small in crowded
    regions, large in sparse ones), its ``density_decile`` among all vocabulary
    words (1 = densest tenth, 10 = sparsest) and ``near_share`` (the share of its
    replacements that are among its 10 nearest words) show whether it does.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        Fitted, or fitted on demand (a clone; the argument is left untouched). A
        fitted substituter is used as fitted: after ``set_params`` (a new
        ``epsilon``, say), fit it again, or pass an unfitted one.
    words : list of str, default=None
        Words to examine (case-insensitive); None draws 200 vocabulary words at
        random. Words missing from the vocabulary get NaN statistics.
    n_samples : int, default=1000
        Perturbations per word.
    random_state : None, int or Generator, default=None
    by : {None, "density"}, default=None
        None: one row per word. ``"density"``: one row per density decile of the
        examined words: ``density_decile``, ``n_words``, the decile's
        ``local_scale`` range (``local_scale_min``, ``local_scale_max``),
        ``N_w_mean``, ``N_w_median``, ``S_w_mean`` and ``near_share`` (pooled over
        the decile's replacements).

    Returns
    -------
    stats : pandas.DataFrame
        One row per word: ``word``, ``in_vocabulary``, ``N_w``, ``S_w``,
        ``S_w_other`` (distinct outputs other than ``w``, the convention of the
        LREC-COLING 2024 benchmark), ``local_scale``, ``density_decile``,
        ``near_share`` (NaN when the word was never replaced) and
        ``n_replaced``; or one row per decile (``by="density"``).

    Examples
    --------
    >>> from sklearn_textdp import DPWordSubstituter, plausible_deniability
    >>> table = plausible_deniability(DPWordSubstituter(epsilon=8), ["movie", "zzzq"],
    ...                               n_samples=200, random_state=0)
    >>> table.columns.tolist()[:5]
    ['word', 'in_vocabulary', 'N_w', 'S_w', 'S_w_other']
    >>> bool(table.loc[1, "in_vocabulary"])
    False
    >>> plausible_deniability(DPWordSubstituter(epsilon=8), n_samples=50,
    ...                       random_state=0, by="density").shape
    (10, 8)
    """
    if not (isinstance(n_samples, numbers.Integral) and n_samples >= 1):
        raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
    if by not in (None, "density"):
        raise ValueError(f"by must be None or 'density'; got {by!r}.")
    fitted = fitted_substituter(substituter)
    vocabulary = fitted.embeddings_
    rng = check_rng(random_state)
    if words is None:
        rows = np.sort(
            rng.choice(len(vocabulary), size=min(200, len(vocabulary)), replace=False)
        )
        words = vocabulary.words[rows].tolist()
    else:
        if isinstance(words, str):
            raise TypeError("words must be a list of str, not a single string.")
        words = list(words)
        keys = normalize_words(np.asarray(words, dtype=object))
        rows = vocabulary.index_of(keys)
    present = np.flatnonzero(rows >= 0)
    n_kept = np.full(len(words), np.nan)
    support = np.full(len(words), np.nan)
    support_other = np.full(len(words), np.nan)
    n_near = np.zeros(len(words))
    n_replaced = np.zeros(len(words))
    # Public density: the exact (cached) neighbour lists of the vocabulary.
    near_words = min(NEAR_WORDS, len(vocabulary) - 1)
    knn = neighbor_graph(vocabulary, near_words)
    scales = knn.distances[:, near_words].astype(np.float64)
    per_chunk = max(1, _DRAW_CHUNK // n_samples)
    for start in range(0, len(present), per_chunk):
        block = present[start : start + per_chunk]
        sources = np.repeat(rows[block], n_samples)
        draws = fitted.mechanism_.sample(sources, rng).reshape(len(block), n_samples)
        kept = draws == rows[block][:, None]
        n_kept[block] = kept.mean(axis=1)
        ordered = np.sort(draws, axis=1)
        distinct = 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1)
        support[block] = distinct
        support_other[block] = distinct - kept.any(axis=1)
        near = knn.indices[rows[block], 1 : near_words + 1]
        is_near = (draws[:, :, None] == near[:, None, :]).any(axis=2)
        n_near[block] = is_near.sum(axis=1)
        n_replaced[block] = (~kept).sum(axis=1)
    local_scale = np.full(len(words), np.nan)
    local_scale[present] = scales[rows[present]]
    decile = np.full(len(words), np.nan)
    # Deciles of the whole vocabulary (1 = densest tenth), not of the sample.
    cuts = np.quantile(scales, np.linspace(0.1, 0.9, 9))
    decile[present] = 1 + np.searchsorted(cuts, local_scale[present], side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        near_share = np.where(n_replaced > 0, n_near / n_replaced, np.nan)
    near_share[rows < 0] = np.nan
    table = pd.DataFrame(
        {
            "word": words,
            "in_vocabulary": rows >= 0,
            "N_w": n_kept,
            "S_w": support,
            "S_w_other": support_other,
            "local_scale": local_scale,
            "density_decile": pd.array(decile, dtype="Int64"),
            "near_share": near_share,
            "n_replaced": np.where(rows >= 0, n_replaced, np.nan),
        }
    )
    if by is None:
        return table
    table["n_near"] = n_near
    grouped = table[table["in_vocabulary"]].groupby("density_decile")
    summary = grouped.agg(
        n_words=("word", "size"),
        local_scale_min=("local_scale", "min"),
        local_scale_max=("local_scale", "max"),
        N_w_mean=("N_w", "mean"),
        N_w_median=("N_w", "median"),
        S_w_mean=("S_w", "mean"),
        n_near=("n_near", "sum"),
        n_replaced=("n_replaced", "sum"),
    )
    summary["near_share"] = summary["n_near"] / summary["n_replaced"]
    return summary.drop(columns=["n_near", "n_replaced"]).reset_index()


def _find_substituter(estimator):
    """(parameter prefix, substituter) of a substituter or a Pipeline holding one."""
    if isinstance(estimator, BaseSubstituter):
        return "", estimator
    if isinstance(estimator, Pipeline):
        for name, step in estimator.steps:
            if isinstance(step, BaseSubstituter):
                return f"{name}__", step
    raise ValueError(
        "estimator must be a substituter or a Pipeline with a substituter step; got "
        f"{type(estimator).__name__}."
    )


def _releases_per_document(substituter, n_splits):
    """How many times cross-validation perturbs each document: once per fold in
    which it is trained on, plus once as test data unless ``perturb_on="fit"``."""
    return n_splits if substituter.perturb_on == "always" else n_splits - 1


def privacy_utility_curve(
    estimator,
    X,
    y,
    epsilons,
    *,
    cv=5,
    scoring=None,
    n_words=200,
    n_samples=200,
    reuse_releases=False,
    n_jobs=None,
    random_state=None,
):
    """Cross-validated score and plausible deniability for each epsilon.

    Parameters
    ----------
    estimator : Pipeline or substituter
        A Pipeline whose steps include a substituter (its ``epsilon`` is varied).
    X : documents
    y : array-like of shape (n_samples,)
    epsilons : list of float
    cv : int or cross-validation generator, default=5
    scoring : str or callable, default=None
    n_words, n_samples : int, default=200
        Vocabulary words and draws per word behind the median ``N_w`` / ``S_w``.
    reuse_releases : bool, default=False
        Perturb every document once per epsilon (:func:`perturb_once`) and
        cross-validate the rest of the pipeline on those releases, instead of
        re-perturbing in every fold. Test folds are then always perturbed.
    n_jobs : int, default=None
        Parallel folds (``cross_val_score``).
    random_state : None or int, default=None
        Seed for the N_w / S_w draws and for the releases of ``reuse_releases``.

    Returns
    -------
    curve : pandas.DataFrame
        One row per epsilon: ``epsilon``, ``score_mean``, ``score_std``,
        ``N_w_median``, ``S_w_median``, ``releases_per_document`` (how often each
        document was perturbed for this row) and ``epsilon_spent`` (``epsilon`` x
        releases: the per-word loss an observer of every release accumulates),
        and ``cumulative_epsilon_spent`` over the rows so far.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_textdp import DensityAwareSubstituter, privacy_utility_curve
    >>> from sklearn_textdp.datasets import load_sms_spam
    >>> sms = load_sms_spam()
    >>> pipe = make_pipeline(DensityAwareSubstituter(random_state=0), TfidfVectorizer(),
    ...                      LogisticRegression())
    >>> curve = privacy_utility_curve(pipe, sms.data[:300], sms.target[:300], [5, 10],
    ...                               cv=3, n_words=20, n_samples=50, random_state=0)
    >>> curve[["epsilon", "releases_per_document", "epsilon_spent"]].to_numpy().tolist()
    [[5.0, 3.0, 15.0], [10.0, 3.0, 30.0]]
    """
    prefix, _ = _find_substituter(estimator)
    epsilons = [check_epsilon(e) for e in epsilons]
    y = np.asarray(y)
    splitter = check_cv(cv, y, classifier=True)
    n_splits = splitter.get_n_splits(X, y)
    rows = []
    for eps in epsilons:
        candidate = clone(estimator).set_params(**{f"{prefix}epsilon": eps})
        _, substituter = _find_substituter(candidate)
        if reuse_releases:
            released = perturb_once(substituter, X, [eps], random_state=random_state)
            rest = _without_substituter(candidate)
            scores = cross_val_score(
                rest,
                released[eps].tolist(),
                y,
                cv=splitter,
                scoring=scoring,
                n_jobs=n_jobs,
            )
            releases = 1
        else:
            scores = cross_val_score(
                candidate, X, y, cv=splitter, scoring=scoring, n_jobs=n_jobs
            )
            releases = _releases_per_document(substituter, n_splits)
        deniability = plausible_deniability(
            substituter.set_params(random_state=None),
            n_samples=n_samples,
            words=_sample_words(substituter, n_words, random_state),
            random_state=random_state,
        )
        rows.append(
            {
                "epsilon": eps,
                "score_mean": scores.mean(),
                "score_std": scores.std(),
                "N_w_median": deniability["N_w"].median(),
                "S_w_median": deniability["S_w"].median(),
                "releases_per_document": float(releases),
                "epsilon_spent": eps * releases,
            }
        )
    curve = pd.DataFrame(rows)
    curve["cumulative_epsilon_spent"] = curve["epsilon_spent"].cumsum()
    return curve


def _sample_words(substituter, n_words, random_state):
    vocabulary = fitted_substituter(substituter).embeddings_
    rng = np.random.default_rng(random_state)
    rows = rng.choice(
        len(vocabulary), size=min(n_words, len(vocabulary)), replace=False
    )
    return vocabulary.words[np.sort(rows)].tolist()


def _without_substituter(pipeline):
    if isinstance(pipeline, BaseSubstituter):
        raise ValueError(
            "reuse_releases needs a Pipeline with steps after the substituter."
        )
    steps = [(n, s) for n, s in pipeline.steps if not isinstance(s, BaseSubstituter)]
    return Pipeline(steps)


def perturb_once(substituter, X, epsilons, *, random_state=None):
    """Release every document once per epsilon, for reuse in model selection.

    Cross-validating a pipeline that contains a substituter perturbs each
    document in every fold; with ``random_state=None`` the releases are
    independent and their privacy losses add up. Perturbing once per epsilon and
    cross-validating the downstream model on those releases costs one release
    per document and epsilon.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        Cloned for each epsilon (the argument is left untouched).
    X : 1-D documents (list, array or pandas Series)
    epsilons : list of float
    random_state : None or int, default=None
        None draws fresh entropy (production); an int gives reproducible releases.

    Returns
    -------
    releases : pandas.DataFrame
        One column per epsilon (column label: the epsilon), one row per document,
        with the index of ``X`` when it is a Series. Missing documents stay missing.

    Examples
    --------
    >>> from sklearn_textdp import DensityAwareSubstituter, perturb_once
    >>> releases = perturb_once(DensityAwareSubstituter(), ["a good film", None],
    ...                         [2, 20], random_state=0)
    >>> releases.shape, releases.loc[0, 20.0], releases.loc[1, 2.0] is None
    ((2, 2), 'a good film', True)
    """
    columns = {}
    root = np.random.SeedSequence(random_state)
    index = X.index if isinstance(X, pd.Series) else None
    for i, eps in enumerate(check_epsilon(e) for e in epsilons):
        sub = clone(substituter).set_params(epsilon=eps, perturb_on="always").fit([])
        stream = np.random.SeedSequence(root.entropy, spawn_key=(i,))
        out = sub._perturb(list(X) if not isinstance(X, pd.Series) else X, stream)
        values = np.empty(len(out), dtype=object)
        values[:] = list(out)  # object dtype: None stays None, as in the input
        columns[eps] = pd.Series(values, index=index, dtype=object)
    return pd.DataFrame(columns, index=index)


def plot_privacy_utility(
    curve, *, x="epsilon", ax=None, label=None, title="Privacy-utility trade-off"
):
    """Draw a privacy-utility curve (score against epsilon or median N_w).

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :func:`privacy_utility_curve`.
    x : {"epsilon", "N_w_median"}, default="epsilon"
    ax : matplotlib Axes, default=None
    label : str, default=None
        Legend entry of the curve; None names it "mean score, error bars +-1 sd
        over the folds". The legend is always drawn.
    title : str or None, default="Privacy-utility trade-off"
        Axes title (None: leave the title as it is, e.g. when adding a curve).

    Returns
    -------
    ax : matplotlib Axes
    """
    if x not in ("epsilon", "N_w_median"):
        raise ValueError(f"x must be 'epsilon' or 'N_w_median'; got {x!r}.")
    if ax is None:
        try:  # pyplot (and its global backend) only when we must make the figure
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(
                "plot_privacy_utility needs matplotlib: "
                'pip install "sklearn-textdp[plot]"'
            ) from exc
        _, ax = plt.subplots(figsize=(6, 4))
    ordered = curve.sort_values(x)
    ax.errorbar(
        ordered[x],
        ordered["score_mean"],
        yerr=ordered["score_std"],
        marker="o",
        capsize=3,
        label=label or "mean score, error bars +-1 sd over the folds",
    )
    ax.set_xlabel(
        "epsilon" if x == "epsilon" else "median N_w (probability a word is kept)"
    )
    ax.set_ylabel("cross-validated score")
    ax.grid(True, alpha=0.3)
    if title is not None:
        ax.set_title(title)
    ax.legend()
    return ax
