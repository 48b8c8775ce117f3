"""Three one-hot arms, shared by the LinUCB and Thompson sampling tests."""

from __future__ import annotations

import numpy as np


def arms() -> np.ndarray:
    """``[1, 3, 3]``: three one-hot arms."""
    return np.eye(3)[None, :, :]
