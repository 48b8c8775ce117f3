"""Training: the LightningModule that wraps any model and loss, its callbacks, the builders that turn
configs into data modules and models, ``train`` with its ``after_fit`` steps, checkpoint and run loading,
warm start and champion/challenger retraining."""
