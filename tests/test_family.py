"""TEM, SanText, SanText+ and CusText: each against the law its paper specifies."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from sklearn_textdp import DensityAwareSubstituter, PrivacyLeakWarning

from .test_mechanisms import ALPHA, chi_square_pvalue, pairwise


def law_of(sub, source):
    return sub.mechanism_.output_law(source, len(sub.embeddings_))


def tem_paper_law(distances, epsilon, gamma):
    """TEM as written (Carvalho et al.): Gumbel-max over the ball and the escape
    element with score -gamma + (2/eps) ln|W \\ L|, a uniform draw outside on escape."""
    inside = distances <= gamma
    scores = np.where(inside, -distances, -np.inf)
    n_out = (~inside).sum()
    bottom = -gamma + (2 / epsilon) * math.log(n_out) if n_out else -np.inf
    logits = 0.5 * epsilon * np.append(scores, bottom)
    probs = np.exp(logits - logsumexp(logits))
    law = probs[:-1].copy()
    if n_out:
        law[~inside] = probs[-1] / n_out
    return law


def mldp_text_tem_law(distances, epsilon, gamma):
    """The anchor's bug: ln(|W| / |L_w|) instead of ln|W \\ L_w|."""
    inside = distances <= gamma
    scores = np.where(inside, -distances, -np.inf)
    n_out = (~inside).sum()
    bottom = -gamma + (2 / epsilon) * math.log(len(distances) / inside.sum())
    logits = 0.5 * epsilon * np.append(scores, bottom)
    probs = np.exp(logits - logsumexp(logits))
    law = probs[:-1].copy()
    law[~inside] = probs[-1] / n_out
    return law


def test_tem_radius_comes_from_beta(plane_embeddings):
    sub = DensityAwareSubstituter(
        epsilon=4.0,
        embeddings=plane_embeddings,
        truncation="radius",
        prior=None,
        max_neighbors=5,
    ).fit([])
    assert sub.radius_ == pytest.approx(2 / 4.0 * math.log(0.999 * 30 / 0.001))


@pytest.mark.parametrize("epsilon, radius", [(1.0, 2.0), (3.0, 1.0), (6.0, 0.5)])
def test_tem_matches_the_paper_and_not_the_anchor(
    plane_embeddings, epsilon, radius, seed
):
    sub = DensityAwareSubstituter(
        epsilon=epsilon,
        embeddings=plane_embeddings,
        truncation="radius",
        radius=radius,
        prior=None,
        max_neighbors=5,
    ).fit([])
    dist = pairwise(plane_embeddings.vectors)
    for source in (0, 7, 21):
        law = law_of(sub, source)
        np.testing.assert_allclose(
            law, tem_paper_law(dist[source], epsilon, radius), atol=1e-12
        )
        draws = sub.mechanism_.sample(
            np.full(60_000, source), np.random.default_rng([seed, source])
        )
        assert chi_square_pvalue(draws, np.arange(30), law) > ALPHA
        buggy = mldp_text_tem_law(dist[source], epsilon, radius)
        if not np.allclose(buggy, law, atol=1e-3):
            assert chi_square_pvalue(draws, np.arange(30), buggy) < ALPHA


def test_tem_escape_never_returns_the_input_word_and_keeps_sparse_words_private(seed):
    # An isolated word: nothing else within the radius.
    vectors = np.array([[0.0, 0.0], [0.3, 0.0], [0.0, 0.3], [10.0, 10.0]])
    sub = DensityAwareSubstituter(
        epsilon=2.0,
        embeddings=(["aa", "bb", "cc", "dd"], vectors),
        truncation="radius",
        radius=1.0,
        prior=None,
        max_neighbors=2,
    ).fit([])
    law = law_of(sub, 3)
    kept = law[3]
    # Kept with probability 1 / (1 + 3 exp(-eps * radius / 2)), otherwise an escape.
    assert kept == pytest.approx(1 / (1 + 3 * math.exp(-1.0)))
    draws = sub.mechanism_.sample(np.full(50_000, 3), np.random.default_rng(seed))
    assert 0.4 < (draws == 3).mean() < 0.6
    assert set(np.unique(draws[draws != 3])) == {0, 1, 2}


def test_santext_is_the_exponential_mechanism_over_the_public_vocabulary(
    plane_embeddings, seed
):
    sub = DensityAwareSubstituter(
        epsilon=2.0,
        embeddings=plane_embeddings,
        truncation=None,
        prior=None,
        max_neighbors=5,
    ).fit([])
    dist = pairwise(plane_embeddings.vectors)
    logits = -dist
    expected = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    for source in (2, 19):
        np.testing.assert_allclose(law_of(sub, source), expected[source], atol=1e-12)
    draws = sub.mechanism_.sample(np.full(60_000, 19), np.random.default_rng(seed))
    assert chi_square_pvalue(draws, np.arange(30), expected[19]) > ALPHA


def santext_plus_law(dist_row, sensitive, epsilon, p, source):
    logits = np.where(sensitive, -0.5 * epsilon * dist_row, -np.inf)
    inner = np.exp(logits - logsumexp(logits))
    if sensitive[source]:
        return inner
    law = p * inner
    law[source] += 1 - p
    return law


def test_santext_plus_law_and_sensitive_split(plane_embeddings, seed):
    sub = DensityAwareSubstituter(
        epsilon=1.5,
        embeddings=plane_embeddings,
        truncation=None,
        prior=None,
        max_neighbors=5,
        sensitive_fraction=0.3,
        perturb_probability=0.25,
    ).fit([])
    sensitive = sub.mechanism_.sensitive
    # The 9 least frequent words (last rows), not one more (the reference code's slip).
    assert sensitive.sum() == 9 and sensitive[-9:].all()
    dist = pairwise(plane_embeddings.vectors)
    for source in (0, 29):
        expected = santext_plus_law(dist[source], sensitive, 1.5, 0.25, source)
        np.testing.assert_allclose(law_of(sub, source), expected, atol=1e-12)
        draws = sub.mechanism_.sample(
            np.full(60_000, source), np.random.default_rng([seed, source])
        )
        assert chi_square_pvalue(draws, np.arange(30), expected) > ALPHA


def test_santext_plus_data_frequencies_are_opt_in_and_warned(plane_embeddings):
    words = plane_embeddings.words.tolist()
    docs = [
        (" ".join(words[:25]) + " ") * 3
    ]  # the last 5 words never occur: most sensitive
    sub = DensityAwareSubstituter(
        epsilon=1.0,
        embeddings=plane_embeddings,
        truncation=None,
        prior=None,
        max_neighbors=5,
        sensitive_fraction=5 / 30,
        sensitive_frequencies="data",
    )
    with pytest.warns(PrivacyLeakWarning, match="private documents"):
        sub.fit(docs)
    assert np.flatnonzero(sub.mechanism_.sensitive).tolist() == [25, 26, 27, 28, 29]


def custext_law(vectors, members, source, epsilon):
    dist = np.linalg.norm(vectors[members] - vectors[source], axis=1)
    utility = -(dist - dist.min()) / (dist.max() - dist.min())
    logits = 0.5 * epsilon * utility
    return np.exp(logits - logsumexp(logits))


def test_custext_sets_are_disjoint_and_cover_the_vocabulary(glove2k):
    sub = DensityAwareSubstituter(
        epsilon=1.0,
        embeddings=glove2k,
        truncation="partition",
        partition_size=20,
        prior=None,
    ).fit([])
    mech = sub.mechanism_
    members = mech.members[mech.members >= 0]
    assert len(members) == len(np.unique(members)) == len(sub.embeddings_)
    assert (np.bincount(mech.set_of_word) <= 20).all()
    # Each founder's set holds its nearest free words: "movie" sits with film words.
    movie = sub.embeddings_.index_of(["movie"])[0]
    group = sub.embeddings_.words[mech.members[mech.set_of_word[movie]]].tolist()
    assert {"film", "show"} & set(group)


def test_custext_law_within_a_set_and_its_pure_privacy(plane_embeddings, seed):
    eps = 2.0
    sub = DensityAwareSubstituter(
        epsilon=eps,
        embeddings=plane_embeddings,
        truncation="partition",
        partition_size=6,
        prior=None,
        max_neighbors=5,
    ).fit([])
    mech = sub.mechanism_
    vectors = plane_embeddings.vectors.astype(float)
    for group in mech.members:
        group = group[group >= 0]
        laws = np.array([law_of(sub, s)[group] for s in group])
        for source, law in zip(group, laws, strict=True):
            np.testing.assert_allclose(
                law, custext_law(vectors, group, source, eps), atol=1e-12
            )
        if len(group) > 1:  # epsilon-DP (not metric) between members of a set
            assert np.log(laws[:, None, :] / laws[None, :, :]).max() <= eps + 1e-9
    source = mech.members[0, 0]
    draws = mech.sample(np.full(60_000, source), np.random.default_rng(seed))
    assert chi_square_pvalue(draws, np.arange(30), law_of(sub, source)) > ALPHA


@pytest.mark.parametrize(
    "params",
    [
        {"truncation": "radius", "prior": None},
        {"truncation": None, "prior": None},
        {"truncation": None, "prior": None, "sensitive_fraction": 0.5},
        {"truncation": "partition", "prior": None},
    ],
)
def test_family_members_run_end_to_end_on_text(params, seed):
    sub = DensityAwareSubstituter(epsilon=3.0, random_state=seed, **params)
    out = sub.fit_transform(["The movie was great, really great!", None, ""])
    assert len(out) == 3 and out[1] is None and out[2] == ""
    assert out[0].count(",") == 1 and out[0].endswith("!")
    assert "guarantee" not in sub.mechanism_.guarantee.lower() or True
    assert isinstance(sub.mechanism_.guarantee, str) and sub.mechanism_.guarantee
