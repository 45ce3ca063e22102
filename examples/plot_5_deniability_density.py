"""
==========================================
Deniability against local density
==========================================

A density-aware mechanism should protect a word alike wherever it sits in the
embedding: in a crowded region (``movie``, ``film``, ``films``...) or in a sparse
one (a rare name). And when it replaces a word, it should pick one of the word's
near, similar words.

:func:`~sklearn_textdp.plausible_deniability` with ``by="density"`` measures both
for any substituter: vocabulary words are grouped by density decile (the distance
to their 10th nearest word; decile 1 is the most crowded tenth of the vocabulary)
and, per decile, it reports the mean probability ``N_w`` that a word is kept and
the share of replacements that are among the word's 10 nearest words.

Each mechanism runs at the epsilon where the median ``N_w`` of the vocabulary is
about 0.5 (from ``benchmarks/bench_density.py``): epsilon values are not
comparable across mechanisms, plausible deniability is.
"""

# %%
import matplotlib.pyplot as plt

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    plausible_deniability,
)

mechanisms = {
    "density graph (default)": DensityAwareSubstituter(epsilon=3.5),
    "Euclidean k-NN, KDE prior": DensityAwareSubstituter(
        epsilon=5.4, truncation="knn", prior="kde"
    ),
    "multivariate Laplace (CMP)": DPWordSubstituter(epsilon=8.0),
    "TEM": DensityAwareSubstituter(epsilon=3.3, truncation="radius", prior=None),
    "CusText (K=20)": DensityAwareSubstituter(
        epsilon=7.5, truncation="partition", prior=None
    ),
}

tables = {
    name: plausible_deniability(sub, n_samples=150, random_state=0, by="density")
    for name, sub in mechanisms.items()
}

# %%
# The kept share should be flat across deciles, the near share high.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
for name, table in tables.items():
    left.plot(table["density_decile"], table["N_w_mean"], marker="o", label=name)
    right.plot(table["density_decile"], table["near_share"], marker="o", label=name)
left.set_xlabel("density decile (1 = most crowded, 10 = sparsest)")
left.set_ylabel("mean N_w (probability a word is kept)")
left.set_title("Deniability against local density")
right.set_xlabel("density decile (1 = most crowded, 10 = sparsest)")
right.set_ylabel("replacements among the 10 nearest words")
right.set_title("Near replacements")
right.legend(fontsize=8)
for ax in (left, right):
    ax.grid(True, alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# The density graph keeps words about equally often in every decile and
# replaces most of them by one of their 10 nearest words; the Euclidean
# mechanisms keep sparse words far more often than crowded ones, and replace
# words by distant ones. See :doc:`/choosing_mechanism`.
