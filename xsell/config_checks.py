"""Config values checked at the door: the types and ranges of the fields users set, before any data is read.

A wrong value (``trainer.max_epochs=abc``, ``model.dim=-1``, ``module.ks=[0]``) would otherwise surface
deep inside Lightning or torch as a ``TypeError`` or a shape error; here it is one ``ConfigError`` line
naming the key, the value and what is allowed. Keys a config does not have (another model, another entry
point) are skipped, so one table serves ``train``, ``evaluate``, ``export`` and ``retrain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from xsell.errors import ConfigError

_ABSENT = object()


@dataclass(frozen=True)
class Rule:
    """``key`` must satisfy ``check``; ``allowed`` says in words what passes."""

    key: str
    check: Callable[[Any], bool]
    allowed: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and value == value  # not NaN


def integer(low: int, *, optional: bool = False, also: tuple[int, ...] = ()) -> tuple[Callable[[Any], bool], str]:
    """An integer ``>= low`` (or one of ``also``; or null when ``optional``)."""
    extra = "".join(f" or {v}" for v in also) + (" or null" if optional else "")
    return (lambda v: (optional and v is None) or (_is_int(v) and (v >= low or v in also)),
            f"an integer >= {low}{extra}")


def number(low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
           optional: bool = False) -> tuple[Callable[[Any], bool], str]:
    """A number in the interval ``low .. high`` (ends open or closed; no upper end when ``high`` is None)."""
    def inside(v: Any) -> bool:
        if optional and v is None:
            return True
        if not _is_number(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
    return inside, f"a number in {left}{low}, {'inf' if high is None else high}{right}" + (" or null" if optional else "")


def cutoffs() -> tuple[Callable[[Any], bool], str]:
    """A non-empty list of integers >= 1 (the k of metrics@k)."""
    return (lambda v: isinstance(v, (list, tuple, ListConfig)) and len(v) > 0 and all(_is_int(k) and k >= 1 for k in v),
            "a non-empty list of integers >= 1, e.g. [10, 20]")


def _rules(spec: dict[str, tuple[Callable[[Any], bool], str]]) -> tuple[Rule, ...]:
    return tuple(Rule(key, check, allowed) for key, (check, allowed) in spec.items())


RULES = _rules({
    "seed": integer(0),
    "threads": integer(1, optional=True),
    "k": integer(1),
    "ks": cutoffs(),
    "sampled_negatives": integer(1, optional=True),
    "trainer.max_epochs": integer(1, also=(-1,)),
    "trainer.min_epochs": integer(0, optional=True),
    "trainer.check_val_every_n_epoch": integer(1, optional=True),
    "trainer.gradient_clip_val": number(0.0, optional=True),
    "data.max_len": integer(1),
    "data.batch_size": integer(1),
    "data.eval_batch_size": integer(1),
    "data.window_stride": integer(1, optional=True),
    "model.dim": integer(1),
    "model.layers": integer(1),
    "model.heads": integer(1),
    "model.hidden": integer(1, optional=True),
    "model.item_hidden": integer(1, optional=True),
    "model.ffn_mult": number(0.0, low_open=True),
    "model.dropout": number(0.0, 1.0, high_open=True),
    "model.hidden_dropout": number(0.0, 1.0, high_open=True),
    "model.item_dropout": number(0.0, 1.0, high_open=True),
    "model.id_dropout": number(0.0, 1.0, high_open=True),
    "loss.num_negatives": integer(1),
    "loss.temperature": number(0.0, low_open=True),
    "module.optimizer.lr": number(0.0),  # 0 freezes the weights (a DDP test compares ranking that way)
    "module.optimizer.weight_decay": number(0.0),
    "module.warmup_fraction": number(0.0, 1.0, high_open=True, optional=True),
    "module.min_lr_ratio": number(0.0, 1.0),
    "module.ks": cutoffs(),
    "module.sampled_negatives": integer(1, optional=True),
    "module.future_targets": integer(1),
    "module.future_decay": number(0.0, 1.0, low_open=True),
    "decision.alpha": number(0.0, low_open=True),
    "decision.margin": number(-1.0, 1.0),
    "decision.n_permutations": integer(1),
})


def check_config(cfg: DictConfig, rules: tuple[Rule, ...] = RULES) -> None:
    """Raise ``ConfigError`` for the first value of ``cfg`` that breaks a rule (keys ``cfg`` lacks are skipped).

    Example: ``trainer.max_epochs=abc`` -> ``ConfigError: trainer.max_epochs='abc' is not allowed: expected
    an integer >= 1 or -1``.
    """
    for rule in rules:
        value = OmegaConf.select(cfg, rule.key, default=_ABSENT)  # absent and ??? values: not this check's
        if value is _ABSENT:
            continue
        if not rule.check(value):
            raise ConfigError(f"{rule.key}={_show(value)} is not allowed: expected {rule.allowed}")
    dim, heads = (OmegaConf.select(cfg, key, default=None) for key in ("model.dim", "model.heads"))
    if _is_int(dim) and _is_int(heads) and dim % heads:
        raise ConfigError(f"model.dim={dim} is not allowed: expected a multiple of model.heads={heads}")


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    return repr(value)
