"""Imports every built-in loader module so that each registers itself."""

from importlib import import_module

_MODULES = [
    "posenas.datasets.msr_action3d",
    "posenas.datasets.utkinect",
    "posenas.datasets.sbu",
    "posenas.datasets.ntu",
    "posenas.datasets.h36m",
    "posenas.datasets.cmu_mocap",
    "posenas.datasets.keypoints",
]

for _m in _MODULES:
    try:
        import_module(_m)
    except ModuleNotFoundError as e:  # a loader module not written yet
        if e.name != _m:
            raise
