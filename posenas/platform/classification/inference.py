"""The pipeline's classifier stage: action images -> class probabilities, from a classifier checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posenas.errors import PosenasError
from posenas.platform.classification.checkpoint import load_classifier
from posenas.platform.classification.train import to_inputs
from posenas.platform.encoding.action_data import ActionImages

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "action"
DEFAULT_CHECKPOINT = ASSET_DIR / "enas_msr20_canonical.pt"
IMAGE_FAMILIES = ("cellnet", "densenet")


@dataclass
class ActionClassifier:
    """A loaded image classifier on CPU, with the records the pipeline checks (space, encoding, classes)."""

    model: Any
    name: str
    family: str
    classes: list[str]
    encoding: dict[str, Any]
    space: dict[str, Any]
    records: dict[str, Any]
    path: Path | None = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) action images -> float32 (N, C) probabilities (same input map as training)."""
        import torch

        imgs = np.asarray(images, dtype=np.uint8)
        if imgs.ndim != 4 or imgs.shape[-1] != 3:
            raise PosenasError(f"classifier {self.name}: expected images (N, H, W, 3), got shape {imgs.shape}")
        if len(imgs) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        batch = ActionImages(imgs, np.zeros(len(imgs), np.int64), [""] * len(imgs), np.full(len(imgs), -1),
                             list(self.classes))
        with torch.no_grad():
            logits = self.model(to_inputs(batch))
        return torch.softmax(logits.float(), dim=1).numpy().astype(np.float32)


def load_action_classifier(path: str | Path | None = None) -> ActionClassifier:
    """Load an image classifier checkpoint (None -> the shipped default in posenas/assets/action/)."""
    p = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if path is None and not p.is_file():
        raise PosenasError(f"the shipped action model is missing ({p}); reinstall posenas or pass a checkpoint")
    loaded = load_classifier(p)
    ck = loaded.checkpoint
    if ck.family not in IMAGE_FAMILIES:
        raise PosenasError(f"{p}: a {ck.family!r} classifier reads joint sequences, not action images; the pipeline "
                           f"serves image classifiers ({', '.join(IMAGE_FAMILIES)})")
    return ActionClassifier(loaded.model, ck.name, ck.family, list(ck.classes), dict(ck.encoding), dict(ck.space),
                            ck.records(), p)
