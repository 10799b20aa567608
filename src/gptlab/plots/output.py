"""Where figures go: a PNG file, or a PNG file and TensorBoard from one drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave
from torch.utils.tensorboard import SummaryWriter


def draw(fig: Figure, dpi: float) -> np.ndarray:
    """The figure's pixels, (H, W, 4) uint8 RGBA."""
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def save_figure(fig: Figure, path: Path | str, dpi: float = 110) -> None:
    """Write ``fig`` to ``path`` (its format from the suffix), creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)


def save_and_log(
    fig: Figure, path: Path, writer: SummaryWriter, tag: str, step: int, dpi: float = 100
) -> None:
    """Write ``fig`` to ``path`` (PNG) and to TensorBoard under ``tag`` at ``step``.

    ``savefig`` then ``SummaryWriter.add_figure`` draws a figure twice, and a
    constrained-layout figure of 8 heatmaps takes ~1 s to draw on a laptop CPU: profiled,
    the drawing was most of the wall time of a short grokking run.
    """
    pixels = draw(fig, dpi)
    imsave(path, pixels)
    writer.add_image(tag, pixels[..., :3], step, dataformats="HWC")
