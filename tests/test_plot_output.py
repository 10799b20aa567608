"""One drawing of a figure goes to both the PNG file and TensorBoard."""

from matplotlib.figure import Figure
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from gptlab.plots.output import save_and_log


def test_png_and_tensorboard_image_have_the_figure_size(tmp_path):
    fig = Figure(figsize=(3, 2), layout="constrained")
    fig.subplots().plot([0, 1], [1, 0])
    writer = SummaryWriter(tmp_path / "tb")
    save_and_log(fig, tmp_path / "fig.png", writer, "demo", step=7, dpi=50)
    writer.close()
    assert imread(tmp_path / "fig.png").shape == (100, 150, 4)  # 2 x 3 inches at 50 dpi
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    (image,) = events.Images("demo")
    assert (image.step, image.height, image.width) == (7, 100, 150)
