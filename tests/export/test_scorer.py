"""``TopKScorer``: known answers on a hand-written model, the same in eager, TorchScript and torch.export,
and clear errors for malformed input."""

from __future__ import annotations

import pytest
import torch

from tests.export.toy import COUNTS, LastItem
from xsell.export.programs import to_exported_program, to_torchscript
from xsell.export.scorer import TopKScorer, popularity_prior

NONE = torch.zeros(1, 6, dtype=torch.bool)
INF = float("-inf")


@pytest.fixture(scope="module")
def formats() -> dict:
    scorer = TopKScorer(LastItem(), COUNTS).eval()
    return {"eager": scorer, "torchscript": to_torchscript(scorer), "export": to_exported_program(scorer).module()}


def top(scorer, items, k, exclude=None, **context):
    items = torch.tensor(items)
    exclude = torch.zeros(len(items), 6, dtype=torch.bool) if exclude is None else exclude
    indices, scores = scorer(items, k, exclude, **context)
    return indices.tolist(), [round(s, 5) if s != INF else s for s in scores.flatten().tolist()]


@pytest.mark.parametrize("name", ["eager", "torchscript", "export"])
def test_known_answers(formats, name):
    scorer = formats[name]
    # Last item 2 = [1, 0]: item 3 scores 0.9, 5 0.5, 4 0.0; 2 itself is in the history.
    assert top(scorer, [[0, 0, 0, 2]], 3) == ([[3, 5, 4]], [0.9, 0.5, 0.0])
    # Every history item is excluded, also those beyond max_len (4) that the model does not read.
    assert top(scorer, [[0, 0, 3, 2]], 2) == ([[5, 4]], [0.5, 0.0])
    assert top(scorer, [[4, 0, 0, 0, 0, 2]], 2) == ([[3, 5]], [0.9, 0.5])
    # The exclusion mask removes more.
    mask = torch.zeros(1, 6, dtype=torch.bool)
    mask[0, 3] = True
    assert top(scorer, [[0, 0, 0, 2]], 2, mask) == ([[5, 4]], [0.5, 0.0])
    # An empty history, only unknown items, or only indices outside the catalog: the popularity prior.
    for history in ([[0, 0, 0, 0]], [[0, 0, 1, 1]], [[0, 99, -5, 1]], [[0]]):
        assert top(scorer, history, 2) == ([[3, 4]], [round(5 / 11, 5), round(3 / 11, 5)]), history
    # Rows are independent; k beyond the eligible items fills with -inf, beyond N is clipped to N.
    indices, scores = top(scorer, [[0, 0, 0, 2], [0, 0, 0, 0]], 10)
    assert [row[:3] for row in indices] == [[3, 5, 4], [3, 4, 5]] and len(indices[0]) == 6
    assert scores[3:6] == [INF] * 3 and scores[6:10] == [round(5 / 11, 5), round(3 / 11, 5), round(2 / 11, 5),
                                                         round(1 / 11, 5)]
    # An unknown item at the end is read as the unknown item's vector (here zero): scores 0, no error.
    assert top(scorer, [[0, 0, 3, 1]], 1)[0] == [[2]]


def test_history_items_stay_when_asked():
    scorer = TopKScorer(LastItem(), COUNTS, exclude_history=False)
    assert top(scorer, [[0, 0, 0, 2]], 3) == ([[2, 3, 5]], [1.0, 0.9, 0.5])


def test_prior_is_the_training_frequency():
    assert popularity_prior(COUNTS).tolist() == pytest.approx([0, 0, 1 / 11, 5 / 11, 3 / 11, 2 / 11])
    assert popularity_prior(torch.tensor([7.0, 7.0, 0.0])).tolist() == [0.0, 0.0, 0.0]  # no counts: no NaN


def test_event_types_outside_the_table_read_as_unknown():
    scorer = TopKScorer(LastItem(), COUNTS, num_event_types=3)
    items = [[0, 0, 0, 2]]
    unknown = top(scorer, items, 3, events=torch.tensor([[0, 0, 0, 1]]))
    assert unknown == ([[3, 5, 4]], [0.92, 0.6, 0.2])  # [1, 0.2] . item vectors
    assert top(scorer, items, 3, events=torch.tensor([[0, 0, 0, 7]])) == unknown
    assert top(scorer, items, 3, events=torch.tensor([[0, 0, 0, 2]])) == ([[3, 5, 4]], [0.9, 0.5, 0.0])
    with pytest.raises(ValueError, match="this model reads events"):
        scorer(torch.tensor(items), 3)


MALFORMED = [
    ("items int32", lambda s: s(torch.tensor([[0, 2]], dtype=torch.int32), 3, NONE), "items must be int64"),
    ("items 1-d", lambda s: s(torch.tensor([0, 2]), 3, NONE[0]), r"items must be a \[B, L\]"),
    ("items 3-d", lambda s: s(torch.zeros(1, 2, 1, dtype=torch.long), 3, NONE), r"items must be a \[B, L\]"),
    ("k = 0", lambda s: s(torch.tensor([[0, 2]]), 0, NONE), "k must be at least 1"),
    ("exclude float", lambda s: s(torch.tensor([[0, 2]]), 3, NONE.float()), "exclude must be a"),
    ("exclude shape", lambda s: s(torch.tensor([[0, 2]]), 3, NONE[:, :5]), "exclude must have shape"),
    ("exclude batch", lambda s: s(torch.tensor([[0, 2]]), 3, torch.zeros(2, 6, dtype=torch.bool)),
     "exclude must have shape"),
]


@pytest.mark.parametrize(("case", "call", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("name", ["eager", "torchscript"])
def test_malformed_input_is_rejected_with_a_message(formats, name, case, call, message):
    with pytest.raises((ValueError, torch.jit.Error), match=message):
        call(formats[name])


@pytest.mark.parametrize(("case", "call", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_exported_program_rejects_malformed_input(formats, case, call, message):
    """torch.export fixes dtypes and ranks: the program's own checks raise (dtype: a clear message)."""
    expected = {"items int32": "dtype mismatch", "exclude float": "dtype mismatch", "k = 0": "k >= 1"}
    with pytest.raises(Exception, match=expected.get(case)):  # noqa: B017 - torch raises several types
        call(formats["export"])


def test_request_context_and_user_features_parity_across_formats():
    """A model that reads the request's context and user features: TorchScript and torch.export agree with
    the eager model, out-of-table ids read as unknown, and a missing input is a clear error."""
    from xsell.data.features import FeatureSpec
    from xsell.export.bundle import parity_batches, reference
    from xsell.export.parity import check_parity
    from xsell.models import SASRec

    torch.manual_seed(0)
    model = SASRec(12, dim=8, layers=1, heads=1, max_len=4, context_specs=[FeatureSpec("device", 4)],
                   user_specs=[FeatureSpec("tokens", 5, slots=2)]).eval()
    scorer = TopKScorer(model, torch.arange(12.0)).eval()
    assert scorer.context_sizes.tolist() == [4] and scorer.user_sizes.tolist() == [5, 5]
    batches = parity_batches(scorer)
    assert batches[0]["context"].shape == (1, 1) and batches[1]["user"].shape == (5, 2)
    parity = check_parity({"scripted": to_torchscript(scorer), "exported": to_exported_program(scorer).module()},
                          reference(scorer), batches, 5)
    assert all(result.ok() for result in parity.values()), parity
    items = torch.tensor([[0, 3, 4, 5]])
    with torch.no_grad():
        unknown = scorer(items, 3, None, None, None, torch.tensor([[1]]), torch.tensor([[2, 1]]))
        outside = scorer(items, 3, None, None, None, torch.tensor([[9]]), torch.tensor([[2, -4]]))
        other = scorer(items, 3, None, None, None, torch.tensor([[3]]), torch.tensor([[2, 1]]))
    torch.testing.assert_close(outside, unknown)
    assert not torch.allclose(other[1], unknown[1])
    with pytest.raises(ValueError, match="reads context"):
        scorer(items, 3)
    with pytest.raises(ValueError, match=r"user must have shape \[1, 2\]"):
        scorer(items, 3, None, None, None, torch.tensor([[1]]), torch.tensor([[2]]))
