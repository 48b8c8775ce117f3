"""Checks every next-item model must pass, shared by the per-model test modules.

Each check takes a ``build(**overrides)`` callable that returns a freshly seeded model of one class with
``NUM_ITEMS`` items, hidden size ``DIM`` and ``MAX_LEN`` positions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from xsell.data.batch import SequenceBatch
from xsell.data.features import FeatureSpec

NUM_ITEMS = 30
DIM = 16
MAX_LEN = 8
NUM_EVENT_TYPES = 5
NUM_TIME_GAP_BUCKETS = 34

Build = Callable[..., nn.Module]

# Two histories: a full one and a short left-padded one.
ITEMS = torch.tensor([[3, 9, 4, 17, 5, 22, 8, 11], [0, 0, 0, 0, 0, 6, 13, 7]])
EVENTS = torch.tensor([[2, 2, 3, 4, 2, 2, 3, 2], [0, 0, 0, 0, 0, 2, 3, 4]])
GAPS = torch.tensor([[1, 5, 6, 7, 20, 4, 4, 9], [0, 0, 0, 0, 0, 1, 8, 3]])


def seeded(factory: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return factory().eval()


def hybrid_options() -> dict:
    """Event types, time gaps and item features (a category and a 2-slot token feature) switched on."""
    generator = torch.Generator().manual_seed(1)
    features = torch.cat([torch.randint(2, 6, (NUM_ITEMS, 1), generator=generator),
                          torch.randint(0, 9, (NUM_ITEMS, 2), generator=generator)], dim=1)
    features[0] = 0
    return dict(num_event_types=NUM_EVENT_TYPES, num_time_gap_buckets=NUM_TIME_GAP_BUCKETS, feature_ids=features,
                feature_specs=[FeatureSpec("category", 6), FeatureSpec("tokens", 9, slots=2)])


def left_pad(rows: Tensor, length: int) -> Tensor:
    """``rows`` ``[B, L]`` left-padded with zeros to ``length`` columns."""
    return torch.cat([rows.new_zeros(rows.shape[0], length - rows.shape[1]), rows], dim=1)


def encode(model: nn.Module, items: Tensor = ITEMS, events: Tensor = EVENTS, gaps: Tensor = GAPS) -> Tensor:
    with torch.no_grad():
        return model.encode_sequence(items, events, gaps)


def sequence_output(model: nn.Module, items: Tensor, events: Tensor = EVENTS, gaps: Tensor = GAPS) -> Tensor:
    with torch.no_grad():
        return model.sequence_output(items, events, gaps)


def check_shapes(build: Build, dim: int = DIM) -> None:
    """Representations ``[B, dim]`` / ``[B, L, dim]``, item vectors ``[N, dim]``; scores are their product."""
    model = build()
    assert encode(model).shape == (2, dim)
    assert sequence_output(model, ITEMS).shape == (2, MAX_LEN, dim)
    assert model.item_embeddings().shape == (NUM_ITEMS, dim)
    with torch.no_grad():
        torch.testing.assert_close(model(ITEMS, EVENTS, GAPS), encode(model))
        scores = model.score(SequenceBatch(items=ITEMS, events=EVENTS, time_gaps=GAPS))
    assert scores.shape == (2, NUM_ITEMS)
    torch.testing.assert_close(scores, encode(model) @ model.item_embeddings().T)


def check_causal(build: Build) -> None:
    """Changing the item at position t changes the output at t but never before it; the next-item
    representation is the last position's output (however the model computes it)."""
    model = build()
    torch.testing.assert_close(encode(model), sequence_output(model, ITEMS)[:, -1], atol=1e-5, rtol=0)
    items = ITEMS[:1]
    before = sequence_output(model, items, EVENTS[:1], GAPS[:1])
    for t in range(MAX_LEN):
        changed = items.clone()
        changed[0, t] = 29 if items[0, t] != 29 else 28
        after = sequence_output(model, changed, EVENTS[:1], GAPS[:1])
        torch.testing.assert_close(after[:, :t], before[:, :t], atol=1e-6, rtol=0)
        assert not torch.allclose(after[:, t], before[:, t], atol=1e-4)


def check_left_padding_invariance(build: Build, **options) -> None:
    """The same history with more padding in front (or a longer input cut to max_len) encodes the same."""
    model = build(**options)
    history, events, gaps = ITEMS[1:, -3:], EVENTS[1:, -3:], GAPS[1:, -3:]
    reference = encode(model, history, events, gaps)
    for length in (4, 6, MAX_LEN, MAX_LEN + 4):
        padded = encode(model, left_pad(history, length), left_pad(events, length), left_pad(gaps, length))
        torch.testing.assert_close(padded, reference, atol=1e-5, rtol=0)
    # A row that is padded in one batch and full in the other does not influence its neighbour.
    alone = encode(model, ITEMS[1:], EVENTS[1:], GAPS[1:])
    torch.testing.assert_close(encode(model)[1:], alone, atol=1e-5, rtol=0)


def check_all_padding_row(build: Build) -> None:
    """A history of padding only gives finite outputs, in eval and in train mode (with gradients)."""
    model = build(**hybrid_options())
    items = torch.cat([ITEMS[:1], torch.zeros(1, MAX_LEN, dtype=torch.long)])
    events = torch.cat([EVENTS[:1], torch.zeros(1, MAX_LEN, dtype=torch.long)])
    gaps = torch.cat([GAPS[:1], torch.zeros(1, MAX_LEN, dtype=torch.long)])
    assert torch.isfinite(encode(model, items, events, gaps)).all()
    assert torch.isfinite(sequence_output(model, items, events, gaps)).all()
    model.train()
    out = model.sequence_output(items, events, gaps)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def check_scripts(build: Build) -> None:
    """``torch.jit.script`` works and agrees with eager mode on ``encode_sequence`` and ``item_embeddings``."""
    for options in ({}, hybrid_options()):
        model = build(**options)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
            scripted = torch.jit.script(model)
        with torch.no_grad():
            torch.testing.assert_close(scripted.encode_sequence(ITEMS, EVENTS, GAPS), encode(model),
                                       atol=1e-6, rtol=0)
            torch.testing.assert_close(scripted.item_embeddings(), model.item_embeddings(), atol=1e-6, rtol=0)


def check_hybrid_inputs(build: Build) -> None:
    """Event types, time gaps and item features each change the output when switched on, not when off."""
    plain = build()
    other_events = torch.where(EVENTS > 0, (EVENTS - 1) % 3 + 2, EVENTS)  # real events 2 -> 3 -> 4 -> 2
    other_gaps = torch.where(GAPS > 0, GAPS + 3, GAPS)
    torch.testing.assert_close(encode(plain, ITEMS, other_events, other_gaps), encode(plain), atol=1e-6, rtol=0)

    model = build(**hybrid_options())
    reference = encode(model)
    assert not torch.allclose(encode(model, ITEMS, other_events, GAPS), reference, atol=1e-4)
    assert not torch.allclose(encode(model, ITEMS, EVENTS, other_gaps), reference, atol=1e-4)
    item = int(ITEMS[0, -1])
    with torch.no_grad():
        model.input.items.feature_ids[item, 0] = 2 if model.input.items.feature_ids[item, 0] != 2 else 3
    changed = encode(model)
    assert not torch.allclose(changed[0], reference[0], atol=1e-4)  # the row whose last item changed
    torch.testing.assert_close(changed[1], reference[1], atol=1e-6, rtol=0)  # the other row never saw it


CONTEXT_SPECS = [FeatureSpec("device", 5), FeatureSpec("time_of_day", 6)]
USER_SPECS = [FeatureSpec("segment", 4)]
CONTEXT = torch.tensor([[[2, 2], [2, 3], [3, 3], [3, 4], [4, 4], [2, 5], [1, 5], [2, 2]],
                        [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [3, 2], [3, 2], [4, 3]]])  # [2, L, 2]
USERS = torch.tensor([[2], [3]])  # [2, 1]


def check_request_features(build: Build) -> None:
    """Request context and user features: off by default (no parameters), fused only at the position that
    predicts with them, required once switched on, and scripted == eager."""
    plain = build()
    assert not any(name.startswith("request.") for name in plain.state_dict())
    model = build(context_specs=CONTEXT_SPECS, user_specs=USER_SPECS)
    with torch.no_grad():
        reference = model.encode_sequence(ITEMS, EVENTS, GAPS, CONTEXT[:, -1], USERS)
        other_context = CONTEXT[:, -1].flip(0)
        assert not torch.allclose(model.encode_sequence(ITEMS, EVENTS, GAPS, other_context, USERS), reference,
                                  atol=1e-4)
        assert not torch.allclose(model.encode_sequence(ITEMS, EVENTS, GAPS, CONTEXT[:, -1], USERS.flip(0)),
                                  reference, atol=1e-4)
        before = model.sequence_output(ITEMS, EVENTS, GAPS, CONTEXT, USERS)  # [B, L, D]
        for t in (0, 3, MAX_LEN - 1):  # the context of position t reaches position t only
            changed = CONTEXT.clone()
            changed[0, t] = torch.tensor([4, 5])
            after = model.sequence_output(ITEMS, EVENTS, GAPS, changed, USERS)
            keep = [i for i in range(MAX_LEN) if i != t]
            torch.testing.assert_close(after[0, keep], before[0, keep], atol=1e-6, rtol=0)
            assert not torch.allclose(after[0, t], before[0, t], atol=1e-4)
        if getattr(model, "objective", "causal") == "causal":
            torch.testing.assert_close(reference, before[:, -1], atol=1e-5, rtol=0)
        batch = SequenceBatch(items=ITEMS, events=EVENTS, time_gaps=GAPS, context=CONTEXT, user_features=USERS)
        torch.testing.assert_close(model.score(batch), reference @ model.item_embeddings().T)
    try:
        model.encode_sequence(ITEMS, EVENTS, GAPS)
    except ValueError as error:
        assert "request context" in str(error)
    else:
        raise AssertionError("a model that reads context must refuse a request without it")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted.encode_sequence(ITEMS, EVENTS, GAPS, CONTEXT[:, -1], USERS), reference,
                                   atol=1e-6, rtol=0)


def check_output_tables(build: Build, causal: bool = True) -> None:
    """``separate`` and ``offset`` output tables keep the model's contract (shapes, causality where the model
    is causal, TorchScript); ``separate`` takes the scoring gradient away from the input table, ``offset``
    starts equal to the tied model and trains both; ``tied`` adds no parameters; an unknown kind is refused."""
    for kind in ("separate", "offset"):
        def variant(kind=kind, **options) -> nn.Module:
            return build(output_table=kind, **options)

        check_shapes(variant)
        if causal:
            check_causal(variant)
        check_scripts(variant)
    separate, offset, tied = build(output_table="separate"), build(output_table="offset"), build()
    assert separate.item_embeddings() is separate.output_items.weight
    assert not torch.equal(separate.item_embeddings(), separate.input.items.catalog())
    torch.testing.assert_close(offset.item_embeddings(), tied.item_embeddings(), rtol=0, atol=0)  # same seed
    for model in (separate, offset):
        (torch.randn(3, DIM) @ model.item_embeddings().T).sum().backward()
    assert separate.output_items.weight.grad.abs().sum() > 0 and separate.input.items.ids.weight.grad is None
    assert offset.output_items.weight.grad.abs().sum() > 0 and offset.input.items.ids.weight.grad.abs().sum() > 0
    assert tied.output_items is None and not any("output_items" in key for key in tied.state_dict())
    with pytest.raises(ValueError, match="output_table"):
        build(output_table="shared")


def check_output_bias(build: Build, causal: bool = True) -> None:
    """``output_bias``: representations and item vectors gain one column (a constant 1 and the bias), so a
    score is the bias-free model's score plus the item's bias, still one matrix product (shapes, causality,
    TorchScript); the bias is trained by the scoring gradient and starts at zero."""
    def variant(**options) -> nn.Module:
        return build(output_bias=True, **options)

    check_shapes(variant, dim=DIM + 1)
    if causal:
        check_causal(variant)
    check_scripts(variant)
    plain, biased = build(), variant()
    assert plain.output_bias is None and not any("output_bias" in key for key in plain.state_dict())
    with torch.no_grad():
        biased.output_bias.copy_(torch.arange(NUM_ITEMS, dtype=torch.float) / 10)
        expected = encode(plain) @ plain.item_embeddings().T + biased.output_bias  # same seed, same weights
        torch.testing.assert_close(encode(biased) @ biased.item_embeddings().T, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(encode(biased)[:, -1], torch.ones(2))
    (torch.randn(3, DIM + 1) @ biased.item_embeddings().T).sum().backward()
    assert biased.output_bias.grad.abs().sum() > 0
