"""scikit-learn citizenship: containers, the estimator contract, pipelines, search."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    PrivacyLeakWarning,
)
from sklearn_textdp.datasets import load_sms_spam

ESTIMATORS = [
    DPWordSubstituter(random_state=0),
    DensityAwareSubstituter(random_state=0),
]
DOCS = ["A good film.", "The worst movie, EVER!", "", "I liked it: 10/10"]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_checks_that_apply_to_text(estimator, check):
    """scikit-learn's generator yields only the checks that apply to string input;
    the data-free API checks it skips for text are run explicitly below."""
    check(estimator)


@pytest.mark.parametrize(
    "check",
    [
        checks.check_estimator_repr,
        checks.check_no_attributes_set_in_init,
        checks.check_parameters_default_constructible,
        checks.check_get_params_invariance,
        checks.check_set_params,
        checks.check_do_not_raise_errors_in_init_or_set_params,
        checks.check_mixin_order,
        checks.check_valid_tag_types,
        checks.check_estimator_tags_renamed,
    ],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_data_free_api_checks(estimator, check):
    # Checks that need numeric X (fit/predict on arrays) cannot apply to text:
    # check_fit2d_*, check_transformer_*, check_dtype_object, check_n_features_in...
    # Their text equivalents are the tests of this module.
    check(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_tags_declare_one_dimensional_text(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.input_tags.allow_nan and not tags.non_deterministic


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_fit_returns_self_and_leaves_params_unchanged(estimator):
    est = clone(estimator)
    before = est.get_params()
    assert est.fit(DOCS) is est
    assert est.get_params() == before
    with pytest.raises(NotFittedError):
        clone(estimator).transform(DOCS)
    with pytest.raises(TypeError, match="string object received"):
        est.transform("a single string")


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_containers_round_trip(estimator):
    est = clone(estimator).fit(DOCS)
    out = est.transform(DOCS)
    assert isinstance(out, list) and len(out) == 4 and out[2] == ""
    assert isinstance(est.transform(tuple(DOCS)), tuple)
    arr = est.transform(np.array(DOCS, dtype=object))
    assert isinstance(arr, np.ndarray) and arr.shape == (4,)
    assert est.transform(np.array(DOCS)).shape == (4,)  # fixed-width unicode arrays
    series = pd.Series(DOCS, index=[10, 3, 7, 1], name="body")
    out_series = est.transform(series)
    assert out_series.index.tolist() == [10, 3, 7, 1] and out_series.name == "body"
    for dtype in ("object", "string", "str"):
        typed = pd.Series(DOCS + [None], dtype=dtype)
        result = est.transform(typed)
        assert result.dtype == typed.dtype
        assert pd.isna(result.iloc[-1])


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_missing_values_stay_missing(missing):
    est = DensityAwareSubstituter(random_state=0).fit(DOCS)
    out = est.transform(["a film", missing, "bad"])
    assert out[1] is missing
    series = est.transform(pd.Series(["a film", missing], dtype=object))
    assert series.iloc[1] is missing


def test_non_text_values_are_refused_naming_the_row():
    est = DPWordSubstituter(random_state=0).fit(DOCS)
    with pytest.raises(TypeError, match=r"X\[2\] is a int"):
        est.transform(["a", "b", 5])
    with pytest.raises(TypeError, match=r"X at row 'z' is a bytes"):
        est.transform(pd.Series(["a", b"b"], index=["y", "z"]))
    with pytest.raises(TypeError, match=r"X\['t'\] at row 1 is a float"):
        est.transform(pd.DataFrame({"t": ["a", 1.5]}))


def test_dataframes_are_perturbed_column_by_column():
    est = DensityAwareSubstituter(epsilon=1.0, random_state=0)
    frame = pd.DataFrame(
        {"title": ["good film", None], "body": ["bad", "nice plot"]}, index=["r1", "r2"]
    )
    out = est.fit_transform(frame)
    assert isinstance(out, pd.DataFrame) and out.columns.tolist() == ["title", "body"]
    assert out.index.tolist() == ["r1", "r2"] and pd.isna(out.loc["r2", "title"])
    assert est.get_feature_names_out().tolist() == ["title", "body"]
    with pytest.raises(ValueError, match="fitted on"):
        est.transform(frame.rename(columns={"body": "text"}))


def test_one_dimensional_output_feeds_tfidf_without_the_column_name_trap():
    frame = pd.DataFrame(
        {"text": ["good film", "bad film", "nice plot", "dull plot"], "n": [1, 2, 3, 4]}
    )
    pipe = make_pipeline(
        DensityAwareSubstituter(epsilon=30, random_state=0), TfidfVectorizer()
    )
    features = pipe.fit_transform(frame["text"])
    assert features.shape[0] == 4
    assert "text" not in pipe[-1].vocabulary_


def test_inside_a_column_transformer_both_ways():
    frame = pd.DataFrame(
        {
            "text": ["good film", "bad film", "nice plot", "dull plot"],
            "title": ["a", "b", "c", "d"],
            "n": [1, 2, 3, 4],
        }
    )
    ct = make_column_transformer(
        (
            make_pipeline(
                DensityAwareSubstituter(epsilon=30, random_state=0), TfidfVectorizer()
            ),
            "text",
        ),
        (DensityAwareSubstituter(epsilon=30, random_state=0), ["title"]),
        remainder="passthrough",
    )
    out = ct.fit_transform(frame)
    assert out.shape[0] == 4
    assert ct.get_feature_names_out()[-2:].tolist() == [
        "densityawaresubstituter__title",
        "remainder__n",
    ]


def test_set_output_pandas_and_global_config():
    est = DPWordSubstituter(epsilon=30, random_state=0).fit(DOCS)
    est.set_output(transform="pandas")
    out = est.transform(DOCS)
    assert isinstance(out, pd.Series) and len(out) == 4
    with config_context(transform_output="pandas"):
        assert isinstance(
            DPWordSubstituter(random_state=0).fit_transform(DOCS), pd.Series
        )
    with pytest.raises(ValueError, match="transform must be"):
        est.set_output(transform="json")


def test_polars_in_gives_polars_out():
    pl = pytest.importorskip("polars")
    est = DPWordSubstituter(epsilon=30, random_state=0)
    series = pl.Series("review", ["A good film.", None, "", "I liked it"])
    out = est.fit(series).transform(series)
    assert isinstance(out, pl.Series) and out.name == "review"
    assert out.dtype == pl.String and out.null_count() == 1 and out[2] == ""
    # the same noise as the same texts given as a list
    expected = est.transform(["A good film.", "", "I liked it"])
    assert out.drop_nulls().to_list() == expected
    frame = pl.DataFrame({"a": ["good film", "bad plot"], "b": [None, "nice"]})
    out = est.fit(frame).transform(frame)
    assert isinstance(out, pl.DataFrame) and out.columns == ["a", "b"]
    assert out["b"][0] is None
    assert est.get_feature_names_out().tolist() == ["a", "b"]


def test_set_output_polars_in_scikit_learn_pipelines():
    pl = pytest.importorskip("polars")
    est = DPWordSubstituter(epsilon=30, random_state=0).fit(DOCS)
    assert isinstance(est.set_output(transform="polars").transform(DOCS), pl.Series)
    with config_context(transform_output="polars"):
        assert isinstance(
            DPWordSubstituter(random_state=0).fit_transform(DOCS), pl.Series
        )
    frame = pd.DataFrame({"text": ["good film", "bad film"], "n": [1, 2]})
    ct = make_column_transformer(
        (DPWordSubstituter(epsilon=30, random_state=0), ["text"]),
        remainder="passthrough",
    ).set_output(transform="polars")
    out = ct.fit_transform(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["dpwordsubstituter__text", "remainder__n"]
    assert out["remainder__n"].to_list() == [1, 2]


def test_random_state_int_reproduces_and_none_is_fresh():
    docs = ["the film was good and the plot was fine"] * 20
    a = DensityAwareSubstituter(epsilon=4, random_state=1).fit_transform(docs)
    b = DensityAwareSubstituter(epsilon=4, random_state=1).fit_transform(docs)
    c = DensityAwareSubstituter(epsilon=4, random_state=2).fit_transform(docs)
    assert a == b and a != c
    fresh = DensityAwareSubstituter(epsilon=4)
    assert fresh.fit_transform(docs) != fresh.fit_transform(docs)
    rng = np.random.default_rng(0)
    shared = DensityAwareSubstituter(epsilon=4, random_state=rng).fit(docs)
    assert shared.transform(docs) != shared.transform(docs)  # a Generator advances


def test_repeated_release_is_warned_once():
    est = DensityAwareSubstituter(epsilon=4).fit(DOCS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        est.transform(DOCS)
    with pytest.warns(PrivacyLeakWarning, match="perturbed text more than once"):
        est.transform(DOCS)


def test_perturb_on_fit_leaves_prediction_text_in_clear():
    est = DensityAwareSubstituter(epsilon=1.0, perturb_on="fit", random_state=0)
    trained = est.fit_transform(DOCS)
    assert trained != DOCS
    assert est.transform(DOCS) == DOCS


def test_the_developers_pipeline_with_cross_validation_and_grid_search():
    sms = load_sms_spam()
    texts, labels = sms.data[:400], sms.target[:400]
    pipe = make_pipeline(
        DensityAwareSubstituter(epsilon=10, random_state=0),
        TfidfVectorizer(),
        LogisticRegression(),
    )
    scores = cross_val_score(pipe, texts, labels, cv=5)
    assert scores.shape == (5,) and scores.mean() > 0.8
    search = GridSearchCV(
        pipe, {"densityawaresubstituter__epsilon": [1, 5, 10, 20]}, cv=3, n_jobs=2
    ).fit(texts, labels)
    assert search.best_params_["densityawaresubstituter__epsilon"] in (1, 5, 10, 20)
    assert search.predict(texts[:5]).shape == (5,)
    dp = make_pipeline(
        DPWordSubstituter(epsilon=10, random_state=0),
        TfidfVectorizer(),
        LogisticRegression(),
    )
    assert cross_val_score(dp, texts, labels, cv=3, n_jobs=2).shape == (3,)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("store", [True, False])
def test_persistence_round_trips_and_holds_no_training_text(estimator, store, tmp_path):
    canary = "Xylophonequartz Zzyzxcanary"
    est = clone(estimator).set_params(store_embeddings_in_pickle=store)
    est.fit([canary, "plain words"])
    first = est.transform(["the movie was good", canary])
    assert "Xylophonequartz" not in " ".join(first)
    blob = pickle.dumps(est)
    assert b"ylophonequartz" not in blob.lower() and b"zzyzxcanary" not in blob.lower()
    assert pickle.loads(blob).transform(["the movie was good", canary]) == first
    path = tmp_path / "sub.joblib"
    joblib.dump(est, path)
    assert joblib.load(path).transform(["the movie was good", canary]) == first
    if not store:
        assert len(blob) < 10_000


def test_skops_persistence_with_trusted_types(tmp_path):
    sio = pytest.importorskip("skops.io")
    est = DPWordSubstituter(epsilon=10, random_state=0).fit(DOCS)
    path = tmp_path / "sub.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith(("sklearn_textdp.", "builtins.")) for t in untrusted)
    loaded = sio.load(path, trusted=untrusted)
    assert loaded.transform(DOCS) == est.transform(DOCS)
