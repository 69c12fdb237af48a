"""Dataset loaders, standard protocols and splits; every loader returns a `SkeletonDataset`."""

from posenas.datasets.registry import available_loaders, detect_format, load_dataset
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split

__all__ = [
    "Fault",
    "SkeletonDataset",
    "SkeletonSequence",
    "Split",
    "available_loaders",
    "detect_format",
    "load_dataset",
]
