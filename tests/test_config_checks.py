"""Config values checked at the door: one ``ConfigError`` line naming the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from xsell.config_checks import check_config
from xsell.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "xsell" / "configs"


def composed(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(name, overrides=["paths.output_dir=unused", *overrides])


@pytest.mark.parametrize("name", ["train", "eval", "retrain"])
def test_the_shipped_configs_pass(name):
    check_config(composed(name, *(["serving=x"] if name == "retrain" else [])))


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.max_epochs=abc", "trainer.max_epochs='abc' is not allowed: expected an integer >= 1 or -1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 is not allowed: expected an integer >= 1 or -1"),
    ("trainer.max_epochs=true", "trainer.max_epochs=True is not allowed"),
    ("model.dim=-1", "model.dim=-1 is not allowed: expected an integer >= 1"),
    ("model.dim=30", "model.dim=30 is not allowed: expected a multiple of model.heads=4"),
    ("model.layers=1.5", "model.layers=1.5 is not allowed: expected an integer >= 1"),
    ("model.dropout=1.0", r"model.dropout=1.0 is not allowed: expected a number in \[0.0, 1.0\)"),
    ("data.max_len=0", "data.max_len=0 is not allowed"),
    ("data.batch_size=big", "data.batch_size='big' is not allowed: expected an integer >= 1"),
    ("data.eval_batch_size=-8", "data.eval_batch_size=-8 is not allowed"),
    ("module.optimizer.lr=-0.001", r"module.optimizer.lr=-0.001 is not allowed: expected a number in \[0.0, inf\)"),
    ("module.optimizer.lr=fast", "module.optimizer.lr='fast' is not allowed"),
    ("module.ks=[10,0]", r"module.ks=\[10, 0\] is not allowed: expected a non-empty list of integers >= 1"),
    ("module.ks=[]", r"module.ks=\[\] is not allowed"),
    ("module.sampled_negatives=0", "module.sampled_negatives=0 is not allowed: expected an integer >= 1 or null"),
    ("module.warmup_fraction=1.5", r"module.warmup_fraction=1.5 is not allowed: expected a number in \[0.0, 1.0\) "
                                   "or null"),
])
def test_bad_train_values_name_key_value_and_allowed(override, message):
    cfg = composed("train", "model.heads=4" if override == "model.dim=30" else "seed=0", override)
    with pytest.raises(ConfigError, match=message):
        check_config(cfg)


def test_other_entry_points_keys():
    with pytest.raises(ConfigError, match=r"ks=\[5, -1\] is not allowed"):
        check_config(composed("eval", "ks=[5,-1]"))
    with pytest.raises(ConfigError, match="k=0 is not allowed: expected an integer >= 1"):
        check_config(composed("export", "ckpt=x", "k=0"))
    with pytest.raises(ConfigError, match="decision.n_permutations=0 is not allowed"):
        check_config(composed("retrain", "serving=x", "decision.n_permutations=0"))
    check_config(composed("train", "model=gru4rec", "model.dim=30"))  # no heads: any dimension
