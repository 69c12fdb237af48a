"""Ray Tune hosting: one trial = one ENAS search; outer ASHA search over its hyper-parameters; seeds.

A search trial owns the controller, the shared weights and both optimisers; its W child-worker actors sit
in the trial's placement group (bundle 0: the trial, bundles 1..W: workers). It reports and checkpoints
every epoch, so `Tuner.restore` resumes an interrupted search with its controller state intact. The
final from-scratch training of a derived genotype runs as one Tune trial per seed, in parallel.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posenas.core import storage

SEARCH_STATE = "search_state.pt"
GENOTYPE_FILE = "genotype.json"
HPO_KEYS = ("controller_lr", "entropy_weight", "child_lr")


# --------------------------------------------------------------------------------------------------
# trainables (run inside Tune trial actors)
# --------------------------------------------------------------------------------------------------
def search_trainable(config: dict[str, Any], data: dict[str, Any]) -> None:
    """One ENAS (or random-baseline) search; checkpoints every epoch, derives at the last one."""
    import torch
    from ray import tune

    from posenas.search.enas import SearchConfig, load_state, make_search, save_state
    from posenas.platform.classification.genotype import save_genotype
    from posenas.search.workers import RayExecutor

    sc = SearchConfig.from_dict(config["search"]).with_overrides({k: config[k] for k in HPO_KEYS if k in config})
    torch.set_num_threads(max(1, int(config.get("trial_cpus", 1))))
    train = tuple(torch.from_numpy(np.array(a)) for a in data["train"])  # copies: object-store arrays are read-only
    val = tuple(torch.from_numpy(np.array(a)) for a in data["val"])
    factory = None
    if sc.workers > 0:
        def factory(model):
            return RayExecutor(model, data["train"], data["val"], sc.workers, sc.cpus_per_worker, sc.gpus_per_worker, sc.seed)

    search = make_search(config.get("method", "enas"), sc, train, val, factory)
    start_epoch = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            search.load_state_dict(load_state(Path(d) / SEARCH_STATE))
        start_epoch = search.epoch
    start_digest = search.controller_digest()
    try:
        while search.epoch < sc.epochs:
            t0 = time.time()
            metrics = search.run_epoch()
            metrics.update(
                start_epoch=start_epoch, controller_digest_at_start=start_digest, epoch_seconds=time.time() - t0,
                workers=search.executor.num_workers, workers_in_placement_group=search.executor.in_placement_group,
                **_worker_placement(search.executor),
            )
            with tempfile.TemporaryDirectory() as d:
                save_state(search.state_dict(), Path(d) / SEARCH_STATE)
                (Path(d) / "history.json").write_text(json.dumps(search.history, indent=1))
                if search.epoch >= sc.epochs:
                    best, acc, ranking = search.derive()
                    metrics.update(derived_val_acc=acc, derived_val_loss=ranking[0][2], derived_candidates=len(ranking))
                    save_genotype(best, Path(d) / GENOTYPE_FILE, meta={"shared_val_acc": acc, "method": config.get("method", "enas")})
                    # Child workers go now, by ray.kill, not after the last report: Tune removes the trial's
                    # placement group when the trial ends (or ASHA stops it inside that report), and the raylet
                    # then SIGTERMs every actor still in its bundles, whose SIGTERM handler raises SystemExit
                    # in whatever it runs (a traceback on the driver's console).
                    search.executor.close()
                print(
                    f"[search] epoch {metrics['epoch']}/{sc.epochs} reward={metrics.get('reward', float('nan')):.3f} "
                    f"val_acc={metrics['val_acc']:.3f} best_val_acc={metrics['best_val_acc']:.3f} "
                    f"({metrics['epoch_seconds']:.0f}s)",
                    flush=True,
                )
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
    finally:
        search.executor.close()


def _worker_placement(executor) -> dict[str, Any]:
    """Where the child workers ran (node ids, devices): what a cluster user checks first."""
    placement = getattr(executor, "placement", None)
    if not placement:
        return {}
    return {"worker_nodes": [p["node_id"] for p in placement], "worker_devices": [p["device"] for p in placement]}


def train_trainable(config: dict[str, Any], data: dict[str, Any]) -> None:
    """From-scratch training of one genotype with one seed (H7's train_classifier), then test accuracy."""
    import torch
    from ray import tune

    from posenas.core.checkpoint import count_parameters
    from posenas.platform.classification.train import ClassifierTrainConfig, evaluate_classifier, train_classifier
    from posenas.platform.classification.cellnet import ChildNet
    from posenas.platform.classification.genotype import Genotype
    from posenas.platform.classification.cellnet import NetConfig

    seed = int(config["seed"])
    torch.manual_seed(seed)  # the child's initial weights
    np.random.seed(seed)
    genotype = Genotype.from_dict(config["genotype"])
    net = NetConfig(**{**config["net"], "num_classes": len(data["train"].classes)})
    model = ChildNet(genotype, net)
    threads = max(1, int(config.get("trial_cpus", 1)))
    tcfg = ClassifierTrainConfig(**{"num_threads": threads, **config.get("train", {}), "seed": seed})
    t0 = time.time()
    # Without a validation split (train on train+val) the fixed number of epochs runs and the last is kept.
    result = train_classifier(model, data["train"], data["val"], tcfg, progress=False)
    model.load_state_dict(result.best_state_dict)
    test = evaluate_classifier(model, data["test"])
    metrics = {
        "seed": seed,
        "val_acc": None if result.best_val_acc is None else float(result.best_val_acc),
        "epoch": int(result.best_epoch),
        "test_acc": float(test["accuracy"]),
        "params": count_parameters(model),
        "train_seconds": time.time() - t0,
    }
    with tempfile.TemporaryDirectory() as d:
        save_child_checkpoint(Path(d), model, genotype, net, data.get("spec"), data["train"].classes, metrics, test)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def save_child_checkpoint(d: Path, model, genotype, net, spec, classes, metrics, test_eval=None) -> None:
    """model.pt (weights + everything to rebuild it) and a readable genotype/metrics JSON beside it."""
    from posenas.platform.classification.genotype import save_genotype

    from posenas.platform.classification.checkpoint import save_classifier
    from posenas.platform.encoding.pose_space import space_record

    spec = dict(spec or {})
    save_classifier(
        d / "model.pt", model, "cellnet", {"genotype": genotype.to_dict(), "net": net.to_dict()}, list(classes),
        encoding=_encoding_fields(spec.get("encoding") or {}), space=space_record(spec.get("space", "canonical"), "the dataset's own"),
        data={"spec": spec}, metrics=dict(metrics), name="cellnet",
    )
    save_genotype(genotype, d / GENOTYPE_FILE, meta=metrics)
    if test_eval is not None:
        conf = np.asarray(test_eval.get("confusion", [])).tolist()
        (d / "test_eval.json").write_text(json.dumps({**metrics, "confusion": conf, "per_class": _jsonable(test_eval.get("per_class"))}, indent=1))


def _encoding_fields(encoding: dict[str, Any]) -> dict[str, Any]:
    """Every EncodingConfig field, so a checkpoint states its full encoding, not just the overrides."""
    from dataclasses import asdict

    from posenas.platform.encoding.encoder import ActionEncoder

    return asdict(ActionEncoder.from_records(encoding, {"name": "native"}).config)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


# --------------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------------
SEARCH_METHODS = ("enas", "random")


def validate_search(search_config, method: str = "enas", hpo_samples: int = 1) -> None:
    """Reject settings no search can run with, before Ray or Tune start (inside a trial they would end in
    a trial error per sample, and `epochs=0` in a trial that never reports: "interrupted, use --resume")."""
    from posenas.errors import PosenasError, UnknownNameError

    if method not in SEARCH_METHODS:
        raise UnknownNameError("search method", method, SEARCH_METHODS)
    sc, net = search_config, search_config.net
    checks = [
        ("epochs", sc.epochs, sc.epochs >= 1, ">= 1"),
        ("warmup_epochs", sc.warmup_epochs, 0 <= sc.warmup_epochs < sc.epochs, f">= 0 and < epochs ({sc.epochs})"),
        ("max_param_free", sc.max_param_free, sc.max_param_free is None or sc.max_param_free >= 0,
         ">= 0 (or unset: no cap)"),
        ("workers", sc.workers, sc.workers >= 0, ">= 0"),
        ("cpus_per_worker", sc.cpus_per_worker, sc.cpus_per_worker > 0, "> 0"),
        ("gpus_per_worker", sc.gpus_per_worker, sc.gpus_per_worker >= 0, ">= 0"),
        ("batch_size", sc.batch_size, sc.batch_size >= 1, ">= 1"),
        ("channels", net.channels, net.channels >= 1, ">= 1"),
        ("cells", net.cells_per_block, net.cells_per_block >= 1, ">= 1"),
        ("nodes", net.num_nodes, net.num_nodes >= 1, ">= 1"),
        ("hpo_samples", hpo_samples, hpo_samples >= 1, ">= 1"),
    ]
    for name, value, ok, rule in checks:
        if not ok:
            raise PosenasError(f"search setting {name}={value}: must be {rule}")


def search_resources(search_config, trial_cpus: float = 1.0):
    """Placement group: bundle 0 for the trial, one bundle per child worker."""
    from ray import tune

    worker = {"CPU": search_config.cpus_per_worker}
    if search_config.gpus_per_worker:
        worker["GPU"] = search_config.gpus_per_worker
    return tune.PlacementGroupFactory([{"CPU": trial_cpus}] + [dict(worker) for _ in range(search_config.workers)])


FAILURE_RETRIES = 2  # a trial whose process dies restarts from its last checkpoint this many times


def _failure_config(max_failures: int):
    from ray import tune

    return tune.FailureConfig(max_failures=max_failures)


@dataclass
class SearchOutcome:
    experiment_path: str
    genotype: Any  # Genotype
    shared_val_acc: float
    checkpoint_path: str
    best_config: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float


def run_search(
    search_config,
    data: dict[str, Any],
    storage_path: str | Path,
    name: str = "enas_search",
    method: str = "enas",
    resume: bool = False,
    hpo_samples: int = 1,
    trial_cpus: float = 1.0,
    callbacks: list | None = None,
    verbose: int = 1,
    storage_endpoint: str | None = None,
    max_failures: int = FAILURE_RETRIES,
) -> SearchOutcome:
    """Run (or resume) the search as a Tune experiment; returns the derived genotype of the best trial.

    hpo_samples > 1 samples controller lr, entropy weight and child lr and prunes with ASHA on the
    mean shared-weight validation loss (or accuracy: `rank_by`) of sampled children.
    """
    from ray import tune

    from posenas.platform.classification.genotype import load_genotype

    if not resume:  # a resumed search runs with its saved settings
        validate_search(search_config, method, hpo_samples)
    trainable = tune.with_resources(tune.with_parameters(search_trainable, data=data), search_resources(search_config, trial_cpus))
    where = storage.tune_storage(storage_path, storage_endpoint)
    exp_path = storage.join(storage_path, name)
    t0 = time.time()
    if resume:
        fs = where["storage_filesystem"]
        inner = f"{where['storage_path']}/{name}"
        if not tune.Tuner.can_restore(inner, storage_filesystem=fs):
            from posenas.errors import PosenasError

            raise PosenasError(f"nothing to resume at {exp_path} (no Tune experiment state there)")
        tuner = tune.Tuner.restore(inner, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                   storage_filesystem=fs)
    else:
        param_space: dict[str, Any] = {"search": search_config.to_dict(), "method": method, "trial_cpus": trial_cpus}
        tune_config = tune.TuneConfig(num_samples=max(1, hpo_samples))
        if hpo_samples > 1:
            from ray.tune.schedulers import ASHAScheduler

            param_space.update(
                controller_lr=tune.loguniform(3e-4, 1e-2),
                entropy_weight=tune.loguniform(1e-5, 1e-2),
                child_lr=tune.loguniform(0.01, 0.2),
            )
            # the children's mean shared-weight validation score, the one the search ranks by
            metric, mode = ("val_loss", "min") if search_config.rank_by == "val_loss" else ("val_acc", "max")
            tune_config = tune.TuneConfig(
                num_samples=hpo_samples,
                scheduler=ASHAScheduler(
                    metric=metric, mode=mode, time_attr="training_iteration",
                    max_t=search_config.epochs, grace_period=max(1, min(2, search_config.epochs)),
                ),
            )
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune_config,
            run_config=tune.RunConfig(
                name=name,
                **where,
                callbacks=callbacks,
                verbose=verbose,
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                failure_config=_failure_config(max_failures),
            ),
        )
    results = tuner.fit()
    finished = [r for r in results if r.error is None and r.metrics and "derived_val_acc" in r.metrics]
    if not finished:
        from posenas.errors import PosenasError

        errors = [str(r.error) for r in results if r.error is not None]
        if errors:
            raise PosenasError(f"no search trial finished in {exp_path}: {errors[0]}")
        raise PosenasError(f"search interrupted before it finished; continue it with --resume (experiment: {exp_path})")
    # ranked as the experiment's own trials were (a resumed search keeps its saved settings; older ones: accuracy)
    if finished[0].config["search"].get("rank_by", "val_acc") == "val_loss":
        best = min(finished, key=lambda r: r.metrics["derived_val_loss"])
    else:
        best = max(finished, key=lambda r: r.metrics["derived_val_acc"])
    with best.checkpoint.as_directory() as d:
        genotype, meta = load_genotype(Path(d) / GENOTYPE_FILE)
        history = json.loads((Path(d) / "history.json").read_text())
    return SearchOutcome(
        experiment_path=exp_path,
        genotype=genotype,
        shared_val_acc=float(best.metrics["derived_val_acc"]),
        checkpoint_path=best.checkpoint.path,
        best_config={k: best.config[k] for k in HPO_KEYS if k in best.config},
        history=history,
        seconds=time.time() - t0,
    )


@dataclass
class TrainOutcome:
    experiment_path: str
    per_seed: list[dict[str, Any]]
    best_checkpoint: str
    seconds: float

    @property
    def test_accs(self) -> list[float]:
        return [r["test_acc"] for r in self.per_seed]

    @property
    def val_accs(self) -> list[float]:
        return [r["val_acc"] for r in self.per_seed]


def run_training(
    genotype,
    net_config,
    data: dict[str, Any],
    train_config: dict[str, Any] | None,
    storage_path: str | Path,
    name: str = "enas_train",
    seeds: list[int] | tuple[int, ...] = (0,),
    trial_cpus: float = 1.0,
    verbose: int = 1,
    storage_endpoint: str | None = None,
    max_failures: int = FAILURE_RETRIES,
) -> TrainOutcome:
    """Train the genotype from scratch once per seed, seeds as parallel Tune trials; test accuracy each."""
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(train_trainable, data=data), {"cpu": trial_cpus})
    t0 = time.time()
    tuner = tune.Tuner(
        trainable,
        param_space={
            "genotype": genotype.to_dict(),
            "net": net_config.to_dict(),
            "train": dict(train_config or {}),
            "trial_cpus": trial_cpus,
            "seed": tune.grid_search(list(seeds)),
        },
        run_config=tune.RunConfig(name=name, **storage.tune_storage(storage_path, storage_endpoint), verbose=verbose,
                                  failure_config=_failure_config(max_failures)),
    )
    results = tuner.fit()
    ok = [r for r in results if r.error is None and r.metrics and "test_acc" in r.metrics]
    if not ok:
        errors = [str(r.error) for r in results if r.error is not None]
        from posenas.errors import PosenasError

        raise PosenasError("from-scratch training failed" + (f": {errors[0]}" if errors else ""))
    per_seed = sorted(({**{k: r.metrics[k] for k in ("seed", "val_acc", "test_acc", "params", "train_seconds")}, "checkpoint": r.checkpoint.path} for r in ok), key=lambda m: m["seed"])
    # pick by validation, never by test; trained on train+val there is none to pick by: the first seed
    best = per_seed[0] if any(m["val_acc"] is None for m in per_seed) else max(per_seed, key=lambda m: m["val_acc"])
    return TrainOutcome(storage.join(storage_path, name), per_seed, best["checkpoint"], time.time() - t0)
