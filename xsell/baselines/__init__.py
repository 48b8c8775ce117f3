"""Honest baselines, scored through exactly the same evaluation path as neural models."""

from xsell.baselines.popularity import MostPopular

__all__ = ["MostPopular"]
