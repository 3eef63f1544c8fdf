"""Pure-numpy answer consolidation and worker models (scikit-learn-like API)."""
