"""Perturbing a Hugging Face ``datasets.Dataset`` column with ``.map``."""

import pickle

import pytest
from sklearn.exceptions import NotFittedError

from sklearn_textdp import DPWordSubstituter
from sklearn_textdp._distributed import _partition_seed
from sklearn_textdp._huggingface import HuggingFacePerturber, perturb_hf_dataset

LONG_DOC = " ".join(["the movie was great and the music was good"] * 4)
TEXTS = [LONG_DOC if i % 4 else None for i in range(12)]


@pytest.fixture(scope="module")
def substituter(emb2k):
    return DPWordSubstituter(
        epsilon=5, embeddings=emb2k, store_embeddings_in_pickle=False
    ).fit([])


def test_each_batch_draws_the_stream_of_its_first_row(substituter):
    """A stand-in for ``Dataset.map``: batches are dicts of lists plus indices."""
    perturb = HuggingFacePerturber(substituter, "text", random_state=3)
    out = []
    for start in range(0, 12, 4):
        batch = {"text": TEXTS[start : start + 4], "id": list(range(start, start + 4))}
        result = perturb(batch, list(range(start, start + 4)))
        assert set(result) == {"text"}
        expected = substituter._perturb(
            TEXTS[start : start + 4], _partition_seed(perturb.run_seed, start)
        )
        assert result["text"] == expected
        out += result["text"]
    assert [o is None for o in out] == [t is None for t in TEXTS]
    present = [o for o in out if o is not None]
    assert len(set(present)) == len(present)  # no two batches share noise
    assert perturb({"text": []}, []) == {"text": []}


def test_the_perturber_is_a_small_pickle_and_needs_a_fitted_substituter(
    substituter, emb2k
):
    perturb = HuggingFacePerturber(substituter, "text", output_column="private")
    assert len(pickle.dumps(perturb)) < 5000
    again = pickle.loads(pickle.dumps(perturb))
    batch = {"text": TEXTS[:4]}
    assert again(batch, [0, 1, 2, 3]) == perturb(batch, [0, 1, 2, 3])
    with pytest.raises(NotFittedError):
        HuggingFacePerturber(DPWordSubstituter(embeddings=emb2k), "text")


def test_dataset_map_in_one_and_two_processes(substituter):
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_dict({"id": list(range(12)), "text": TEXTS})
    kwargs = {"random_state": 0, "batch_size": 3, "load_from_cache_file": False}
    one = perturb_hf_dataset(substituter, dataset, "text", **kwargs)
    assert one.column_names == ["id", "text"]
    assert one["id"] == list(range(12))
    assert [t is None for t in one["text"]] == [t is None for t in TEXTS]
    assert one["text"] != TEXTS
    # two workers (shards of 6 rows: batches start at the same rows)
    two = perturb_hf_dataset(substituter, dataset, "text", num_proc=2, **kwargs)
    assert two["text"] == one["text"]
    kept = perturb_hf_dataset(
        substituter, dataset, "text", output_column="private", **kwargs
    )
    assert kept["text"] == TEXTS and kept["private"] == one["text"]
    with pytest.raises(ValueError, match="no column"):
        perturb_hf_dataset(substituter, dataset, "body")
