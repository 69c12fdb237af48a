"""Imports every built-in loader module so that each registers itself."""

from posenas.datasets import (  # noqa: F401
    cmu_mocap,
    h36m,
    keypoints,
    msr_action3d,
    ntu,
    sbu,
    utkinect,
)
