import torch

from xsell.data.batch import SequenceBatch


def test_split_cuts_every_tensor_along_rows():
    items = torch.arange(10).view(5, 2)
    batch = SequenceBatch(items=items, events=items + 100, time_gaps=items + 200, target=torch.arange(5),
                          exclude=torch.arange(15).view(5, 3))
    parts = batch.split(2)
    assert [len(p) for p in parts] == [2, 2, 1]
    assert torch.equal(torch.cat([p.exclude for p in parts]), batch.exclude)
    assert torch.equal(parts[2].target, torch.tensor([4])) and torch.equal(parts[2].events, items[4:] + 100)
    assert parts[1].labels is None and parts[1].context is None  # absent fields stay absent
    assert batch.split(5) == [batch]
