"""K models of one architecture trained as one: weights get a leading model axis.

Small models (the grokking transformer has ~0.2M parameters) leave a CPU or GPU mostly
idle; running K models as one fills it. Every optimizer we use (AdamW) is
elementwise, and the summed loss gives each model's slice exactly its own gradient, so
training the stack equals K separate runs.

How: a copy of the first model in which every ``nn.Linear``, ``nn.LayerNorm`` and
``nn.Embedding`` is swapped for a stacked twin holding the K models' weights along a new
leading axis. Inputs carry the same axis, (K, B, T). The model's own code never sees it as
anything but more batch: attention folds it into the batch, elementwise layers don't care,
and only the stacked layers split the leading axis K ways again (one ``bmm`` per linear
layer for all models). For 8 seeds of the grokking ``brief`` preset this measured 1.8x faster
per training epoch and 3x per evaluation than ``torch.func.vmap`` over ``functional_call``,
whose per-op dispatch dominated ops this small.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def model_major(x: torch.Tensor, k: int) -> torch.Tensor:
    """(K * ..., ..., C) or (K, ..., C) -> (K, N, C): the model axis is outermost either way."""
    return x.reshape(k, -1, x.shape[-1])


class StackedLinear(nn.Module):
    """K linear layers: one ``bmm`` for all models. Its weight is stored (K, in, out), the
    right operand of ``bmm`` as it is: then no step copies a weight, or a gradient into the
    weight's layout (with (K, out, in) storage those copies took a quarter of a step)."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter | None, transposed: bool):
        super().__init__()
        self.weight = weight  # (K, in, out) if transposed, else (K, out, in) (a tied table)
        self.bias = bias  # (K, out) or None
        self.transposed = transposed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = model_major(x, self.weight.shape[0])
        weight = self.weight if self.transposed else self.weight.mT
        if self.bias is None:
            out = torch.bmm(flat, weight)
        else:
            out = torch.baddbmm(self.bias.unsqueeze(1), flat, weight)
        return out.view(*x.shape[:-1], -1)


class StackedLayerNorm(nn.Module):
    def __init__(self, template: nn.LayerNorm, weight: nn.Parameter, bias: nn.Parameter | None):
        super().__init__()
        self.normalized_shape, self.eps = template.normalized_shape, template.eps
        self.weight, self.bias = weight, bias  # (K, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = model_major(F.layer_norm(x, self.normalized_shape, eps=self.eps), len(self.weight))
        gain = self.weight.unsqueeze(1)
        if self.bias is None:
            return (normed * gain).view(x.shape)
        return torch.addcmul(self.bias.unsqueeze(1), normed, gain).view(x.shape)


class StackedEmbedding(nn.Module):
    def __init__(self, weight: nn.Parameter, transposed: bool) -> None:
        super().__init__()
        self.weight = weight  # (K, V, C), or (K, C, V) when a tied linear layer came first
        self.transposed = transposed

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        table = self.weight.mT if self.transposed else self.weight
        K, V, C = table.shape
        # model k's tokens index rows k*V .. k*V + V-1 of the models' tables laid end to end
        offsets = torch.arange(K, device=idx.device).unsqueeze(1) * V
        rows = F.embedding(idx.reshape(K, -1) + offsets, table.reshape(K * V, C))
        return rows.view(*idx.shape, C)


STACKABLE = (nn.Linear, nn.LayerNorm, nn.Embedding)


class StackedModels(nn.Module):
    """``forward(x)`` with ``x`` of shape (K, B, ...) runs model k on ``x[k]``.

    A model returning a tuple (like ``Transformer``'s ``(logits, loss)``) gives its first
    element; compute per-model losses on the stacked output. Parameter names are the
    models' own (``stacked.parameter_dict()["lm_head.weight"]`` is (K, vocab, C)).

    Supported: models whose parameters all live in Linear, LayerNorm and Embedding layers,
    with no per-model buffers, and whose forward treats extra leading axes as batch
    (``Transformer`` without centering). Anything else is refused at construction.
    """

    def __init__(self, models: list[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("StackedModels needs at least one model")
        self.num_models = len(models)
        self.model = copy.deepcopy(models[0])
        stacked: dict[int, nn.Parameter] = {}  # model 0's parameter -> its stack; keeps ties
        transposed: set[int] = set()  # ids of the stacks stored (K, in, out)

        def stack(name: str, attribute: str, transpose: bool = False) -> nn.Parameter | None:
            first = getattr(models[0].get_submodule(name), attribute)
            if first is None:
                return None
            if id(first) not in stacked:
                layers = [getattr(m.get_submodule(name), attribute).detach() for m in models]
                together = torch.stack([t.mT if transpose else t for t in layers])
                stacked[id(first)] = nn.Parameter(together.contiguous())
                if transpose:
                    transposed.add(id(stacked[id(first)]))
            return stacked[id(first)]

        for name, module in list(self.model.named_modules()):
            if isinstance(module, nn.Linear):
                weight = stack(name, "weight", transpose=True)
                twin = StackedLinear(weight, stack(name, "bias"), id(weight) in transposed)
            elif isinstance(module, nn.LayerNorm) and module.weight is not None:
                twin = StackedLayerNorm(module, stack(name, "weight"), stack(name, "bias"))
            elif isinstance(module, nn.Embedding):
                if module.padding_idx is not None or module.max_norm is not None:
                    raise ValueError(f"StackedModels: embedding {name!r} has options it ignores")
                weight = stack(name, "weight")
                twin = StackedEmbedding(weight, id(weight) in transposed)
            else:
                check_stateless(name, module)
                continue
            parent, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent), child, twin)

    def parameter_dict(self) -> dict[str, torch.Tensor]:
        """Each parameter by the models' own name, shaped (K, *its shape in one model)."""
        return {n: self.model_layout(p, p) for n, p in self.model.named_parameters()}

    def is_transposed(self, param: nn.Parameter) -> bool:
        """Whether ``param`` is stored (K, in, out): a linear weight, or a table tied to one."""
        layers = self.model.modules()
        return any(getattr(m, "transposed", False) and m.weight is param for m in layers)

    def model_layout(self, param: nn.Parameter, value: torch.Tensor) -> torch.Tensor:
        """``value`` (shaped and laid out like ``param``, e.g. its gradient or Adam moment)
        as (K, *the shape of the parameter in one model)."""
        return value.mT if self.is_transposed(param) else value

    def forward(self, *args: torch.Tensor, **kwargs) -> torch.Tensor:
        output = self.model(*args, **kwargs)
        return output[0] if isinstance(output, tuple) else output

    def unstack(self, k: int, model: nn.Module) -> nn.Module:
        """Load model ``k``'s weights into ``model`` (same architecture) and return it."""
        state = {n: p[k].detach().clone() for n, p in self.parameter_dict().items()}
        model.load_state_dict(state, strict=False)  # a tied weight is named once
        return model

    def model_optimizer_state(
        self, state: dict[str, Any], k: int, params: list[nn.Parameter] | None = None
    ) -> dict[str, Any]:
        """Seed k's slice of the state of an optimizer over ``params`` (in the order its
        state is numbered: its groups one after another; default ``self.parameters()``),
        as the same optimizer over model k alone holds it (scalars such as Adam's step
        count are shared by all models)."""
        params = list(self.parameters()) if params is None else params
        per_param = {
            i: {
                name: self.model_layout(params[i], t)[k].contiguous() if t.dim() else t.clone()
                for name, t in entries.items()
            }
            for i, entries in state["state"].items()
        }
        return {"state": per_param, "param_groups": [dict(g) for g in state["param_groups"]]}

    def stacked_optimizer_state(
        self, states: list[dict[str, Any]], params: list[nn.Parameter] | None = None
    ) -> dict[str, Any]:
        """The inverse of :meth:`model_optimizer_state`: K models' states as one."""
        params = list(self.parameters()) if params is None else params

        def stack(i: int, model_values: list[torch.Tensor]) -> torch.Tensor:
            together = torch.stack(model_values)
            return self.model_layout(params[i], together).contiguous()

        stacked = {
            i: {
                name: stack(i, [s["state"][i][name] for s in states]) if t.dim() else t
                for name, t in entries.items()
            }
            for i, entries in states[0]["state"].items()
        }
        return {"state": stacked, "param_groups": states[0]["param_groups"]}


def check_stateless(name: str, module: nn.Module) -> None:
    """A module that is not stacked must hold nothing that differs between the models."""
    persistent = [
        n
        for n, _ in module.named_buffers(recurse=False)
        if n not in module._non_persistent_buffers_set
    ]
    own = [n for n, _ in module.named_parameters(recurse=False)] + persistent
    if own:
        kind = type(module).__name__
        raise ValueError(
            f"StackedModels cannot stack {kind} {name or '(root)'!r}: it holds {own}; "
            f"only {[t.__name__ for t in STACKABLE]} layers carry per-model weights"
        )
