"""Public entry points: search (ENAS or random baseline), train a genotype from scratch, evaluate.

`search_and_train` is what the benchmark and `posenas search` call; `random_search_and_train` runs the
random-search-with-weight-sharing baseline with exactly the same number of child training steps
(same epochs, batch size and workers) and the same final from-scratch training.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from posenas.search.data import DataSpec, load_splits, search_arrays
from posenas.search.enas import SearchConfig
from posenas.platform.classification.genotype import Genotype, load_genotype
from posenas.platform.classification.cellnet import NetConfig

RUN_FILE = "posenas_run.json"


@dataclass
class SearchResult:
    """What one search (+ optional from-scratch training) produced; paths point into the storage path."""

    method: str
    genotype: Genotype
    genotype_path: str
    shared_val_acc: float  # derived child, shared weights, validation split
    child_steps: int
    search_seconds: float
    search_path: str
    report: dict[str, str]
    best_hparams: dict[str, Any] = field(default_factory=dict)
    search_config: dict[str, Any] = field(default_factory=dict)
    val_accs: list[float | None] = field(default_factory=list)  # from scratch, per seed (None: trained on train+val)
    test_accs: list[float] = field(default_factory=list)  # from scratch, per seed, test split
    train_seconds: float = 0.0
    train_path: str | None = None
    best_checkpoint: str | None = None  # the seed with the best validation accuracy

    @property
    def val_acc(self) -> float | None:
        vals = [v for v in self.val_accs if v is not None]
        return sum(vals) / len(vals) if vals else None

    @property
    def test_acc(self) -> float | None:
        return sum(self.test_accs) / len(self.test_accs) if self.test_accs else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["genotype"] = self.genotype.to_dict()
        d["val_acc"], d["test_acc"] = self.val_acc, self.test_acc
        return d


def _default_name(spec: DataSpec, method: str) -> str:
    return f"{method}_{Path(spec.dataset_path).name}_{spec.protocol}"


def search_only(
    dataset_path: str | Path,
    format: str | None = "msr_action3d",
    protocol: str = "cross_subject",
    search_config: SearchConfig | None = None,
    storage_path: str | Path = "posenas_results",
    name: str | None = None,
    method: str = "enas",
    address: str | None = None,
    resume: bool = False,
    hpo_samples: int = 1,
    augment_train: int = 4,
    val_fraction: float = 0.2,
    data_seed: int = 0,
    encoding: dict[str, Any] | None = None,
    verbose: int = 1,
    callbacks: list | None = None,
    storage_endpoint: str | None = None,
    space: str | None = None,
    poses: str = "dataset",
    loader_options: dict[str, Any] | None = None,
    augment: dict[str, Any] | None = None,
) -> tuple[SearchResult, DataSpec, tuple]:
    """Run/resume the search and write its report; returns (result, data spec, (train, val, test)).

    `storage_path` may be a local folder or a URI (s3://bucket/prefix; `storage_endpoint` for an
    S3-compatible store): the Tune experiment and the run file go there, so `resume` works from any
    machine that can reach it. `loader_options` go to the dataset's loader (MSR Action3D: subset="cvpr12" for
    the common protocol's 557 sequences) and are recorded with the split, so `posenas train` rebuilds it.
    `augment`: AugmentConfig fields of the training copies (e.g. {"rotate_deg": 45}), recorded likewise."""
    from posenas.core import storage as store
    from posenas.core.ray_runtime import init_ray
    from posenas.search.report import write_report
    from posenas.search.tune_search import run_search

    from posenas.search.data import default_space

    spec = DataSpec(str(Path(dataset_path).expanduser().resolve()), format, protocol, augment_train, val_fraction,
                    data_seed, dict(encoding or {}), space=default_space(poses, space), poses=poses,
                    loader_options=dict(loader_options or {}), augment=dict(augment or {}))
    name = name or _default_name(spec, method)
    storage = store.normalize_storage_path(storage_path)
    run_file = store.join(storage, name, RUN_FILE)
    store.filesystem(storage, storage_endpoint)  # a bad endpoint fails here, before data or Ray
    sc = search_config or SearchConfig()
    if resume and store.exists(run_file, storage_endpoint):
        saved = json.loads(store.read_text(run_file, storage_endpoint))  # the interrupted run's settings win
        spec = DataSpec(**saved["data_spec"])
        sc = SearchConfig.from_dict(saved["search_config"])
        method, hpo_samples = saved["method"], saved["hpo_samples"]
    train, val, test = load_splits(spec)
    sc = replace(sc, net=replace(sc.net, num_classes=len(train.classes)))
    if not resume:
        run = {"data_spec": spec.to_dict(), "search_config": sc.to_dict(), "method": method, "hpo_samples": hpo_samples}
        store.write_text(run_file, json.dumps(run, indent=1), storage_endpoint)
    init_ray(address)
    outcome = run_search(sc, search_arrays(train, val), storage, name, method, resume, hpo_samples, callbacks=callbacks,
                         verbose=verbose, storage_endpoint=storage_endpoint)
    steps = int(outcome.history[-1]["child_steps"]) if outcome.history else 0
    summary = {
        "title": f"{method} on {Path(spec.dataset_path).name} / {spec.protocol}: shared-weight val acc {outcome.shared_val_acc:.3f}",
        "method": method,
        "shared_val_acc": outcome.shared_val_acc,
        "child_steps": steps,
        "best_hparams": outcome.best_config,
        "search_config": sc.to_dict(),
        "data_spec": spec.to_dict(),
        "search_seconds": outcome.seconds,
    }
    report_dir = Path(storage) / name / "report" if not store.is_uri(storage) else Path("posenas_report") / name
    report = write_report(report_dir, outcome.genotype, outcome.history, summary)
    result = SearchResult(
        method=method,
        genotype=outcome.genotype,
        genotype_path=report["genotype_json"],
        shared_val_acc=outcome.shared_val_acc,
        child_steps=steps,
        search_seconds=outcome.seconds,
        search_path=outcome.experiment_path,
        report=report,
        best_hparams=outcome.best_config,
        search_config=sc.with_overrides(outcome.best_config).to_dict(),
    )
    return result, spec, (train, val, test)


def train_genotype(
    genotype: Genotype,
    splits: tuple,
    spec: DataSpec,
    net_config: NetConfig | None = None,
    train_config: dict[str, Any] | Any | None = None,
    storage_path: str | Path = "posenas_results",
    name: str = "train",
    seeds: int | list[int] = 1,
    address: str | None = None,
    verbose: int = 1,
    storage_endpoint: str | None = None,
):
    """From-scratch training of `genotype`, one Tune trial per seed; returns tune_search.TrainOutcome.

    With a validation split each seed keeps its best-validation epoch; without one (splits built with
    val_fraction 0, i.e. on train+val) it trains for exactly the configured epochs and keeps the last.
    """
    from posenas.core import storage as store
    from posenas.core.ray_runtime import init_ray
    from posenas.search.tune_search import run_training

    train, val, test = splits
    tc = train_config.to_dict() if hasattr(train_config, "to_dict") else dict(train_config or {})
    if val is None or len(val) == 0:  # train+val (val_fraction 0): nothing to select an epoch with
        val = None
        tc["select"] = "last"
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    net = replace(net_config or NetConfig(num_nodes=genotype.num_nodes), num_classes=len(train.classes), num_nodes=genotype.num_nodes)
    storage = store.normalize_storage_path(storage_path)
    store.filesystem(storage, storage_endpoint)  # a bad endpoint fails before Ray starts
    init_ray(address)
    data = {"train": train, "val": val, "test": test, "spec": spec.to_dict()}
    return run_training(genotype, net, data, tc, storage, name, seed_list, verbose=verbose, storage_endpoint=storage_endpoint)


def search_and_train(
    dataset_path: str | Path,
    format: str | None = "msr_action3d",
    protocol: str = "cross_subject",
    search_config: SearchConfig | None = None,
    train_config: dict[str, Any] | Any | None = None,
    storage_path: str | Path = "posenas_results",
    address: str | None = None,
    name: str | None = None,
    seeds: int | list[int] = 1,
    method: str = "enas",
    resume: bool = False,
    hpo_samples: int = 1,
    augment_train: int = 4,
    val_fraction: float = 0.2,
    data_seed: int = 0,
    encoding: dict[str, Any] | None = None,
    verbose: int = 1,
    storage_endpoint: str | None = None,
    space: str | None = None,
    poses: str = "dataset",
    train_on_val: bool = True,
    loader_options: dict[str, Any] | None = None,
    augment: dict[str, Any] | None = None,
) -> SearchResult:
    """Search (validation split carved from the training subjects), derive, retrain from scratch per seed,
    evaluate on the protocol's test split. `train_config`: a ClassifierTrainConfig or its dict.

    `train_on_val` (default, as `posenas train`): the retraining uses every training subject, the search's
    validation subjects too, for the fixed number of epochs (last epoch kept), so no subject the search held
    out is wasted; False keeps the best-validation epoch of a training on the train split only.
    """
    result, spec, splits = search_only(
        dataset_path, format, protocol, search_config, storage_path, name, method, address, resume, hpo_samples,
        augment_train, val_fraction, data_seed, encoding, verbose, storage_endpoint=storage_endpoint, space=space,
        poses=poses, loader_options=loader_options, augment=augment,
    )
    net = NetConfig(**result.search_config["net"])
    t0 = time.time()
    if train_on_val:
        spec = replace(spec, val_fraction=0.0)
        splits = load_splits(spec)
    outcome = train_genotype(
        result.genotype, splits, spec, net, train_config, storage_path, f"{Path(result.search_path).name}_train", seeds, address, verbose,
        storage_endpoint=storage_endpoint,
    )
    result.val_accs, result.test_accs = outcome.val_accs, outcome.test_accs
    result.train_seconds = time.time() - t0
    result.train_path = outcome.experiment_path
    result.best_checkpoint = outcome.best_checkpoint
    summary_path = Path(result.report["summary_json"])
    summary = json.loads(summary_path.read_text())
    summary["from_scratch"] = {"per_seed": outcome.per_seed, "val_acc": result.val_acc, "test_acc": result.test_acc}
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    return result


def random_search_and_train(*args, **kwargs) -> SearchResult:
    """The random-search (weight sharing) baseline: same arguments and budget as `search_and_train`."""
    kwargs["method"] = "random"
    return search_and_train(*args, **kwargs)


def load_child(checkpoint: str | Path):
    """(model in eval mode, checkpoint records) from a training trial's checkpoint dir or its model.pt."""
    from posenas.platform.classification.checkpoint import load_classifier

    p = Path(checkpoint)
    if p.is_dir():
        p = p / "model.pt"
    loaded = load_classifier(p)
    return loaded.model, loaded.checkpoint


def evaluate_checkpoint(
    checkpoint: str | Path, dataset_path: str | Path | None = None, format: str | None = None, protocol: str | None = None
) -> dict[str, Any]:
    """Test-split accuracy, per-class accuracy and confusion of a trained child (data spec from the checkpoint)."""
    from posenas.platform.classification.train import evaluate_classifier

    model, ckpt = load_child(checkpoint)
    saved = (ckpt.data or {}).get("spec")
    spec = DataSpec(**saved) if saved else None
    if spec is None and dataset_path is None:
        from posenas.errors import PosenasError

        raise PosenasError("the checkpoint has no data spec: give --dataset")
    if spec is None:
        spec = DataSpec(str(dataset_path))
    if dataset_path is not None:
        spec = replace(spec, dataset_path=str(Path(dataset_path).expanduser().resolve()))
    if format is not None:
        spec = replace(spec, format=format)
    if protocol is not None:
        spec = replace(spec, protocol=protocol)
    _, _, test = load_splits(spec)
    if list(test.classes) != list(ckpt.classes):
        from posenas.errors import PosenasError

        raise PosenasError(f"the test split's classes differ from the checkpoint's ({len(test.classes)} vs {len(ckpt.classes)})")
    ev = evaluate_classifier(model, test)
    return {"accuracy": float(ev["accuracy"]), "per_class": ev["per_class"], "confusion": ev["confusion"],
            "classes": list(test.classes), "num_samples": int(ev["num_samples"]), "genotype": ckpt.config.get("genotype")}
