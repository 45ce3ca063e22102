"""Accounting, budgets, the epsilon rule and warnings."""

import numpy as np
import pandas as pd
import pytest

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    PrivacyLeakWarning,
)
from sklearn_textdp.privacy import check_epsilon, document_privacy_cost


def test_privacy_cost_counts_words_per_document():
    sub = DPWordSubstituter(epsilon=2.0, keep_words=["the"], random_state=0)
    with pytest.warns(PrivacyLeakWarning, match="keep_words"):
        sub.fit([])
    docs = pd.Series(
        ["the film was qzxv good", None, "", "The THE"], index=list("abcd")
    )
    cost = sub.privacy_cost(docs)
    assert cost.index.tolist() == list("abcd")
    assert cost["n_words"].tolist() == [5, 0, 0, 2]
    assert cost["n_perturbed"].tolist() == [3, 0, 0, 0]
    assert cost["n_unknown"].tolist() == [1, 0, 0, 0]
    assert cost["n_kept"].tolist() == [1, 0, 0, 2]
    assert cost["epsilon_per_unit"].tolist() == [6.0, 0.0, 0.0, 0.0]
    diameter = sub.vocabulary_diameter_
    assert cost.loc["a", "epsilon_worst_case"] == pytest.approx(6.0 * diameter)


def test_document_privacy_cost_formula():
    cost = document_privacy_cost([0, 3], epsilon=1.5, diameter=10.0)
    assert cost["epsilon_per_unit"].tolist() == [0.0, 4.5]
    assert cost["epsilon_worst_case"].tolist() == [0.0, 45.0]


def test_budget_refuses_or_truncates():
    docs = ["one two three four five", "good film"]
    strict = DPWordSubstituter(epsilon=1.0, max_document_epsilon=3.0, random_state=0)
    with pytest.raises(
        ValueError, match=r"Document 0 .* 5 perturbed words.*max_document_epsilon=3"
    ):
        strict.fit_transform(docs)
    cut = DPWordSubstituter(
        epsilon=1.0, max_document_epsilon=3.0, budget_action="truncate", random_state=0
    )
    out = cut.fit_transform(docs)
    assert len(out[0].split()) == 3 and len(out[1].split()) == 2
    assert cut.privacy_cost(docs)["epsilon_per_unit"].max() <= 3.0


@pytest.mark.parametrize(
    "value, error",
    [
        (0, ValueError),
        (-1, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (True, ValueError),
        ("1", TypeError),
        (None, TypeError),
    ],
)
def test_check_epsilon(value, error):
    with pytest.raises(error, match="finite real number > 0"):
        check_epsilon(value)
    assert check_epsilon(np.float32(0.5)) == 0.5


def test_warnings_name_every_weakening_setting():
    with pytest.warns(PrivacyLeakWarning, match="unknown_words='keep'"):
        DPWordSubstituter(unknown_words="keep").fit([])
    with pytest.warns(PrivacyLeakWarning, match="keep_words"):
        DPWordSubstituter(keep_words="english").fit([])
    with pytest.warns(PrivacyLeakWarning, match="Metropolis|metropolis"):
        DensityAwareSubstituter(truncation=None, sampler="metropolis", mh_steps=5).fit(
            []
        )


def test_missing_words_never_pass_through_by_default():
    sub = DensityAwareSubstituter(epsilon=50, random_state=0).fit([])
    out = sub.transform(["Qzxvkw is my name and zqxj my town"])[0]
    assert "Qzxvkw" not in out and "zqxj" not in out and out.count("<unk>") == 2
    sampled = DensityAwareSubstituter(
        epsilon=50, unknown_words="sample", random_state=0
    )
    words = sampled.fit_transform(["Qzxvkw zqxj"])[0].split()
    assert all(w.lower() in set(sampled.embeddings_.words) for w in words)
    with pytest.warns(PrivacyLeakWarning):
        kept = DensityAwareSubstituter(epsilon=50, unknown_words="keep", random_state=0)
        assert "Qzxvkw" in kept.fit_transform(["Qzxvkw"])[0]


def test_metropolis_acceptance_rate_is_reported():
    with pytest.warns(PrivacyLeakWarning):
        sub = DensityAwareSubstituter(
            epsilon=3.0, truncation=None, sampler="metropolis", mh_steps=20
        ).fit([])
    assert 0.0 < sub.mh_acceptance_rate_ < 1.0
    assert "approximate" in sub.mechanism_.guarantee


def test_truncated_gumbel_states_its_smallest_valid_epsilon():
    with pytest.raises(ValueError, match=r"needs epsilon > 70\.\d\d"):
        DensityAwareSubstituter(
            epsilon=20, selection="gumbel", truncation="knn", prior=None
        ).fit([])
    sub = DensityAwareSubstituter(
        epsilon=80, selection="gumbel", truncation="knn", prior=None
    ).fit([])
    assert sub.alpha_ > 0 and sub.gumbel_scale_ > 0
    assert sub.graph_.min_distance == pytest.approx(0.3514, abs=1e-3)
    assert sub.graph_.max_distance == pytest.approx(18.74, abs=0.01)


@pytest.mark.parametrize(
    "make",
    [
        lambda emb: DPWordSubstituter(epsilon=2.0, embeddings=emb),
        lambda emb: DensityAwareSubstituter(
            epsilon=2.0, embeddings=emb, truncation="knn", prior=None, max_neighbors=8
        ),
        lambda emb: DensityAwareSubstituter(
            epsilon=2.0,
            embeddings=emb,
            truncation="radius",
            prior=None,
            max_neighbors=8,
        ),
    ],
    ids=["laplace", "knn", "radius"],
)
def test_worst_case_cost_uses_the_vocabulary_diameter(glove2k, make):
    """Delta of the worst-case accounting is the largest distance between two
    output words, by brute force from the vectors (not the fitted attribute)."""
    from . import _reference as ref

    words, vectors = ref.plain_words(
        glove2k.words.tolist()[:800], glove2k.vectors[:800]
    )
    diameter, _ = ref.diameter_and_min_distance(vectors)
    sub = make((words, vectors)).fit([])
    docs = [" ".join(words[:7]), "", None, "zzqx " + words[-1]]
    cost = sub.privacy_cost(docs)
    assert cost["n_perturbed"].tolist() == [7, 0, 0, 1]
    np.testing.assert_allclose(
        cost["epsilon_worst_case"], 2.0 * diameter * np.array([7, 0, 0, 1]), rtol=1e-6
    )


def test_epsilon_floor_is_the_smallest_accepted_value():
    from sklearn_textdp.privacy import EPSILON_FLOOR

    assert check_epsilon(EPSILON_FLOOR) == EPSILON_FLOOR
    with pytest.raises(ValueError, match="finite real number > 0"):
        check_epsilon(np.nextafter(EPSILON_FLOOR, 0))
