"""Helpers shared by the test files that check refused commands."""

from __future__ import annotations

from gptlab import cli


def files(root) -> dict:
    """Every file under ``root`` with its content and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def refusal(capsys, argv) -> str:
    """The one error line of a refused command (exit code 2)."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"gptlab {argv[0]}: error: ")
    return err
