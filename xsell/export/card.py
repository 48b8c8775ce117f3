"""The bundle's model card (``README.md``): what the model is, how it was measured, how to call it."""

from __future__ import annotations

from typing import Any

CARD_METRICS = ("ndcg@10", "recall@10", "mrr@10", "ndcg@20", "recall@20")


def _metrics_table(metrics: dict[str, Any] | None) -> str:
    if not metrics or not any(metrics.get(part) for part in ("val", "test")):
        return "No metrics: the training run had no `metrics.json`."
    rows = ["| metric | validation | test |", "|---|---:|---:|"]
    for name in CARD_METRICS:
        values = [(metrics.get(part) or {}).get(name) for part in ("val", "test")]
        if any(v is not None for v in values):
            rows.append(f"| {name} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in values) + " |")
    protocol = metrics.get("seen_items") or "seen items protocol not recorded"
    return "\n".join(rows) + ("\n\nFull ranking over the whole catalog (leave-one-out targets of the training data), "
                               f"{protocol}.")


def _rules_line(rules: list[dict[str, Any]] | None) -> str:
    if not rules:
        return "No cross-sell rules are compiled into the scorer."
    names = ", ".join(f"`{rule['rule']}`" for rule in rules)
    return f"Cross-sell rules compiled into the scorer, applied before the top-k: {names} (see `manifest.json`)."


def render_card(manifest: dict[str, Any]) -> str:
    """Markdown model card from a manifest (before its ``files`` entry is filled in)."""
    model, scorer, data = manifest["model"], manifest["scorer"], manifest["data"]
    context = "".join(f", {name}=..." for name in scorer["context_inputs"])
    parity = manifest.get("parity", {})
    parity_lines = "\n".join(
        f"- `{name}`: {p['rows']} histories, top-{p['k']} indices identical: "
        f"{'yes' if p['index_mismatches'] == 0 else 'no'}, max score difference {p['max_abs_diff']:.2e}"
        for name, p in parity.items())
    return f"""# {model['name']} next-item scorer

Recommends the next items for a user's recent history of item indices. Exported by xsell
{manifest['versions']['xsell']} with torch {manifest['versions']['torch']} on {manifest['created']}.

- Model: `{model['class']}`, {model['num_parameters']:,} parameters, hidden size {model['dim']}, reads the last
  {model['max_len']} items; catalog of {model['num_items']:,} indices (0 = padding, 1 = unknown item).
- Training data: {data.get('name', '?')}, {data.get('events', '?')} events, fingerprint `{data['fingerprint'][:16]}...`
  (SHA-256 of the encoded log; see `manifest.json`).

## Quality at export

{_metrics_table(manifest.get('metrics'))}

## Calling it (torch only)

```python
import torch
scorer = torch.jit.load("scorer.pt")                                # TorchScript
indices, scores = scorer(items, 10)                                 # items: [B, L] int64, left-padded with 0
indices, scores = scorer(items, 10, exclude{context})               # exclude: [B, N] bool or None
program = torch.export.load("scorer.pt2").module()                  # torch.export (dynamic B, L, k)
indices, scores = program(items, 10, exclude{context})              # exclude is required here
```

`items.parquet` maps `index` to the original `item_id` (null for padding and unknown) and item features.
Histories are left-padded (the most recent item last); any length works (the last {model['max_len']} items are
read). Indices outside the catalog count as the unknown item. A history without a known item gets the
training popularity prior. Padding, the unknown item and{' the history items' if scorer['exclude_history'] else ''}
are never recommended; `exclude` removes more. Scores are unnormalised model scores (prior frequencies for
empty histories); `-inf` marks a slot with no eligible item left. Wrong dtypes or ranks are rejected.
{_rules_line(scorer.get('rules'))}

## Parity with the trained model (checked at export)

{parity_lines or '- not checked'}

Load with `xsell.export.load_bundle(path)` to verify the SHA-256 checksums in `manifest.json` first.
"""
