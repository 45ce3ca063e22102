"""Utilities shared by the estimators (randomness, scikit-learn compatibility)."""
