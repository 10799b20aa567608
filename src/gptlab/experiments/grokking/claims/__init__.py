"""``gptlab grok-claims``: decide the brief's four claims about grokking (the brief: the lab's
original task description), plus Omnigrok's init scale as a fifth axis, with sweeps over
seeds and tests that respect censoring, each from a design that could show the claim either
way.

Rows of ``claims.md`` (each one test and verdict):

1.  weight decay is critical: Fisher, wd 0 ends generalized in fewer seeds than the base wd;
2a. too-small models don't grok: widths whose runs do not even memorize in most seeds are
    reported as "cannot fit" (they say nothing about grokking); Fisher, the smallest width
    that memorizes in most seeds ends generalized in fewer seeds than the base ("not
    testable here" when no width below the base memorizes);
2b. too-large models show no clear transition: log-rank, the widest model's delay
    (generalization / memorization epoch) is shorter than the base's;
3a. less data generalizes sooner: log-rank, the smallest train fraction reaches the
    threshold before the largest;
3b. less data delays grokking longer: log-rank, the smallest fraction's delay is longer;
    3a and 3b rest on the same two arms: one piece of evidence, one test in Holm's count.
    Both read test pairs whose mirror (y, x) is not in training: with a random split about
    a fraction f of the test pairs have their mirror in training, a recall bias that grows
    with the fraction being compared;
4.  sharp early, flatter at grokking, by two designs on the same snapshots, each a t-test
    over seeds that a loss-matched log ratio falls from the memorization plateau to the
    generalized phase (:mod:`gptlab.experiments.grokking.matched_sharpness`): (i) the top
    Hessian eigenvalue against a run at the *same* weight decay that does not generalize
    (less data); (ii) the adaptive top eigenvalue, which LayerNorm-fed weights' scale does
    not move, against a wd-0 run.
    A verdict only when both point the same way (the row's p is the larger one);
5.  larger initial weights delay generalization (Omnigrok, Liu et al. 2022): log-rank, the
    largest init scale generalizes later than the smallest, at the base wd; its phase
    diagram over init scale x weight decay.

A run "generalized" when it ends stably generalized: test accuracy at or above the threshold
from some evaluation to the end. Times are the *first* epoch at the threshold of such runs:
under the cosine schedule the stable epoch is when the lr got small enough to stop the loss
spikes (1155-1190 at every fraction from 40 to 60% in the CPU plan), a time the schedule
sets. Runs that never generalized, and diverged runs (a missing outcome is a failure, not
a gap), are censored at the budget and counted as not generalized, never dropped; a run
that never memorized has its delay censored at 1. Each test's two-sided p (from the
two-sided test) is Holm-corrected over the rows; a row is "supported" or "contradicted" when
its Holm p is below alpha, in the claimed or the opposite direction, and "inconclusive"
otherwise, unless its design cannot give a verdict ("not decided" / "not testable", and why).

``--scale cpu`` (default) is the ``grok`` preset (p 47, stable in 10/10 seeds) at its own
2000-epoch budget; ``--scale gpu`` is the same plan at the brief's sizes (p 97, d_ff 1024).

Modules: :mod:`.plan` (which runs), :mod:`.rows` (reading a sweep's runs), :mod:`.decide`
(the verdicts), :mod:`.sharpness` (claim 4), :mod:`.report` (``claims.md``), :mod:`.run`
(every experiment in order, then the report).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gptlab.config import ConfigError
from gptlab.experiments.executor import resumable, resume_command
from gptlab.experiments.grokking import sweep as grok_sweep
from gptlab.experiments.grokking.claims.plan import PLANS
from gptlab.experiments.grokking.claims.run import run_claims
from gptlab.experiments.options import check_out_dir, parse_options

Scale = Literal[tuple(sorted(PLANS))]  # the plans' names: choices --help lists


@dataclass
class ClaimsOptions:
    """``gptlab grok-claims``' options."""

    scale: Scale = "cpu"
    """cpu: the grok preset (p 47); gpu: the brief's sizes (p 97, d_ff 1024)"""
    out: Path = Path("runs/grok-claims")
    """output folder"""
    workers: int | None = None
    """default: one per core"""
    readme: Path | None = None
    """also write the verdict table between this file's grok-claims markers"""


def main(argv: list[str]) -> int:
    options = parse_options(
        argv,
        ClaimsOptions,
        "gptlab grok-claims",
        "Decide the brief's four claims about grokking, and init scale as a fifth axis: "
        "8 seeds per grid point, log-rank and Fisher tests, sharpness at equal training loss "
        "against two controls. Took 37 min at --scale cpu on a 2-core CPU (2026-12-05; see "
        "docs/grokking.md); finished runs and measures are reused, so an interrupted call "
        "resumes.",
    )
    if options.workers is not None and options.workers < 1:
        raise ConfigError(f"--workers {options.workers} must be >= 1")
    check_out_dir(options.out)
    with resumable(resume_command("grok-claims", argv, options.out), grok_sweep.run_folder_name):
        print(run_claims(PLANS[options.scale], options.out, options.workers, options.readme))
    return 0
