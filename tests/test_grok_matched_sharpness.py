"""Sharpness at equal training loss: the snapshots of each phase, and their loss-matched
snapshots of a control run."""

import json
import math

from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.grokking.matched_sharpness import (
    evenly,
    measure_pair,
    phase_snapshots,
    train_losses,
)
from gptlab.experiments.grokking.mechanism import load_snapshots


def test_phase_snapshots_take_the_plateau_and_the_stable_phase_evenly():
    rows = [{"epoch": e, "test_acc": 0.2, "train_loss": 0.1} for e in range(10, 110, 10)]
    rows += [{"epoch": e, "test_acc": 1.0, "train_loss": 0.01} for e in range(110, 210, 10)]
    rows[12]["test_acc"] = 0.5  # a dip at 130: stable only from 140
    snaps = list(range(0, 201, 10))
    phases = phase_snapshots(rows, 30, snaps, 0.99, per_phase=3)
    assert phases == {"memorized": [30, 70, 100], "generalized": [140, 170, 200]}
    assert phase_snapshots(rows, None, snaps, 0.99, 3)["memorized"] == []
    assert evenly([1, 2], 5) == [1, 2]


def fake_run(folder, config, scales: dict[int, float], test_acc: dict[int, float], memorized):
    """A run folder with snapshots at ``scales`` epochs (one fixed init scaled by that
    factor: a different training loss each) and evaluations of ``test_acc``."""
    import torch

    from gptlab.config import to_dict
    from gptlab.experiments.grokking import build_model, save_snapshot
    from gptlab.train.run_folder import RunFolder

    run = RunFolder(folder).create()
    run.write_config(to_dict(config))
    torch.manual_seed(0)  # every fake run starts from the same weights
    model = build_model(config)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    for epoch, scale in scales.items():
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(initial[name] * scale)
        save_snapshot(run, model, epoch)
    for epoch, acc in test_acc.items():
        run.append_metrics({"epoch": epoch, "test_acc": acc, "train_loss": 1.0})
    run.write_summary({"status": "finished", "memorized_epoch": memorized})


def test_measure_pair_matches_each_phase_snapshot_to_the_nearest_control_loss(tmp_path):
    config = replace_flat(grok.PRESETS["smoke"], d_model=16, n_heads=2, d_ff=32, init="nanda")
    accuracy = {10: 0.1, 20: 0.1, 30: 0.5, 40: 1.0, 50: 1.0}
    fake_run(tmp_path / "g", config, {10: 1.0, 20: 3.0, 40: 5.0, 50: 8.0}, accuracy, 10)
    fake_run(tmp_path / "c", config, {e: 1.0 + 0.5 * e for e in range(15)}, {}, None)
    measured = measure_pair(tmp_path / "g", tmp_path / "c", 0.99, per_phase=2, tolerance=1.01)
    phases = measured["phases"]
    assert phases["memorized"]["epoch"] == [10, 20] and phases["generalized"]["epoch"] == [40, 50]
    _, epochs, states = load_snapshots(tmp_path / "c")
    control = dict(zip(epochs, train_losses(config, states), strict=True))
    for phase in phases.values():
        for loss, epoch in zip(phase["train_loss"], phase["control_epoch"], strict=True):
            nearest = min(control, key=lambda e: abs(math.log(control[e] / loss)))
            assert epoch == nearest
    assert phases["memorized"]["matched"][0] is True  # scale 1 is in the control too
    for phase in phases.values():
        for loss, other, ok in zip(
            phase["train_loss"], phase["control_train_loss"], phase["matched"], strict=True
        ):
            assert ok == (abs(math.log(loss / other)) <= math.log(1.01))
    assert all(len(v) == 2 for v in phases["generalized"].values())
    assert all(len(p["adaptive_top_eig"]) == len(p["control_adaptive_top_eig"]) == 2
               for p in phases.values())  # fmt: skip
    # a result stored before the adaptive eigenvalue existed is measured again
    cache = tmp_path / "g" / "matched_sharpness.json"
    old = json.loads(cache.read_text())
    for phase in old["phases"].values():
        del phase["adaptive_top_eig"], phase["control_adaptive_top_eig"]
    cache.write_text(json.dumps(old))
    assert measure_pair(tmp_path / "g", tmp_path / "c", 0.99, 2, 1.01) == measured
    # the second call reads the stored measures instead of recomputing them
    (tmp_path / "c" / "snapshots").rename(tmp_path / "gone")
    assert measure_pair(tmp_path / "g", tmp_path / "c", 0.99, 2, 1.01) == measured
