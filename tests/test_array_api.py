"""The array-namespace (device) path gives the numpy path's outputs, token for token.

Run on the CPU in CI through array-api-strict and, where installed, PyTorch's CPU
device; the tests marked for a GPU skip without one.
"""

import importlib.util
import pickle

import numpy as np
import pytest

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    build_neighbor_graph,
    load_embeddings,
)
from sklearn_textdp._array_api import check_device, resolve_device
from sklearn_textdp.mechanisms import (
    CalibratedLaplace,
    ExactDecoder,
    FullExponential,
    SanTextPlus,
    Vickrey,
    _device_laws,
    brute_force_nearest,
    sample_laplace_noise,
    sensitive_words_by_rank,
)


def _available(module):
    return importlib.util.find_spec(module) is not None


def _has_gpu():
    if _available("torch"):
        import torch

        if torch.cuda.is_available():
            return True
    if _available("cupy"):
        try:
            import cupy

            return cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:
            return False
    return False


CPU_NAMESPACES = [
    pytest.param(
        "array-api-strict",
        marks=pytest.mark.skipif(
            not _available("array_api_strict"), reason="array-api-strict missing"
        ),
    ),
    pytest.param(
        "torch:cpu",
        marks=pytest.mark.skipif(
            not (_available("torch") and _available("array_api_compat")),
            reason="PyTorch or array-api-compat missing",
        ),
    ),
]
GPU = pytest.param(
    "cuda", marks=pytest.mark.skipif(not _has_gpu(), reason="no CUDA GPU")
)
DEVICES = [*CPU_NAMESPACES, GPU]


@pytest.fixture(scope="module")
def glove1500():
    return load_embeddings(max_words=1500)


def _noisy(vectors, n, epsilon, seed):
    rng = np.random.default_rng([seed, int(epsilon * 10)])
    ids = rng.integers(0, len(vectors), size=n)
    noise = sample_laplace_noise(n, vectors.shape[1], epsilon, rng)
    return ids, vectors[ids].astype(np.float64) + noise


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("epsilon", [1.0, 8.0, 40.0])
def test_device_decoding_equals_numpy_and_brute_force(glove1500, device, epsilon, seed):
    vectors = glove1500.vectors
    ids, noisy = _noisy(vectors, 400, epsilon, seed)
    host, _ = ExactDecoder(vectors).nearest(noisy, ids)
    on_device, _ = ExactDecoder(vectors, device=device).nearest(noisy, ids)
    np.testing.assert_array_equal(on_device, host)
    np.testing.assert_array_equal(on_device, brute_force_nearest(noisy, vectors))
    two_host, _ = ExactDecoder(vectors).nearest(noisy, ids, k=2, exclude_source=True)
    two, _ = ExactDecoder(vectors, device=device).nearest(
        noisy, ids, k=2, exclude_source=True
    )
    np.testing.assert_array_equal(two, two_host)
    np.testing.assert_array_equal(
        two, brute_force_nearest(noisy, vectors, k=2, exclude=ids)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_device_decoding_settles_exact_ties_on_the_host(device):
    # Duplicate rows: every search ends in a float32 tie, settled in float64 on
    # the host with ties to the lowest row, as brute force does.
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 8)).astype(np.float32)
    vectors = np.vstack([base, base[::-1]])
    noisy = base[rng.integers(0, 50, 200)].astype(np.float64)
    noisy += 1e-3 * rng.normal(size=noisy.shape)
    got, _ = ExactDecoder(vectors, device=device).nearest(noisy)
    np.testing.assert_array_equal(got, brute_force_nearest(noisy, vectors))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mechanism", [CalibratedLaplace, Vickrey])
def test_noise_mechanisms_on_a_device_draw_the_same_words(glove1500, device, mechanism):
    ids = np.random.default_rng(3).integers(0, len(glove1500), 2000)
    host = mechanism(glove1500.vectors, epsilon=8.0)
    on_device = mechanism(glove1500.vectors, epsilon=8.0, device=device)
    np.testing.assert_array_equal(
        on_device.sample(ids, np.random.default_rng(11)),
        host.sample(ids, np.random.default_rng(11)),
    )


@pytest.fixture(params=[1e-8, 0.3], ids=["margin", "host-redraws"])
def margin(request, monkeypatch):
    """The real margin, and one so wide that most tokens are re-drawn on the host
    (the redraw path must give the host's outcomes too)."""
    monkeypatch.setattr(_device_laws, "_MARGIN", request.param)
    return request.param


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("gamma", [np.inf, 2.5])
@pytest.mark.parametrize("with_prior", [False, True])
def test_full_exponential_on_a_device_draws_the_same_words(
    glove1500, device, gamma, with_prior, margin
):
    n = len(glove1500)
    prior = (
        np.log(np.random.default_rng(2).dirichlet(np.ones(n))) if with_prior else None
    )
    ids = np.random.default_rng(1).integers(0, n, 2000)
    for epsilon in (1.0, 8.0):
        kwargs = {"epsilon": epsilon, "gamma": gamma, "log_prior": prior}
        host = FullExponential(glove1500.vectors, **kwargs)
        on_device = FullExponential(glove1500.vectors, device=device, **kwargs)
        expected = host.sample(ids, np.random.default_rng(5))
        got = on_device.sample(ids, np.random.default_rng(5))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fraction", [1.0, 0.3])
def test_santext_on_a_device_draws_the_same_words(glove1500, device, fraction, margin):
    n = len(glove1500)
    sensitive = sensitive_words_by_rank(n, fraction)
    ids = np.random.default_rng(1).integers(0, n, 2000)
    for epsilon in (1.0, 8.0):
        kwargs = {
            "epsilon": epsilon,
            "sensitive": sensitive,
            "perturb_probability": 0.3,
        }
        expected = SanTextPlus(glove1500.vectors, **kwargs).sample(
            ids, np.random.default_rng(5)
        )
        got = SanTextPlus(glove1500.vectors, device=device, **kwargs).sample(
            ids, np.random.default_rng(5)
        )
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mechanism", ["laplace", "vickrey-mahalanobis"])
def test_substituter_output_does_not_depend_on_the_device(device, mechanism):
    texts = ["The movie was great, and the actors were superb!"] * 40
    kwargs = {"epsilon": 8.0, "mechanism": mechanism, "random_state": 4}
    expected = DPWordSubstituter(**kwargs).fit_transform(texts)
    sub = DPWordSubstituter(device=device, **kwargs)
    assert sub.fit_transform(texts) == expected
    assert sub.mechanism_.decoder.device == device
    again = pickle.loads(pickle.dumps(sub))
    assert again.transform(texts) == sub.transform(texts)


def test_unknown_device_strings_are_rejected():
    with pytest.raises(ValueError, match="device must be"):
        check_device("tpu")
    with pytest.raises(ValueError, match="device must be"):
        DPWordSubstituter(device="gpu0").fit([])


def test_cuda_without_torch_or_cupy_names_what_to_install(monkeypatch):
    real = importlib.util.find_spec

    def hide(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "cupy"):
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", hide)
    with pytest.raises(ImportError, match=r"PyTorch or CuPy.*pip install torch"):
        resolve_device("cuda")


@pytest.mark.skipif(
    not _available("torch") or _has_gpu(), reason="needs a PyTorch without a GPU"
)
def test_cuda_on_a_machine_without_gpu_says_so():
    with pytest.raises(RuntimeError, match="sees no CUDA GPU"):
        resolve_device("cuda")


def test_cpu_is_the_numpy_path():
    assert resolve_device("cpu") is None
    assert ExactDecoder(np.eye(3, dtype=np.float32))._device is None


@pytest.mark.parametrize("device", DEVICES)
def test_exact_neighbour_graph_on_a_device_equals_brute_force(glove1500, device):
    # fit's exact neighbour search on the device: the float64 brute-force lists
    # (ties to the lowest row), with exact ties in the data.
    vectors = glove1500.vectors.copy()
    vectors[[700, 701, 1499]] = vectors[3]
    graph = build_neighbor_graph(vectors, 8, algorithm="exact", device=device)
    reference = brute_force_nearest(vectors, vectors, k=9)
    # Column 0 is the word itself; duplicates of it follow by row.
    np.testing.assert_array_equal(graph.indices[:, 1:], _without_self(reference))
    assert graph.indices[3, :4].tolist() == [3, 700, 701, 1499]
    expected = np.sqrt(
        ((vectors[graph.indices].astype(np.float64) - vectors[:, None]) ** 2).sum(2)
    )
    np.testing.assert_allclose(graph.distances, expected, rtol=1e-6, atol=1e-6)


def _without_self(lists):
    """Each row's list without its own row (or without the last entry)."""
    rows = np.arange(len(lists))[:, None]
    out = []
    for row, found in zip(rows[:, 0], lists, strict=True):
        rest = [j for j in found if j != row]
        out.append(rest[: len(found) - 1])
    return np.array(out)


@pytest.mark.parametrize("device", DEVICES)
def test_density_aware_default_fits_on_a_device(device, tmp_path, monkeypatch):
    # The default's neighbour lists come from the device's exact search (caches
    # cleared and redirected, so that the device really builds them): the same
    # graph, so the same words for a seed.
    from sklearn_textdp import _cache, _neighbors

    monkeypatch.setenv("SKLEARN_TEXTDP_CACHE_DIR", str(tmp_path))
    searches = []
    search = _neighbors._exact_knn

    def spy(vectors, k, n_jobs, device="cpu"):
        searches.append(device)
        return search(vectors, k, n_jobs, device)

    monkeypatch.setattr(_neighbors, "_exact_knn", spy)
    emb = load_embeddings(max_words=1500)
    texts = ["The movie was great, and the actors were superb!"] * 20
    _cache.clear_cache(disk=True)
    expected = DensityAwareSubstituter(embeddings=emb, random_state=2)
    expected = expected.fit_transform(texts)
    _cache.clear_cache(disk=True)
    sub = DensityAwareSubstituter(embeddings=emb, random_state=2, device=device)
    assert sub.fit_transform(texts) == expected
    assert searches == ["cpu", device]
    _cache.clear_cache()
