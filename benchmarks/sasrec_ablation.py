"""ML-100K SASRec: which of RecBole's design choices make it learn faster per epoch (issue 3).

    python benchmarks/sasrec_ablation.py VARIANT EPOCHS     # e.g. postln+noscale+std02+lin02 2

VARIANT joins options with '+': ``std02`` item table N(0, 0.02); ``lin02`` every Linear N(0, 0.02) with zero
bias; ``postln`` post-LN blocks with an input LayerNorm and no final one; ``noscale`` no sqrt(D) scaling of
item vectors; ``strideN`` overlapping training windows every N events (``data.window_stride``); ``lrX``
learning rate X. The model options are patched into the library for this process only (a research probe,
not a supported configuration); ``base`` is the library as it is. Every other setting is the RecBole
side-by-side command's (benchmarks/recbole_side_by_side.py: 64-d, 2 layers, 2 heads, dropout 0.5, max length
50, about 256 targets per step, Adam at 1e-3, constant rate, seed 2020, one thread). Each run appends one
JSON line to benchmarks/results/sasrec_ablation.jsonl.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from torch import Tensor, nn

import xsell.models.base as model_base
import xsell.nn.embeddings as embeddings
import xsell.nn.transformer as transformer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sasrec_ablation.jsonl"


def post_ln_block(self: transformer.TransformerBlock, x: Tensor, mask: Tensor) -> Tensor:
    """RecBole's layout: ``LN(x + drop(attn(x)))`` then ``LN(x + drop(ffn(x)))``."""
    x = self.attention_norm(x + self.dropout(self.attention(x, mask)))
    return self.ffn_norm(x + self.dropout(self.ffn(x)))


def post_ln_encoder(self: transformer.TransformerEncoder, x: Tensor, items: Tensor) -> Tensor:
    """LayerNorm on the embedded input, post-LN blocks, no final LayerNorm."""
    mask = transformer.attention_mask(items, self.causal)
    x = self.norm(x)
    for block in self.blocks:
        x = block(x, mask)
    return x


def patch(options: set[str]) -> None:
    """Apply the model options of a variant to the library's classes (this process only)."""
    if "postln" in options:
        transformer.TransformerBlock.forward = post_ln_block
        transformer.TransformerEncoder.forward = post_ln_encoder
    if "noscale" in options:
        input_init = model_base.SequenceInput.__init__

        def unscaled(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
            input_init(self, *args, **kwargs)
            self.scale = 1.0

        model_base.SequenceInput.__init__ = unscaled
    if "std02" in options:
        item_init = embeddings.ItemEmbedding.__init__

        def small_items(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
            item_init(self, *args, **kwargs)
            nn.init.normal_(self.ids.weight, std=0.02)
            with torch.no_grad():
                self.ids.weight[0].zero_()

        embeddings.ItemEmbedding.__init__ = small_items
    if "lin02" in options:
        def small_linear(self: nn.Linear) -> None:
            nn.init.normal_(self.weight, std=0.02)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

        nn.Linear.reset_parameters = small_linear


def overrides(variant: str, epochs: int, options: set[str]) -> list[str]:
    """The side-by-side command's overrides plus the data/optimiser options of the variant."""
    out = ROOT / "benchmarks" / "runs" / "sasrec_ablation" / f"{variant}_{epochs}"
    args = [f"paths.output_dir={out}", "data=atomic", f"data.path={ROOT.parent / 'shared' / 'data' / 'ml-100k'}",
            "model=sasrec", "loss=ce", "trainer=cpu", "data.max_len=50", "data.batch_size=6",
            "data.eval_batch_size=4096", "module.optimizer.lr=0.001", "module.optimizer.weight_decay=0.0",
            "module.warmup_fraction=null", "trainer.gradient_clip_val=null", f"trainer.max_epochs={epochs}",
            "callbacks.progress_bar=null", "seed=2020", "threads=1", "baseline=false", "model.dim=64",
            "model.layers=2", "model.heads=2", "model.dropout=0.5", "export=false",
            "callbacks.early_stopping.patience=100"]
    for option in options:
        if option.startswith("stride"):
            stride = int(option.removeprefix("stride"))
            args += [f"data.window_stride={stride}", f"data.batch_size={max(1, round(256 / stride))}"]
        if option.startswith("lr"):
            args.append(f"module.optimizer.lr={option.removeprefix('lr')}")
    return args


def main() -> None:
    variant, epochs = sys.argv[1], int(sys.argv[2])
    options = set(variant.split("+"))
    torch.set_num_threads(1)
    patch(options)
    from xsell.training.fitting import train  # after patching: the models are built from the patched classes

    with initialize_config_dir(config_dir=str(ROOT / "xsell" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=overrides(variant, epochs, options))
    start = time.time()
    metrics = train(cfg)
    result = {"variant": variant, "epochs": epochs, "s": time.time() - start, "val": metrics["val"]["ndcg@10"],
              "test": metrics["test"]["ndcg@10"], "test_r10": metrics["test"]["recall@10"]}
    print(json.dumps(result))
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
