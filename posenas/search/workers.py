"""Where shared-weight children run: in the search process itself, or on W Ray actors.

Both executors answer the same two requests from the search loop:
- `grads(jobs)`: for each (genotype, batch indices), forward/backward that child on that training batch;
  the gradients are averaged into the master supernet's `.grad` (one optimiser step follows);
- `score(jobs)`: accuracy of each (genotype, validation batch indices) with the current shared weights.
The master weights and their optimiser live in the search (the Tune trial); actors get a flat copy of the
weights each time they change, so every worker always trains the same shared weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from posenas.core.ray_runtime import worker_device
from posenas.platform.classification.genotype import Genotype
from posenas.platform.classification.cellnet import NetConfig
from posenas.search.supernet import Supernet

Job = tuple[Genotype, np.ndarray]
WORKER_RESTARTS = 3  # per child-worker actor, per search


def flat_grad(model: nn.Module) -> torch.Tensor:
    """All parameter gradients as one vector; parameters the child did not use contribute zeros."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.parameters()])


def set_flat_grad(model: nn.Module, vec: torch.Tensor) -> None:
    i = 0
    for p in model.parameters():
        n = p.numel()
        p.grad = vec[i : i + n].view_as(p).clone()
        i += n


def child_step(model: Supernet, genotype: Genotype, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Forward/backward one child on one batch (gradients left in .grad); returns (loss, accuracy)."""
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(x, genotype)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    return float(loss.detach()), float((logits.detach().argmax(1) == y).float().mean())


@torch.no_grad()
def child_metrics(model: Supernet, genotype: Genotype, x: torch.Tensor, y: torch.Tensor,
                  batch: int = 256) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of one child on (x, y): the loss ranks children without the ties of a
    small validation split's accuracy (see `SearchConfig.rank_by`)."""
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(y), batch):
        logits = model(x[i : i + batch], genotype)
        correct += int((logits.argmax(1) == y[i : i + batch]).sum())
        loss += float(nn.functional.cross_entropy(logits, y[i : i + batch], reduction="sum"))
    n = max(len(y), 1)
    return correct / n, loss / n


class Executor(Protocol):
    num_workers: int

    def grads(self, jobs: Sequence[Job]) -> list[tuple[float, float]]: ...

    def score(self, jobs: Sequence[Job]) -> list[tuple[float, float]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs every child in this process on the master supernet (W=0: no actors, e.g. tests, laptops)."""

    num_workers = 0
    in_placement_group = False

    def __init__(self, model: Supernet, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]):
        self.model, self.train, self.val = model, train, val

    def grads(self, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        out, total = [], None
        for g, idx in jobs:
            out.append(child_step(self.model, g, self.train[0][idx], self.train[1][idx]))
            v = flat_grad(self.model)
            total = v if total is None else total + v
        set_flat_grad(self.model, total / len(jobs))
        return out

    def score(self, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        return [child_metrics(self.model, g, self.val[0][idx], self.val[1][idx]) for g, idx in jobs]

    def close(self) -> None:
        pass


class ChildWorker:
    """Ray actor body: a supernet replica plus the training/validation tensors (fetched once).

    Uses the GPU Ray assigned to it when there is one; gradients travel back as CPU numpy vectors.
    """

    def __init__(self, net_config: dict, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], threads: int, seed: int):
        torch.set_num_threads(max(1, threads))
        torch.manual_seed(seed)
        self.device = worker_device()  # the assigned GPU, or the CPU with a warning
        self.model = Supernet(NetConfig(**net_config)).to(self.device)
        self.train = tuple(torch.from_numpy(np.array(a)).to(self.device) for a in train)  # own, writable copy
        self.val = tuple(torch.from_numpy(np.array(a)).to(self.device) for a in val)
        self.version = -1

    def where(self) -> dict[str, Any]:
        """Where this worker runs: Ray node id, the GPUs Ray assigned, the torch device it trains on."""
        import ray

        ctx = ray.get_runtime_context()
        return {"node_id": ctx.get_node_id(), "pid": os.getpid(), "gpu_ids": [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])],
                "device": str(self.device)}

    def _sync(self, version: int, weights: np.ndarray) -> None:
        if version != self.version:
            vec = torch.from_numpy(np.asarray(weights)).to(self.device)
            nn.utils.vector_to_parameters(vec, self.model.parameters())
            self.version = version

    def grads(self, version: int, weights: np.ndarray, job: Job) -> tuple[np.ndarray, float, float]:
        self._sync(version, weights)
        g, idx = job
        idx = torch.as_tensor(idx, device=self.device)
        loss, acc = child_step(self.model, g, self.train[0][idx], self.train[1][idx])
        return flat_grad(self.model).cpu().numpy(), loss, acc

    def score(self, version: int, weights: np.ndarray, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        self._sync(version, weights)
        out = []
        for g, idx in jobs:
            idx = torch.as_tensor(idx, device=self.device)
            out.append(child_metrics(self.model, g, self.val[0][idx], self.val[1][idx]))
        return out


class RayExecutor:
    """W child-worker actors; inside a Tune trial they are placed in the trial's placement group.

    Training: job i goes to worker i mod W, gradients are averaged (synchronous data parallelism over
    different children). Scoring: jobs are split evenly across workers and run in parallel.
    """

    def __init__(
        self,
        model: Supernet,
        train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray],
        num_workers: int,
        cpus_per_worker: float = 0.5,
        gpus_per_worker: float = 0.0,
        seed: int = 0,
    ):
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.ray = ray
        self.model = model
        self.num_workers = num_workers
        pg = ray.util.get_current_placement_group()
        self.in_placement_group = pg is not None
        remote = ray.remote(ChildWorker)
        train_ref, val_ref = ray.put(train), ray.put(val)
        self._data_refs = (train_ref, val_ref)  # held: a restarted worker re-reads them in its __init__
        self.actors = []
        for i in range(num_workers):
            # a worker that dies (node lost, OOM, killed) is restarted by Ray and its in-flight call retried:
            # the new actor re-reads the data refs and re-syncs the shared weights on its first call
            # (every call carries the weights' version), so no step is lost or applied twice
            opts: dict[str, Any] = {"num_cpus": cpus_per_worker, "num_gpus": gpus_per_worker,
                                    "max_restarts": WORKER_RESTARTS, "max_task_retries": WORKER_RESTARTS}
            if pg is not None:
                # bundle 0 is the trial itself; bundle i+1 is reserved for worker i
                index = i + 1 if i + 1 < pg.bundle_count else -1
                opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                    placement_group=pg, placement_group_bundle_index=index
                )
            self.actors.append(
                remote.options(**opts).remote(
                    model.config.to_dict(), train_ref, val_ref, max(1, int(round(cpus_per_worker))), seed + 1000 * (i + 1)
                )
            )
        self._version = 0
        self._weights_ref = None
        self._weights_sig: torch.Tensor | None = None
        self._placement: list[dict[str, Any]] | None = None

    @property
    def placement(self) -> list[dict[str, Any]]:
        """Per worker: its Ray node id, assigned GPU ids and torch device (asked once)."""
        if self._placement is None:
            self._placement = self.ray.get([a.where.remote() for a in self.actors])
        return self._placement

    def _weights(self) -> tuple[int, Any]:
        """Publish the master weights once per change (a version number lets actors skip re-loading)."""
        vec = nn.utils.parameters_to_vector(self.model.parameters()).detach()
        if self._weights_sig is None or not torch.equal(vec, self._weights_sig):
            self._version += 1
            self._weights_sig = vec.clone()
            self._weights_ref = self.ray.put(vec.numpy())
        return self._version, self._weights_ref

    def grads(self, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        version, ref = self._weights()
        futures = [self.actors[i % self.num_workers].grads.remote(version, ref, job) for i, job in enumerate(jobs)]
        results = self.ray.get(futures)
        total = torch.from_numpy(np.sum([r[0] for r in results], axis=0) / len(results))
        set_flat_grad(self.model, total.to(torch.float32))
        return [(r[1], r[2]) for r in results]

    def score(self, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        version, ref = self._weights()
        chunks = [list(jobs[i :: self.num_workers]) for i in range(self.num_workers)]
        futures = [a.score.remote(version, ref, c) for a, c in zip(self.actors, chunks) if c]
        per_worker = self.ray.get(futures)
        out = [(0.0, 0.0)] * len(jobs)
        for w, scores in enumerate(per_worker):
            for j, score in enumerate(scores):
                out[w + j * self.num_workers] = tuple(score)
        return out

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
