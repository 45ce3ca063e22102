"""Validation of document collections, and rebuilding outputs in the input's shape.

1-D inputs (list, tuple, 1-D array, pandas Series) give 1-D outputs of the same
kind; 2-D inputs (DataFrame, 2-D array) give 2-D outputs with every column
perturbed. Missing values (None, NaN, pd.NA, NaT) are kept as they are; anything
else that is not a ``str`` is refused with a TypeError naming its row.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Documents", "check_documents"]

_STRING_MESSAGE = "Iterable over raw text documents expected, string object received."


@dataclass
class Documents:
    """Validated documents.

    Attributes
    ----------
    columns : list of ndarray of object
        One array per text column (one for 1-D inputs).
    missing : list of ndarray of bool
        Where each column holds a missing value.
    kind : str
        "list", "tuple", "array", "series", "frame" or "array2d".
    original : object
        The input (for its index, names and dtypes); a polars input is held as
        its pandas conversion.
    polars : bool
        Whether the input was a polars Series or DataFrame (then so is the
        default output).
    """

    columns: list
    missing: list
    kind: str
    original: object
    polars: bool = False

    @property
    def one_dimensional(self):
        return self.kind in ("list", "tuple", "array", "series")

    @property
    def names(self):
        if self.kind == "frame":
            return [str(c) for c in self.original.columns]
        if self.kind == "series" and self.original.name is not None:
            return [str(self.original.name)]
        if self.kind == "array2d":
            return [f"x{i}" for i in range(len(self.columns))]
        return ["text"]

    def texts(self, column):
        """The non-missing documents of ``column`` as a list of str."""
        values = self.columns[column]
        return values[~self.missing[column]].tolist()

    def rebuild(self, outputs, output="default"):
        """Put ``outputs`` (one list of str per column, non-missing rows only) back
        into the input's container, or into ``output`` ("pandas"/"polars")."""
        columns = []
        for values, missing, new in zip(
            self.columns, self.missing, outputs, strict=True
        ):
            column = values.copy()
            column[~missing] = new
            columns.append(column)
        if output == "default" and self.polars:
            output = "polars"
        if output == "pandas":
            return self._as_pandas(columns)
        if output == "polars":
            import polars as pl

            # object columns of str and None become polars String columns with
            # nulls (pl.from_pandas gives a Series for a Series).
            return pl.from_pandas(self._as_pandas(columns, keep_dtype=False))
        return self._as_input(columns)

    def _as_pandas(self, columns, keep_dtype=True):
        index = self.original.index if self.kind in ("series", "frame") else None
        if self.one_dimensional:
            dtype = (
                self.original.dtype if keep_dtype and self.kind == "series" else None
            )
            series = pd.Series(
                columns[0], index=index, name=self.names[0], dtype=object
            )
            return _restore_dtype(series, dtype)
        # dtype=object: pandas would otherwise infer its str dtype, turning None and
        # pd.NA into NaN and refusing lone surrogates (pyarrow storage).
        frame = pd.DataFrame(
            dict(zip(range(len(columns)), columns, strict=True)),
            index=index,
            dtype=object,
        )
        frame.columns = self.original.columns if self.kind == "frame" else self.names
        if keep_dtype and self.kind == "frame":
            for position, dtype in enumerate(self.original.dtypes):
                frame.isetitem(position, _restore_dtype(frame.iloc[:, position], dtype))
        return frame

    def _as_input(self, columns):
        if self.kind == "list":
            return columns[0].tolist()
        if self.kind == "tuple":
            return tuple(columns[0].tolist())
        if self.kind == "array":
            return columns[0]
        if self.kind == "array2d":
            return np.column_stack(columns) if columns else np.empty((0, 0), object)
        return self._as_pandas(columns)


def _restore_dtype(values, dtype):
    """``values`` (an object Series) in the input's ``dtype``.

    A categorical gets new categories: its old ones are the unperturbed texts, so
    casting back to them would turn every perturbed document into NaN.
    """
    if dtype is None or pd.api.types.is_object_dtype(dtype):
        return values
    if isinstance(dtype, pd.CategoricalDtype):
        return values.astype("category")
    return values.astype(dtype)


def _is_polars(X):
    module = type(X).__module__
    return module.startswith("polars") and hasattr(X, "to_pandas")


def _missing_mask(values):
    return np.asarray(pd.isna(values), dtype=bool)


def _check_column(values, where):
    """Validate one column (object array); return its missing mask."""
    missing = _missing_mask(values)
    present = values[~missing]
    if len(present) and pd.api.types.infer_dtype(present, skipna=False) != "string":
        rows = np.flatnonzero(~missing)
        for position, value in zip(rows, present, strict=True):
            if not isinstance(value, str):
                raise TypeError(
                    f"{where(position)} is a {type(value).__name__} ({value!r:.60}); "
                    "expected a str or a missing value (None, NaN, pd.NA)."
                )
    return missing


#: Values per column looked at to tell free text from labels and identifiers.
_SNIFF_VALUES = 1000


def _why_not_free_text(values):
    """Why a column of str does not look like free text, or None if it does:
    mostly single words or pairs (names, identifiers, labels, categories), or few
    distinct values."""
    sample = values[:_SNIFF_VALUES]
    n = len(sample)
    if n == 0:
        return None
    words = np.fromiter((len(value.split()) for value in sample), int, n)
    single, short = np.mean(words <= 1), np.mean(words <= 2)
    if single >= 0.5:
        return f"{single:.0%} single words"
    if short >= 0.75:
        return f"{short:.0%} one or two words"
    distinct = len(set(sample))
    if n >= 20 and distinct <= n / 2:
        return f"{distinct} distinct values in {n} rows"
    return None


def _warn_if_not_free_text(frame, columns, missing):
    """A whole DataFrame is perturbed column by column: warn, naming them, when
    some columns look like labels or identifiers, with the recipe that perturbs
    the text only."""
    reasons = {}
    for name, values, absent in zip(frame.columns, columns, missing, strict=True):
        why = _why_not_free_text(values[~absent])
        if why is not None:
            reasons[name] = why
    if not reasons:
        return
    from .privacy import warn_user

    text = [name for name in frame.columns if name not in reasons] or ["<text>"]
    listed = ", ".join(f"{name!r} ({why})" for name, why in reasons.items())
    warn_user(
        f"X is a DataFrame: all its {len(frame.columns)} columns are perturbed as "
        f"text, but these do not look like free text: {listed}. Their labels, names "
        "or identifiers would become other words or the placeholder. Perturb the "
        "text column(s) only, passing the others through:\n"
        "    from sklearn.compose import ColumnTransformer\n"
        f'    ColumnTransformer([("text", substituter, {text!r})], '
        'remainder="passthrough")\n'
        f"or give the substituter X[{text[0]!r}].",
        category=UserWarning,
    )


def check_documents(X):
    """Validate a collection of raw text documents.

    Examples
    --------
    >>> docs = check_documents(["a b", None])
    >>> docs.texts(0), docs.missing[0].tolist()
    (['a b'], [False, True])
    >>> check_documents(["ok", 3])
    Traceback (most recent call last):
    ...
    TypeError: X[1] is a int (3); expected a str or a missing value (None, NaN, pd.NA).
    """
    if isinstance(X, (str, bytes)):
        raise TypeError(_STRING_MESSAGE)
    if isinstance(X, pd.DataFrame):
        columns, missing = [], []
        for name in X.columns:
            values = X[name].to_numpy(dtype=object)
            index = X.index

            def where(i, name=name, index=index):
                return f"X[{name!r}] at row {index[i]!r}"

            missing.append(_check_column(values, where))
            columns.append(values)
        _warn_if_not_free_text(X, columns, missing)
        return Documents(columns, missing, "frame", X)
    if isinstance(X, pd.Series):
        values = X.to_numpy(dtype=object)
        index = X.index
        missing = _check_column(values, lambda i: f"X at row {index[i]!r}")
        return Documents([values], [missing], "series", X)
    if _is_polars(X):  # a Series or DataFrame: validated as its pandas twin
        docs = check_documents(X.to_pandas())
        docs.polars = True
        return docs
    if isinstance(X, np.ndarray):
        if X.ndim == 1:
            values = X.astype(object)
            missing = _check_column(values, lambda i: f"X[{i}]")
            return Documents([values], [missing], "array", X)
        if X.ndim == 2:
            columns, missing = [], []
            for j in range(X.shape[1]):
                values = X[:, j].astype(object)
                missing.append(_check_column(values, lambda i, j=j: f"X[{i}, {j}]"))
                columns.append(values)
            return Documents(columns, missing, "array2d", X)
        raise ValueError(f"X must be 1-D or 2-D; got an array of shape {X.shape}.")
    if hasattr(X, "__iter__") and not isinstance(X, dict):
        kind = "tuple" if isinstance(X, tuple) else "list"
        items = list(X)
        values = np.empty(len(items), dtype=object)
        values[:] = items
        missing = _check_column(values, lambda i: f"X[{i}]")
        return Documents([values], [missing], kind, X)
    raise TypeError(
        "X must be a list, tuple, array, pandas Series or DataFrame of str; got "
        f"{type(X).__name__}."
    )
