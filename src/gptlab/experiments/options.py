"""Command-line options shared by every experiment: ``--preset``, ``--out``, ``--resume``,
and one ``--field-name VALUE`` per field of the experiment's config dataclass (via tyro).

Bad input is a ConfigError with a one-line message (``gptlab.cli`` prints it and exits 2),
raised before anything is written: no run folder for a command that was refused."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import tyro

from gptlab.config import ConfigError, check_finite, from_dict
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder, default_run_dir

C = TypeVar("C")
BOX = re.compile(r"\x1b\[[0-9;]*m|[│╭╮╰╯┃┏┓┗┛]")  # ANSI colours and the frame of tyro's boxes
RULE = re.compile(r"^[─━]+$")


@dataclass
class RunRequest(Generic[C]):
    config: C
    run_dir: Path
    resume: bool


def parse_config(argv: list[str], config_cls: type[C], default: C, prog: str) -> C:
    """Parse ``--field-name VALUE`` overrides of ``default``; booleans take True/False.

    A config in sections keeps flat option names (``--lr``, not ``--optim.lr``): field
    names are unique across sections. tyro matches option names exactly (``--learning-r``
    is refused, not read as ``--learning-rate``; tests/test_cli_errors.py holds it to that).
    Its errors are multi-line boxes: they become a one-line ConfigError. A nan or infinite
    float is refused too."""
    config = parse_options(argv, config_cls, prog, default=default)
    check_finite(config)
    return config


def parse_options(
    argv: list[str], options_cls: type[C], prog: str, description: str = "", default: C = None
) -> C:
    """Every subcommand's options, as a dataclass parsed by tyro: one parser style, flags
    that take True/False, choices typed as ``Literal`` (listed in --help, refused by the
    parser), and errors as one-line ConfigErrors."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            options = tyro.cli(
                options_cls,
                default=default,
                args=argv,
                prog=prog,
                description=description or None,
                config=(
                    tyro.conf.FlagConversionOff,
                    tyro.conf.OmitArgPrefixes,
                    tyro.conf.AvoidSubcommands,
                ),
            )
    except SystemExit as stop:
        if stop.code:
            message = tyro_message(captured.getvalue())
            raise ConfigError(f"{message} (see {prog} --help)") from None
        sys.stderr.write(captured.getvalue())
        raise
    sys.stderr.write(captured.getvalue())  # warnings, if any, still reach the user
    return options


def tyro_message(box: str) -> str:
    """The first section of a tyro error box (what went wrong), as one line."""
    lines = [BOX.sub("", line).strip() for line in box.splitlines()]
    lines = [line for line in lines if line]
    body = []
    for line in lines[1:]:  # lines[0] is the title bar: "─ Value error ───"
        if RULE.match(line):
            break
        body.append(line)
    return " ".join(body) or " ".join(lines) or "invalid options"


def check_out_dir(path: Path | str, option: str = "--out") -> None:
    """A ConfigError unless ``path`` is, or can be created as, a folder: checked up front so
    that a bad ``--out`` stops a command before it trains, not at its first write."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: {path} is not a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: {existing} is not writable")


class ShowDefaults(argparse.RawDescriptionHelpFormatter):
    """Every option's default after its help (none for flags and None defaults, whose help
    says what happens), and descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        quiet = action.default in (None, False, [], argparse.SUPPRESS)
        if quiet or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


def command_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The parser every subcommand's own options use: no prefix matching (``--seed`` must
    never be read as ``--seeds``), and every option's default shown in ``--help``."""
    return argparse.ArgumentParser(
        prog=prog, description=description, allow_abbrev=False, formatter_class=ShowDefaults
    )


def read_run_config(run_dir: Path, config_cls: type[C], option: str = "--resume") -> C:
    """The config saved in ``run_dir/config.json``, or a ConfigError naming the folder or
    the file and what is wrong with it."""
    folder = RunFolder(run_dir)
    if not folder.path.exists():
        raise ConfigError(f"{option} {run_dir}: no such folder")
    if not folder.path.is_dir():
        raise ConfigError(f"{option} {run_dir}: not a folder")
    if not folder.config_path.is_file():
        raise ConfigError(f"{option} {run_dir}: not a run folder (no config.json)")
    raw = folder.read_config()  # invalid JSON: a ValueError naming the file
    try:
        return from_dict(config_cls, raw)
    except (ValueError, TypeError) as error:  # unknown fields, wrong types, a class's checks
        raise ConfigError(f"{folder.config_path}: {error}") from None


def check_request(config: C, run_dir: Path, option: str) -> None:
    """What every experiment needs of a request before it writes anything."""
    check_finite(config)
    device = getattr(config, "device", None)
    if isinstance(device, str):  # "--device banana" must not leave a run folder behind
        pick_device(device)
    check_out_dir(run_dir, option)


def parse_run_request(
    argv: list[str],
    prog: str,
    config_cls: type[C],
    presets: dict[str, C],
    default_preset: str,
    description: str = "",
) -> RunRequest[C]:
    # no prefix matching: "--p 97" (a config field) must not be read as "--preset 97"
    pre = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False)
    pre.add_argument("--preset", choices=sorted(presets), default=None, help="preset")
    pre.add_argument("--out", default=None, help="run folder")
    pre.add_argument("--resume", default=None, metavar="DIR", help="run to resume")
    known, rest = pre.parse_known_args(argv)
    if any(a in ("-h", "--help") for a in rest):
        print(
            f"{description}\n\nRun options:\n"
            f"  --preset {{{','.join(sorted(presets))}}}  starting values"
            f" (default: {default_preset})\n"
            "  --out DIR        run folder, new or empty (default: a new folder under runs/)\n"
            "  --resume DIR     continue the interrupted run in DIR with its saved config\n"
        )
    for option in ("out", "resume"):
        if getattr(known, option) == "":
            raise ConfigError(f"--{option} needs a folder, not an empty string")
    if known.resume is not None:
        given = rest + [f"--{o}" for o in ("preset", "out") if getattr(known, o) is not None]
        if given:
            raise ConfigError(
                f"--resume takes its config from {known.resume}/config.json; "
                f"drop the other options: {' '.join(given)}"
            )
        config = read_run_config(Path(known.resume), config_cls)
        check_request(config, Path(known.resume), "--resume")
        return RunRequest(config, Path(known.resume), resume=True)
    config = parse_config(rest, config_cls, presets[known.preset or default_preset], prog)
    run_dir = Path(known.out or default_run_dir(prog.split()[-1]))
    option = "--out" if known.out else "default run folder"
    RunFolder(run_dir).check_new(option)
    check_request(config, run_dir, option)
    return RunRequest(config, run_dir, resume=False)


def check_same_settings(owner: Path, kind: str, then: dict, now: dict) -> None:
    """A folder that holds a ``kind`` (a sweep, a suite) made with the settings ``then``
    takes only a rerun with the same ones: its runs would otherwise mix with others. A
    ConfigError naming the first settings that differ, before anything is written."""
    changed = sorted(k for k in then.keys() | now.keys() if then.get(k) != now.get(k))
    if changed:
        changes = ", ".join(f"{k}: {then.get(k)} vs {now.get(k)}" for k in changed[:4])
        raise ConfigError(
            f"{owner} holds a {kind} with other settings ({changes}); rerun it with its own "
            "settings or use another --out"
        )


def check_existing_run(run_dir: Path, config: C) -> None:
    """A sweep's or suite's run folder already there must hold the run it would resume."""
    folder = RunFolder(run_dir)
    if folder.config_path.exists() and from_dict(type(config), folder.read_config()) != config:
        raise ConfigError(f"{run_dir} holds a run with other settings; use another --out")


def replace(config: C, **changes) -> C:
    return dataclasses.replace(config, **changes)
