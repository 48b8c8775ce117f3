import math

import pytest
import torch
import torch.nn.functional as F

from xsell.nn.losses import (
    GBCE,
    BinaryCrossEntropy,
    FeedbackLoss,
    FullSoftmaxCE,
    InBatchSoftmax,
    SampledSoftmax,
    hard_negative_loss,
)


def case(num_items: int = 6, rows: int = 3, dim: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, dim, generator=generator)
    items = torch.randn(num_items, dim, generator=generator)
    labels = torch.arange(rows) % (num_items - 2) + 2
    return hidden, labels, items


def test_full_softmax_is_cross_entropy_without_padding_and_unknown():
    hidden, labels, items = case()
    logits = hidden @ items.T
    expected = F.cross_entropy(logits[:, 2:], labels - 2)  # columns 0 and 1 dropped
    torch.testing.assert_close(FullSoftmaxCE()(hidden, labels, items), expected)


def test_full_softmax_by_hand():
    # One row, catalog of two real items with logits 2 and 0: loss = -log(e^2 / (e^2 + 1)).
    hidden = torch.tensor([[1.0, 0.0]])
    items = torch.tensor([[50.0, 0.0], [40.0, 0.0], [2.0, 0.0], [0.0, 0.0]])  # huge pad/unknown logits ignored
    loss = FullSoftmaxCE()(hidden, torch.tensor([2]), items)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)


def test_full_softmax_soft_targets_match_cross_entropy_with_a_target_distribution():
    # Rows with up to three targets (0 = padding, weight 0): value and gradients as F.cross_entropy with
    # the same probabilities as soft targets, for any chunking.
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(5, 4, generator=generator, requires_grad=True)
    items = torch.randn(8, 4, generator=generator, requires_grad=True)
    labels = torch.tensor([[2, 3, 0], [4, 5, 6], [7, 0, 0], [2, 2, 7], [3, 4, 5]])
    weights = torch.rand(5, 3, generator=generator) * (labels > 0)
    weights = weights / weights.sum(1, keepdim=True)
    loss = FullSoftmaxCE(chunk_rows=2)(hidden, labels, items, weights=weights)
    grads = torch.autograd.grad(loss, (hidden, items))
    logits = hidden @ items.T
    target = torch.zeros(5, 8).scatter_add_(1, labels, weights)
    expected = F.cross_entropy(logits[:, 2:], target[:, 2:])
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, torch.autograd.grad(expected, (hidden, items)), strict=True):
        torch.testing.assert_close(got, want)


def test_full_softmax_one_target_with_weight_one_is_the_plain_loss():
    hidden, labels, items = case(rows=4)
    plain = FullSoftmaxCE()(hidden, labels, items)
    torch.testing.assert_close(FullSoftmaxCE()(hidden, labels[:, None], items, weights=torch.ones(4, 1)), plain,
                               rtol=0, atol=0)


def test_sampled_softmax_subtracts_log_q(monkeypatch):
    hidden, labels, items = case(num_items=6, rows=3)
    loss = SampledSoftmax(num_negatives=3, proposal="popularity")
    loss.prepare(torch.tensor([0.0, 0.0, 4.0, 3.0, 2.0, 1.0]))  # Q = counts / 10 over items 2..5
    q = loss.probabilities
    torch.testing.assert_close(q[2:], torch.tensor([0.4, 0.3, 0.2, 0.1]), atol=1e-6, rtol=0)
    negatives = torch.tensor([3, 5, 2])
    monkeypatch.setattr(loss, "sample", lambda shape, n, device: (negatives, q[negatives].log()))

    def expected(log_q_target, log_q_negatives):
        positive = (hidden * items[labels]).sum(-1, keepdim=True) - log_q_target.unsqueeze(1)  # [M, 1]
        negative = hidden @ items[negatives].T - log_q_negatives.unsqueeze(0)  # [M, K]
        negative = negative.masked_fill(negatives.unsqueeze(0) == labels.unsqueeze(1), float("-inf"))
        return F.cross_entropy(torch.cat([positive, negative], 1), torch.zeros(3, dtype=torch.long))

    # labels 2, 3, 4: rows 0 and 1 drew their own target among the negatives, which is masked out
    torch.testing.assert_close(loss(hidden, labels, items), expected(q[labels].log(), q[negatives].log()))
    loss.logq_correction = False
    torch.testing.assert_close(loss(hidden, labels, items), expected(torch.zeros(3), torch.zeros(3)))


def test_sampled_softmax_logq_by_hand(monkeypatch):
    # Target and one negative both with logit 1, Q(target) = 0.5 and Q(negative) = 0.25. Corrected logits are
    # 1 - log 0.5 and 1 - log 0.25, so loss = log(1 + e^(log 0.5 - log 0.25)) = log 3 (log 2 uncorrected).
    loss = SampledSoftmax(num_negatives=1, proposal="popularity")
    loss.prepare(torch.tensor([0.0, 0.0, 2.0, 1.0, 1.0]))
    monkeypatch.setattr(loss, "sample", lambda shape, n, device: (torch.tensor([3]), torch.tensor([0.25]).log()))
    hidden = torch.tensor([[1.0]])
    items = torch.tensor([[0.0], [0.0], [1.0], [1.0], [1.0]])
    value = loss(hidden, torch.tensor([2]), items)
    assert value.item() == pytest.approx(math.log(3.0), rel=1e-6)
    loss.logq_correction = False
    assert loss(hidden, torch.tensor([2]), items).item() == pytest.approx(math.log(2.0), rel=1e-6)


def test_sampled_softmax_in_batch_candidates_and_expected_counts(monkeypatch):
    hidden, labels, items = case(num_items=6, rows=3)
    labels = torch.tensor([2, 3, 2])
    loss = SampledSoftmax(num_negatives=2, proposal="popularity", in_batch=True)
    loss.prepare(torch.tensor([0.0, 0.0, 4.0, 3.0, 2.0, 1.0]))  # p = q = counts / 10 over items 2..5
    negatives = torch.tensor([5, 3])
    monkeypatch.setattr(loss, "sample", lambda shape, n, device: (negatives, loss.probabilities[negatives].log()))
    # candidates 2, 3, 5; each enters M p + K q times in expectation: 3 * .4 + 2 * .4, 3 * .3 + 2 * .3, 3 * .1 + 2 * .1
    candidates = torch.tensor([2, 3, 5])
    logits = hidden @ items[candidates].T - torch.tensor([2.0, 1.5, 0.5]).log()
    torch.testing.assert_close(loss(hidden, labels, items), F.cross_entropy(logits, torch.tensor([0, 1, 0])))
    loss.logq_correction = False
    torch.testing.assert_close(loss(hidden, labels, items),
                               F.cross_entropy(hidden @ items[candidates].T, torch.tensor([0, 1, 0])))


def test_sampled_softmax_in_batch_merges_a_shared_target(monkeypatch):
    # All logits equal: the loss is log(number of distinct candidates). Two rows with target 2 and one draw (3)
    # give candidates {2, 3}: log 2, not log 3 (the other row's identical target is not a negative).
    loss = SampledSoftmax(num_negatives=1, proposal="uniform", logq_correction=False, in_batch=True)
    monkeypatch.setattr(loss, "sample", lambda shape, n, device: (torch.tensor([3]), torch.zeros(1)))
    hidden, items = torch.zeros(2, 4), torch.randn(5, 4)
    assert loss(hidden, torch.tensor([2, 2]), items).item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert loss(hidden, torch.tensor([2, 4]), items).item() == pytest.approx(math.log(3.0), rel=1e-6)


def test_sampled_negatives_follow_the_proposal_and_skip_padding():
    torch.manual_seed(0)
    loss = SampledSoftmax(num_negatives=4000, proposal="popularity")
    loss.prepare(torch.tensor([100.0, 100.0, 3.0, 1.0]))
    negatives, log_q = loss.sample((4000,), 4, torch.device("cpu"))
    assert negatives.min() >= 2
    assert (negatives == 2).float().mean().item() == pytest.approx(0.75, abs=0.03)
    torch.testing.assert_close(log_q.exp(), loss.probabilities[negatives])


def test_gbce_positive_weight():
    num_items = 1002  # 1000 catalog items -> 999 possible negatives per positive
    alpha = 9 / 999
    assert GBCE(num_negatives=9, t=0.0).positive_weight(num_items) == pytest.approx(1.0)
    assert GBCE(num_negatives=9, t=1.0).positive_weight(num_items) == pytest.approx(alpha)
    t = 0.75
    assert GBCE(num_negatives=9, t=t).positive_weight(num_items) == pytest.approx(
        alpha * (t * (1 - 1 / alpha) + 1 / alpha))
    assert BinaryCrossEntropy().positive_weight(num_items) == 1.0


def fixed_negatives(monkeypatch, loss, negatives):
    monkeypatch.setattr(loss, "sample", lambda shape, n, device: (negatives, torch.zeros(negatives.shape)))


def test_binary_cross_entropy_is_softplus(monkeypatch):
    hidden, labels, items = case(num_items=8, rows=3)  # labels 2, 3, 4
    loss = BinaryCrossEntropy(num_negatives=2)
    negatives = torch.tensor([[5, 6], [3, 7], [2, 2]])  # row 1 drew its own target: not a negative
    fixed_negatives(monkeypatch, loss, negatives)
    positive = (hidden * items[labels]).sum(-1)
    negative = torch.einsum("md,mkd->mk", hidden, items[negatives])
    expected = torch.stack([
        F.softplus(-positive[0]) + F.softplus(negative[0]).sum(),
        F.softplus(-positive[1]) + F.softplus(negative[1, 1]),
        F.softplus(-positive[2]) + F.softplus(negative[2]).sum(),
    ]).mean()
    torch.testing.assert_close(loss(hidden, labels, items), expected)


def test_gbce_scales_only_the_positive_term(monkeypatch):
    hidden, labels, items = case(num_items=8, rows=2)
    negatives = torch.tensor([[5, 6], [7, 2]])
    gbce = GBCE(num_negatives=2, t=0.5)
    fixed_negatives(monkeypatch, gbce, negatives)
    beta = gbce.positive_weight(8)
    positive = (hidden * items[labels]).sum(-1)
    negative = torch.einsum("md,mkd->mk", hidden, items[negatives])
    expected = (beta * F.softplus(-positive) + F.softplus(negative).sum(-1)).mean()
    torch.testing.assert_close(gbce(hidden, labels, items), expected)


def test_losses_backpropagate_to_hidden_and_items():
    torch.manual_seed(0)
    for loss in (FullSoftmaxCE(), SampledSoftmax(num_negatives=5), BinaryCrossEntropy(), GBCE(num_negatives=3)):
        hidden, labels, items = case(num_items=10, rows=4)
        hidden.requires_grad_(True)
        items.requires_grad_(True)
        value = loss(hidden, labels, items)
        value.backward()
        assert torch.isfinite(value) and hidden.grad.abs().sum() > 0 and items.grad.abs().sum() > 0


def test_unknown_proposal_is_rejected():
    with pytest.raises(ValueError, match="proposal"):
        SampledSoftmax(proposal="zipf")


# -- in-batch softmax ---------------------------------------------------------------------------------


def test_in_batch_softmax_logq_by_hand():
    # Two rows with targets 2 and 3; h0 . v2 = 1, h0 . v3 = 0, h1 . v2 = 0, h1 . v3 = 1 (tau = 1).
    # Frequencies p(2) = 0.75, p(3) = 0.25 and M = 2 rows: Q(2) = 1.5, Q(3) = 0.5 expected draws.
    # Row 0 logits [1 - log 1.5, -log 0.5]: loss0 = log(1 + e^(-log 0.5 - 1 + log 1.5)) = log(1 + 3/e).
    # Row 1 logits [-log 1.5, 1 - log 0.5]: loss1 = log(1 + e^(-log 1.5 - 1 + log 0.5)) = log(1 + 1/(3e)).
    hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[9.0, 9.0], [9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])  # 0, 1, 4: not in batch
    labels = torch.tensor([2, 3])
    loss = InBatchSoftmax(temperature=1.0, learn_temperature=False)
    loss.prepare(torch.tensor([0.0, 0.0, 3.0, 1.0, 0.0]))
    e = math.e
    expected = (math.log1p(3 / e) + math.log1p(1 / (3 * e))) / 2
    assert loss(hidden, labels, items).item() == pytest.approx(expected, rel=1e-6)
    loss.logq_correction = False  # both rows: log(1 + e^-1)
    assert loss(hidden, labels, items).item() == pytest.approx(math.log1p(1 / e), rel=1e-6)


def test_in_batch_softmax_merges_repeated_targets_and_mixes_uniform_negatives(monkeypatch):
    # Rows 0 and 1 share target 2: one candidate, never a negative for either. Uniform negatives 4 and 2 (K = 2
    # over 3 known items): candidates {2, 3, 4}, Q(j) = M p(j) + K / 3 with M = 3, p = (0.5, 0.5, 0).
    hidden, _, items = case(num_items=5, rows=3)
    labels = torch.tensor([2, 2, 3])
    loss = InBatchSoftmax(temperature=0.5, learn_temperature=False, uniform_negatives=2)
    loss.prepare(torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0]))
    monkeypatch.setattr(loss, "sample", lambda num, num_items, device: torch.tensor([4, 2]))
    candidates = torch.tensor([2, 3, 4])
    q = 3 * torch.tensor([0.5, 0.5, 0.0]) + 2 / 3
    logits = hidden @ items[candidates].T / 0.5 - q.log()
    expected = F.cross_entropy(logits, torch.tensor([0, 0, 1]))
    torch.testing.assert_close(loss(hidden, labels, items), expected)


def test_in_batch_softmax_temperature_is_learned_or_fixed():
    hidden, labels, items = case(num_items=8, rows=4)
    learned = InBatchSoftmax(temperature=0.2)
    assert [name for name, _ in learned.named_parameters()] == ["log_temperature"]
    assert learned.temperature.item() == pytest.approx(0.2)
    learned(hidden, labels, items).backward()
    assert learned.log_temperature.grad is not None and learned.log_temperature.grad != 0
    fixed = InBatchSoftmax(temperature=0.2, learn_temperature=False)
    assert list(fixed.parameters()) == [] and "log_temperature" in fixed.state_dict()
    with torch.no_grad():
        learned.log_temperature.fill_(math.log(1e-4))
    assert learned.temperature.item() == pytest.approx(learned.min_temperature)
    with pytest.raises(ValueError, match="temperature"):
        InBatchSoftmax(temperature=0.0)


def test_in_batch_softmax_backpropagates_and_handles_no_rows():
    hidden, labels, items = case(num_items=10, rows=4)
    hidden.requires_grad_(True)
    items.requires_grad_(True)
    loss = InBatchSoftmax(uniform_negatives=3)
    value = loss(hidden, labels, items)
    value.backward()
    assert torch.isfinite(value) and hidden.grad.abs().sum() > 0 and items.grad.abs().sum() > 0
    empty = loss(hidden[:0], labels[:0], items)
    assert empty.item() == 0.0 and empty.requires_grad


# ------------------------------------------------------------------------------------------- feedback


def test_hard_negative_term_by_hand():
    # Row 0: label scores 2, two "not helpful" items score 1 and 0: log(e^2 + e^1 + e^0) - 2.
    # Row 1: no answers, so it does not count; row 2: one negative scoring 3 against a label scoring 0.
    hidden = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[9.0, 9.0], [9.0, 9.0], [2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    labels = torch.tensor([2, 2, 5])
    answered = torch.tensor([[3, 5], [0, 0], [4, 0]])
    helpful = torch.zeros(3, 2, dtype=torch.bool)
    base = FullSoftmaxCE()
    loss = FeedbackLoss(base, negative_weight=2.0, positive_weight=0.0)
    row0 = math.log(math.exp(2) + math.exp(1) + math.exp(0)) - 2
    row2 = math.log(math.exp(0) + math.exp(3)) - 0
    expected = base(hidden, labels, items).item() + 2.0 * (row0 + row2) / 3  # summed over answered rows / M = 3
    assert loss(hidden, labels, items, answered, helpful).item() == pytest.approx(expected, rel=1e-6)
    negatives = answered > 0
    assert hard_negative_loss(hidden, labels, items, answered, negatives).item() == pytest.approx((row0 + row2) / 2)


def test_helpful_answers_are_extra_positives_of_the_wrapped_loss():
    hidden, labels, items = case(num_items=8, rows=3)
    answered = torch.tensor([[0, 0], [6, 7], [0, 3]])
    helpful = torch.tensor([[False, False], [True, False], [False, True]])
    base = FullSoftmaxCE()
    loss = FeedbackLoss(base, negative_weight=0.0, positive_weight=0.5)
    extra = base(hidden[[1, 2]], torch.tensor([6, 3]), items)  # (row 1, item 6) and (row 2, item 3)
    expected = base(hidden, labels, items) + 0.5 * extra * 2 / 3  # 2 extra rows, M = 3 labelled rows
    torch.testing.assert_close(loss(hidden, labels, items, answered, helpful), expected)
    # No answers (or none passed) leaves the wrapped loss unchanged; an answer equal to the label is no negative.
    torch.testing.assert_close(loss(hidden, labels, items), base(hidden, labels, items))
    same = FeedbackLoss(base, negative_weight=1.0, positive_weight=0.0)
    torch.testing.assert_close(same(hidden, labels, items, labels.unsqueeze(1), torch.zeros(3, 1, dtype=torch.bool)),
                               base(hidden, labels, items))


@pytest.mark.parametrize("base", [FullSoftmaxCE(), SampledSoftmax(8), BinaryCrossEntropy(2), GBCE(4),
                                  InBatchSoftmax()])
def test_feedback_loss_wraps_every_loss_and_backpropagates(base):
    hidden, labels, items = case(num_items=12, rows=4)
    hidden.requires_grad_(True)
    items.requires_grad_(True)
    torch.manual_seed(0)
    answered = torch.tensor([[5, 6], [0, 0], [7, 0], [8, 9]])
    helpful = torch.tensor([[True, False], [False, False], [False, False], [False, True]])
    loss = FeedbackLoss(base)
    value = loss(hidden, labels, items, answered, helpful)
    value.backward()
    assert torch.isfinite(value) and hidden.grad.abs().sum() > 0
    assert items.grad[[5, 6, 7, 8, 9]].abs().sum(1).gt(0).all()  # every answered item gets a gradient
    with pytest.raises(ValueError, match="non-negative"):
        FeedbackLoss(base, negative_weight=-1.0)
