"""Choosing epsilon: plausible deniability, privacy-utility curves, releases."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    perturb_once,
    plausible_deniability,
    plot_privacy_utility,
    privacy_utility_curve,
)
from sklearn_textdp.datasets import load_sms_spam


def test_plausible_deniability_matches_the_exact_keep_probability():
    sub = DensityAwareSubstituter(epsilon=5.0, random_state=0).fit([])
    words = ["movie", "good", "the"]
    table = plausible_deniability(sub, words, n_samples=4000, random_state=0)
    rows = sub.embeddings_.index_of(words)
    exact = [sub.mechanism_.output_distribution(r)[1][0] for r in rows]
    np.testing.assert_allclose(table["N_w"], exact, atol=0.03)
    assert (table["S_w"] >= table["S_w_other"]).all()


def test_plausible_deniability_trends_with_epsilon_and_handles_unknown_words():
    low = plausible_deniability(
        DPWordSubstituter(epsilon=4), n_samples=100, random_state=0
    )
    high = plausible_deniability(
        DPWordSubstituter(epsilon=20), n_samples=100, random_state=0
    )
    assert len(low) == 200 and low["word"].tolist() == high["word"].tolist()
    assert low["N_w"].median() < 0.2 < 0.9 < high["N_w"].median()
    assert low["S_w"].median() > high["S_w"].median()
    table = plausible_deniability(DPWordSubstituter(), ["Movie", "qzxq"], n_samples=10)
    assert table["in_vocabulary"].tolist() == [True, False]
    assert np.isnan(table.loc[1, "N_w"])
    with pytest.raises(TypeError):
        plausible_deniability(DPWordSubstituter(), "movie")


def test_privacy_utility_curve_reports_scores_deniability_and_composition():
    sms = load_sms_spam()
    pipe = make_pipeline(
        DensityAwareSubstituter(random_state=0), TfidfVectorizer(), LogisticRegression()
    )
    curve = privacy_utility_curve(
        pipe,
        sms.data[:300],
        sms.target[:300],
        [2, 20],
        cv=3,
        n_words=30,
        n_samples=50,
        random_state=0,
    )
    assert curve.columns.tolist() == [
        "epsilon",
        "score_mean",
        "score_std",
        "N_w_median",
        "S_w_median",
        "releases_per_document",
        "epsilon_spent",
        "cumulative_epsilon_spent",
    ]
    assert curve["N_w_median"].iloc[0] < curve["N_w_median"].iloc[1]
    assert curve["score_mean"].iloc[0] <= curve["score_mean"].iloc[1] + 0.02
    assert curve["epsilon_spent"].tolist() == [6.0, 60.0]
    assert curve["cumulative_epsilon_spent"].tolist() == [6.0, 66.0]
    fit_only = make_pipeline(
        DensityAwareSubstituter(perturb_on="fit"),
        TfidfVectorizer(),
        LogisticRegression(),
    )
    once = privacy_utility_curve(
        fit_only,
        sms.data[:300],
        sms.target[:300],
        [20],
        cv=3,
        n_words=10,
        n_samples=10,
        random_state=0,
    )
    assert once["releases_per_document"].tolist() == [2.0]
    reused = privacy_utility_curve(
        pipe,
        sms.data[:300],
        sms.target[:300],
        [20],
        cv=3,
        n_words=10,
        n_samples=10,
        reuse_releases=True,
        random_state=0,
    )
    assert reused["releases_per_document"].tolist() == [1.0]


def test_perturb_once_releases_each_document_once_per_epsilon():
    docs = pd.Series(["good film", None, "bad plot"], index=[5, 6, 7])
    releases = perturb_once(DensityAwareSubstituter(), docs, [1, 50], random_state=0)
    assert releases.columns.tolist() == [1.0, 50.0]
    assert releases.index.tolist() == [5, 6, 7] and pd.isna(releases.loc[6, 1.0])
    assert releases[50.0].tolist()[0] == "good film"
    again = perturb_once(DensityAwareSubstituter(), docs, [1, 50], random_state=0)
    pd.testing.assert_frame_equal(releases, again)


def test_plot_privacy_utility_draws_both_axes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    curve = pd.DataFrame(
        {
            "epsilon": [1, 5],
            "score_mean": [0.6, 0.9],
            "score_std": [0.01, 0.02],
            "N_w_median": [0.0, 0.8],
        }
    )
    ax = plot_privacy_utility(curve, label="demo")
    assert ax.get_xlabel() == "epsilon" and len(ax.lines) >= 1
    assert ax.get_title() == "Privacy-utility trade-off"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["demo"]
    ax = plot_privacy_utility(curve, x="N_w_median")
    assert "N_w" in ax.get_xlabel()
    assert "sd over the folds" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError):
        plot_privacy_utility(curve, x="score")


def test_plausible_deniability_by_density_against_exact_laws(glove2k):
    """local_scale, density_decile and near_share computed independently: brute-
    force Euclidean neighbours of a 60-word real vocabulary and the exact law of
    the density-graph mechanism (untruncated: ball_size = vocabulary size)."""
    import warnings

    from sklearn_textdp import Embeddings

    from ._graph_reference import graph_law, graph_metric, scale_prior

    rows = np.arange(400, 460)
    emb = Embeddings(glove2k.words[rows], glove2k.vectors[rows])
    vectors = np.asarray(emb.vectors, dtype=np.float64)
    euclid = np.sqrt(((vectors[:, None] - vectors[None]) ** 2).sum(-1))
    order = np.argsort(euclid, axis=1, kind="stable")
    scale = euclid[np.arange(60), order[:, 10]]
    near = order[:, 1:11]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sub = DensityAwareSubstituter(epsilon=3.0, embeddings=emb).fit([])
    n = 4000
    table = plausible_deniability(sub, list(emb.words), n_samples=n, random_state=0)
    np.testing.assert_allclose(table["local_scale"], scale, rtol=1e-5)
    cuts = np.quantile(scale, np.linspace(0.1, 0.9, 9))
    expected_decile = 1 + np.searchsorted(cuts, scale, side="right")
    np.testing.assert_array_equal(table["density_decile"].to_numpy(), expected_decile)
    metric = graph_metric(vectors, k=4)
    prior = scale_prior(vectors, k=4)
    for x in range(60):
        law = graph_law(metric, x, 3.0, 60, prior)
        replaced = 1.0 - law[x]
        share = law[near[x]].sum() / replaced
        assert table.loc[x, "N_w"] == pytest.approx(law[x], abs=4 * np.sqrt(0.25 / n))
        sd = np.sqrt(share * (1 - share) / (replaced * n))
        assert table.loc[x, "near_share"] == pytest.approx(share, abs=5 * sd + 1e-3)
    by = plausible_deniability(
        sub, list(emb.words), n_samples=200, random_state=0, by="density"
    )
    assert by["n_words"].sum() == 60
    assert by.columns.tolist() == [
        "density_decile",
        "n_words",
        "local_scale_min",
        "local_scale_max",
        "N_w_mean",
        "N_w_median",
        "S_w_mean",
        "near_share",
    ]
    with pytest.raises(ValueError, match="by must be"):
        plausible_deniability(sub, ["movie"], by="decile")
