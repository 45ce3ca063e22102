"""Hostile input, parameter validation and leaks.

- Any input gives a correct output or a clear TypeError/ValueError naming the row:
  never a crash, a hang or a silent loss. Exactly one output per input, in order,
  with the pandas index; missing values stay the same missing objects; every
  character that is not a word is kept exactly.
- Every constructor parameter is validated at ``fit`` with a message naming it.
- No leaks: a word missing from the vocabulary never reaches the output, fitted
  estimators and their pickles hold no training text, and every setting that
  weakens the guarantee is warned about.
"""

import math
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    PrivacyLeakWarning,
    load_embeddings,
)
from sklearn_textdp._text import normalize_words, tokenize

VOCABULARY = load_embeddings(max_words=300)
SOME_WORDS = VOCABULARY.words[:120].tolist()
PLACEHOLDER = "<unk>"

#: Characters that break naive text code: combining marks, zero-width and
#: bidirectional controls, emoji (with ZWJ), C0/C1 controls, line separators, lone
#: surrogates, case-changing letters (İ, ß, ǅ, ligatures), RTL and CJK scripts,
#: digits that are letters for \w (superscripts, Roman numerals).
SPECIALS = [
    "\u0301",
    "\u0308\u0301",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2069",
    "\u061c",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1eb\U0001f1f7",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\r\n",
    "\u2028",
    "\u2029",
    "\ud800",
    "\udfff",
    "\udbff\udc00",
    "İ",
    "ß",
    "ǅ",
    "ﬃ",
    "ς",
    "Σ",
    "ŉ",
    "ΐ",
    "שלום",
    "مرحبا",
    "日本語",
    "한국어",
    "²",
    "Ⅻ",
    "٣",
    "_",
    "'",
    "-",
    "\t",
    "  ",
    "\\",
    "%s",
    "{0}",
    "<unk>",
    "e\u0301",
]
SEPARATORS = [" ", ", ", ". ", "!", "\n", "\t", "—", "...", "42", "'s ", "-", "_"]

cased_word = st.builds(
    lambda w, case: case(w),
    st.sampled_from(SOME_WORDS),
    st.sampled_from([str.lower, str.title, str.upper]),
)
missing_value = st.sampled_from([None, float("nan"), np.nan, pd.NA])


def columns(surrogates=True):
    """Lists of hostile documents and missing values."""
    specials = SPECIALS if surrogates else [x for x in SPECIALS if not has_surrogate(x)]
    characters = [
        st.characters(exclude_categories=["Cs"]),
        st.sampled_from(sorted({c for special in specials for c in special})),
    ]
    if surrogates:
        characters.append(st.characters(categories=["Cs"]))
    hostile_text = st.text(st.one_of(*characters), max_size=6)
    document = st.lists(
        st.one_of(
            cased_word,
            hostile_text,
            st.sampled_from(specials),
            st.sampled_from(SEPARATORS),
        ),
        max_size=10,
    ).map("".join)
    return st.lists(st.one_of(document, document, document, missing_value), max_size=7)


def has_surrogate(text):
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@pytest.fixture(scope="module")
def substituters():
    """Fitted once; hypothesis reuses them (module scope)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return {
            "laplace": DPWordSubstituter(
                epsilon=5.0, embeddings=VOCABULARY, random_state=0
            ).fit([]),
            "laplace-sample": DPWordSubstituter(
                epsilon=5.0,
                embeddings=VOCABULARY,
                unknown_words="sample",
                random_state=1,
            ).fit([]),
            "density-aware": DensityAwareSubstituter(
                epsilon=3.0, embeddings=VOCABULARY, max_neighbors=16, random_state=2
            ).fit([]),
            "vickrey": DPWordSubstituter(
                epsilon=5.0, mechanism="vickrey", embeddings=VOCABULARY, random_state=3
            ).fit([]),
        }


def without_words(text):
    """``text`` with every word (for the library's tokenizer) removed."""
    batch = tokenize([text])
    pieces = batch.pieces.copy()
    pieces[batch.word_positions] = ""
    return "".join(pieces)


def expected_without_words(sub, text):
    """What the output must look like once its words are removed: the input's
    non-word characters, plus the placeholder's own non-word characters ("<", ">")
    where a word missing from the vocabulary (also under its fallback keys:
    accents folded, contraction halves, ...) was replaced by it."""
    batch = tokenize([text])
    pieces = batch.pieces.copy()
    rows, _ = sub._lookup(batch)
    replacement = (
        without_words(PLACEHOLDER) if sub.unknown_words == "placeholder" else ""
    )
    pieces[batch.word_positions] = np.where(rows < 0, replacement, "")
    return "".join(pieces)


def check_document(sub, before, after):
    assert isinstance(after, str), f"{before!r} gave {after!r}"
    assert without_words(after) == expected_without_words(sub, before)
    in_words, out_words = tokenize([before]).words, tokenize([after]).words
    assert len(out_words) == len(in_words)
    allowed = set(sub.embeddings_.words.tolist()) | {"unk"}
    assert set(normalize_words(out_words).tolist()) <= allowed


def check_column(sub, before, after):
    """One output per input, in order; missing values are the same objects."""
    assert len(after) == len(before)
    for b, a in zip(before, after, strict=False):
        if isinstance(b, str):
            check_document(sub, b, a)
        else:
            assert a is b, f"missing value {b!r} came back as {a!r}"


def make_container(kind, values):
    if kind == "list":
        return list(values)
    if kind == "tuple":
        return tuple(values)
    if kind == "array":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if kind == "series":  # a shuffled, non-default index and a name
        index = [f"r{i}" for i in range(len(values))][::-1]
        return pd.Series(values, index=index, dtype=object, name="notes")
    raise AssertionError(kind)


NAMES = ["laplace", "laplace-sample", "density-aware", "vickrey"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["list", "tuple", "array", "series"])
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=columns())
@example(values=[])
@example(values=["", " ", None, float("nan"), pd.NA])
@example(values=["".join(SPECIALS), "The MOVIE was Great!", "\ud800the\udfff"])
@example(
    values=[
        "e\u0301te \u202eThe\u202c caf\u00e9 ǅ İstanbul ß 日本語 \U0001f600",
        "\x00",
    ]
)
def test_hostile_unicode_and_missing_values(substituters, name, kind, values):
    sub = substituters[name]
    X = make_container(kind, values)
    out = sub.transform(X)
    assert type(out) is type(X)
    if kind == "series":
        assert out.index.equals(X.index) and out.name == X.name
        assert out.dtype == object
        check_column(sub, X.tolist(), out.tolist())
    else:
        check_column(sub, list(X), list(out))
    if kind == "array":
        assert out.dtype == object and out.shape == X.shape


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(first=columns(surrogates=False), second=columns(surrogates=False))
def test_hostile_data_frames_keep_index_columns_and_missing_cells(
    substituters, first, second
):
    n = min(len(first), len(second))
    index = pd.Index([f"id{i}" for i in range(n)])[::-1]
    X = pd.DataFrame(
        {
            "title": pd.Series(first[:n], index=index, dtype=object),
            "body": pd.Series(second[:n], index=index, dtype=object),
        }
    )
    sub = substituters["laplace"]
    out = sub.transform(X)
    assert isinstance(out, pd.DataFrame) and out.index.equals(X.index)
    assert out.columns.tolist() == ["title", "body"]
    for name in X.columns:
        for b, a in zip(X[name], out[name], strict=False):
            if isinstance(b, str):
                check_document(sub, b, a)
            else:
                assert pd.isna(a)


@pytest.mark.parametrize("pandas_output", [False, True])
def test_lone_surrogates_in_two_dimensional_input_do_not_crash(
    substituters, pandas_output
):
    sub = clone_of(substituters["laplace"])
    if pandas_output:
        sub.set_output(transform="pandas")
        X = np.array([["the \ud800 film", None]], dtype=object)
    else:
        X = pd.DataFrame({"a": pd.Series(["the \ud800 film", None], dtype=object)})
    out = sub.transform(X)
    assert pd.DataFrame(out).iloc[0, 0].count("\ud800") == 1


def clone_of(fitted):
    import copy

    return copy.deepcopy(fitted)


def test_data_frame_object_columns_keep_their_missing_objects(substituters):
    X = pd.DataFrame({"a": pd.Series(["the film", None, pd.NA], dtype=object)})
    out = substituters["laplace"].transform(X)
    assert out["a"].dtype == object
    assert out["a"].iloc[1] is None and out["a"].iloc[2] is pd.NA


@pytest.mark.parametrize("frame", [False, True])
def test_categorical_text_is_not_silently_lost(substituters, frame):
    values = pd.Series(["the film", "a year", None], dtype="category")
    X = pd.DataFrame({"a": values}) if frame else values
    out = substituters["laplace"].transform(X)
    out = out["a"] if frame else out
    assert out.notna().tolist() == [True, True, False]


def test_pandas_string_dtypes_are_kept(substituters):
    sub = substituters["laplace"]
    for dtype in ("string", "str", pd.StringDtype("python")):
        X = pd.Series(["the film", None], dtype=dtype, index=[7, 3])
        out = sub.transform(X)
        assert out.dtype == X.dtype and out.index.tolist() == [7, 3]
        assert pd.isna(out.iloc[1]) and isinstance(out.iloc[0], str)


BAD_ROWS = [
    ([b"the film"], TypeError, r"X\[0\] is a bytes"),
    (["the film", 3], TypeError, r"X\[1\] is a int"),
    (["ok", 2.5], TypeError, r"X\[1\] is a float"),
    (["ok", True], TypeError, r"X\[1\] is a bool"),
    ([["nested", "list"]], TypeError, r"X\[0\] is a list"),
    ([("a", "tuple")], TypeError, r"X\[0\] is a tuple"),
    ([{"a": 1}], TypeError, r"X\[0\] is a dict"),
    ([{"a set"}], TypeError, r"X\[0\] is a set"),
    ([object()], TypeError, r"X\[0\] is a object"),
    (np.array([b"x", b"y"]), TypeError, r"X\[0\] is a bytes"),
    (np.array([1, 2]), TypeError, r"X\[0\] is a int"),
    (pd.Series(["a", 3], index=["p", "q"]), TypeError, r"X at row 'q' is a int"),
    (pd.DataFrame({"t": ["a", "b"], "n": [1, 2]}), TypeError, r"X\['n'\] at row 0"),
    (np.array([["a", 1]], dtype=object), TypeError, r"X\[0, 1\] is a int"),
    ("a single string", TypeError, "string object received"),
    (b"bytes", TypeError, "string object received"),
    ({"a": "dict"}, TypeError, "got dict"),
    (5, TypeError, "got int"),
    (None, TypeError, "got NoneType"),
    (np.empty((2, 2, 2), dtype=object), ValueError, "1-D or 2-D"),
]


@pytest.mark.parametrize("X, error, message", BAD_ROWS)
@pytest.mark.parametrize("name", ["laplace", "density-aware"])
def test_refused_inputs_say_which_row(substituters, name, X, error, message):
    sub = substituters[name]
    for method in (sub.transform, sub.fit, sub.privacy_cost):
        with pytest.raises(error, match=message):
            method(X)


def test_generators_and_sets_give_one_output_per_input(substituters):
    sub = substituters["laplace"]
    out = sub.transform(doc for doc in ["the film", None, "a year"])
    assert isinstance(out, list) and len(out) == 3 and out[1] is None
    documents = {"the film", "a year", "new world"}
    out = sub.transform(documents)  # iteration order; a set has no other
    assert isinstance(out, list) and len(out) == 3
    for before, after in zip(documents, out, strict=False):
        check_document(sub, before, after)


def test_ten_megabyte_document(substituters):
    """One 10 MB document: linear time, lossless. Mostly words missing from the
    vocabulary (the placeholder path); one word in twelve is perturbed."""
    unit = (
        "The Zqxname, naïve café — 42% Zqxname's e\u0301te! \u202eשלום\u202c "
        "\U0001f600\u200d \ud800 ǅ İstanbul\tstraße Ünïcødé\r\n"
    )
    doc = (unit * (10_000_000 // len(unit) + 1))[:10_000_000]
    batch = tokenize([doc])
    n_words = len(batch.words)
    pieces = batch.pieces.copy()
    pieces[batch.word_positions] = np.where(
        VOCABULARY.index_of(normalize_words(batch.words)) < 0,
        without_words(PLACEHOLDER),
        "",
    )
    expected = "".join(pieces)
    del batch, pieces
    for name in ("laplace", "density-aware"):
        out = substituters[name].transform([doc])
        assert isinstance(out, list) and len(out) == 1
        result = tokenize(out)
        assert len(result.words) == n_words
        result.pieces[result.word_positions] = ""
        assert "".join(result.pieces) == expected


def test_privacy_cost_keeps_the_series_index_and_missing_rows(substituters):
    sub = substituters["laplace"]
    X = pd.Series(["The film, the year!", None, "", "Zqxname"], index=list("dcba"))
    cost = sub.privacy_cost(X)
    assert cost.index.tolist() == list("dcba")
    assert cost["n_words"].tolist() == [4, 0, 0, 1]
    assert cost["n_perturbed"].tolist() == [4, 0, 0, 0]
    assert cost["n_unknown"].tolist() == [0, 0, 0, 1]


def test_privacy_cost_counts_every_text_column(substituters):
    sub = substituters["laplace"]
    X = pd.DataFrame(
        {"title": ["the film", "a year"], "body": ["the film of the year", None]},
        index=["p", "q"],
    )
    sub = DPWordSubstituter(epsilon=1.0, embeddings=VOCABULARY).fit(X)
    cost = sub.privacy_cost(X)
    assert cost.index.tolist() == ["p", "q"]
    assert cost["n_perturbed"].tolist() == [2 + 5, 2 + 0]
    assert cost["epsilon_per_unit"].tolist() == [7.0, 2.0]


# =================================================================== parameters
TINY = (["a", "b", "c", "d", "e"], np.arange(10.0).reshape(5, 2))

COMMON_BAD = [
    ("epsilon", 0),
    ("epsilon", -1.0),
    ("epsilon", math.nan),
    ("epsilon", math.inf),
    ("epsilon", -math.inf),
    ("epsilon", True),
    ("epsilon", np.bool_(True)),
    ("epsilon", "10"),
    ("epsilon", None),
    ("epsilon", 1 + 0j),
    ("epsilon", [1.0]),
    ("unknown_words", "drop"),
    ("unknown_words", None),
    ("placeholder", None),
    ("placeholder", 3),
    ("placeholder", b"<unk>"),
    ("keep_words", "french"),
    ("keep_words", 3),
    ("keep_words", ["the", 3]),
    ("keep_words", {"the": 1}),
    ("perturb_on", "never"),
    ("perturb_on", None),
    ("max_document_epsilon", 0),
    ("max_document_epsilon", -1),
    ("max_document_epsilon", math.nan),
    ("max_document_epsilon", math.inf),
    ("max_document_epsilon", "5"),
    ("budget_action", "ignore"),
    ("n_jobs", 1.5),
    ("n_jobs", "2"),
    ("verbose", "loud"),
    ("verbose", -1),
    ("random_state", -1),
    ("random_state", 1.5),
    ("random_state", "seed"),
    ("random_state", np.random.SeedSequence(0)),
    ("store_embeddings_in_pickle", "yes"),
    ("store_embeddings_in_pickle", None),
    ("store_embeddings_in_pickle", 1),
]
DP_BAD = [
    ("mechanism", "lap"),
    ("mechanism", None),
    ("mechanism", "Laplace"),
    ("covariance_weight", -0.1),
    ("covariance_weight", 1.5),
    ("covariance_weight", math.nan),
    ("covariance_weight", "x"),
    ("threshold", -0.1),
    ("threshold", 1.5),
    ("threshold", math.nan),
    ("decoder", "fast"),
    ("decoder", None),
    ("device", 3),
    ("device", "abacus"),
]
DA_BAD = [
    ("truncation", "all"),
    ("selection", "argmax"),
    ("prior", "uniform"),
    ("bandwidth", 0),
    ("bandwidth", -1),
    ("bandwidth", "wide"),
    ("bandwidth", math.nan),
    ("prior_weight", -1),
    ("prior_weight", math.nan),
    ("prior_weight", math.inf),
    ("poisson_mean", 0),
    ("poisson_mean", math.nan),
    ("poisson_mean", math.inf),
    ("poisson_mean", "mean"),
    ("max_neighbors", 0),
    ("max_neighbors", 2.5),
    # A max_neighbors at or above the vocabulary size is adapted, with a warning.
    ("graph_neighbors", 0),
    ("graph_neighbors", 1.5),
    ("graph_neighbors", "4"),
    ("ball_size", 1),
    ("ball_size", 2.5),
    ("ball_size", None),
    ("device", 3),  # a device name is checked only by the mechanisms that use it
    ("radius", 0),
    ("radius", -1),
    ("radius", math.nan),
    ("radius", math.inf),
    ("radius", "far"),
    ("partition_size", 0),
    ("partition_size", 2.5),
    ("sensitive_fraction", 0),
    ("sensitive_fraction", 1.5),
    ("sensitive_fraction", math.nan),
    ("perturb_probability", -0.1),
    ("perturb_probability", 1.5),
    ("sensitive_frequencies", "corpus"),
    ("sampler", "gibbs"),
    ("mh_steps", 0),
    ("mh_steps", 1.5),
    ("neighbor_algorithm", "faiss"),
]
BAD_EMBEDDINGS = [
    ([], np.empty((0, 2))),
    (["a", "b"], [[1.0, 2.0], [1.0]]),
    (["a", "b"], [[1.0, math.nan], [1.0, 2.0]]),
    (["a", "b"], [[1.0, math.inf], [0, 0]]),
    (["a", "b"], [[1e39, 1.0], [0.0, 0.0]]),
    (["a", "b"], np.empty((2, 0))),
    (["a", "a"], [[1.0, 2.0], [3.0, 4.0]]),
    ([1, "b"], [[1.0, 2.0], [3.0, 4.0]]),
    ([None, "b"], [[1.0, 2.0], [3.0, 4.0]]),
    ([b"a", "b"], [[1.0, 2.0], [3.0, 4.0]]),
    (["a", "b", "c"], [[1.0, 2.0], [3.0, 4.0]]),
    (["a"], [[1.0, 2.0]]),
    (["a", "b"], np.zeros((2, 2, 2))),
    (["1", "2"], [[1.0], [2.0]]),
    (["a", "A"], [[1.0], [2.0]]),
    (["a", "b"], [["x", "y"], ["z", "w"]]),
    "no-such-embedding",
    5,
    {},
]


def bad_parameter_cases():
    for estimator, table in (
        (DPWordSubstituter, COMMON_BAD + DP_BAD),
        (DensityAwareSubstituter, COMMON_BAD + DA_BAD),
    ):
        for name, value in table:
            yield pytest.param(
                estimator,
                name,
                value,
                id=f"{estimator.__name__[:2]}-{name}={value!r:.20}",
            )
        for i, value in enumerate(BAD_EMBEDDINGS):
            yield pytest.param(
                estimator,
                "embeddings",
                value,
                id=f"{estimator.__name__[:2]}-embeddings-{i}",
            )


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("estimator, name, value", list(bad_parameter_cases()))
def test_every_parameter_is_validated_at_fit_naming_it(estimator, name, value):
    params = {"embeddings": TINY, name: value}
    if estimator is DensityAwareSubstituter and name not in ("max_neighbors",):
        params.setdefault("max_neighbors", 2)
    sub = estimator(**params)  # construction never validates (scikit-learn rule)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        with pytest.raises((TypeError, ValueError)) as info:
            sub.fit(["a b"])
    assert re.search(rf"\b{name}\b", str(info.value)), str(info.value)


def test_the_validation_table_covers_every_parameter():
    """A parameter added to an estimator must get rows in the table above."""
    for estimator, table in (
        (DPWordSubstituter, COMMON_BAD + DP_BAD),
        (DensityAwareSubstituter, COMMON_BAD + DA_BAD),
    ):
        covered = {name for name, _ in table} | {"embeddings"}
        assert set(estimator().get_params()) <= covered, estimator.__name__


@pytest.mark.parametrize(
    "params, names",
    [
        ({"selection": "gumbel", "truncation": "radius"}, ["selection", "truncation"]),
        (
            {"truncation": "knn", "selection": "gumbel", "prior": None, "epsilon": 1.0},
            ["epsilon"],
        ),
        ({"sampler": "metropolis"}, ["sampler", "truncation"]),
        ({"sensitive_fraction": 0.5}, ["sensitive_fraction", "truncation"]),
        ({"sensitive_fraction": 0.05, "truncation": None}, ["sensitive_fraction"]),
    ],
)
def test_inconsistent_density_aware_parameters_are_refused(params, names):
    with pytest.raises(ValueError) as info:
        DensityAwareSubstituter(embeddings=TINY, max_neighbors=2, **params).fit([])
    for name in names:
        assert name in str(info.value)


@pytest.mark.parametrize("estimator", [DPWordSubstituter, DensityAwareSubstituter])
def test_n_jobs_zero_is_refused_at_fit(estimator):
    sub = estimator(embeddings=TINY, n_jobs=0)
    if estimator is DensityAwareSubstituter:
        sub.set_params(max_neighbors=2)
    with pytest.raises(ValueError, match="'n_jobs'"):
        sub.fit([])


def test_tiny_epsilon_is_refused_or_stays_random():
    sub = DPWordSubstituter(epsilon=1e-100, embeddings=VOCABULARY)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            sub.fit([])
            out = sub.mechanism_.sample(
                np.zeros(500, dtype=np.int64), np.random.default_rng(0)
            )
    except ValueError as exc:
        assert "epsilon" in str(exc)
    else:
        assert len(np.unique(out)) > 10


def test_tiny_bandwidth_is_refused_naming_it_or_gives_a_finite_prior():
    sub = DensityAwareSubstituter(embeddings=TINY, max_neighbors=2, bandwidth=1e-200)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            sub.fit([])
    except ValueError as exc:
        assert "bandwidth" in str(exc)
    else:
        assert np.isfinite(sub.log_prior_).all()


def test_valid_edge_values_are_accepted():
    """The boundaries of the valid ranges fit and transform."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        for params in (
            {"covariance_weight": 0.0},
            {"covariance_weight": 1.0},
            {"threshold": 0.0},
            {"threshold": 1.0},
            {"epsilon": 1e-9},
            {"epsilon": 1e9},
            {"epsilon": np.float32(3.0)},
            {"n_jobs": -1},
            {"random_state": np.random.RandomState(0)},
            {"keep_words": []},
            {"keep_words": ("a",)},
            {"keep_words": frozenset({"a"})},
        ):
            out = (
                DPWordSubstituter(embeddings=TINY, **params).fit([]).transform(["a b"])
            )
            assert len(tokenize(out).words) == 2
        for params in (
            {"max_neighbors": 4},
            {"prior_weight": 0.0},
            {"truncation": "partition", "partition_size": 50},
            {"truncation": None, "sensitive_fraction": 1.0},
            {
                "truncation": None,
                "prior": None,
                "perturb_probability": 0.0,
                "sensitive_fraction": 0.4,
            },
        ):
            sub = DensityAwareSubstituter(
                embeddings=TINY, **{"max_neighbors": 2, **params}
            )
            assert len(tokenize(sub.fit([]).transform(["a b"])).words) == 2


# ========================================================================= leaks
def is_one_unknown_word(candidate):
    batch = tokenize([candidate])
    if len(batch.words) != 1 or batch.words[0] != candidate:
        return False
    return VOCABULARY.index_of(normalize_words(batch.words))[0] < 0


canary = st.text(
    st.characters(categories=["Ll", "Lu", "Lt", "Lo", "Lm", "Mn"]),
    min_size=1,
    max_size=12,
).filter(is_one_unknown_word)


@pytest.mark.parametrize("name", ["laplace", "density-aware", "vickrey"])
@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    canaries=st.lists(canary, min_size=1, max_size=5),
    context=st.lists(cased_word, max_size=4),
)
@example(
    canaries=["Zqxname", "ZQXNAME", "zqx\u0301name", "ǅemal", "İzmir"], context=["the"]
)
def test_words_missing_from_the_vocabulary_never_reach_the_output(
    substituters, name, canaries, context
):
    sub = substituters[name]
    docs = [" ".join(context + canaries), ", ".join(canaries) + "!", canaries[0]]
    out = sub.transform(docs)
    emitted = set(normalize_words(tokenize(out).words).tolist())
    assert not emitted & set(normalize_words(np.array(canaries, dtype=object)).tolist())


CANARIES = ["Zqcanarysmith", "zqcanary-4411-ssn", "Zqcanaryjones"]
TRAINING = pd.Series(
    [
        f"Patient {CANARIES[0]} saw Dr {CANARIES[2]} about {CANARIES[1]}.",
        None,
        "The film was great.",
    ],
    name="notes",
    dtype=object,
)


def pickled_texts(estimator, needles):
    """Which of ``needles`` occur in the estimator's pickle (any usual encoding)."""
    data = pickle.dumps(estimator)
    found = []
    for needle in needles:
        for form in {needle, needle.lower(), needle.split("-")[0]}:
            if any(
                form.encode(enc) in data for enc in ("utf-8", "utf-16-le", "utf-32-le")
            ):
                found.append(needle)
                break
    return found


@pytest.mark.parametrize("store", [True, False])
@pytest.mark.parametrize(
    "estimator, params",
    [
        (DPWordSubstituter, {}),
        (DPWordSubstituter, {"mechanism": "vickrey-mahalanobis"}),
        (DensityAwareSubstituter, {"max_neighbors": 8}),
        (DensityAwareSubstituter, {"truncation": "partition", "max_neighbors": 8}),
    ],
)
def test_fitted_estimators_and_pickles_hold_no_training_text(
    tmp_path, estimator, params, store
):
    path = tmp_path / "vocabulary.npz"
    np.savez(path, words=VOCABULARY.words.astype(str), vectors=VOCABULARY.vectors)
    sub = estimator(embeddings=str(path), store_embeddings_in_pickle=store, **params)
    sub.fit_transform(TRAINING)
    sub.transform(TRAINING.tolist())
    sub.privacy_cost(TRAINING)
    # The check can fail: the same search finds the canaries in a pickled copy.
    assert pickled_texts(TRAINING, CANARIES) == CANARIES
    assert pickled_texts(sub, CANARIES) == []
    assert not any(
        isinstance(v, (str, pd.Series, list)) and "zqcanary" in str(v).lower()
        for v in vars(sub).values()
    )
    loaded = pickle.loads(pickle.dumps(sub))
    out = loaded.transform(TRAINING)
    assert out.iloc[1] is None and "zqcanary" not in out.iloc[0].lower()


def test_data_derived_sensitive_words_are_in_the_pickle_and_warned():
    """The one opt-in data-dependent setting: warned, and (honestly) it does
    store a function of the private data (which words are frequent)."""
    with pytest.warns(PrivacyLeakWarning, match="sensitive_frequencies='data'"):
        sub = DensityAwareSubstituter(
            embeddings=VOCABULARY,
            truncation=None,
            prior=None,
            sensitive_fraction=0.5,
            sensitive_frequencies="data",
            max_neighbors=8,
        ).fit(TRAINING)
    assert pickled_texts(sub, CANARIES) == []  # still no text, only a word mask


#: A vocabulary of its own (its own cache entries), for the stubbed pynndescent.
WARNING_VOCABULARY = load_embeddings(VOCABULARY.subset(np.arange(250)))
WARNING_VOCABULARY = type(VOCABULARY)(
    WARNING_VOCABULARY.words, WARNING_VOCABULARY.vectors * np.float32(1.5)
)


def stub_pynndescent(monkeypatch):
    """The warnings are the subject, not pynndescent (whose numba compilation alone
    takes ~30 s): exact search stands in for its graph and its query index. The
    graph is still flagged approximate, as pynndescent's would be."""
    from sklearn_textdp import _dp_word, _neighbors

    monkeypatch.setattr(
        _neighbors,
        "_approximate_knn",
        lambda vectors, k, seed, n_jobs: _neighbors._exact_knn(vectors, k, n_jobs),
    )
    monkeypatch.setattr(
        _dp_word,
        "ApproximateDecoder",
        lambda vectors, **_: _dp_word.ExactDecoder(vectors),
    )


LEAKY_SETTINGS = [
    (DPWordSubstituter, {"unknown_words": "keep"}, "unknown_words='keep'"),
    (DensityAwareSubstituter, {"unknown_words": "keep"}, "unknown_words='keep'"),
    (DPWordSubstituter, {"keep_words": "english"}, "keep_words"),
    (DensityAwareSubstituter, {"keep_words": ["the"]}, "keep_words"),
    (DPWordSubstituter, {"decoder": "approximate"}, "decoder='approximate'"),
    (
        DensityAwareSubstituter,
        {"truncation": "knn", "neighbor_algorithm": "approximate"},
        "neighbor_algorithm",
    ),
    (
        DensityAwareSubstituter,
        {
            "truncation": "knn",
            "neighbor_algorithm": "approximate",
            "selection": "gumbel",
            "prior": None,
            "epsilon": 200.0,
        },
        "neighbor_algorithm",
    ),
    (
        DensityAwareSubstituter,
        {"truncation": None, "sampler": "metropolis", "mh_steps": 5},
        "sampler='metropolis'",
    ),
    (
        DensityAwareSubstituter,
        {
            "truncation": None,
            "prior": None,
            "sensitive_fraction": 0.5,
            "sensitive_frequencies": "data",
        },
        "sensitive_frequencies='data'",
    ),
]


@pytest.mark.parametrize("estimator, params, setting", LEAKY_SETTINGS)
def test_settings_that_weaken_the_guarantee_are_warned_by_name(
    estimator, params, setting, monkeypatch
):
    stub_pynndescent(monkeypatch)
    sub = estimator(embeddings=WARNING_VOCABULARY, **params)
    if estimator is DensityAwareSubstituter:
        sub.set_params(max_neighbors=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sub.fit(["the film"])
    messages = [
        str(w.message) for w in caught if issubclass(w.category, PrivacyLeakWarning)
    ]
    assert any(setting in m for m in messages), messages


@pytest.mark.parametrize(
    "estimator, params",
    [
        (DPWordSubstituter, {}),
        (DPWordSubstituter, {"mechanism": "mahalanobis"}),
        (DensityAwareSubstituter, {}),
        (DensityAwareSubstituter, {"truncation": "radius"}),
        (DensityAwareSubstituter, {"truncation": None}),
        (
            DensityAwareSubstituter,
            {"truncation": None, "neighbor_algorithm": "approximate"},
        ),
    ],
)
def test_default_settings_are_not_warned(estimator, params, monkeypatch):
    """No cry-wolf: settings that keep the guarantee raise no PrivacyLeakWarning
    (the approximate graph is unused by the exact full-vocabulary sampler)."""
    stub_pynndescent(monkeypatch)
    sub = estimator(embeddings=WARNING_VOCABULARY, **params)
    if estimator is DensityAwareSubstituter:
        sub.set_params(max_neighbors=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        # On 250 spread-out words the default epsilons do keep nearly every word
        # (true, and tested with the deniability warning); settings are the subject.
        warnings.filterwarnings(
            "ignore", "epsilon=.* leaves almost no plausible deniability"
        )
        sub.fit(["the film"]).transform(["the film"])


def test_keep_and_placeholder_contract_with_canaries(substituters):
    """unknown_words="keep" is the only way a missing word reaches the output."""
    with pytest.warns(PrivacyLeakWarning):
        keep = DPWordSubstituter(
            epsilon=5.0, embeddings=VOCABULARY, unknown_words="keep"
        ).fit([])
    doc = f"{CANARIES[0]} and the film"
    assert CANARIES[0] in keep.transform([doc])[0]
    for name in ("laplace", "density-aware", "laplace-sample"):
        assert CANARIES[0].lower() not in substituters[name].transform([doc])[0].lower()
    assert substituters["laplace"].transform([doc])[0].startswith(PLACEHOLDER)


# ---------------------------------------------------------------- no deniability left
@pytest.mark.parametrize(
    "estimator, params, how",
    [
        (DPWordSubstituter, {}, "20 draws per word"),  # no closed-form law
        (DensityAwareSubstituter, {"truncation": "knn", "prior": None}, "exact"),
    ],
)
def test_an_epsilon_that_keeps_every_word_is_warned_at_fit(
    glove2k, estimator, params, how
):
    """epsilon 1e6 returns the input unchanged: say so, as for a repeated release."""
    with pytest.warns(PrivacyLeakWarning, match="almost no plausible deniability") as w:
        sub = estimator(epsilon=1e6, embeddings=glove2k, **params).fit([])
    message = str(w[0].message)
    assert "epsilon=1e+06" in message and how in message
    assert sub.transform(["the movie was great"]) == ["the movie was great"]


@pytest.mark.parametrize(
    "estimator, params",
    [
        (DPWordSubstituter, {}),
        (DensityAwareSubstituter, {"truncation": "knn", "prior": None}),
        (DensityAwareSubstituter, {}),
    ],
)
def test_an_epsilon_with_deniability_is_not_warned(glove2k, estimator, params):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        sub = estimator(epsilon=1, embeddings=glove2k, **params).fit([])
    median, _ = sub._median_keep_probability()
    assert median < 0.5


# ---------------------------------------------------------------- whole data frames
def test_a_whole_frame_with_label_and_name_columns_is_warned_with_the_recipe(
    glove2k,
):
    """Labels, drug names and conditions are not text to perturb: each is named,
    with the ColumnTransformer recipe that perturbs the text only."""
    from sklearn_textdp.datasets import load_drug_reviews

    frame = load_drug_reviews(as_frame=True).frame
    sub = DPWordSubstituter(epsilon=5, embeddings=glove2k, random_state=0).fit([])
    with pytest.warns(UserWarning, match="do not look like free text") as caught:
        sub.transform(frame)
    (message,) = {str(w.message) for w in caught if "free text" in str(w.message)}
    for column in ("'label' (100% single words)", "'drug'", "'condition'"):
        assert column in message
    assert "'text' (" not in message
    assert "ColumnTransformer([(\"text\", substituter, ['text'])]" in message


def test_the_column_transformer_recipe_perturbs_only_the_text(glove2k):
    from sklearn.compose import ColumnTransformer

    from sklearn_textdp.datasets import load_drug_reviews

    frame = load_drug_reviews(as_frame=True).frame.head(40)
    sub = DPWordSubstituter(epsilon=5, embeddings=glove2k, random_state=0)
    recipe = ColumnTransformer(
        [("text", sub, ["text"])], remainder="passthrough"
    ).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "X is a DataFrame", UserWarning)
        out = recipe.fit_transform(frame)
    for column in ("label", "drug", "condition"):
        assert out[f"remainder__{column}"].tolist() == frame[column].tolist()
    assert out["text__text"].tolist() != frame["text"].tolist()


def test_frames_of_free_text_are_not_warned(glove2k):
    frame = pd.DataFrame(
        {
            "title": [f"a short title number {i} here" for i in range(30)],
            "body": [f"the movie {i} was great and the actors good" for i in range(30)],
        }
    )
    sub = DPWordSubstituter(epsilon=5, embeddings=glove2k, random_state=0).fit([])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "X is a DataFrame", UserWarning)
        sub.transform(frame)
