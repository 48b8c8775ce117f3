"""Offline evaluation: full-ranking metrics (sampled only on request), shared by training and reports."""
