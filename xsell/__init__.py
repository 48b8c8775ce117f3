"""xsell: cross-sell recommendation research, from behavioural logs to a served scorer."""

__version__ = "0.1.0"
