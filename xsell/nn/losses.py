"""Next-item training losses. Each takes the hidden states at labelled positions, their labels and the
item table, so any model and any loss combine.

- ``FullSoftmaxCE``: cross-entropy over the whole catalog (the strongest choice while the catalog fits).
- ``SampledSoftmax``: cross-entropy over the target and ``K`` shared sampled negatives, with the logQ
  correction (Yi et al., RecSys 2019) that removes the sampler's popularity bias.
- ``InBatchSoftmax``: the two-tower loss: cross-entropy over the batch's own targets (in-batch negatives),
  optionally mixed with uniform negatives, with logQ correction and a fixed or learned temperature.
- ``BinaryCrossEntropy``: the original SASRec loss, one sigmoid per positive and per sampled negative.
- ``GBCE``: generalised BCE of gSASRec (Petrov & Macdonald, RecSys 2023): the positive term is raised to
  the power ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``, ``alpha`` = negatives / (catalog - 1), which
  undoes the overconfidence that negative sampling causes; ``t = 1`` gives back a fully calibrated model.
- ``FeedbackLoss``: wraps any of them and adds explicit feedback: "not helpful" answers as hard negatives,
  "helpful" ones as extra positives.

Indices 0 (padding) and 1 (unknown) are never predicted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xsell.data.schema import FIRST_INDEX


class NextItemLoss(nn.Module):
    """Base class: ``forward(hidden [M, D], labels [M], items [N, D]) -> scalar``.

    ``uses_feedback``: the loss also takes ``feedback_items`` / ``feedback_helpful`` (see ``FeedbackLoss``).
    ``supports_soft_targets``: the loss also takes ``labels [M, W]`` with ``weights [M, W]`` (see
    ``FullSoftmaxCE``).
    """

    uses_feedback = False
    supports_soft_targets = False

    def prepare(self, item_counts: Tensor) -> None:
        """Receive training frequencies of every item index (``[N]``) before training starts."""

    def forward(self, hidden: Tensor, labels: Tensor, items: Tensor) -> Tensor:
        raise NotImplementedError


class _ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean softmax cross-entropy of ``hidden @ items.T`` computed in row chunks, with the gradients
    produced during the forward pass, so the ``[M, N]`` logits never exist at once. Same value and
    gradients as ``F.cross_entropy`` on the full logits; a fraction of the memory, and chunks small enough
    to stay in cache (large one-off allocations are what make full-catalog softmax slow on CPU).

    ``labels [M, W]`` with ``weights [M, W]`` (rows summing to 1) make each row's target a distribution over
    ``W`` items: the loss is ``log Z - sum_w weight_w * logit(label_w)``, as ``F.cross_entropy`` with soft
    targets; ``W = 1`` with weight 1 is the plain loss."""

    @staticmethod
    def forward(ctx, hidden: Tensor, labels: Tensor, weights: Tensor, items: Tensor,  # noqa: ANN001
                chunk_rows: int) -> Tensor:
        rows = hidden.shape[0]
        total = hidden.new_zeros((), dtype=torch.float32)
        grad_hidden = torch.empty_like(hidden)
        grad_items = torch.zeros_like(items)
        for start in range(0, rows, chunk_rows):
            h = hidden[start:start + chunk_rows]  # [C, D]
            y = labels[start:start + chunk_rows]  # [C, W]
            q = weights[start:start + chunk_rows]  # [C, W]
            logits = (h @ items.T).float()  # [C, N]
            logits[:, :FIRST_INDEX] = float("-inf")
            target_logits = logits.gather(1, y).masked_fill(q == 0, 0.0)  # [C, W] (padding: -inf, weight 0)
            peak = logits.amax(1, keepdim=True)  # [C, 1]
            # one exp pass serves both log Z and the softmax (logsumexp would be a second one)
            grad = logits.sub_(peak).exp_()  # unnormalised softmax, in place  [C, N]
            z = grad.sum(1, keepdim=True)  # [C, 1]
            total += (peak.squeeze(1) + z.squeeze(1).log() - (target_logits * q).sum(1)).sum()
            grad.div_(z).scatter_add_(1, y, -q)  # softmax - target distribution
            grad = grad.to(hidden.dtype)
            grad_hidden[start:start + chunk_rows] = grad @ items
            grad_items.addmm_(grad.T, h)
        ctx.save_for_backward(grad_hidden, grad_items)
        ctx.rows = rows
        return total / rows

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # noqa: ANN001, ANN205
        grad_hidden, grad_items = ctx.saved_tensors
        scale = grad_output / ctx.rows
        return grad_hidden * scale, None, None, grad_items * scale, None


class FullSoftmaxCE(NextItemLoss):
    """Softmax cross-entropy over every catalog item (computed in chunks of ``chunk_rows`` rows).

    ``supports_soft_targets``: ``labels`` may also be ``[M, W]`` with ``weights [M, W]`` (each row a
    distribution over ``W`` target items, e.g. the next ``W`` events: see ``NextItemModule.future_targets``).
    """

    supports_soft_targets = True

    def __init__(self, chunk_rows: int = 64) -> None:
        super().__init__()
        self.chunk_rows = chunk_rows

    def forward(self, hidden: Tensor, labels: Tensor, items: Tensor, weights: Tensor | None = None) -> Tensor:
        if hidden.shape[0] == 0:
            return (hidden.sum() + items.sum()) * 0.0
        if labels.dim() == 1:
            labels = labels.unsqueeze(1)  # [M, 1]
        if weights is None:
            weights = torch.ones(labels.shape, dtype=torch.float32, device=labels.device)
        return _ChunkedSoftmaxCE.apply(hidden, labels, weights.float(), items, self.chunk_rows)


def training_frequencies(item_counts: Tensor) -> Tensor:
    """``[N]`` training counts -> the share of training targets each item is (padding and unknown: 0;
    uniform over the known items when nothing was counted)."""
    counts = item_counts.double().clamp(min=0)
    counts[:FIRST_INDEX] = 0.0
    if counts.sum() <= 0:
        counts[FIRST_INDEX:] = 1.0
    return (counts / counts.sum()).float()


class _NegativeSampler(NextItemLoss):
    """Draws negatives uniformly (or from ``counts ** alpha``) over known items; keeps log-probabilities."""

    def __init__(self, num_negatives: int, proposal: str = "uniform", alpha: float = 1.0) -> None:
        super().__init__()
        if proposal not in ("uniform", "popularity"):
            raise ValueError(f"proposal must be 'uniform' or 'popularity', got {proposal!r}")
        self.num_negatives = num_negatives
        self.proposal = proposal
        self.alpha = alpha
        self.register_buffer("probabilities", torch.empty(0), persistent=False)

    def prepare(self, item_counts: Tensor) -> None:
        weights = item_counts.double().clamp(min=0)
        weights = weights**self.alpha if self.proposal == "popularity" else torch.ones_like(weights)
        weights[:FIRST_INDEX] = 0.0
        if self.proposal == "popularity":
            weights[FIRST_INDEX:] += 1e-9  # never-seen items stay reachable
        self.probabilities = (weights / weights.sum()).float().to(self.probabilities.device)

    def _ensure(self, num_items: int, device: torch.device) -> Tensor:
        if self.probabilities.numel() != num_items:
            self.prepare(torch.ones(num_items))
        return self.probabilities.to(device)

    def sample(self, shape: tuple[int, ...], num_items: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Negatives of ``shape`` and their log-probabilities under the proposal."""
        probabilities = self._ensure(num_items, device)
        flat = torch.multinomial(probabilities, int(torch.tensor(shape).prod()), replacement=True)
        negatives = flat.view(shape)
        return negatives, probabilities[negatives].log()


class SampledSoftmax(_NegativeSampler):
    """Cross-entropy over the target and ``num_negatives`` negatives shared by the batch, with logQ correction.

    With ``in_batch`` the candidates are also the batch's other targets, as in the official GRU4Rec (its
    "mini-batch plus shared samples" negatives): the distinct items among the ``M`` targets and the ``K``
    draws, so another row's identical target is the same candidate, never a false negative. Each candidate
    ``j`` then enters ``Q(j) = M p(j) + K q(j)`` times in expectation (``p``: training frequencies, ``q``: the
    proposal), and logQ subtracts ``log Q(j)``; without ``in_batch`` it subtracts ``log q(j)``.

    Args:
        num_negatives: negatives per batch. proposal: ``uniform`` or ``popularity`` (``counts ** alpha``).
        logq_correction: subtract ``log Q(item)`` from every logit (the target's too).
        in_batch: the batch's targets are negatives of the other rows too.
    """

    def __init__(self, num_negatives: int = 1024, proposal: str = "popularity", alpha: float = 1.0,
                 logq_correction: bool = True, in_batch: bool = False) -> None:
        super().__init__(num_negatives, proposal, alpha)
        self.logq_correction = logq_correction
        self.in_batch = in_batch
        self.register_buffer("frequencies", torch.empty(0), persistent=False)

    def prepare(self, item_counts: Tensor) -> None:
        super().prepare(item_counts)
        self.frequencies = training_frequencies(item_counts).to(self.frequencies.device)

    def forward(self, hidden: Tensor, labels: Tensor, items: Tensor) -> Tensor:
        negatives, log_q = self.sample((self.num_negatives,), items.shape[0], hidden.device)  # [K]
        if self.in_batch:
            return self._with_batch_targets(hidden, labels, items, negatives)
        positive = (hidden * items[labels]).sum(-1, keepdim=True)  # [M, 1]
        negative = hidden @ items[negatives].T  # [M, K]
        if self.logq_correction:
            probabilities = self._ensure(items.shape[0], hidden.device)
            positive = positive - probabilities[labels].log().unsqueeze(1)
            negative = negative - log_q.unsqueeze(0)
        negative = negative.masked_fill(negatives.unsqueeze(0) == labels.unsqueeze(1), float("-inf"))  # hits
        logits = torch.cat([positive, negative], dim=1)  # [M, 1 + K]
        return F.cross_entropy(logits, torch.zeros_like(labels))

    def _with_batch_targets(self, hidden: Tensor, labels: Tensor, items: Tensor, negatives: Tensor) -> Tensor:
        rows, num_items = labels.shape[0], items.shape[0]
        if rows == 0:
            return (hidden.sum() + items.sum()) * 0.0
        candidates, inverse = torch.unique(torch.cat([labels, negatives]), return_inverse=True)  # [C], [M + K]
        logits = hidden @ items[candidates].T  # [M, C]
        if self.logq_correction:
            if self.frequencies.numel() != num_items:  # never prepared: uniform frequencies
                self.prepare(torch.ones(num_items))
            expected = (rows * self.frequencies.to(hidden.device)[candidates]
                        + negatives.numel() * self._ensure(num_items, hidden.device)[candidates])  # [C]
            logits = logits - expected.clamp(min=1e-12).log().unsqueeze(0)
        return F.cross_entropy(logits, inverse[:rows])


class BinaryCrossEntropy(_NegativeSampler):
    """Sigmoid loss on each positive and on ``num_negatives`` uniform negatives of its own (SASRec)."""

    def __init__(self, num_negatives: int = 1) -> None:
        super().__init__(num_negatives, "uniform")

    def positive_weight(self, num_items: int) -> float:
        return 1.0

    def forward(self, hidden: Tensor, labels: Tensor, items: Tensor) -> Tensor:
        negatives, _ = self.sample((labels.shape[0], self.num_negatives), items.shape[0], hidden.device)  # [M, K]
        positive = (hidden * items[labels]).sum(-1)  # [M]
        negative = torch.einsum("md,mkd->mk", hidden, items[negatives])  # [M, K]
        valid = (negatives != labels.unsqueeze(1)).to(negative.dtype)
        beta = self.positive_weight(items.shape[0])
        loss = beta * F.softplus(-positive) + (F.softplus(negative) * valid).sum(-1)
        return loss.mean()


class GBCE(BinaryCrossEntropy):
    """gSASRec's generalised BCE with calibration parameter ``t`` (0 = plain BCE, 1 = fully calibrated)."""

    def __init__(self, num_negatives: int = 256, t: float = 0.75) -> None:
        super().__init__(num_negatives)
        self.t = t

    def positive_weight(self, num_items: int) -> float:
        alpha = self.num_negatives / max(num_items - FIRST_INDEX - 1, 1)
        return alpha * (self.t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


class InBatchSoftmax(NextItemLoss):
    """In-batch softmax with logQ sampling-bias correction (Yi et al., RecSys 2019), optionally with mixed
    negatives (in-batch + uniform; Yang et al., WWW 2020), and a fixed or learned temperature.

    The candidates are the distinct targets of the batch plus ``uniform_negatives`` uniform draws over the
    known items (duplicates merged, so another row's identical target is never a false negative). Row ``m``
    scores candidate ``j`` with ``h_m . v_j / tau - log Q(j)``, where ``Q(j) = M p(j) + K / (N - 2)`` is
    the expected number of times ``j`` enters the candidate set: ``M`` labelled rows drawn from the training
    frequencies ``p`` (``prepare``), ``K`` uniform draws over ``N - 2`` known items. Without the correction
    popular items, which are negatives more often, are pushed down too hard.

    Args:
        temperature: initial (or fixed) ``tau``. learn_temperature: make ``log tau`` a parameter.
        min_temperature: floor of a learned ``tau``.
        uniform_negatives: ``K`` uniform negatives added to the in-batch ones (0: in-batch only).
        logq_correction: subtract ``log Q``.
    """

    def __init__(self, temperature: float = 0.05, learn_temperature: bool = True, min_temperature: float = 0.01,
                 uniform_negatives: int = 0, logq_correction: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        log_temperature = torch.tensor(math.log(temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_temperature)
        else:
            self.register_buffer("log_temperature", log_temperature)
        self.min_temperature = min_temperature
        self.uniform_negatives = uniform_negatives
        self.logq_correction = logq_correction
        self.register_buffer("frequencies", torch.empty(0), persistent=False)

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp().clamp(min=self.min_temperature)

    def prepare(self, item_counts: Tensor) -> None:
        self.frequencies = training_frequencies(item_counts).to(self.frequencies.device)

    def sample(self, num: int, num_items: int, device: torch.device) -> Tensor:
        """``num`` uniform draws over the known items ``2 .. num_items - 1``."""
        return torch.randint(FIRST_INDEX, num_items, (num,), device=device)

    def forward(self, hidden: Tensor, labels: Tensor, items: Tensor) -> Tensor:
        rows, num_items = labels.shape[0], items.shape[0]
        if rows == 0:
            return (hidden.sum() + items.sum()) * 0.0
        if self.frequencies.numel() != num_items:  # never prepared: assume uniform frequencies
            self.prepare(torch.ones(num_items))
        drawn = self.sample(self.uniform_negatives, num_items, hidden.device)  # [K]
        candidates, inverse = torch.unique(torch.cat([labels, drawn]), return_inverse=True)  # [C], [M + K]
        logits = hidden @ items[candidates].T / self.temperature  # [M, C]
        if self.logq_correction:
            expected = (rows * self.frequencies.to(hidden.device)[candidates]
                        + self.uniform_negatives / max(num_items - FIRST_INDEX, 1))  # [C]
            logits = logits - expected.clamp(min=1e-12).log().unsqueeze(0)
        return F.cross_entropy(logits, inverse[:rows])


class FeedbackLoss(NextItemLoss):
    """Any next-item loss plus explicit feedback (survey answers) at the positions that have some.

    The wrapped ``loss`` sees the ordinary targets unchanged. For a labelled row ``m`` with score
    ``s_j = h_m . v_j`` and label ``y``:

    - its *not helpful* items ``n`` are hard negatives against the row's positive: the term is the
      cross-entropy of ``y`` over ``{y} + negatives``, ``logsumexp(s_y, s_n1, ...) - s_y``;
    - its *helpful* items are extra positives: each becomes an extra ``(h_m, item)`` row of the wrapped
      loss (so every loss, sampled or not, treats it as it treats any target).

    Both terms are sums over the answered rows divided by the ``M`` labelled rows, so an answered row weighs
    like one more labelled position (times its weight), however few rows carry answers. The total is
    ``loss + negative_weight * R_neg / M * mean_hard_negative + positive_weight * R_pos / M * extra_loss``;
    a weight of 0 switches that kind of answer off.

    Args:
        loss: the wrapped :class:`NextItemLoss`. negative_weight / positive_weight: weights of the terms.
    """

    uses_feedback = True

    def __init__(self, loss: NextItemLoss, negative_weight: float = 1.0, positive_weight: float = 0.5) -> None:
        super().__init__()
        if negative_weight < 0 or positive_weight < 0:
            raise ValueError(f"feedback weights must be non-negative, got {negative_weight}, {positive_weight}")
        self.loss = loss
        self.negative_weight = negative_weight
        self.positive_weight = positive_weight

    def prepare(self, item_counts: Tensor) -> None:
        self.loss.prepare(item_counts)

    def forward(self, hidden: Tensor, labels: Tensor, items: Tensor, feedback_items: Tensor | None = None,
                feedback_helpful: Tensor | None = None) -> Tensor:
        """``hidden [M, D]``, ``labels [M]``, ``items [N, D]``, ``feedback_items [M, K]`` (0 = none) and
        ``feedback_helpful [M, K]`` (bool) -> scalar."""
        total = self.loss(hidden, labels, items)
        if feedback_items is None or feedback_items.numel() == 0:
            return total
        answered = feedback_items > 0  # [M, K]
        negative = answered & ~feedback_helpful & (feedback_items != labels.unsqueeze(1))
        positive = answered & feedback_helpful
        share = 1.0 / labels.shape[0]  # each answered row counts like one of the M labelled rows
        if self.negative_weight > 0 and negative.any():
            weight = self.negative_weight * int(negative.any(1).sum()) * share
            total = total + weight * hard_negative_loss(hidden, labels, items, feedback_items, negative)
        if self.positive_weight > 0 and positive.any():
            rows, slots = positive.nonzero(as_tuple=True)
            weight = self.positive_weight * rows.numel() * share
            total = total + weight * self.loss(hidden[rows], feedback_items[rows, slots], items)
        return total


def hard_negative_loss(hidden: Tensor, labels: Tensor, items: Tensor, negatives: Tensor, mask: Tensor) -> Tensor:
    """Mean over rows with any ``mask`` of ``logsumexp(s_label, s_negatives[mask]) - s_label``.

    ``hidden [M, D]``, ``labels [M]``, ``items [N, D]``, ``negatives [M, K]`` item indices, ``mask [M, K]``.
    """
    rows = mask.any(1)  # [M]
    h, y, n, m = hidden[rows], labels[rows], negatives[rows], mask[rows]
    positive = (h * items[y]).sum(-1, keepdim=True)  # [R, 1]
    negative = torch.einsum("rd,rkd->rk", h, items[n]).masked_fill(~m, float("-inf"))  # [R, K]
    logits = torch.cat([positive, negative], dim=1)  # [R, 1 + K]
    return (torch.logsumexp(logits, dim=1) - positive.squeeze(1)).mean()
