"""Figures of the centering lab: loss per variant, effect sizes, what centering learns and
what it does to vectors. Data in, ``Figure`` out: the experiment saves them
(``gptlab.plots.output.save_figure``).

Modules: :mod:`.curves` (over training), :mod:`.effects` (the suite's contrasts),
:mod:`.geometry` (the trained models' vectors), :mod:`.style` (what they share).
"""

from gptlab.plots.centering.curves import plot_centering_stats, plot_comparison
from gptlab.plots.centering.effects import plot_effects
from gptlab.plots.centering.geometry import plot_distributions, plot_geometry

__all__ = [
    "plot_centering_stats",
    "plot_comparison",
    "plot_distributions",
    "plot_effects",
    "plot_geometry",
]
