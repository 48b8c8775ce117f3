"""Training: the LightningModule that wraps any model and loss, and its callbacks."""
