"""The centering lab's one registry: where vectors are centered (placements) and the named
variants built from them.

Everything else reads it: the choices of ``--variant`` and ``--center``, the variant table
of docs/centering.md (``variant_table``), each variant's strength-0 control, the figure
columns' titles and the centering modules each plot looks for (``Placement.title``,
``Placement.module_patterns``), and the tests' parameters.

A new placement is one entry of ``PLACEMENTS``: the model's sites it centers
(``gptlab.nn.centering.SITES``), a title and a description. It brings its variants:
``NAME_centered`` (mode simple), one per extra mode, and its control ``NAME_normalized``:
the same placement at strength 0, which keeps the unit length, temperature and scale but
removes no center, so "centered - normalized" is the effect of the centering alone. A
missing piece (an unknown site or part, a repeated name) fails at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gptlab.nn.centering import SITES, CenteringMode
from gptlab.nn.transformer import SITE_MODULES


@dataclass(frozen=True)
class Placement:
    """Where a variant centers: some of the model's sites, or a combination of placements."""

    name: str
    title: str  # a figure's column title
    description: str  # what is centered, as the docs' variant table says it
    sites: tuple[str, ...] = ()  # the model's sites (nn.centering.SITES)
    parts: tuple[str, ...] = ()  # or: the placements it combines (listed before it)
    modes: tuple[tuple[str, CenteringMode], ...] = ()  # further variants: (name, mode)

    @property
    def module_patterns(self) -> dict[str, str]:
        """Site -> the regular expression its centering modules' names match
        (``blocks.0.attn.q_centering``, ``final_centering``): what a plot of the
        centering statistics groups by."""
        return {site: SITE_MODULES[site] for site in self.sites}


@dataclass(frozen=True)
class Variant:
    """A named way to center: a placement, a mode and a strength."""

    name: str
    placement: str | None  # a PLACEMENTS key; None: nothing centered
    description: str
    mode: CenteringMode = "simple"
    strength: float = 1.0  # 0: the placement's control


PLACEMENT_LIST = (
    Placement(
        "qk",
        "Q/K",
        "Q and K in every attention layer",
        sites=("q", "k"),
        modes=(
            ("qk_adaptive", "adaptive"),
            ("qk_learnable", "learnable_center"),
            ("qk_momentum", "momentum"),
        ),
    ),
    Placement(
        "final",
        "final embeddings",
        "final embeddings (after `ln_f`, before the LM head)",
        sites=("final",),
        modes=(("momentum_centered", "momentum"),),  # the brief's winner, by its old name
    ),
    Placement("block", "block outputs", "the residual stream after every block", ("block",)),
    Placement("full", "Q/K + final", "Q/K + final embeddings", parts=("qk", "final")),
)


def build_placements(entries: tuple[Placement, ...]) -> dict[str, Placement]:
    """The registry by name, a combination's sites filled in from its parts; a ValueError
    for a repeated name, an unknown site or part, or an entry without sites."""
    registry: dict[str, Placement] = {}
    for entry in entries:
        if entry.name in registry:
            raise ValueError(f"placement {entry.name!r} is registered twice")
        unknown = [p for p in entry.parts if p not in registry]
        if unknown:
            raise ValueError(f"placement {entry.name!r}: unknown parts {unknown}")
        sites = {s for p in entry.parts for s in registry[p].sites} | set(entry.sites)
        if not sites or not sites <= set(SITES):
            raise ValueError(f"placement {entry.name!r}: sites {sorted(sites)} not in {SITES}")
        ordered = tuple(s for s in SITES if s in sites)
        registry[entry.name] = Placement(**(vars(entry) | {"sites": ordered}))
    return registry


PLACEMENTS = build_placements(PLACEMENT_LIST)


def placement_variants(placement: Placement) -> list[Variant]:
    """NAME_centered, one variant per extra mode, and the control NAME_normalized."""
    name, what = placement.name, placement.description
    return [
        Variant(f"{name}_centered", name, what),
        *(Variant(v, name, what, mode) for v, mode in placement.modes),
        Variant(f"{name}_normalized", name, f"{what}, at strength 0", strength=0.0),
    ]


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("baseline", None, "nothing"),
        *(v for p in PLACEMENTS.values() for v in placement_variants(p)),
        Variant("custom", None, "nothing until --center says where"),
    )
}
VariantName = Literal[tuple(VARIANTS)]  # type: ignore[valid-type]  # the choices of --variant
PlacementName = Literal[tuple(PLACEMENTS)]  # type: ignore[valid-type]  # those of --center


def variant_spec(variant: str) -> Variant:
    """The named variant: its placement, mode and strength."""
    return VARIANTS[variant]


def placement_parts(placement: str) -> tuple[str, ...]:
    """A placement as the single placements it combines (itself, if it is one)."""
    parts = PLACEMENTS[placement].parts
    return tuple(q for p in parts for q in placement_parts(p)) if parts else (placement,)


def placements(variant: str) -> tuple[str, ...]:
    """The single placements a variant centers, in registry order: ("qk", "final") for
    full_centered; () for baseline and custom."""
    placement = VARIANTS[variant].placement
    return placement_parts(placement) if placement else ()


def control_of(variant: str) -> str | None:
    """The named variant with the same placements at strength 0, for a centering variant."""
    where = placements(variant)
    if not where or variant_spec(variant).strength == 0:
        return None
    controls = (n for n, v in VARIANTS.items() if v.strength == 0 and placements(n) == where)
    return next(controls, None)


def sites_of(names: tuple[str, ...]) -> tuple[str, ...]:
    """The model sites the named placements center, in the model's order."""
    chosen = {s for name in names for s in PLACEMENTS[name].sites}
    return tuple(s for s in SITES if s in chosen)


def placements_at(sites: tuple[str, ...]) -> tuple[str, ...]:
    """The single placements whose sites are all among ``sites``, in registry order."""
    single = [p for p in PLACEMENTS.values() if not p.parts]
    return tuple(p.name for p in single if set(p.sites) <= set(sites))


def title_of(names: tuple[str, ...]) -> str:
    """The figure title of a group of placements: a registered combination's own title,
    else the titles joined with " + "."""
    for placement in PLACEMENTS.values():
        if placement_parts(placement.name) == names:
            return placement.title
    return " + ".join(PLACEMENTS[name].title for name in names)


def variant_table() -> str:
    """The docs' table of variants (docs/centering.md holds it; a test compares)."""
    rows = ["| variant | centered | mode | its control |", "|---|---|---|---|"]
    for name, variant in VARIANTS.items():
        control = control_of(name)
        mode = "—" if variant.placement is None else variant.mode
        if variant.strength == 0:
            mode = "— (re-normalize only)"
        cells = [f"`{name}`", variant.description, mode, f"`{control}`" if control else "—"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
