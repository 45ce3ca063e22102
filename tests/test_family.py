"""TEM, SanText, SanText+ and CusText: each against the law its paper specifies."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from sklearn_textdp import DensityAwareSubstituter, PrivacyLeakWarning

from . import _reference as ref
from ._reference import ALPHA, chi_square_pvalue, pairwise


def law_of(sub, source):
    return sub.mechanism_.output_law(source, len(sub.embeddings_))


tem_paper_law = ref.tem_law


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
    assert sub.radius_ == pytest.approx(ref.tem_radius(4.0, 30, beta=0.001))


@pytest.fixture(scope="module")
def glove_words(glove2k):
    """Real GloVe words, each its own output word (|W| known from the list)."""
    return ref.plain_words(glove2k.words.tolist()[:1000], glove2k.vectors[:1000])


def test_tem_default_radius_and_law_on_glove(glove_words):
    """TEM's published default: beta = 0.001 and gamma = (2/eps) ln((1-beta)|W|/beta),
    and the paper's law at that radius, on real words (distances by brute force).

    epsilon = 10 puts gamma (2.6) among the words' distances: at epsilon = 3 the
    ball would hold the whole vocabulary and any beta would give the same law."""
    words, vectors = glove_words
    n, eps = len(words), 10.0
    sub = DensityAwareSubstituter(
        epsilon=eps,
        embeddings=(words, vectors),
        truncation="radius",
        prior=None,
        max_neighbors=8,
    ).fit([])
    gamma = ref.tem_radius(eps, n, beta=0.001)
    assert sub.radius_ == pytest.approx(gamma, rel=1e-12)
    for source in (0, 11, n - 1):
        d = ref.distances_from(vectors, source)
        assert (d <= gamma).sum() < n  # the radius truncates here
        expected = tem_paper_law(d, eps, gamma)
        np.testing.assert_allclose(law_of(sub, source), expected, atol=1e-12)
    # beta = 0.01 would move the law measurably (the default is really asserted).
    d = ref.distances_from(vectors, 11)
    assert (d <= gamma).sum() > 1
    other = tem_paper_law(d, eps, ref.tem_radius(eps, n, 0.01))
    assert ref.total_variation(law_of(sub, 11), other) > 1e-3


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
    detected = []
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
        if ref.chi_square_power(law, buggy, 60_000) > 0.99:  # visible at this n
            assert chi_square_pvalue(draws, np.arange(30), buggy) < ALPHA
            detected.append(source)
    # The anchor's bug is visible for at least one source at every parameter set.
    assert detected


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
    # Power: the score not halved is rejected from these 60,000 draws.
    doubled = ref.exponential_law(dist[19], 4.0)
    assert ref.chi_square_power(expected[19], doubled, 60_000) > 0.999
    draws = sub.mechanism_.sample(np.full(60_000, 19), np.random.default_rng(seed))
    assert chi_square_pvalue(draws, np.arange(30), expected[19]) > ALPHA


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
    # The 9 least frequent words (last rows), not one more (the reference code's
    # slip): from the declared fraction, not from the fitted mechanism.
    sensitive = ref.sensitive_rows(30, 0.3)
    assert sensitive.sum() == 9 and sensitive[-9:].all()
    vectors = plane_embeddings.vectors
    for source in (0, 29):
        expected = ref.santext_plus_law(vectors, source, sensitive, 1.5, 0.25)
        np.testing.assert_allclose(law_of(sub, source), expected, atol=1e-12)
        # Power: the sensitive set one word too large (the reference code's slip)
        # and, for a public word, p and 1 - p swapped, are rejected at 60,000.
        slip = ref.sensitive_rows(30, 10 / 30)
        broken = [ref.santext_plus_law(vectors, source, slip, 1.5, 0.25)]
        if not sensitive[source]:
            broken.append(ref.santext_plus_law(vectors, source, sensitive, 1.5, 0.75))
        for other in broken:
            assert ref.chi_square_power(expected, other, 60_000) > 0.999
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


custext_law = ref.custext_law


def test_custext_default_sets_follow_the_paper_on_glove(glove_words):
    """Default K = 20: disjoint sets of exactly 20 words (the last one the
    remainder), founded in frequency order, each with its founder's nearest free
    words; every word's output support is its reference set (not the fitted
    members), with the paper's law inside."""
    words, vectors = glove_words
    sub = DensityAwareSubstituter(
        epsilon=1.0,
        embeddings=(words, vectors),
        truncation="partition",
        prior=None,
        max_neighbors=8,
    ).fit([])
    set_of, sets = ref.custext_partition(vectors, 20)
    sizes = [len(m) for m in sets]
    assert sizes[:-1] == [20] * (len(sets) - 1) and 1 <= sizes[-1] <= 20
    assert sum(sizes) == len(words)
    for source in range(0, len(words), 7):
        law = law_of(sub, source)
        members = sets[set_of[source]]
        assert set(np.flatnonzero(law > 0).tolist()) == set(members.tolist())
        np.testing.assert_allclose(
            law[members], custext_law(vectors, members, source, 1.0), atol=1e-12
        )
    movie = words.index("movie")
    assert {"film", "show"} & {words[i] for i in sets[set_of[movie]]}


def test_custext_law_within_a_set_and_its_pure_privacy(
    plane_embeddings, plane_custext, seed
):
    eps = 2.0
    sub = plane_custext(eps)
    vectors = plane_embeddings.vectors.astype(float)
    _, sets = ref.custext_partition(vectors, 6)
    for group in sets:
        laws = np.array([law_of(sub, s) for s in group])
        assert (laws[:, np.setdiff1d(np.arange(30), group)] == 0).all()
        laws = laws[:, group]
        for source, law in zip(group, laws, strict=True):
            np.testing.assert_allclose(
                law, custext_law(vectors, group, source, eps), atol=1e-12
            )
        if len(group) > 1:  # epsilon-DP (not metric) between members of a set
            assert np.log(laws[:, None, :] / laws[None, :, :]).max() <= eps + 1e-9
    source = sets[0][0]
    law = np.zeros(30)
    law[sets[0]] = custext_law(vectors, sets[0], source, eps)
    doubled = np.zeros(30)
    doubled[sets[0]] = custext_law(vectors, sets[0], source, 2 * eps)
    assert ref.chi_square_power(law, doubled, 60_000) > 0.999  # power shown
    draws = sub.mechanism_.sample(np.full(60_000, source), np.random.default_rng(seed))
    assert chi_square_pvalue(draws, np.arange(30), law) > ALPHA


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


def test_custext_partition_equals_the_reference_on_random_vocabularies():
    """The partition with and without the neighbour lists, against the reference
    greedy loop, over many sizes (the full-search fallback is exercised whenever
    a founder's list holds fewer free words than the set size)."""
    from sklearn_textdp import build_neighbor_graph
    from sklearn_textdp.mechanisms import CusText, partition_vocabulary

    for seed in range(40):
        rng = np.random.default_rng(seed)
        n, size = int(rng.integers(5, 80)), int(rng.integers(2, 12))
        vectors = rng.normal(size=(n, 3))
        expected, _ = ref.custext_partition(vectors, size)
        graph = build_neighbor_graph(
            vectors, int(rng.integers(1, n)), algorithm="exact"
        )
        for g in (None, graph):
            got, members = partition_vocabulary(vectors, size, g)
            np.testing.assert_array_equal(got, expected)
            assert members.shape == (expected.max() + 1, size)
    # The mechanism's own default K is the paper's 20.
    vectors = np.random.default_rng(0).normal(size=(50, 3))
    sets = CusText(vectors, epsilon=1.0).set_of_word
    np.testing.assert_array_equal(sets, ref.custext_partition(vectors, 20)[0])
