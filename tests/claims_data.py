"""For the tests of the claims: synthetic sweep rows, as ``grok_sweep.collect`` and
``claims.rows.with_unmirrored`` make them, and a plan small enough to run in a test."""

from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.grokking.claims.plan import ClaimsPlan


def runs(
    count: int, generalized, memorized=100, status="finished", first=None, unmirrored=None, **values
) -> list[dict]:
    """``count`` runs at one grid point; ``generalized``: the stable epoch, one for all or a
    list; ``first``: the first epoch at the threshold (default: the stable one);
    ``unmirrored``: (first, stable) on the unmirrored test pairs (default: the same)."""

    def each(value):
        return value if isinstance(value, list) else [value] * count

    stable, crossed = each(generalized), each(generalized if first is None else first)
    unseen = each(unmirrored) if unmirrored is not None else list(zip(crossed, stable, strict=True))
    return [
        {
            **values,
            "seed": seed,
            "status": status,
            "memorized_epoch": memorized,
            "generalized_epoch": crossed[seed],
            "stable_generalized_epoch": stable[seed],
            "generalized_epoch_unmirrored": unseen[seed][0],
            "stable_generalized_epoch_unmirrored": unseen[seed][1],
        }
        for seed in range(count)
    ]


TINY = ClaimsPlan(
    base=replace_flat(grok.PRESETS["smoke"], eval_every=2, checkpoint_every=10),
    seeds=2,
    max_epochs=8,
    weight_decays=[0.0, 1.0],
    d_models=[8, 32, 64],
    train_fractions=[0.4, 0.7],
    init_scales=[1.0, 3.0],
    phase_weight_decays=[1.0],
    sharpness_seeds=2,
    snapshot_every=2,
    control_epochs=4,
    control_snapshot_every=1,
    per_phase=2,
)
