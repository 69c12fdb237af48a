"""Micro-search-space genotypes: what a sampled cell is, validated and saved as human-readable JSON.

A cell has B nodes; node i (0-based) reads two inputs chosen among the two cell inputs (indices 0 and 1:
the outputs of the cell before the previous one and of the previous cell) and earlier nodes (index 2 + k
for node k), applies one operation to each and sums them. The cell output concatenates the nodes no other
node reads ("loose ends"), as in ENAS. A genotype is one normal cell and one reduction cell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenas.errors import DataFormatError

OPS: tuple[str, ...] = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
# Ops without weights. Shared-weight searches drift towards them (DARTS' skip connections; P-DARTS caps those per
# cell), so a search can cap how many a cell may hold (`SearchConfig.max_param_free`).
PARAM_FREE_OPS: frozenset[str] = frozenset({"avg_pool_3x3", "max_pool_3x3", "identity"})
NUM_CELL_INPUTS = 2
GENOTYPE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Node:
    """Two (input index, operation) pairs whose results are summed."""

    inputs: tuple[int, int]
    ops: tuple[str, str]


@dataclass(frozen=True)
class Cell:
    nodes: tuple[Node, ...]

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def param_free_ops(self) -> int:
        """How many of the cell's 2 x nodes ops have no weights (pooling, identity)."""
        return sum(op in PARAM_FREE_OPS for n in self.nodes for op in n.ops)

    def loose_ends(self) -> list[int]:
        """Node indices (0-based, not counting cell inputs) that no later node reads; the cell output."""
        used = {i - NUM_CELL_INPUTS for n in self.nodes for i in n.inputs if i >= NUM_CELL_INPUTS}
        return [k for k in range(self.num_nodes) if k not in used]

    def validate(self, where: str = "cell") -> None:
        """Raise ValueError naming the node when an input points forward or an op is unknown."""
        if not self.nodes:
            raise ValueError(f"{where}: a cell needs at least one node")
        for k, node in enumerate(self.nodes):
            if len(node.inputs) != 2 or len(node.ops) != 2:
                raise ValueError(f"{where} node {k}: needs exactly two inputs and two ops")
            for i in node.inputs:
                if not isinstance(i, int) or not 0 <= i < NUM_CELL_INPUTS + k:
                    raise ValueError(
                        f"{where} node {k}: input {i!r} must be an int in [0, {NUM_CELL_INPUTS + k})"
                    )
            for op in node.ops:
                if op not in OPS:
                    raise ValueError(f"{where} node {k}: unknown op {op!r}; available: {', '.join(OPS)}")

    def to_list(self) -> list[dict[str, Any]]:
        return [{"inputs": list(n.inputs), "ops": list(n.ops)} for n in self.nodes]

    @classmethod
    def from_list(cls, items: list[dict[str, Any]]) -> "Cell":
        return cls(tuple(Node(tuple(int(i) for i in d["inputs"]), tuple(str(o) for o in d["ops"])) for d in items))


@dataclass(frozen=True)
class Genotype:
    normal: Cell
    reduce: Cell

    def validate(self) -> None:
        self.normal.validate("normal")
        self.reduce.validate("reduce")
        if self.normal.num_nodes != self.reduce.num_nodes:
            raise ValueError("normal and reduce cells must have the same number of nodes")

    @property
    def num_nodes(self) -> int:
        return self.normal.num_nodes

    def to_dict(self) -> dict[str, Any]:
        return {"normal": self.normal.to_list(), "reduce": self.reduce.to_list()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Genotype":
        g = cls(Cell.from_list(d["normal"]), Cell.from_list(d["reduce"]))
        g.validate()
        return g

    def key(self) -> str:
        """A compact, hashable string form (for de-duplicating sampled architectures)."""
        def enc(c: Cell) -> str:
            return ";".join(f"{a},{b}:{OPS.index(x)},{OPS.index(y)}" for (a, b), (x, y) in ((n.inputs, n.ops) for n in c.nodes))

        return f"N[{enc(self.normal)}]R[{enc(self.reduce)}]"

    def describe(self) -> str:
        """Multi-line human summary, one node per line."""
        lines = []
        for name, cell in (("normal", self.normal), ("reduce", self.reduce)):
            lines.append(f"{name} cell (output = concat of nodes {cell.loose_ends()}):")
            for k, n in enumerate(cell.nodes):
                src = [_input_name(i) for i in n.inputs]
                lines.append(f"  node{k} = {n.ops[0]}({src[0]}) + {n.ops[1]}({src[1]})")
        return "\n".join(lines)


def _input_name(i: int) -> str:
    return ("c_{k-2}", "c_{k-1}")[i] if i < NUM_CELL_INPUTS else f"node{i - NUM_CELL_INPUTS}"


def save_genotype(genotype: Genotype, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write the genotype (plus search settings/metrics in `meta`) as indented JSON a person can read and edit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"format": "posenas-genotype", "version": GENOTYPE_FORMAT_VERSION, "ops": list(OPS)}
    # one node per line: {"inputs": [0, 1], "ops": ["sep_conv_3x3", "identity"]}
    marks = {}
    for cell_name, nodes in genotype.to_dict().items():
        doc[cell_name] = []
        for k, node in enumerate(nodes):
            mark = f"@@{cell_name}{k}@@"
            marks[json.dumps(mark)] = json.dumps(node)
            doc[cell_name].append(mark)
    if meta:
        doc["meta"] = meta
    text = json.dumps(doc, indent=2, default=str)
    for mark, node in marks.items():
        text = text.replace(mark, node)
    path.write_text(text + "\n")
    return path


def load_genotype(path: str | Path) -> tuple[Genotype, dict[str, Any]]:
    """Read a genotype JSON; malformed files raise DataFormatError naming the file and the faulty field."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataFormatError(path, "file not found") from None
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid JSON: {e.msg}", line=e.lineno) from None
    if not isinstance(doc, dict):
        raise DataFormatError(path, "expected a JSON object")
    for key in ("normal", "reduce"):
        if not isinstance(doc.get(key), list):
            raise DataFormatError(path, "missing or not a list of nodes", field=key)
        for k, node in enumerate(doc[key]):
            if not isinstance(node, dict) or "inputs" not in node or "ops" not in node:
                raise DataFormatError(path, "node needs 'inputs' and 'ops'", field=f"{key}[{k}]")
    try:
        g = Genotype.from_dict(doc)
    except (ValueError, TypeError) as e:
        raise DataFormatError(path, str(e), field="normal/reduce") from None
    return g, dict(doc.get("meta", {}))


def random_genotype(num_nodes: int, rng, max_param_free: int | None = None) -> Genotype:
    """Uniformly random architecture (the random-search baseline's sampler); `rng` is a numpy Generator.
    With `max_param_free`, uniform over the cells with at most that many parameter-free ops (by rejection)."""
    if max_param_free is not None and max_param_free < 0:
        raise ValueError(f"max_param_free={max_param_free}: must be >= 0")

    def draw() -> Cell:
        nodes = []
        for k in range(num_nodes):
            ins = rng.integers(0, NUM_CELL_INPUTS + k, size=2)
            ops = rng.integers(0, len(OPS), size=2)
            nodes.append(Node((int(ins[0]), int(ins[1])), (OPS[ops[0]], OPS[ops[1]])))
        return Cell(tuple(nodes))

    def cell() -> Cell:
        c = draw()
        while max_param_free is not None and c.param_free_ops() > max_param_free:
            c = draw()
        return c

    return Genotype(cell(), cell())
