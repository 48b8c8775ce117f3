"""Data layer: readers, the synthetic shop, preprocessing, splits and the Lightning data module."""
