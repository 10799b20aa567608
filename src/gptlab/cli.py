"""``gptlab SUBCOMMAND ...``: a thin dispatcher; each experiment module parses its own options."""

from __future__ import annotations

import importlib
import sys

from gptlab.config import ConfigError
from gptlab.train.lifecycle import RunEnded

SUBCOMMANDS = {
    "grok": (
        "gptlab.experiments.grokking.cli",
        "train the grokking transformer on a task (modular arithmetic, sparse parity)",
    ),
    "grok-sweep": (
        "gptlab.experiments.grokking.sweep",
        "grid x seeds of grokking runs, phase diagrams",
    ),
    "grok-mechanism": (
        "gptlab.experiments.grokking.mechanism",
        "sharpness, Fourier progress measures, trajectory landscape of a run",
    ),
    "grok-claims": (
        "gptlab.experiments.grokking.claims",
        "test the brief's four claims about grokking; writes claims.md",
    ),
    "center": (
        "gptlab.experiments.centering.cli",
        "train the char-level GPT with a centering variant",
    ),
    "center-suite": (
        "gptlab.experiments.centering.suite",
        "every centering variant x the same seeds, with paired statistics",
    ),
    "sample": (
        "gptlab.experiments.centering.sample",
        "generate text from a trained char-level GPT run",
    ),
}


def usage() -> str:
    lines = ["usage: gptlab SUBCOMMAND [options]   (gptlab SUBCOMMAND --help for its options)", ""]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def one_line(message: str) -> str:
    """Scripts grep stderr line by line: a message that spans lines is joined into one."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"gptlab: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        return module.main(rest) or 0
    except ConfigError as error:  # bad settings or input: say what, before any training
        print(f"gptlab {name}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except RunEnded as ended:  # stopped by a signal, or diverged: the summary says so too
        print(f"gptlab {name}: {ended}", file=sys.stderr)
        return ended.exit_code
    except OSError as error:  # a full disk, a folder we may not write: no traceback
        print(f"gptlab {name}: error: {one_line(str(error))}", file=sys.stderr)
        return 1
    except MemoryError:  # the up-front estimate is not a guarantee
        print(
            f"gptlab {name}: error: out of memory; make the run smaller (a checkpointed run "
            "resumes with --resume)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:  # a fallback: the training loops save and report it themselves
        print(f"gptlab {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
