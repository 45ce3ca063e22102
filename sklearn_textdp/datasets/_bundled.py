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
    if as_frame:
        return frame
    return Bunch(
        data=frame["text"].tolist(),
        target=frame["label"].to_numpy(),
        frame=frame,
        DESCR=description,
    )


def load_sms_spam(*, as_frame=False):
    """The SMS Spam Collection v.1: 5,574 text messages labelled "ham" or "spam".

    Almeida and Gomez Hidalgo (2011), CC BY 4.0.

    Parameters
    ----------
    as_frame : bool, default=False
        Return the pandas DataFrame (columns ``text``, ``label``) instead of a Bunch.

    Returns
    -------
    data : Bunch with ``data`` (list of str), ``target`` (ndarray), ``frame``,
        ``DESCR``; or a DataFrame when ``as_frame=True``.

    Examples
    --------
    >>> from sklearn_textdp.datasets import load_sms_spam
    >>> sms = load_sms_spam()
    >>> len(sms.data), sorted(set(sms.target))
    (5574, ['ham', 'spam'])
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

    Returns
    -------
    data : Bunch or DataFrame (as :func:`load_sms_spam`)

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
