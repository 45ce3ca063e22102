"""
==============================================
Privatise a column of a CSV file with pandas
==============================================

The library route from a CSV file to a privatised CSV file: read it with pandas,
check what the release will cost per document, perturb the text column, write the
result. The other columns are copied as they are.

The command line does the same in one line, streaming files of any size chunk by
chunk (see :doc:`/cli`)::

    textdp perturb reviews.csv --column text --epsilon 8 -o reviews_private.csv
"""

# %%
# A CSV file to privatise
# -----------------------
# 200 reviews of the bundled UCI Drug Review subset, written to a temporary folder
# to stand for your own file.
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_textdp import DensityAwareSubstituter
from sklearn_textdp.datasets import load_drug_reviews

folder = Path(tempfile.mkdtemp())
source = folder / "reviews.csv"
load_drug_reviews(as_frame=True).frame.head(200).to_csv(source, index=False)

reviews = pd.read_csv(source)
print(reviews.head(3).to_string(max_colwidth=60))

# %%
# Choose the substituter and look at the cost
# -------------------------------------------
# Word-level metric DP composes over the words of a document: a 100-word review
# perturbed at epsilon 8 has a privacy loss of 800 per unit of word distance.
# :meth:`~sklearn_textdp.DensityAwareSubstituter.privacy_cost` computes this per
# document, without drawing noise, so the budget can be chosen before anything is
# released.
#
# ``random_state`` is a seeded generator here so that this page is reproducible;
# on real data leave it at ``None``.
rng = np.random.default_rng(0)
substituter = DensityAwareSubstituter(epsilon=8, random_state=rng).fit([])

cost = substituter.privacy_cost(reviews["text"])
print(cost[["n_words", "n_perturbed", "n_unknown", "epsilon_per_unit"]].describe()
      .round(1).to_string())

# %%
# ``n_unknown`` counts the words missing from the embedding's vocabulary (drug
# names, typos, rare words): they are replaced by ``<unk>`` by default, never
# released in clear.
#
# Long documents can be capped with ``max_document_epsilon``: with
# ``budget_action="truncate"`` a document is cut before the first word that would
# exceed the budget (``"raise"``, the default, refuses to release it). Here the
# budget allows 100 perturbed words per review.
substituter.set_params(max_document_epsilon=800, budget_action="truncate")
capped = substituter.privacy_cost(reviews["text"])
print(f"largest loss per document: {cost['epsilon_per_unit'].max():g} before, "
      f"{capped['epsilon_per_unit'].max():g} with the budget")

# %%
# Perturb the column and write the file
# -------------------------------------
# A pandas Series in gives a Series out, with the same index; missing values stay
# missing. The other columns (labels, drug, condition) are *not* perturbed: drop
# or protect them separately if they are sensitive.
private = reviews.copy()
private["text"] = substituter.transform(reviews["text"])
target = folder / "reviews_private.csv"
private.to_csv(target, index=False)

for before, after in zip(reviews["text"][:2], private["text"][:2], strict=True):
    print(f"{before[:150]}...\n  -> {after[:150]}...\n")

# %%
# Record how the file was made, next to it: the guarantee of the fitted mechanism
# states its epsilon, distance and assumptions.
print(substituter.mechanism_.guarantee)
print(pd.read_csv(target).shape, "rows and columns written to", target.name)

# %%
# Several text columns
# --------------------
# A DataFrame of text columns is perturbed column by column, each with its own
# noise, and keeps its column names (for a ``ColumnTransformer``, or with
# ``set_output(transform="pandas")``).
two_columns = substituter.fit_transform(reviews[["text", "condition"]].head(3))
print(two_columns.to_string(max_colwidth=60))

# %%
# Each call of ``transform`` on the same documents is a new release: its privacy
# loss adds to the previous ones. Perturb each document once, and keep the
# released file rather than perturbing again.
