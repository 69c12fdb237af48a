#!/usr/bin/env bash
# Install posenas on one Ray node: torch from PyTorch's CPU or CUDA wheel index first, then the project.
#
#   bash deploy/install_node.sh cpu [PROJECT_DIR]   # CPU head: the small CPU wheel
#   bash deploy/install_node.sh gpu [PROJECT_DIR]   # GPU worker: the CUDA wheel, then fail unless CUDA works
#
# pyproject.toml pins torch==2.13.0. A local version such as 2.13.0+cu128 satisfies that pin, so the
# `pip install -e` that follows keeps the CUDA build installed first instead of taking whatever wheel
# the default index resolves (on a machine whose index serves the CPU build, that would be the CPU one,
# and the child workers would silently train on the CPU).
# POSENAS_TORCH_CUDA_INDEX picks another CUDA build (default cu128: NVIDIA driver >= 570 needed);
# POSENAS_SKIP_GPU_CHECK=1 skips the check (image builds, where no GPU is attached).
set -euo pipefail

TORCH_VERSION="2.13.0"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
CUDA_INDEX="${POSENAS_TORCH_CUDA_INDEX:-https://download.pytorch.org/whl/cu128}"

kind="${1:?usage: install_node.sh cpu|gpu [PROJECT_DIR]}"
src="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
case "$kind" in
  cpu) index="$CPU_INDEX" ;;
  gpu) index="$CUDA_INDEX" ;;
  *) echo "install_node.sh: node kind must be cpu or gpu, got '$kind'" >&2; exit 2 ;;
esac

pip install --quiet "torch==${TORCH_VERSION}" --index-url "$index"
pip install --quiet -e "$src"
if [ "$kind" = gpu ] && [ "${POSENAS_SKIP_GPU_CHECK:-0}" != 1 ]; then
  python "$src/deploy/check_gpu.py"
fi
