import os
import tempfile
from pathlib import Path

# numba (under pynndescent) caches compiled code here; set before it is imported.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "sklearn_textdp_numba_cache")
)
# The disk cache of fitted public artefacts: out of the user's cache folder.
os.environ.setdefault(
    "SKLEARN_TEXTDP_CACHE_DIR",
    str(Path(tempfile.gettempdir()) / "sklearn_textdp_test_cache"),
)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklearn_textdp import Embeddings, load_embeddings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("SKLEARN_TEXTDP_SHARED_DATA", REPO.parent / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data():
    """The project's shared data folder (../shared/data), present in CI."""
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def glove2k():
    """The 2,000 most frequent words of the bundled GloVe subset."""
    return load_embeddings(max_words=2000)


@pytest.fixture(scope="session")
def emb2k(tmp_path_factory, glove2k):
    """``glove2k`` as an .npz file path (for the CLI, Dask and datasets workers,
    which reload the embedding from its path)."""
    path = tmp_path_factory.mktemp("emb") / "glove2k.npz"
    np.savez(path, words=np.asarray(glove2k.words, dtype=str), vectors=glove2k.vectors)
    return str(path)


@pytest.fixture(scope="session")
def line_embeddings():
    """Twelve words on a line at irregular positions: 1-D, exact laws computable."""
    positions = np.array([0.0, 0.4, 1.1, 1.5, 2.7, 3.0, 3.2, 4.6, 6.0, 6.3, 8.0, 9.5])
    words = [f"w{c}" for c in "abcdefghijkl"]
    return Embeddings(words, positions[:, None])


@pytest.fixture(scope="session")
def plane_embeddings():
    """Thirty words scattered in 2-D."""
    rng = np.random.default_rng(7)
    words = [f"p{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(30)]
    return Embeddings(words, rng.normal(scale=2.0, size=(30, 2)))


@pytest.fixture
def plane_custext(plane_embeddings):
    """``plane_custext(epsilon)``: CusText (sets of 6, no prior) fitted on
    ``plane_embeddings``."""
    from sklearn_textdp import DensityAwareSubstituter

    def fit(epsilon):
        return DensityAwareSubstituter(
            epsilon=epsilon,
            embeddings=plane_embeddings,
            truncation="partition",
            partition_size=6,
            prior=None,
            max_neighbors=5,
        ).fit([])

    return fit


@pytest.fixture
def seed():
    return 20261124
