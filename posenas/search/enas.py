"""The ENAS search loop: alternate shared-weight training and controller training, then derive.

Each epoch: (1) one pass over the training images, every minibatch trains the shared weights through one
child sampled by the controller (W children per optimiser step when W workers average their gradients);
(2) `controller_steps` REINFORCE steps, each rewarding `controller_batch` sampled children with their
accuracy (or likelihood: `reward`) on a validation minibatch (the validation split is carved out of the
training data, never the test split); (3) a few sampled children are scored on the whole validation split to track the best one.
In the first `warmup_epochs` epochs, (1) draws children uniformly and (2) is skipped.
Derive samples `derive_samples` children, ranks them by their shared-weight validation loss (`rank_by`) and
returns the best. The whole state (weights, both optimisers, baseline, RNGs, history) round-trips through
`state_dict()` so a search resumes exactly where its checkpoint left it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

import numpy as np
import torch

from posenas.core.config import ConfigBase, config_dataclass
from posenas.search.controller import Controller, ControllerConfig, Reinforce
from posenas.platform.classification.genotype import Genotype, random_genotype
from posenas.platform.classification.cellnet import NetConfig
from posenas.search.supernet import Supernet
from posenas.search.workers import Executor, LocalExecutor


@config_dataclass
class SearchConfig(ConfigBase):
    """Everything one ENAS search needs. Defaults: an MSR Action3D search in under 15 min on 2 CPU cores, so the
    action benchmark can afford several search seeds per protocol (more epochs: `--epochs`, on a cluster)."""

    epochs: int = 8
    batch_size: int = 32
    child_lr: float = 0.05
    child_lr_min: float = 5e-4
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    controller_steps: int = 20
    controller_batch: int = 4
    eval_samples: int = 8
    derive_samples: int = 64
    # How children are ranked (derive, best-so-far, best trial). The validation loss: on AS1 its Kendall tau with
    # stand-alone accuracy was 0.79 (p 0.003) after 40 shared-weight epochs against 0.42 for the validation
    # accuracy, whose few distinct values on a small split tie (benchmarks/results/search_rank.md).
    rank_by: Literal["val_loss", "val_acc"] = "val_loss"
    # The controller's reward for a child on a validation minibatch: its accuracy, as in ENAS ("val_acc"), or
    # its likelihood exp(-cross-entropy), the geometric mean probability of the true class ("val_likelihood"):
    # the same [0, 1] range and baseline, but it separates children whose accuracies tie, and follows the
    # loss that ranks children better (see rank_by).
    reward: Literal["val_acc", "val_likelihood"] = "val_acc"
    # Epochs at the start whose shared-weight phase trains uniformly drawn children and whose controller phase is
    # skipped, so that the controller does not first learn from weights only parameter-free ops use well and then
    # train mostly their children (the derived MSR cells had 2-5 separable convolutions of 16 ops, random search's
    # 6-7). Measured with 4 of 8: validation rose on MSR and UTKinect, test did not, and the MSR cells stayed
    # pooling-heavy (benchmarks/results/actions_joints.md, "Warm-up", which says why the default stays 0).
    warmup_epochs: int = 0
    # At most this many of a cell's 2 x num_nodes ops may be parameter-free (pooling, identity), for the
    # controller's and the uniform sampler's children alike; None (or >= 2 x num_nodes): no cap. P-DARTS caps skip
    # connections the same way against the drift of shared-weight searches to parameter-free ops. 4 won on
    # validation by a rule fixed before the runs (MSR +3.9, UTKinect +1.7;
    # benchmarks/results/actions_joints.md, "A cap on parameter-free ops").
    max_param_free: int | None = 4
    workers: int = 0
    cpus_per_worker: float = 0.5
    gpus_per_worker: float = 0.0
    seed: int = 0
    net: NetConfig = field(default_factory=NetConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)

    def with_overrides(self, overrides: dict[str, Any]) -> "SearchConfig":
        """Apply flat hyper-parameters (Tune's param_space): controller_lr, entropy_weight, child_lr, ..."""
        d = self.to_dict()
        for k, v in overrides.items():
            if k == "controller_lr":
                d["controller"]["lr"] = v
            elif k == "entropy_weight":
                d["controller"]["entropy_weight"] = v
            elif k in d["controller"] and k not in d:
                d["controller"][k] = v
            elif k in d["net"] and k not in d:
                d["net"][k] = v
            else:
                d[k] = v
        return SearchConfig.from_dict(d)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """Short hash of a state dict's tensors (to prove a resumed controller is the checkpointed one)."""
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class EnasSearch:
    """Holds the supernet, controller, both optimisers and the search history."""

    def __init__(
        self,
        config: SearchConfig,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        executor: Callable[[Supernet], Executor] | None = None,
    ):
        self.config = config
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.train_y, self.val_y = train[1], val[1]
        if len(self.val_y) == 0:
            raise ValueError("the search needs a non-empty validation split (carved out of the training data)")
        self.controller_config = ControllerConfig(**{**config.controller.to_dict(), "num_nodes": config.net.num_nodes,
                                                 "max_param_free": config.max_param_free})
        self.supernet = Supernet(config.net)
        self.controller = Controller(self.controller_config)
        self.reinforce = Reinforce(self.controller)
        self.optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=config.child_lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=max(config.epochs, 1), eta_min=config.child_lr_min
        )
        self.executor: Executor = executor(self.supernet) if executor else LocalExecutor(self.supernet, train, val)
        self.epoch = 0  # epochs completed
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None  # {"genotype": dict, "val_acc", "val_loss": float, "epoch": int}
        self.child_steps = 0

    # -- one epoch -------------------------------------------------------------------------------
    def _sample_no_grad(self, n: int) -> list[Genotype]:
        with torch.no_grad():
            return [self.controller.sample()[0] for _ in range(n)]

    def in_warmup(self) -> bool:
        """Whether the current epoch is one of the first `warmup_epochs` (uniform children, no controller phase)."""
        return self.epoch < self.config.warmup_epochs

    def _sample_uniform(self, n: int) -> list[Genotype]:
        return [random_genotype(self.config.net.num_nodes, self.rng, self.config.max_param_free) for _ in range(n)]

    def _sample_shared(self, n: int) -> list[Genotype]:
        """Children for the shared-weight phase: the controller's, or uniform ones during warm-up."""
        return self._sample_uniform(n) if self.in_warmup() else self._sample_no_grad(n)

    def train_shared(self) -> dict[str, float]:
        """One pass over the training data; each minibatch trains one sampled child (W per step)."""
        c = self.config
        per_step = max(1, self.executor.num_workers)
        order = self.rng.permutation(len(self.train_y))
        batches = [order[i : i + c.batch_size] for i in range(0, len(order), c.batch_size)]
        losses, accs = [], []
        for s in range(0, len(batches), per_step):
            group = batches[s : s + per_step]
            genos = self._sample_shared(len(group))
            results = self.executor.grads(list(zip(genos, group)))
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), c.grad_clip)
            self.optimizer.step()
            self.child_steps += len(group)
            losses += [r[0] for r in results]
            accs += [r[1] for r in results]
        self.scheduler.step()
        return {"train_loss": float(np.mean(losses)), "train_acc": float(np.mean(accs))}

    def train_controller(self) -> dict[str, float]:
        """REINFORCE steps; rewards are shared-weight accuracies (or likelihoods) on validation minibatches."""
        c = self.config
        stats = []
        for _ in range(c.controller_steps):
            samples = [self.controller.sample() for _ in range(c.controller_batch)]
            n = min(c.batch_size * 2, len(self.val_y))
            idx = self.rng.choice(len(self.val_y), size=n, replace=False)
            scores = self.executor.score([(g, idx) for g, _, _ in samples])
            rewards = [self.reward(acc, loss) for acc, loss in scores]
            stats.append(self.reinforce.step([s[1] for s in samples], [s[2] for s in samples], rewards))
        return {
            "reward": float(np.mean([s["reward"] for s in stats])),
            "baseline": float(stats[-1]["baseline"]),
            "entropy": float(np.mean([s["entropy"] for s in stats])),
            "controller_loss": float(np.mean([s["loss"] for s in stats])),
        }

    def score_full_val(self, genotypes: list[Genotype]) -> list[tuple[float, float]]:
        """(accuracy, loss) of each child on the whole validation split, with the shared weights."""
        idx = np.arange(len(self.val_y))
        return self.executor.score([(g, idx) for g in genotypes])

    def reward(self, acc: float, loss: float) -> float:
        """The controller's reward for a child's (accuracy, mean cross-entropy), by `reward`."""
        return acc if self.config.reward == "val_acc" else math.exp(-loss)

    def rank_key(self, acc: float, loss: float) -> float:
        """Higher is better, by `rank_by`."""
        return -loss if self.config.rank_by == "val_loss" else acc

    def run_epoch(self) -> dict[str, Any]:
        """Train shared weights, then the controller, then track the best sampled child; returns metrics."""
        lr = self.optimizer.param_groups[0]["lr"]
        m: dict[str, Any] = {"epoch": self.epoch + 1, "child_lr": lr}
        m.update(self.train_shared())
        if not self.in_warmup():  # the epoch counter moves on only at the end of run_epoch
            m.update(self.train_controller())
        genos = self._sample_no_grad(self.config.eval_samples)
        scores = self.score_full_val(genos)
        keys = [self.rank_key(a, l) for a, l in scores]
        i = int(np.argmax(keys))
        m["val_acc"] = float(np.mean([a for a, _ in scores]))  # mean shared-weight val accuracy of sampled children
        m["val_loss"] = float(np.mean([l for _, l in scores]))
        m["epoch_best_val_acc"], m["epoch_best_val_loss"] = float(scores[i][0]), float(scores[i][1])
        best_key = None if self.best is None else self.rank_key(self.best["val_acc"], self.best.get("val_loss", np.inf))
        if best_key is None or keys[i] > best_key:
            self.best = {"genotype": genos[i].to_dict(), "val_acc": float(scores[i][0]),
                         "val_loss": float(scores[i][1]), "epoch": self.epoch + 1}
        m["best_val_acc"] = self.best["val_acc"]
        m["child_steps"] = self.child_steps
        self.epoch += 1
        self.history.append(m)
        return m

    def derive(self, samples: int | None = None) -> tuple[Genotype, float, list[tuple[Genotype, float, float]]]:
        """Sample many children, rank them by `rank_by` with the shared weights; returns (best, its validation
        accuracy, ranking as (genotype, val accuracy, val loss) best first)."""
        n = samples or self.config.derive_samples
        seen: dict[str, Genotype] = {}
        for g in self._sample_no_grad(n):
            seen.setdefault(g.key(), g)
        if self.best is not None:
            g = Genotype.from_dict(self.best["genotype"])
            seen.setdefault(g.key(), g)
        genos = list(seen.values())
        ranking = [(g, float(a), float(l)) for g, (a, l) in zip(genos, self.score_full_val(genos))]
        ranking.sort(key=lambda t: -self.rank_key(t[1], t[2]))
        return ranking[0][0], ranking[0][1], ranking

    # -- checkpointing ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A detached copy (later training does not change it) of everything needed to resume."""
        return copy.deepcopy({
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "child_steps": self.child_steps,
            "supernet": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "reinforce": self.reinforce.state_dict(),
            "history": self.history,
            "best": self.best,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.child_steps = int(state["child_steps"])
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.reinforce.load_state_dict(state["reinforce"])
        self.history = list(state["history"])
        self.best = state["best"]
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])

    def controller_digest(self) -> str:
        return state_digest(self.controller.state_dict())


class RandomSearch(EnasSearch):
    """Baseline: random search with weight sharing (Li & Talwalkar 2019) over the same space.

    Identical shared-weight training (same number of child steps) but children are drawn uniformly and
    no controller is trained; derive ranks uniformly drawn children the same way (`rank_by`).
    """

    def _sample_no_grad(self, n: int) -> list[Genotype]:
        return self._sample_uniform(n)

    def train_controller(self) -> dict[str, float]:
        return {}


def make_search(method: str, *args, **kwargs) -> EnasSearch:
    """'enas' or 'random' (the baseline)."""
    if method == "enas":
        return EnasSearch(*args, **kwargs)
    if method == "random":
        return RandomSearch(*args, **kwargs)
    from posenas.errors import UnknownNameError

    raise UnknownNameError("search method", method, ["enas", "random"])


def save_state(state: dict[str, Any], path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def load_state(path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)
