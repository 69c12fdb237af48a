"""ENAS pieces without Ray: genotypes, controller, shared-weight supernet, child training, search loop."""

from __future__ import annotations

from dataclasses import replace
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from posenas.errors import DataFormatError
from posenas.core.checkpoint import count_parameters
from posenas.platform.classification.cellnet import ChildNet
from posenas.search.controller import Controller, ControllerConfig, Reinforce
from posenas.search.enas import EnasSearch, RandomSearch, SearchConfig, state_digest
from posenas.platform.classification.genotype import OPS, Cell, Genotype, Node, load_genotype, random_genotype, save_genotype
from posenas.platform.classification.cellnet import NetConfig
from posenas.search.supernet import Supernet

SMALL = NetConfig(channels=8, cells_per_block=1, num_nodes=3, num_classes=4)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _toy(n: int, classes: int = 3, size: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, 3, size, size, generator=g)
    x[:, 0] += (y[:, None, None].float() - 1) * 1.0
    return x, y


# --- genotype --------------------------------------------------------------------------------------
def test_genotype_json_round_trip(tmp_path: Path):
    g = random_genotype(5, np.random.default_rng(0))
    p = save_genotype(g, tmp_path / "g.json", meta={"shared_val_acc": 0.5})
    doc = json.loads(p.read_text())
    assert doc["normal"][0].keys() == {"inputs", "ops"} and doc["ops"] == list(OPS)
    g2, meta = load_genotype(p)
    assert g2 == g and g2.key() == g.key() and meta == {"shared_val_acc": 0.5}


def test_genotype_file_errors_name_file_and_field(tmp_path: Path):
    p = tmp_path / "bad.json"
    p.write_text('{"normal": [{"inputs": [0, 5], "ops": ["identity", "identity"]}], "reduce": []}')
    with pytest.raises(DataFormatError) as e:
        load_genotype(p)
    assert "bad.json" in str(e.value) and "input 5" in str(e.value)
    p.write_text('{"normal": [{"inputs": [0, 1], "ops": ["conv_7x7", "identity"]}], "reduce": [{"inputs": [0, 1], "ops": ["identity", "identity"]}]}')
    with pytest.raises(DataFormatError, match="unknown op 'conv_7x7'"):
        load_genotype(p)
    p.write_text("{\n  \"normal\": [\n}")
    with pytest.raises(DataFormatError, match=r"bad.json:\d"):
        load_genotype(p)
    with pytest.raises(DataFormatError, match=r"\[reduce\]"):
        p.write_text('{"normal": []}')
        load_genotype(p)


def test_loose_ends():
    cell = Cell((Node((0, 1), ("identity", "identity")), Node((2, 0), ("identity", "identity")), Node((1, 1), ("identity", "identity"))))
    assert cell.loose_ends() == [1, 2]


# --- controller ------------------------------------------------------------------------------------
def test_controller_samples_valid_genotypes_with_finite_logprob_entropy():
    torch.manual_seed(0)
    c = Controller(ControllerConfig(num_nodes=5))
    keys = set()
    for _ in range(40):
        g, lp, ent = c.sample()
        g.validate()
        assert g.num_nodes == 5
        lp, ent = float(lp.detach()), float(ent.detach())
        assert math.isfinite(lp) and lp < 0
        assert math.isfinite(ent) and ent > 0
        assert float(c.log_prob(g).detach()) == pytest.approx(lp, abs=1e-4)
        keys.add(g.key())
    assert len(keys) > 30  # sampling is diverse at the start, as ENAS' logit clipping intends


def test_reinforce_moves_probability_toward_rewarded_architecture():
    torch.manual_seed(0)
    cfg = ControllerConfig(num_nodes=3, lr=0.02, tanh_constant=2.5, temperature=1.0)
    c = Controller(cfg)
    rl = Reinforce(c)
    target = Genotype(*(Cell(tuple(Node((0, 1), ("sep_conv_5x5", "sep_conv_5x5")) for _ in range(3))) for _ in range(2)))

    def reward(g: Genotype) -> float:  # fraction of ops equal to the target op
        ops = [o for cell in (g.normal, g.reduce) for n in cell.nodes for o in n.ops]
        return sum(o == "sep_conv_5x5" for o in ops) / len(ops)

    with torch.no_grad():
        before = float(c.log_prob(target))
    rewards = []
    for _ in range(40):
        s = [c.sample() for _ in range(6)]
        stats = rl.step([x[1] for x in s], [x[2] for x in s], [reward(x[0]) for x in s])
        rewards.append(stats["reward"])
    with torch.no_grad():
        after = float(c.log_prob(target))
    assert after > before + 1.0
    assert np.mean(rewards[-10:]) > np.mean(rewards[:10])
    # the optimiser/baseline state round-trips
    rl2 = Reinforce(Controller(cfg))
    rl2.load_state_dict(rl.state_dict())
    assert state_digest(rl2.controller.state_dict()) == state_digest(c.state_dict()) and rl2.baseline == rl.baseline


# --- supernet / child ------------------------------------------------------------------------------
def test_supernet_forward_random_genotypes_shares_weights():
    torch.manual_seed(0)
    net = Supernet(SMALL)
    params_before = {name: p for name, p in net.named_parameters()}
    rng = np.random.default_rng(1)
    x = torch.randn(4, 3, 32, 32)
    for _ in range(6):
        g = random_genotype(SMALL.num_nodes, rng)
        out = net(x, g)
        assert out.shape == (4, SMALL.num_classes) and torch.isfinite(out).all()
    # same parameter objects after any number of children: the weights are shared, never re-created
    assert {name: p for name, p in net.named_parameters()} == params_before
    # two children using the same op at the same node/slot read the same tensor
    g1 = Genotype(Cell(tuple(Node((0, 1), ("sep_conv_3x3", "identity")) for _ in range(3))), Cell(tuple(Node((0, 1), ("identity", "identity")) for _ in range(3))))
    g2 = Genotype(Cell(tuple(Node((1, 0), ("sep_conv_3x3", "max_pool_3x3")) for _ in range(3))), g1.reduce)
    shared = net.cells[0].nodes[0][0]["sep_conv_3x3"][1].weight
    grads = []
    for seed, g in enumerate((g1, g2)):
        net.zero_grad(set_to_none=True)
        torch.manual_seed(seed)  # the same dropout masks below
        net(x, g).sum().backward()
        grads.append(shared.grad.clone())
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0 and not torch.allclose(grads[0], grads[1])
    # both children's gradients land in that one tensor: training them in turn accumulates their sum
    net.zero_grad(set_to_none=True)
    for seed, g in enumerate((g1, g2)):
        torch.manual_seed(seed)
        net(x, g).sum().backward()
    torch.testing.assert_close(shared.grad, grads[0] + grads[1], rtol=1e-4, atol=1e-6)
    assert net.cells[0].nodes[0][0]["sep_conv_5x5"][1].weight.grad is None  # unused op gets no gradient


def test_spatial_sizes_follow_the_three_blocks():
    net = Supernet(NetConfig(channels=8, cells_per_block=2, num_nodes=2, num_classes=3))
    assert sum(c.reduction for c in net.cells) == 2 and len(net.cells) == 3 * 2 + 2
    g = random_genotype(2, np.random.default_rng(0))
    feats = []
    net.cells[-1].register_forward_hook(lambda m, i, o: feats.append(o.shape))
    net(torch.randn(2, 3, 32, 32), g)
    assert feats[0] == (2, 32, 8, 8)


def test_child_from_genotype_trains_loss_falls():
    torch.manual_seed(0)
    g = random_genotype(3, np.random.default_rng(2))
    model = ChildNet(g, NetConfig(channels=8, num_nodes=3, num_classes=3, dropout=0.0))
    assert 0 < count_parameters(model) < count_parameters(Supernet(NetConfig(channels=8, num_nodes=3, num_classes=3)))
    x, y = _toy(64)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


# --- search loop -----------------------------------------------------------------------------------
def _search_config(**kw) -> SearchConfig:
    base = dict(epochs=2, batch_size=32, controller_steps=3, controller_batch=2, eval_samples=2, derive_samples=5,
                net=NetConfig(channels=8, num_nodes=3, num_classes=3), controller=ControllerConfig(hidden=32))
    return SearchConfig(**{**base, **kw})


def test_search_loop_checkpoint_round_trip_is_exact():
    train, val = _toy(96, seed=1), _toy(32, seed=2)
    s = EnasSearch(_search_config(), train, val)
    m = s.run_epoch()
    assert m["epoch"] == 1 and m["child_steps"] == 3
    # the tracked best child is what re-scoring it on the whole validation split gives, and beats the mean
    # by the ranking metric (rank_by: the validation loss)
    [(acc, loss)] = s.score_full_val([Genotype.from_dict(s.best["genotype"])])
    assert (acc, loss) == (m["best_val_acc"], s.best["val_loss"]) == (m["epoch_best_val_acc"], m["epoch_best_val_loss"])
    assert loss <= m["val_loss"]
    state = s.state_dict()
    digest = s.controller_digest()
    m1 = s.run_epoch()
    s2 = EnasSearch(_search_config(), train, val)  # a fresh process would start like this
    s2.load_state_dict(state)
    assert s2.controller_digest() == digest != s.controller_digest()
    # the resumed search repeats the second epoch exactly: RNGs, optimisers and baseline all restored
    m2 = s2.run_epoch()
    for k in ("train_loss", "reward", "val_acc", "baseline"):
        assert m1[k] == pytest.approx(m2[k], rel=1e-5), k
    best, acc, ranking = s.derive()
    # ranked by shared-weight validation loss (the default rank_by), best first
    assert best is ranking[0][0] and acc == ranking[0][1]
    assert [l for _, _, l in ranking] == sorted(l for _, _, l in ranking)
    assert len({g.key() for g, _, _ in ranking}) == len(ranking)
    s.config = replace(s.config, rank_by="val_acc")
    _, acc_by_acc, ranking = s.derive()
    assert acc_by_acc == max(a for _, a, _ in ranking)


def test_likelihood_reward_is_exp_minus_loss_of_the_scored_minibatch(monkeypatch):
    """reward="val_likelihood" hands REINFORCE exp(-cross-entropy) of each scored child, "val_acc" its accuracy."""
    from posenas.errors import ConfigError

    train, val = _toy(96, seed=1), _toy(32, seed=2)
    for reward in ("val_acc", "val_likelihood"):
        s = EnasSearch(_search_config(reward=reward), train, val)
        scored, given = [], []
        score, step = s.executor.score, s.reinforce.step
        monkeypatch.setattr(s.executor, "score", lambda jobs: scored.extend(r := score(jobs)) or r)
        monkeypatch.setattr(s.reinforce, "step", lambda lp, ent, rw: given.extend(rw) or step(lp, ent, rw))
        s.train_controller()
        assert len(given) == len(scored) == 3 * 2
        want = [a if reward == "val_acc" else math.exp(-l) for a, l in scored]
        assert given == pytest.approx(want)
        assert all(0.0 < g <= 1.0 for g in given) or reward == "val_acc"
    assert SearchConfig.from_dict(_search_config(reward="val_likelihood").to_dict()).reward == "val_likelihood"
    with pytest.raises(ConfigError, match="reward"):
        _search_config(reward="val_loss")


def test_random_search_has_the_same_child_step_budget():
    train, val = _toy(96, seed=1), _toy(32, seed=2)
    e = EnasSearch(_search_config(epochs=1), train, val)
    r = RandomSearch(_search_config(epochs=1), train, val)
    me, mr = e.run_epoch(), r.run_epoch()
    assert me["child_steps"] == mr["child_steps"] == 3
    assert "reward" not in mr and r.reinforce.baseline is None
    best, _, _ = r.derive(4)
    best.validate()


def test_warmup_epochs_train_uniform_children_and_leave_the_controller_alone(monkeypatch):
    """During the first warmup_epochs the shared phase draws children uniformly (not from the controller) and
    no REINFORCE step runs; afterwards both are the controller's again. A warm-up as long as the search fails."""
    import posenas.search.enas as enas_mod
    from posenas.errors import PosenasError
    from posenas.search.tune_search import validate_search

    train, val = _toy(96, seed=1), _toy(32, seed=2)
    s = EnasSearch(_search_config(epochs=3, warmup_epochs=1), train, val)
    uniform, from_controller = [], []
    draw, sample = enas_mod.random_genotype, s.controller.sample
    monkeypatch.setattr(enas_mod, "random_genotype", lambda *a: uniform.append(1) or draw(*a))
    monkeypatch.setattr(s.controller, "sample", lambda: from_controller.append(1) or sample())
    digest = s.controller_digest()
    m = s.run_epoch()
    assert "reward" not in m and s.controller_digest() == digest and s.reinforce.baseline is None
    assert len(uniform) == m["child_steps"] == 3  # one uniform child per training minibatch
    assert len(from_controller) == s.config.eval_samples  # only the end-of-epoch tracking asked the controller
    uniform.clear()
    m = s.run_epoch()
    assert "reward" in m and s.controller_digest() != digest and not uniform
    state = s.state_dict()  # resumes after the warm-up: the epoch counter decides
    s2 = EnasSearch(_search_config(epochs=3, warmup_epochs=1), train, val)
    s2.load_state_dict(state)
    assert not s2.in_warmup()
    for bad in (-1, 3):
        with pytest.raises(PosenasError, match="warmup_epochs"):
            validate_search(_search_config(epochs=3, warmup_epochs=bad))


def test_max_param_free_caps_every_child_both_searches_sample():
    """With the cap, no sampled cell holds more parameter-free ops than allowed, even from a controller that
    prefers them; the controller scores a given genotype with the same masked distribution it samples from."""
    from posenas.errors import PosenasError
    from posenas.platform.classification.genotype import PARAM_FREE_OPS
    from posenas.search.tune_search import validate_search

    def free(g: Genotype) -> list[int]:
        return [g.normal.param_free_ops(), g.reduce.param_free_ops()]

    rng = np.random.default_rng(0)
    assert max(max(free(random_genotype(3, rng))) for _ in range(200)) > 1  # uncapped cells do exceed it
    capped = [free(random_genotype(3, rng, 1)) for _ in range(200)]
    assert max(max(f) for f in capped) == 1 and min(min(f) for f in capped) == 0
    torch.manual_seed(0)
    for cap, most in ((None, 6), (2, 2)):
        ctrl = Controller(ControllerConfig(num_nodes=3, max_param_free=cap))
        with torch.no_grad():  # a controller that wants pooling and identity
            ctrl.op_head.bias.copy_(torch.tensor([-100.0 if op not in PARAM_FREE_OPS else 100.0 for op in OPS]))
            samples = [ctrl.sample() for _ in range(20)]
        assert max(max(free(g)) for g, _, _ in samples) == most
        for g, lp, _ in samples[:3]:
            assert torch.isfinite(lp) and torch.allclose(ctrl.log_prob(g), lp)
    over = Genotype(*[Cell(tuple(Node((0, 1), ("identity", "identity")) for _ in range(3)))] * 2)
    assert ctrl.log_prob(over) == float("-inf")  # outside the capped space
    train, val = _toy(96, seed=1), _toy(32, seed=2)
    for search in (EnasSearch, RandomSearch):
        s = search(_search_config(epochs=1, max_param_free=1), train, val)
        s.run_epoch()
        best, _, ranking = s.derive(6)
        assert all(max(free(g)) <= 1 for g, _, _ in ranking)
    with pytest.raises(PosenasError, match="max_param_free"):
        validate_search(_search_config(epochs=1, max_param_free=-1))


def test_search_config_overrides_and_unknown_keys():
    sc = SearchConfig().with_overrides({"controller_lr": 1e-3, "entropy_weight": 0.01, "child_lr": 0.1, "channels": 20})
    assert sc.controller.lr == 1e-3 and sc.controller.entropy_weight == 0.01 and sc.child_lr == 0.1 and sc.net.channels == 20
    assert SearchConfig.from_dict(sc.to_dict()) == sc
    with pytest.raises(ValueError, match="unknown"):
        SearchConfig.from_dict({"epochz": 3})


def test_report_writes_pictures(tmp_path: Path):
    from posenas.search.report import write_report

    g = random_genotype(4, np.random.default_rng(0))
    hist = [{"epoch": i + 1, "reward": 0.1 * i, "baseline": 0.1 * i, "train_acc": 0.3, "val_acc": 0.2, "best_val_acc": 0.25} for i in range(3)]
    paths = write_report(tmp_path, g, hist, {"title": "t"})
    for key in ("genotype_png", "curves_png"):
        data = Path(paths[key]).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert load_genotype(paths["genotype_json"])[0] == g


def test_cli_reward_choices_and_default_are_the_search_configs():
    # `posenas search --reward` is a typed literal; it must not drift from SearchConfig.reward
    import dataclasses
    import inspect
    import typing

    from posenas.cli.search import search

    field = next(f for f in dataclasses.fields(SearchConfig) if f.name == "reward")
    hint = typing.get_type_hints(search)["reward"]
    assert set(typing.get_args(hint)) == set(typing.get_args(typing.get_type_hints(SearchConfig)["reward"]))
    assert inspect.signature(search).parameters["reward"].default.default == field.default
    for name in ("warmup_epochs", "max_param_free"):  # likewise the search's other defaults
        assert inspect.signature(search).parameters[name].default.default == getattr(SearchConfig(), name)
