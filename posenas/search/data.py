"""Action images for the search: the protocol split from H7's action_data, as tensors the supernet eats.

The search itself only ever sees `train` and `val` (val is carved out of the protocol's training
subjects by `protocol_split`); `test` is touched only by the final from-scratch evaluation.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from posenas.core.config import ConfigBase, config_dataclass
from posenas.platform.encoding.spmf import JOINT_IMAGE_FIELDS


# The pose space a search or training on a dataset's own 3D uses unless told otherwise: "native" had the best
# validation accuracy of the three spaces in benchmarks/results/action_ablation.md (Kinect datasets are filmed
# from one viewpoint, and the per-frame root of "canonical" drops the body's path). Lifted poses are
# root-relative, so they always use "canonical", the space the Pipeline feeds its action model.
DEFAULT_DATASET_SPACE = "native"

# The images and budget `posenas search`, `posenas train` and benchmarks/bench_actions.py use unless told otherwise,
# chosen by validation accuracy in benchmarks/results/action_ablation.md (MSR cross-subject, DenseNet), each step by a
# rule fixed before its rows ran: the joint image (val +3.4 over Enhanced-SPMF) with the three options that each beat
# it on val (`combined_joints`, the `joints_all` recipe), then the levers whose val beat that, combined
# (`combined_joints_all`: 8 copies, rotation +-45 degrees, 60 epochs). The test split chose none of them.
DEFAULT_IMAGE: dict[str, Any] = {"encoding": "joints", "joint_scale": "isotropic", "joint_rows": "tree",
                                 "joint_motion": True}
DEFAULT_COPIES = 8
DEFAULT_ROTATE_DEG = 45.0
DEFAULT_EPOCHS = 60


def default_space(poses: str, space: str | None) -> str:
    """The pose space for `poses` ("dataset" | "lifted"); an explicit space lifted poses cannot give fails."""
    from posenas.errors import PosenasError

    if poses == "lifted":
        if space not in (None, "canonical"):
            raise PosenasError(f"--space {space}: lifted poses are root-relative; they train in the 'canonical' space")
        return "canonical"
    return space or DEFAULT_DATASET_SPACE


def image_options(encoding: str | None = None, joint_scale: str | None = None, joint_rows: str | None = None,
                  joint_motion: bool | None = None) -> dict[str, Any]:
    """The EncodingConfig fields a command line gave (None: not given), checked before any data loads."""
    given = {k: v for k, v in (("encoding", encoding), ("joint_scale", joint_scale), ("joint_rows", joint_rows),
                               ("joint_motion", joint_motion)) if v is not None}
    joint = [k for k in JOINT_IMAGE_FIELDS if k in given]
    if joint and given.get("encoding", "joints") != "joints":
        from posenas.errors import ConfigError

        raise ConfigError("EncodingConfig", joint[0],
                          f"--{joint[0].replace('_', '-')} applies to --encoding joints only, not {given['encoding']}")
    return given


def default_image(given: dict[str, Any]) -> dict[str, Any]:
    """EncodingConfig fields of a search given the options a command line gave (`image_options`): the default image's,
    with the given ones on top; another encoding than the joint image takes none of the joint image's defaults."""
    base = DEFAULT_IMAGE if given.get("encoding", DEFAULT_IMAGE["encoding"]) == "joints" else {}
    return {**base, **given}


def searched_images(meta: dict[str, Any], poses: str, space: str | None,
                    overrides: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(space, encoding fields) to train a found genotype on: the options given, else the search's own.

    A genotype from `posenas search` records the images it was searched on (`meta["data_spec"]`); training it on
    other images by default would silently measure a different thing. The search's space is kept only for the
    same kind of poses (lifted poses always train in `canonical`). `overrides` (from `image_options`) win field
    by field; switching to a pair image drops the search's joint-image fields, which only the joint image has.
    """
    spec = meta.get("data_spec") if isinstance(meta.get("data_spec"), dict) else {}
    if space is None and spec.get("poses", "dataset") == poses:
        space = spec.get("space")
    fields = dict(spec.get("encoding") or {})
    overrides = dict(overrides or {})
    if overrides.get("encoding", "joints") != "joints":
        fields = {k: v for k, v in fields.items() if k not in JOINT_IMAGE_FIELDS}
    fields.update(overrides)
    return default_space(poses, space), fields


def searched_loader_options(meta: dict[str, Any], format: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """The loader options to train a found genotype with: those given, else the search's own for the same format.

    A search on MSR Action3D's 557-sequence subset trains on that subset by default, as `searched_images` keeps
    its images; on another dataset format the search's options would not apply.
    """
    if given:
        return dict(given)
    spec = meta.get("data_spec") if isinstance(meta.get("data_spec"), dict) else {}
    if spec.get("format") != format:
        return {}
    return dict(spec.get("loader_options") or {})


@config_dataclass
class DataSpec(ConfigBase):
    """How to build the images: enough to rebuild the exact same split later (eval, resume)."""

    dataset_path: str
    format: str | None = "msr_action3d"
    protocol: str = "cross_subject"
    augment_train: int = 4  # random copies per training sequence
    val_fraction: float = 0.2
    seed: int = 0
    encoding: dict[str, Any] = field(default_factory=dict)  # EncodingConfig fields
    space: str = "canonical"  # pose space of the images (posenas.platform.encoding.pose_space)
    # "dataset": the dataset's own 3D; "lifted": its real 2D joints lifted by the pipeline's lifter, i.e. the
    # poses `posenas run` feeds an action model (MSR Action3D: the screen files)
    poses: str = "dataset"
    lifter: str | None = None  # lifter checkpoint for poses="lifted" (None: the shipped one)
    # keyword options of the dataset's loader, e.g. MSR Action3D {"subset": "cvpr12"} (the 557 sequences of the
    # common protocol): part of what the split is, so eval, train and resume rebuild the same one
    loader_options: dict[str, Any] = field(default_factory=dict)
    # the training copies' randomness: AugmentConfig fields that differ from its defaults, e.g. {"rotate_deg": 45}
    augment: dict[str, Any] = field(default_factory=dict)


def augment_options(rotate_deg: float | None = None) -> dict[str, Any]:
    """DataSpec.augment of the CLI's augmentation options: only those given, so records stay short."""
    return {} if rotate_deg is None else {"rotate_deg": float(rotate_deg)}


def load_splits(spec: DataSpec):
    """(train, val, test) ActionImages for the spec (H7's protocol_split on the loaded dataset)."""
    from posenas.datasets import load_dataset
    from posenas.platform.encoding.action_data import AugmentConfig, protocol_split
    from posenas.platform.encoding.spmf import EncodingConfig

    if spec.poses not in ("dataset", "lifted"):
        from posenas.errors import PosenasError

        raise PosenasError(f"DataSpec.poses must be 'dataset' or 'lifted', got {spec.poses!r}")
    # validated before any data loads (JSON lists fill the tuple fields; a bad field is one ConfigError line)
    enc = EncodingConfig.from_dict(spec.encoding)
    aug = AugmentConfig.from_dict(spec.augment)
    if spec.poses == "lifted":
        from posenas.platform.pipeline import Pipeline, lift_dataset

        screen = {"version": "screen"} if spec.format == "msr_action3d" else {}  # the real 2D to lift
        dataset = load_dataset(Path(spec.dataset_path), spec.format, **{**spec.loader_options, **screen})
        dataset = lift_dataset(Pipeline({"lifter": {"checkpoint": spec.lifter}}), dataset)
    else:
        dataset = load_dataset(Path(spec.dataset_path), spec.format, **spec.loader_options)
    return protocol_split(
        dataset, spec.protocol, enc, augment_train=spec.augment_train, val_fraction=spec.val_fraction, seed=spec.seed,
        space=spec.space, augment_config=aug,
    )


def to_arrays(images) -> tuple[np.ndarray, np.ndarray]:
    """ActionImages -> float32 (N, 3, H, W) with the trainer's fixed normalisation, int64 labels.

    Same map as classify_train.to_inputs, so a supernet child and its from-scratch retraining see
    identical inputs.
    """
    from posenas.platform.classification.train import to_inputs

    return to_inputs(images).numpy(), np.asarray(images.labels, dtype=np.int64)


def search_arrays(train, val) -> dict[str, Any]:
    """What a search trial needs (no test split): arrays plus the class names."""
    if val is None or len(val) == 0:
        from posenas.errors import PosenasError

        raise PosenasError("the search needs a validation split: use val_fraction > 0 (never the test split)")
    tx, ty = to_arrays(train)
    vx, vy = to_arrays(val)
    return {"train": (tx, ty), "val": (vx, vy), "classes": list(train.classes)}
