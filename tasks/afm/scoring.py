"""Score the AFM pipeline against the demo generator's ground truth (segmentation IoU)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of the particle (non-matrix) areas."""
    p, t = predicted > 0, truth > 0
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0


def truth_labels(truth_root: Path, sample_id: str, original_name: str) -> np.ndarray:
    with np.load(Path(truth_root) / "afm" / sample_id / f"{Path(original_name).stem}.npz") as z:
        return z["labels"]
