"""Building blocks shared by every xsell model: embeddings, transformer blocks, losses."""
