"""Fail a GPU node's setup (exit 1, one line) unless torch sees a CUDA device.

Run by deploy/install_node.sh on GPU nodes and before `ray start` in the KubeRay GPU pods: a GPU node
with a CPU build of torch (or no driver) would otherwise join the cluster and train on its CPU.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import torch
    except ImportError as e:
        print(f"posenas GPU node check failed: torch is not installed ({e})", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print(
            f"posenas GPU node check failed: torch {torch.__version__} (CUDA build: {torch.version.cuda}) "
            "reports torch.cuda.is_available() == False; install the CUDA wheel (deploy/install_node.sh gpu) "
            "and check the NVIDIA driver (nvidia-smi)",
            file=sys.stderr,
        )
        return 1
    print(f"posenas GPU node check: torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.device_count()} device(s): {torch.cuda.get_device_name(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
