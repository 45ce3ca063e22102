"""
=====================================================
A first substitution, and how deniable each word is
=====================================================

Replace every word of a few sentences by a private substitute, then measure, for a
few words and several values of epsilon, the two plausible-deniability statistics
of Feyisetan et al. (2020):

- ``N_w``: the probability that the word is kept (comes out unchanged);
- ``S_w``: the number of distinct words it comes out as, in repeated draws.

Both are computed from the public embedding alone: looking at them costs no
privacy, so they are the first tool for choosing epsilon (see
:doc:`/choosing_epsilon`).
"""

# %%
# Perturb a few sentences
# -----------------------
# :class:`~sklearn_textdp.DensityAwareSubstituter` is the default mechanism. The
# first ``fit`` builds the neighbour graph and the density prior of the bundled
# 20,000-word GloVe embedding (a few seconds, once per process); ``fit`` reads
# nothing from the documents.
#
# A seeded generator makes this page reproducible. In production leave
# ``random_state`` at ``None`` (fresh operating-system entropy at every call):
# anyone who knows a fixed seed can remove the noise.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    plausible_deniability,
)

rng = np.random.default_rng(0)

texts = [
    "The doctor said my test results were fine.",
    "Meet me at the station in London at 9pm!",
    "I loved the movie, the acting was great.",
]

substituter = DensityAwareSubstituter(epsilon=6, random_state=rng)
for original, private in zip(texts, substituter.fit_transform(texts), strict=True):
    print(f"{original}\n  -> {private}")

# %%
# Punctuation, digits and spacing are kept as they are, and so is the case pattern
# of each word: only the words change. How much they change depends on epsilon:
for epsilon in (2, 6, 10):
    sub = DensityAwareSubstituter(epsilon=epsilon, random_state=rng)
    print(f"epsilon={epsilon:>2}: {sub.fit_transform(texts[:1])[0]}")

# %%
# The multivariate Laplace mechanism (``DPWordSubstituter``) adds noise to the
# word's vector and emits the nearest word; its epsilon is on a different scale.
laplace = DPWordSubstituter(epsilon=10, random_state=rng)
print(laplace.fit_transform(texts[:1])[0])

# %%
# The cost of a release
# ---------------------
# Word-level metric DP composes over the words of a document: the loss grows with
# the number of words perturbed.
# :meth:`~sklearn_textdp.DensityAwareSubstituter.privacy_cost` computes it without
# drawing any noise.
print(substituter.privacy_cost(texts).to_string())

# %%
# Plausible deniability across epsilon
# ------------------------------------
# For each word and epsilon, :func:`~sklearn_textdp.plausible_deniability` draws
# ``n_samples`` perturbations. The estimator passed in is left untouched (a clone
# is fitted).
words = ["doctor", "london", "movie", "great", "results"]
epsilons = [1, 2, 4, 6, 8, 10, 14, 20]

tables = []
for name, make in [
    ("density-aware", lambda e: DensityAwareSubstituter(epsilon=e)),
    ("multivariate Laplace", lambda e: DPWordSubstituter(epsilon=e)),
]:
    for epsilon in epsilons:
        table = plausible_deniability(make(epsilon), words, n_samples=300,
                                      random_state=rng)
        tables.append(table.assign(mechanism=name, epsilon=epsilon))

# %%
# One line per word: ``N_w`` rises from 0 to 1 and ``S_w`` falls from (almost)
# one new word per draw to 1, within a narrow range of epsilon, and the range
# differs between mechanisms.
stats = pd.concat(tables, ignore_index=True)
fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True, layout="constrained")
for column, name in enumerate(["density-aware", "multivariate Laplace"]):
    mine = stats[stats.mechanism == name]
    for word, rows in mine.groupby("word", sort=False):
        axes[0, column].plot(rows.epsilon, rows.N_w, marker="o", label=word)
        axes[1, column].plot(rows.epsilon, rows.S_w, marker="o", label=word)
    axes[0, column].set_title(name)
    axes[1, column].set_xlabel("epsilon")
    axes[1, column].set_yscale("log")
axes[0, 0].set_ylabel("N_w (probability the word is kept)")
axes[1, 0].set_ylabel("S_w (distinct outputs in 300 draws)")
axes[0, 1].legend(loc="lower right")
plt.show()

# %%
# The table behind the plot, for epsilon = 6:
print(stats[stats.epsilon == 6].round(3).to_string(index=False))

# %%
# Why the transition is sharp: with the exponential selection, the odds of keeping
# a word rather than moving to its nearest neighbour at distance ``d_1`` are
# multiplied by ``exp(d_1 / 2)`` for every unit of epsilon (about 4 at the median
# nearest-neighbour distance of this embedding, 2.9), while the competing mass of
# the ~20,000 other words fixes where the transition happens: roughly where
# ``epsilon * d_1 / 2 = ln |W|``, that is epsilon of about 7 here.
