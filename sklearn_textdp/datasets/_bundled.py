"""Loaders of the bundled CC BY 4.0 datasets (attribution in ``data/NOTICE``)."""

import importlib.resources

import pandas as pd
from sklearn.utils import Bunch

__all__ = ["load_sms_spam", "load_drug_reviews"]


def _read(name):
    ref = importlib.resources.files("sklearn_textdp") / "data" / name
    with ref.open("rb") as fh:
        return pd.read_csv(fh, keep_default_na=False, na_values=[])


def _bunch(frame, description, as_frame):
    """scikit-learn's loader convention: a Bunch either way; ``as_frame`` chooses
    pandas containers for ``data`` and ``target``. ``data`` is the text column
    (a Series, not sklearn's feature DataFrame: a text pipeline takes a 1-D
    collection of documents), and ``frame`` the whole table."""
    if as_frame:
        data, target = frame["text"], frame["label"]
    else:
        data, target = frame["text"].tolist(), frame["label"].to_numpy()
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        target_names=sorted(frame["label"].unique()),
        feature_names=["text"],
        DESCR=description,
    )


def load_sms_spam(*, as_frame=False):
    """The SMS Spam Collection v.1: 5,574 text messages labelled "ham" or "spam".

    Almeida and Gomez Hidalgo (2011), CC BY 4.0.

    Parameters
    ----------
    as_frame : bool, default=False
        ``data`` and ``target`` as pandas Series (of the DataFrame ``frame``)
        rather than a list and an array, as scikit-learn's loaders do.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: the messages (list of str, or a Series when ``as_frame``);
        ``target``: the labels (ndarray, or a Series); ``frame``: the DataFrame
        (columns ``text``, ``label``); ``target_names``, ``feature_names``,
        ``DESCR``.

    Examples
    --------
    >>> from sklearn_textdp.datasets import load_sms_spam
    >>> sms = load_sms_spam()
    >>> len(sms.data), sorted(set(sms.target))
    (5574, ['ham', 'spam'])
    >>> sms = load_sms_spam(as_frame=True)
    >>> type(sms.data).__name__, list(sms.frame.columns)
    ('Series', ['text', 'label'])
    """
    return _bunch(
        _read("sms_spam.csv"),
        "SMS Spam Collection v.1 (Almeida, Gomez Hidalgo 2011), CC BY 4.0",
        as_frame,
    )


def load_drug_reviews(*, subset="train", as_frame=False):
    """A 979-review subset of the UCI Drug Review dataset, 3 sentiment labels.

    Grasser et al. (2018), CC BY 4.0. Columns ``text``, ``label`` (positive /
    neutral / negative), ``drug`` and ``condition``.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        600 training reviews, 379 test reviews, or both.
    as_frame : bool, default=False
        ``data`` and ``target`` as pandas Series (as :func:`load_sms_spam`).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As :func:`load_sms_spam`; ``frame`` also has the columns ``drug`` and
        ``condition``.

    Examples
    --------
    >>> from sklearn_textdp.datasets import load_drug_reviews
    >>> len(load_drug_reviews().data), len(load_drug_reviews(subset="test").data)
    (600, 379)
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all'; got {subset!r}.")
    parts = ["train", "test"] if subset == "all" else [subset]
    frame = pd.concat([_read(f"drugreview_{p}.csv") for p in parts], ignore_index=True)
    return _bunch(
        frame, "UCI Drug Review subset (Grasser et al. 2018), CC BY 4.0", as_frame
    )
