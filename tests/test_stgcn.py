"""ST-GCN on joint sequences: shapes, the graph's normalisation, checkpoint round-trip, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenas.core.skeleton import get_layout
from posenas.errors import ConfigError
from posenas.platform.classification.checkpoint import load_classifier, save_classifier
from posenas.platform.classification.stgcn import STGCN, STGCNConfig, graph_partitions
from posenas.platform.classification.train import ClassifierTrainConfig, evaluate_classifier, seed_everything, train_classifier
from posenas.platform.encoding.action_data import ActionSequences
from posenas.platform.encoding.pose_space import CANONICAL_SPACE

SMALL = {"channels": (8, 16), "strides": (1, 2), "temporal_kernel": 3}


@pytest.mark.parametrize("persons", [1, 2])
def test_forward_shapes_and_input_check(persons):
    m = STGCN(STGCNConfig(num_classes=5, persons=persons, **SMALL)).eval()
    f = persons * 17 * 3
    assert m.config.in_features == f
    assert m(torch.zeros(3, 32, f)).shape == (3, 5)
    assert m(torch.zeros(2, 17, f)).shape == (2, 5)  # any length
    with pytest.raises(ValueError, match="STGCN expects"):
        m(torch.zeros(2, 32, f + 3))


def test_persons_are_pooled_symmetrically():
    # The head averages over persons, so swapping the two persons must not change the logits.
    torch.manual_seed(0)
    m = STGCN(STGCNConfig(num_classes=4, persons=2, **SMALL)).eval()
    x = torch.randn(2, 16, 2, 17, 3)
    swapped = x[:, :, [1, 0]]
    assert torch.allclose(m(x.reshape(2, 16, -1)), m(swapped.reshape(2, 16, -1)), atol=1e-5)


def test_config_checks():
    with pytest.raises(ConfigError, match="strides"):
        STGCNConfig(num_classes=2, channels=(8, 8), strides=(1,))
    with pytest.raises(ConfigError, match="partition"):
        STGCNConfig(num_classes=2, partition="distance")
    with pytest.raises(ConfigError, match="temporal_kernel"):
        STGCNConfig(num_classes=2, temporal_kernel=4)
    with pytest.raises(ConfigError, match="layout"):
        STGCNConfig(num_classes=2, layout="no_such_layout")


def test_uniform_adjacency_is_symmetrically_normalised():
    lay = get_layout("h36m17")
    a = np.zeros((17, 17))
    for i, j in lay.bones:
        a[i, j] = a[j, i] = 1
    a += np.eye(17)
    (g,) = graph_partitions("h36m17", "uniform")
    deg = a.sum(1)
    assert np.allclose(g, a / np.sqrt(np.outer(deg, deg)), atol=1e-6)
    assert np.allclose(g, g.T)
    # pelvis: self + right hip + left hip + spine -> degree 4; right hip: pelvis + knee + self -> 3
    assert g[0, 0] == pytest.approx(1 / 4) and g[0, 1] == pytest.approx(1 / np.sqrt(4 * 3))
    assert np.abs(np.linalg.eigvalsh(g)).max() <= 1 + 1e-6  # normalised: repeated mixing cannot blow up


def test_spatial_partition_splits_the_column_normalised_graph():
    lay = get_layout("h36m17")
    parts = graph_partitions("h36m17", "spatial", center="spine")
    assert parts.shape == (3, 17, 17)
    whole = parts.sum(0)
    assert np.allclose(whole.sum(0), 1.0, atol=1e-6)  # each output joint averages its neighbourhood
    assert ((parts > 0).sum(0) <= 1).all()  # the subsets are disjoint
    root, closer, farther = parts
    assert np.allclose(np.diag(root), np.diag(whole))  # self-loops are root
    pelvis, spine, thorax, rhip = (lay.index(n) for n in ("pelvis", "spine", "thorax", "right_hip"))
    # For the pelvis (1 hop from the spine) the spine is centripetal and the hips centrifugal.
    assert closer[spine, pelvis] == pytest.approx(1 / 4) and farther[rhip, pelvis] == pytest.approx(1 / 4)
    # The spine itself is the centre: every neighbour is farther.
    assert farther[pelvis, spine] > 0 and farther[thorax, spine] > 0 and closer[:, spine].sum() == 0


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = STGCNConfig(num_classes=3, persons=2, **SMALL)
    model = STGCN(cfg).eval()
    with torch.no_grad():  # non-trivial edge importance so the round trip covers it
        model.blocks[0].gcn.importance.mul_(torch.rand_like(model.blocks[0].gcn.importance) + 0.5)
    path = save_classifier(tmp_path / "stgcn.pt", model, "stgcn", cfg.to_dict(), ["a", "b", "c"],
                           {"encoding": "joints", "frames": 32}, dict(CANONICAL_SPACE))
    loaded = load_classifier(path)
    x = torch.randn(2, 32, cfg.in_features)
    assert loaded.checkpoint.family == "stgcn" and loaded.model.config == cfg
    assert torch.allclose(loaded.model(x), model(x), atol=1e-6)


def _motion_classes(n: int, rest: np.ndarray, rng: np.random.Generator) -> ActionSequences:
    """Two classes on one rest pose (each clip its own small offsets): the arms wave up-down, or the legs sideways."""
    lay = get_layout("h36m17")
    arms = [lay.index(f"{s}_{j}") for s in ("left", "right") for j in ("elbow", "wrist")]
    legs = [lay.index(f"{s}_{j}") for s in ("left", "right") for j in ("knee", "ankle")]
    y = np.arange(n) % 2
    pose = rest[None] + rng.normal(0, 0.05, size=(n, 17, 3))
    x = pose[:, None].repeat(24, 1) + rng.normal(0, 0.01, size=(n, 24, 17, 3))
    wave = 0.5 * np.sin(np.linspace(0, 4 * np.pi, 24)[None] + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    x[np.ix_(y == 0, np.arange(24), arms, [1])] += wave[y == 0][:, :, None, None]
    x[np.ix_(y == 1, np.arange(24), legs, [0])] += wave[y == 1][:, :, None, None]
    return ActionSequences(x.reshape(n, 24, -1), y, [f"s{i}" for i in range(n)], np.zeros(n), ["arms", "legs"])


def test_learns_two_synthetic_motions():
    rng = np.random.default_rng(0)
    rest = rng.normal(0, 0.3, size=(17, 3))
    train, test = _motion_classes(64, rest, rng), _motion_classes(40, rest, rng)
    seed_everything(0)
    model = STGCN(STGCNConfig(num_classes=2, **SMALL))
    train_classifier(model, train, None, ClassifierTrainConfig(epochs=10, batch_size=16, lr=1e-2, warmup_epochs=0,
                                                               num_threads=1), progress=False)
    assert evaluate_classifier(model, test)["accuracy"] >= 0.9
