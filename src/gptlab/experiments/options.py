"""Command-line options shared by every experiment: ``--preset``, ``--out``, ``--resume``,
and one ``--field-name VALUE`` per field of the experiment's config dataclass (via tyro).

Bad input is a ConfigError with a one-line message (``gptlab.cli`` prints it and exits 2),
raised before anything is written: no run folder for a command that was refused."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Generic, TypeVar

import tyro

from gptlab.config import ConfigError, check_finite, flat_value, from_dict
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder, default_run_dir

C = TypeVar("C")
BOX = re.compile(r"\x1b\[[0-9;]*m|[│╭╮╰╯┃┏┓┗┛]")  # ANSI colours and the frame of tyro's boxes
RULE = re.compile(r"^[─━]+$")


@dataclass
class RunOptions:
    """The options every run command takes besides its config's fields; a lab's command
    adds its config (a field named ``config``) and its own options in a subclass."""

    preset: Annotated[str, tyro.conf.arg(metavar="NAME")] = ""
    """starting values for the config: one of the presets the description lists"""
    out: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """run folder, new or empty (None: a new folder under runs/)"""
    resume: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """continue the interrupted run in DIR with its saved config (None: a new run; no other
    option goes with it)"""


@dataclass
class RunRequest(Generic[C]):
    config: C
    run_dir: Path
    resume: bool
    options: RunOptions


def parse_options(
    argv: list[str], options_cls: type[C], prog: str, description: str = "", default: C = None
) -> C:
    """Every subcommand's options, as a dataclass parsed by tyro: one parser style, flags
    that take True/False, choices typed as ``Literal`` (listed in --help, refused by the
    parser), and errors as one-line ConfigErrors. A config in sections keeps flat option
    names (``--lr``, not ``--optim.lr``): field names are unique across sections. tyro
    matches option names exactly (``--learning-r`` is refused, not read as
    ``--learning-rate``; tests/test_cli_errors.py holds it to that)."""
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
    pick_device(flat_value(config, "device"))  # "--device banana" must leave no run folder
    check_out_dir(run_dir, option)


def parse_run_request(
    argv: list[str],
    prog: str,
    command_cls: type[RunOptions],
    presets: dict[str, C],
    default_preset: str,
    description: str = "",
) -> RunRequest[C]:
    """A run command's options and config in one tyro parse, the config starting from
    ``--preset``'s values (so ``--help`` shows them); or, for ``--resume DIR``, the config
    saved in DIR and no other option."""
    preset = preset_named(argv, presets, default_preset)
    listed = f"Presets: {', '.join(sorted(presets))} (default: {default_preset})."
    default = command_cls(preset=preset, config=presets[preset])
    options = parse_options(argv, command_cls, prog, f"{description}\n\n{listed}", default)
    for option in ("out", "resume"):
        if getattr(options, option) == "":
            raise ConfigError(f"--{option} needs a folder, not an empty string")
    if options.resume is not None:
        given = [a.split("=")[0] for a in argv if a.startswith("--") and a != "--resume"]
        if given:
            raise ConfigError(
                f"--resume takes its config from {options.resume}/config.json; "
                f"drop the other options: {' '.join(given)}"
            )
        config = read_run_config(Path(options.resume), type(default.config))
        check_request(config, Path(options.resume), "--resume")
        return RunRequest(config, Path(options.resume), True, options)
    run_dir = Path(options.out or default_run_dir(prog.split()[-1]))
    option = "--out" if options.out else "default run folder"
    RunFolder(run_dir).check_new(option)
    check_request(options.config, run_dir, option)
    return RunRequest(options.config, run_dir, False, options)


def preset_named(argv: list[str], presets: dict[str, C], default: str) -> str:
    """The ``--preset NAME`` (or ``--preset=NAME``) among ``argv``: it sets the defaults
    the rest of the command line is parsed against, so it is read first."""
    name = default
    for i, arg in enumerate(argv):
        if arg == "--preset":
            name = argv[i + 1] if i + 1 < len(argv) else ""
        elif arg.startswith("--preset="):
            name = arg.split("=", 1)[1]
    if name not in presets:
        raise ConfigError(f"--preset {name!r} is not one of {', '.join(sorted(presets))}")
    return name


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
