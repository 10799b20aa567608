"""One decoder-only transformer for both labs.

The char-level GPT of the centering lab and the one-layer grokking model are the same
architecture with different options (activation, positional encoding, LayerNorm on/off,
weight tying, centering), so they share this single implementation.

Analysis code reads attention weights, Q/K vectors, the residual stream and what each
centering module was given through one explicit path: ``model.trace(idx)`` returns a
:class:`Trace`. ``forward`` never stores activations on the modules.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gptlab.nn.centering import CenteringConfig, VectorCentering
from gptlab.nn.dropout import Dropout, dropout

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}
POSITIONAL_ENCODINGS = ("learned", "sinusoidal")
QUERY_CHUNKS = 4  # explicit attention: see CausalSelfAttention._explicit_attention
# The centering sites (``CenteringConfig.sites``) and the names of their modules: a site
# that is not centered has no module and costs nothing.
SITE_MODULES = {
    "q": r"blocks\.\d+\.attn\.q_centering",
    "k": r"blocks\.\d+\.attn\.k_centering",
    "v": r"blocks\.\d+\.attn\.v_centering",
    "block": r"blocks\.\d+\.centering",
    "final": r"final_centering",
}
ATTENTION_SITES = ("q", "k", "v")
# Centering there mixes positions after the last block's keys and values (q, k and v are
# centered before the last-only slice), so a last-position forward must run them all.
MIXING_SITES = ("block", "final")


@dataclass
class TransformerConfig:
    vocab_size: int
    block_size: int  # longest sequence the model accepts
    n_layer: int = 1
    n_head: int = 4
    n_embd: int = 64
    d_ff: int = 0  # hidden width of the MLP; 0 = 4 * n_embd
    dropout: float = 0.0
    bias: bool = True
    activation: str = "gelu"
    layer_norm: bool = True
    pos_encoding: str = "learned"
    tie_weights: bool = True  # share the token embedding with the LM head
    # False: the explicit matmul-softmax attention (the path of ``trace`` and of CPU dropout)
    # instead of the fused kernel, e.g. to check that the two agree.
    fused_attention: bool = True
    centering: CenteringConfig = field(default_factory=CenteringConfig)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)} must be >= 1")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd = {self.n_embd} must be divisible by n_head = {self.n_head}")
        if self.d_ff < 0:
            raise ValueError(f"d_ff = {self.d_ff} must be >= 0 (0 means 4 * n_embd)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout = {self.dropout} must lie in [0, 1)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {list(ACTIVATIONS)}")
        if self.pos_encoding not in POSITIONAL_ENCODINGS:
            raise ValueError(
                f"pos_encoding {self.pos_encoding!r} is not one of {POSITIONAL_ENCODINGS}"
            )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def hidden_size(self) -> int:
        return self.d_ff or 4 * self.n_embd


@dataclass
class Trace:
    """Activations recorded by :meth:`Transformer.trace`, one entry per layer."""

    attention: list[torch.Tensor] = field(default_factory=list)  # (B, nh, T, T)
    queries: list[torch.Tensor] = field(default_factory=list)  # (B, nh, T, hs), as used
    keys: list[torch.Tensor] = field(default_factory=list)  # (B, nh, T, hs), as used
    residual: list[torch.Tensor] = field(default_factory=list)  # (B, T, C), after each block
    final_embedding: torch.Tensor | None = None  # (B, T, C), entering the LM head
    logits: torch.Tensor | None = None  # (B, T, vocab)
    # what each centering module was given, by module name (``SITE_MODULES``), in the order
    # of the forward pass
    centering_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    # the same, by module, while the forward runs (``Transformer.trace`` names them)
    centered: list[tuple[nn.Module, torch.Tensor]] = field(default_factory=list, repr=False)


def center(module: nn.Module | None, x: torch.Tensor, trace: Trace | None) -> torch.Tensor:
    """``x`` through a site's centering module, recorded in ``trace``; ``x`` itself where
    the site is not centered."""
    if module is None:
        return x
    if trace is not None:
        trace.centered.append((module, x))
    return module(x)


def make_norm(config: TransformerConfig) -> nn.Module:
    return nn.LayerNorm(config.n_embd, bias=config.bias) if config.layer_norm else nn.Identity()


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        C, nh, hs = config.n_embd, config.n_head, config.head_size
        self.n_head = nh
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias)  # q, k, v for all heads at once
        self.c_proj = nn.Linear(C, C, bias=config.bias)
        self.dropout = config.dropout
        self.fused = config.fused_attention
        self.resid_dropout = Dropout(config.dropout)
        sites = config.centering.sites
        for site in ATTENTION_SITES:
            # q and k to unit length, v to RMS 1 per coordinate (length sqrt(hs))
            norm = math.sqrt(hs) if site == "v" else 1.0
            module = VectorCentering((nh, hs), config.centering, norm) if site in sites else None
            setattr(self, f"{site}_centering", module)
        self.learned_temperature = "q" in sites or "k" in sites
        if self.learned_temperature:
            # Unit-length q and k make q.k a cosine in [-1, 1]; with the usual 1/sqrt(hs)
            # attention would stay almost uniform, so a learned per-head temperature replaces
            # it, starting at sqrt(hs) (logits in [-sqrt(hs), sqrt(hs)]).
            self.log_temperature = nn.Parameter(torch.full((nh, 1, 1), 0.5 * math.log(hs)))

    def forward(
        self, x: torch.Tensor, trace: Trace | None = None, last_only: bool = False
    ) -> torch.Tensor:
        """(B, T, C) -> (B, T, C), or (B, 1, C) for the last position alone (``last_only``).
        Leading axes before B (a model axis: ``nn/stacked.py``) are folded into the batch."""
        *leading, T, C = x.shape
        x = x.reshape(-1, T, C)
        B = x.shape[0]
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head)  # (B, T, nh, hs)
        k = k.view(B, T, self.n_head, C // self.n_head)
        v = v.view(B, T, self.n_head, C // self.n_head)
        # before slicing: a query's center is its own past
        q = center(self.q_centering, q, trace)
        k = center(self.k_centering, k, trace)
        v = center(self.v_centering, v, trace)
        if self.learned_temperature:
            scale = self.log_temperature.exp()
        else:
            scale = 1.0 / math.sqrt(C // self.n_head)
        if last_only:
            q = q[:, -1:]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        q = q * scale  # the scale goes into q so the fused kernel can take scale=1
        dropout_p = self.dropout if self.training else 0.0
        # The fused CPU kernel has no dropout; with dropout it falls back to a generic path
        # slower than the explicit one below.
        cpu_dropout = dropout_p > 0 and q.device.type == "cpu"
        if last_only:  # never traced: ``trace`` runs every position
            y = self._lone_query_attention(q, k, v, dropout_p)
        elif self.fused and trace is None and not cpu_dropout:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=dropout_p, scale=1.0
            )
        else:
            y = self._explicit_attention(q, k, v, dropout_p, trace)
        y = y.transpose(1, 2).contiguous().view(B, q.shape[2], C)
        return self.resid_dropout(self.c_proj(y)).view(*leading, -1, C)

    def _lone_query_attention(self, q, k, v, dropout_p: float) -> torch.Tensor:
        """Attention of the last position alone, which sees every key (no mask): a weighted
        sum written as products and sums. On a grokking batch (T = 3) the fused kernel and
        ``bmm`` pay a per-(sequence, head) cost far above the work; this measured 3-4x
        faster than the fused kernel, forward + backward."""
        weights = (q * k).sum(-1, keepdim=True).softmax(dim=-2)  # (B, nh, T, 1)
        return (dropout(weights, dropout_p, self.training) * v).sum(-2, keepdim=True)

    def _explicit_attention(self, q, k, v, dropout_p: float, trace: Trace | None) -> torch.Tensor:
        """The fused kernel's computation written out, for analysis (``trace`` gets the
        weights) and for dropout on CPU.

        Queries go in chunks, each against only the keys it may see: with 4 chunks this
        skips 3/8 of the score matrix (its masked upper triangle) and of the dropout draws.
        """
        T = q.shape[-2]
        # one copy each up front: slices of a strided view would be copied for every chunk
        q, k, v = (t.contiguous() for t in (q, k, v))
        chunks = 1 if trace is not None else min(T, QUERY_CHUNKS)
        bounds = [T * i // chunks for i in range(chunks + 1)]
        outputs = []
        for start, stop in itertools.pairwise(bounds):
            visible = stop  # keys up to this chunk's last query
            scores = q[..., start:stop, :] @ k[..., :visible, :].transpose(-2, -1)
            future = torch.ones(stop - start, visible, dtype=torch.bool, device=q.device)
            future = future.triu(start + 1)
            weights = scores.masked_fill_(future, float("-inf")).softmax(dim=-1)
            if trace is not None:
                trace.attention.append(weights)
                trace.queries.append(q)
                trace.keys.append(k)
            attended = dropout(weights, dropout_p, self.training) @ v[..., :visible, :]
            outputs.append(attended.transpose(1, 2))  # (B, chunk, nh, hs)
        # joined in (B, T, nh, hs) memory order, so the caller's reshape to (B, T, C) is free
        return torch.cat(outputs, dim=1).transpose(1, 2)


class MLP(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.hidden_size, bias=config.bias)
        self.act = ACTIVATIONS[config.activation]()
        self.c_proj = nn.Linear(config.hidden_size, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LN transformer block, optionally centering its output."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = make_norm(config)
        self.mlp = MLP(config)
        self.centering = residual_centering(config, "block")

    def forward(
        self, x: torch.Tensor, trace: Trace | None = None, last_only: bool = False
    ) -> torch.Tensor:
        """(B, T, C) -> (B, T, C), or (B, 1, C) for the last position alone (``last_only``)."""
        attended = self.attn(self.ln_1(x), trace, last_only)
        x = x[..., -attended.shape[-2] :, :] + attended
        x = x + self.mlp(self.ln_2(x))
        return center(self.centering, x, trace)


def residual_centering(config: TransformerConfig, site: str) -> VectorCentering | None:
    """The centering of residual-stream vectors at ``site``, if centered there: to length
    sqrt(C), so that every coordinate has RMS 1, as after a LayerNorm."""
    if site not in config.centering.sites:
        return None
    return VectorCentering((config.n_embd,), config.centering, math.sqrt(config.n_embd))


def sinusoidal_positions(block_size: int, n_embd: int) -> torch.Tensor:
    """The fixed encoding of Vaswani et al. (2017): (block_size, n_embd)."""
    position = torch.arange(block_size, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, n_embd, 2).float() * (-math.log(10000.0) / n_embd))
    table = torch.zeros(block_size, n_embd)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: n_embd // 2])
    return table


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        if config.pos_encoding == "learned":
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
        else:
            self.register_buffer(
                "sinusoidal", sinusoidal_positions(config.block_size, config.n_embd), False
            )
        self.drop = Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = make_norm(config)
        self.final_centering = residual_centering(config, "final")
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer) at init
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[-1]
        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        if self.config.pos_encoding == "learned":
            # one row of positions per leading (model) axis, broadcast over the batch
            positions = torch.arange(T, device=idx.device).expand(*idx.shape[:-2], 1, T)
            pos = self.wpe(positions)  # (1, T, C), or (K, 1, T, C) stacked
        else:
            pos = self.sinusoidal[:T]
        return self.drop(self.wte(idx) + pos)  # (B, T, C)

    def _run(self, idx: torch.Tensor, trace: Trace | None, last_only: bool = False) -> torch.Tensor:
        x = self._embed(idx)
        for i, block in enumerate(self.blocks):
            x = block(x, trace, last_only and i == len(self.blocks) - 1)
            if trace is not None:
                trace.residual.append(x)
        x = center(self.final_centering, self.ln_f(x), trace)
        if trace is not None:
            trace.final_embedding = x
        return self.lm_head(x)  # (B, T, vocab), or (B, 1, vocab) with last_only

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, last_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, and the mean cross-entropy when targets are given.

        ``targets`` may be (B, T) for next-token prediction or (B,) to score only the last
        position (the grokking task predicts the answer at the ``=`` token); (B,) implies
        ``last_only``: logits (B, 1, vocab) for the last position alone. The last block then
        skips every other position after its keys and values, which is exact (nothing
        downstream reads them) and saves most of a one-layer model's FLOPs, unless block
        outputs or final embeddings are centered: their center mixes positions.
        """
        last_only = last_only or (targets is not None and targets.dim() == 1)
        mixing = set(MIXING_SITES) & set(self.config.centering.sites)
        skip = last_only and not mixing
        logits = self._run(idx, None, skip)
        if last_only:
            logits = logits[..., -1:, :]
        if targets is None:
            return logits, None
        if last_only:
            return logits, F.cross_entropy(logits[:, -1], targets)
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def trace(self, idx: torch.Tensor) -> Trace:
        """Run the model and record attention weights, Q/K, the residual stream, what each
        centering module was given, and the logits."""
        trace = Trace()
        trace.logits = self._run(idx, trace)
        names = {module: name for name, module in self.named_modules()}
        trace.centering_inputs = {names[module]: x for module, x in trace.centered}
        return trace

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample ``max_new_tokens`` continuations of ``idx`` (B, T), cropping to block_size.

        Always in eval mode, whatever mode the caller left the model in: in train mode
        dropout would perturb the samples and a momentum center would learn from them. The
        caller's mode is restored afterwards."""
        if temperature <= 0:
            raise ValueError(f"temperature {temperature} must be > 0")
        was_training = self.training
        self.eval()
        try:
            return self._sample(idx, max_new_tokens, temperature, top_k, generator)
        finally:
            self.train(was_training)

    def _sample(self, idx, max_new_tokens, temperature, top_k, generator) -> torch.Tensor:
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size :]
            logits = self(context)[0][:, -1] / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, [-1]]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = logits.softmax(dim=-1)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, next_token), dim=1)
        return idx
