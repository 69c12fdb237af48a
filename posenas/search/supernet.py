"""The shared-weight supernet every sampled child runs through (ENAS weight sharing).

The cell network itself lives in `posenas.platform.classification.cellnet`, beside `ChildNet`, because
the pipeline serves the found network without importing the search.
"""

from __future__ import annotations

from posenas.platform.classification.cellnet import CellNetwork, NetConfig
from posenas.platform.classification.ops import shared_bn


class Supernet(CellNetwork):
    """All candidate ops with shared weights; `forward(x, genotype)` runs one sampled child through them."""

    def __init__(self, config: NetConfig):
        super().__init__(config, shared_bn, None)
