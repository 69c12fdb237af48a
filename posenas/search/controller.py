"""ENAS controller: an LSTM that samples normal and reduction cells, trained with REINFORCE.

Per node it makes four decisions (input x, input y, op x, op y). Inputs are picked by attention over
"anchors" (the LSTM state after each earlier node and the two cell inputs), ops by a softmax over the five
candidates. Logits go through `tanh_constant * tanh(logits / temperature)` (ENAS' logit clipping keeps
early sampling diverse). The policy gradient uses a moving-average baseline and an entropy bonus.
With `max_param_free`, once a cell holds that many parameter-free ops the rest of its op choices are masked to
the convolutions, so sampling and `log_prob` stay one distribution over the capped space.
"""

from __future__ import annotations

import torch
from torch import nn

from posenas.core.config import ConfigBase, config_dataclass
from posenas.platform.classification.genotype import NUM_CELL_INPUTS, OPS, PARAM_FREE_OPS, Cell, Genotype, Node

_PARAM_FREE_MASK = torch.tensor([op in PARAM_FREE_OPS for op in OPS])


@config_dataclass
class ControllerConfig(ConfigBase):
    """Defaults follow the ENAS micro search (Pham et al. 2018), baseline decay shortened for short searches."""

    hidden: int = 64
    num_nodes: int = 4
    temperature: float = 5.0
    tanh_constant: float = 1.1
    op_tanh_reduce: float = 2.5
    lr: float = 3.5e-3
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.95
    grad_clip: float = 5.0
    max_param_free: int | None = None  # per cell; set from SearchConfig.max_param_free, as num_nodes is


class Controller(nn.Module):
    """`sample()` -> (genotype, log_prob, entropy); `log_prob(genotype)` scores a given architecture."""

    def __init__(self, config: ControllerConfig):
        super().__init__()
        self.config = config
        h = config.hidden
        self.lstm = nn.LSTMCell(h, h)
        self.g_emb = nn.Parameter(torch.empty(1, h).uniform_(-0.1, 0.1))
        self.op_emb = nn.Embedding(len(OPS), h)
        self.attn_anchor = nn.Linear(h, h, bias=False)
        self.attn_query = nn.Linear(h, h, bias=False)
        self.attn_v = nn.Linear(h, 1, bias=False)
        self.op_head = nn.Linear(h, len(OPS))
        for p in self.parameters():
            if p.dim() > 1 and p is not self.g_emb:
                nn.init.uniform_(p, -0.1, 0.1)

    def _clip(self, logits: torch.Tensor, reduce: float = 1.0) -> torch.Tensor:
        c = self.config
        logits = logits / c.temperature
        if c.tanh_constant > 0:
            logits = (c.tanh_constant / reduce) * torch.tanh(logits)
        return logits

    def _decide(self, logits: torch.Tensor, forced: int | None) -> tuple[int, torch.Tensor, torch.Tensor]:
        dist = torch.distributions.Categorical(logits=logits)
        choice = torch.as_tensor(forced) if forced is not None else dist.sample()
        return int(choice), dist.log_prob(choice), dist.entropy()

    def _cell(
        self, state: tuple[torch.Tensor, torch.Tensor], forced: Cell | None
    ) -> tuple[Cell, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        hx, cx = state
        anchors, anchor_proj = [], []
        inp = self.g_emb
        for _ in range(NUM_CELL_INPUTS):
            hx, cx = self.lstm(inp, (hx, cx))
            anchors.append(torch.zeros_like(hx))
            anchor_proj.append(self.attn_anchor(hx))
        log_p = torch.zeros(())
        ent = torch.zeros(())
        nodes = []
        param_free = 0
        cap = self.config.max_param_free
        for k in range(self.config.num_nodes):
            inputs, ops = [], []
            for s in range(2):
                hx, cx = self.lstm(inp, (hx, cx))
                query = torch.tanh(torch.cat(anchor_proj, 0) + self.attn_query(hx))
                logits = self._clip(self.attn_v(query).view(1, -1))
                f = None if forced is None else forced.nodes[k].inputs[s]
                idx, lp, e = self._decide(logits[0], f)
                inputs.append(idx)
                log_p, ent = log_p + lp, ent + e
                inp = anchors[idx]
            for s in range(2):
                hx, cx = self.lstm(inp, (hx, cx))
                logits = self._clip(self.op_head(hx), self.config.op_tanh_reduce)
                if cap is not None and param_free >= cap:
                    logits = logits.masked_fill(_PARAM_FREE_MASK, float("-inf"))
                f = None if forced is None else OPS.index(forced.nodes[k].ops[s])
                op, lp, e = self._decide(logits[0], f)
                ops.append(OPS[op])
                param_free += OPS[op] in PARAM_FREE_OPS
                log_p, ent = log_p + lp, ent + e
                inp = self.op_emb.weight[op : op + 1]
            hx, cx = self.lstm(inp, (hx, cx))
            anchors.append(hx)
            anchor_proj.append(self.attn_anchor(hx))
            inp = self.g_emb
            nodes.append(Node((inputs[0], inputs[1]), (ops[0], ops[1])))
        return Cell(tuple(nodes)), log_p, ent, (hx, cx)

    def _run(self, forced: Genotype | None) -> tuple[Genotype, torch.Tensor, torch.Tensor]:
        h = self.config.hidden
        state = (torch.zeros(1, h), torch.zeros(1, h))
        normal, lp_n, e_n, state = self._cell(state, None if forced is None else forced.normal)
        reduce, lp_r, e_r, _ = self._cell(state, None if forced is None else forced.reduce)
        return Genotype(normal, reduce), lp_n + lp_r, e_n + e_r

    def sample(self) -> tuple[Genotype, torch.Tensor, torch.Tensor]:
        """Sample one architecture; log-prob and entropy keep their graph for the policy gradient."""
        return self._run(None)

    def log_prob(self, genotype: Genotype) -> torch.Tensor:
        return self._run(genotype)[1]


class Reinforce:
    """REINFORCE with a moving-average baseline and an entropy bonus; owns the controller's optimiser."""

    def __init__(self, controller: Controller):
        self.controller = controller
        self.config = controller.config
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=self.config.lr, betas=(0.0, 0.999))
        self.baseline: float | None = None

    def step(self, log_probs: list[torch.Tensor], entropies: list[torch.Tensor], rewards: list[float]) -> dict:
        """One policy-gradient step on a batch of sampled architectures and their rewards."""
        r = torch.tensor(rewards, dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(r.mean())
        advantage = r - self.baseline
        lp = torch.stack(log_probs)
        ent = torch.stack(entropies)
        loss = -(advantage * lp).mean() - self.config.entropy_weight * ent.mean()
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.controller.parameters(), self.config.grad_clip)
        self.optimizer.step()
        d = self.config.baseline_decay
        self.baseline = d * self.baseline + (1 - d) * float(r.mean())
        return {"loss": float(loss.detach()), "reward": float(r.mean()), "baseline": self.baseline, "entropy": float(ent.detach().mean())}

    def state_dict(self) -> dict:
        return {
            "controller": self.controller.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
        }

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
