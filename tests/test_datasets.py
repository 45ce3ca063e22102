"""The bundled data sets follow scikit-learn's loader convention."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from sklearn_textdp.datasets import load_drug_reviews, load_sms_spam


@pytest.mark.parametrize("load", [load_sms_spam, load_drug_reviews])
def test_as_frame_gives_a_bunch_with_frame_as_scikit_learn_does(load):
    """``as_frame=True`` used to return the bare DataFrame."""
    bunch = load(as_frame=True)
    assert isinstance(bunch, Bunch)
    assert isinstance(bunch.frame, pd.DataFrame)
    assert isinstance(bunch.data, pd.Series) and isinstance(bunch.target, pd.Series)
    assert bunch.data.equals(bunch.frame["text"])
    assert bunch.target.equals(bunch.frame["label"])
    assert bunch.feature_names == ["text"]
    assert bunch.target_names == sorted(bunch.frame["label"].unique())
    assert bunch.DESCR


@pytest.mark.parametrize("load", [load_sms_spam, load_drug_reviews])
def test_default_gives_a_list_and_an_array_with_the_same_frame(load):
    bunch, framed = load(), load(as_frame=True)
    assert isinstance(bunch.data, list) and isinstance(bunch.target, np.ndarray)
    assert bunch.data == framed.data.tolist()
    assert bunch.frame.equals(framed.frame)
    assert set(bunch) == set(framed)
