"""The one classifier trainer: baselines and ENAS's final from-scratch training use it, so their numbers compare.

Inputs are `ActionImages` (uint8 HWC, normalised here to NCHW floats with a fixed affine map, so no
statistics leak from one split to another) or `ActionSequences` (float (N, T, F), used as they are).
Image augmentation is a small random translation only: the image axes mean joint pairs and time, so
flips or rotations would change what the picture says.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from posenas.core import metrics
from posenas.core.config import ConfigBase, config_dataclass
from posenas.errors import ConfigError
from posenas.platform.encoding.action_data import ActionImages, ActionSequences

# The fixed affine map uint8 -> float for every model (x/255 - 0.5) / 0.25.
IMAGE_MEAN = 0.5
IMAGE_STD = 0.25


@config_dataclass
class ClassifierTrainConfig(ConfigBase):
    """How an action classifier is trained; the defaults are the action benchmark's budget (a few minutes on a CPU
    for MSR Action3D's ~1,200 augmented 32x32 training images), so `posenas train` reproduces its rows."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    optimizer: Literal["adamw", "sgd"] = "adamw"  # sgd: momentum 0.9, nesterov
    cosine: bool = True  # cosine decay to 0 over `epochs` (after warmup)
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    grad_clip: float | None = 5.0
    random_shift: int = 2  # pixels of random translation (edge-replicated); 0 disables
    # mixup (Zhang et al. 2018): each batch is blended with a shuffled copy of itself, weight ~ Beta(a, a),
    # and so are the two losses; a regulariser for nets that fit every training image. 0 disables.
    mixup: float = 0.0
    seed: int = 0
    # torch threads while training. Default 1: on a shared 2-core box two threads were 9x slower
    # per step than one (OpenMP threads wait on each other); raise it on a dedicated machine.
    num_threads: int | None = 1
    time_limit_s: float | None = None  # stop after the epoch that crosses this wall-clock budget
    select: Literal["best_val", "last"] = "best_val"  # best_val: the epoch with the best val accuracy

    def __post_init__(self) -> None:
        if self.mixup < 0:
            raise ConfigError("ClassifierTrainConfig", "mixup", f"Beta concentration must be >= 0 (0 = off), got {self.mixup}")


@dataclass
class ClassifierTrainResult:
    """The kept weights (see `select`), per-epoch history and the settings they were trained with."""

    best_state_dict: dict[str, Any]
    history: list[dict[str, float]]
    best_val_acc: float | None
    best_epoch: int
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy: call before building a model so its initial weights are reproducible."""
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def to_inputs(data: ActionImages | ActionSequences):
    """The float tensor a model sees: images as normalised NCHW, sequences as (N, T, F)."""
    import torch

    if isinstance(data, ActionImages):
        x = torch.tensor(data.images).permute(0, 3, 1, 2).float()  # a copy: arrays from Ray are read-only
        return (x / 255.0 - IMAGE_MEAN) / IMAGE_STD
    if isinstance(data, ActionSequences):
        return torch.tensor(data.features, dtype=torch.float32)
    raise TypeError(f"expected ActionImages or ActionSequences, got {type(data).__name__}")


def _shift(x, pad: int, gen):
    """Random translation by up to `pad` px per sample (edge-replicated padding, then a crop)."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def _lr_factor(epoch: float, cfg: ClassifierTrainConfig) -> float:
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    if not cfg.cosine:
        return 1.0
    span = max(cfg.epochs - cfg.warmup_epochs, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min((epoch - cfg.warmup_epochs) / span, 1.0)))


class _Threads:
    """Thread count and denormal flushing are process-wide: set them for the run, restore them afterwards."""

    def __init__(self, n: int | None):
        self.n = n or (os.cpu_count() or 1)

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)
        torch.set_flush_denormal(True)  # tiny late-schedule updates otherwise slow CPU maths many-fold

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)
        torch.set_flush_denormal(False)  # torch's default; leaving it on changes numpy's float limits too


def train_classifier(model, train: ActionImages | ActionSequences, val: ActionImages | ActionSequences | None,
                     config: ClassifierTrainConfig = ClassifierTrainConfig(), progress: bool = True
                     ) -> ClassifierTrainResult:
    """Train `model` (an nn.Module mapping inputs to logits) with cross-entropy; deterministic given the seed.

    With `val` and select="best_val" the returned (and loaded) weights are those of the epoch with the
    best validation accuracy, ties going to the lower validation loss: a validation subject of 20-60
    sequences often reaches 100 % early, and keeping the first such epoch kept an undertrained network.
    Otherwise the final weights. The model ends up holding `best_state_dict`.
    """
    import torch
    import torch.nn as nn
    from tqdm.auto import tqdm

    if len(train) == 0:
        raise ValueError("empty training set")
    if val is not None and len(val) == 0:
        val = None
    num_classes = train.num_classes
    x_train, y_train = to_inputs(train), torch.tensor(train.labels)
    is_image = isinstance(train, ActionImages)
    gen = torch.Generator().manual_seed(config.seed)
    # its own stream, so runs without mixup draw exactly what they drew before it existed
    mix_rng = np.random.default_rng([config.seed, 1]) if config.mixup > 0 else None
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {config.optimizer!r}")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    history: list[dict[str, float]] = []
    best_acc, best_loss, best_epoch, best_state = -1.0, math.inf, -1, None
    start = time.perf_counter()
    n = len(train)
    bs = max(1, min(config.batch_size, n))

    with _Threads(config.num_threads):
        bar = tqdm(range(config.epochs), desc="train", disable=not progress, leave=False)
        for epoch in bar:
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=gen)
            tot_loss, tot_correct, seen = 0.0, 0, 0
            steps = max(1, math.ceil(n / bs))
            for step in range(steps):
                idx = order[step * bs:(step + 1) * bs]
                if len(idx) < 2 and seen:  # a lone sample breaks BatchNorm's batch statistics
                    continue
                for g in opt.param_groups:
                    g["lr"] = config.lr * _lr_factor(epoch + step / steps, config)
                xb, yb = x_train[idx], y_train[idx]
                if is_image and config.random_shift > 0:
                    xb = _shift(xb, config.random_shift, gen)
                if mix_rng is not None:
                    lam = float(mix_rng.beta(config.mixup, config.mixup))
                    perm = torch.randperm(len(idx), generator=gen)
                    xb = lam * xb + (1.0 - lam) * xb[perm]
                    logits = model(xb)
                    loss = lam * loss_fn(logits, yb) + (1.0 - lam) * loss_fn(logits, yb[perm])
                    yb = yb if lam >= 0.5 else yb[perm]  # training accuracy against the dominant label
                else:
                    logits = model(xb)
                    loss = loss_fn(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    nn.utils.clip_grad_norm_(params, config.grad_clip)
                opt.step()
                tot_loss += float(loss.detach()) * len(idx)
                tot_correct += int((logits.detach().argmax(1) == yb).sum())
                seen += len(idx)
            row: dict[str, float] = {"epoch": epoch + 1, "train_loss": tot_loss / seen, "train_acc": tot_correct / seen,
                                     "lr": opt.param_groups[0]["lr"]}
            if val is not None:
                ev = evaluate_classifier(model, val, num_classes=num_classes, num_threads=config.num_threads)
                row.update(val_loss=ev["loss"], val_acc=ev["accuracy"])
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "train_acc", "val_acc") if k in row})
            use_val = val is not None and config.select == "best_val"
            better = use_val and (row["val_acc"], -row["val_loss"]) > (best_acc, -best_loss)
            if better or not use_val:
                best_acc, best_loss = row.get("val_acc", -1.0), row.get("val_loss", math.inf)
                best_epoch = epoch + 1
                best_state = copy.deepcopy(model.state_dict())
            if config.time_limit_s is not None and time.perf_counter() - start > config.time_limit_s:
                break
        bar.close()
    model.load_state_dict(best_state)
    return ClassifierTrainResult(best_state, history, best_acc if val is not None else None, best_epoch,
                       time.perf_counter() - start, config.to_dict())


def predict_logits(model, data: ActionImages | ActionSequences, batch_size: int = 256, num_threads: int | None = 1):
    """Logits (N, C) in eval mode without gradients."""
    import torch

    model.eval()
    x = to_inputs(data)
    with _Threads(num_threads), torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else \
            torch.zeros(0, data.num_classes)


def copy_groups(seq_ids: list[str]) -> tuple[np.ndarray, int]:
    """Row -> source-sequence index, grouping augmented copies ('id#augK') with their sequence."""
    index: dict[str, int] = {}
    groups = np.array([index.setdefault(sid.split("#aug", 1)[0], len(index)) for sid in seq_ids], dtype=np.int64)
    return groups, len(index)


def evaluate_classifier(model, data: ActionImages | ActionSequences, batch_size: int = 256,
                        num_classes: int | None = None, num_threads: int | None = 1) -> dict[str, Any]:
    """accuracy, per_class (recall per class, NaN if absent), confusion (rows true), loss, predictions, and per
    source sequence its id, label and mean softmax ("sequences", "labels", "probabilities": what a late fusion of
    models on other images of the same split averages).

    Scored per source sequence: augmented copies of one sequence ('id#augK', see `protocol_split`'s
    `augment_test`) have their softmax probabilities averaged first (test-time augmentation); without
    copies every row is its own sequence.
    """
    import torch

    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty set")
    c = num_classes or data.num_classes
    probs = torch.softmax(predict_logits(model, data, batch_size, num_threads).double(), dim=1).numpy()
    groups, n = copy_groups(list(data.seq_ids))
    summed = np.zeros((n, probs.shape[1]))
    np.add.at(summed, groups, probs)
    mean = summed / np.bincount(groups, minlength=n)[:, None]
    labels = np.zeros(n, dtype=np.int64)
    labels[groups] = data.labels
    pred = mean.argmax(1).astype(np.int64)
    return {
        "accuracy": metrics.accuracy(labels, pred),
        "per_class": metrics.per_class_accuracy(labels, pred, c),
        "confusion": metrics.confusion_matrix(labels, pred, c),
        "loss": float(-np.mean(np.log(np.clip(mean[np.arange(n), labels], 1e-12, None)))),
        "num_samples": n,
        "predictions": pred,
        "sequences": list(dict.fromkeys(sid.split("#aug", 1)[0] for sid in data.seq_ids)),  # copy_groups' order
        "labels": labels,
        "probabilities": mean,
    }
