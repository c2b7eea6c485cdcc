"""The top-level app: every command is listed, and only the one that runs is imported."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from nasc.cli.app import COMMANDS, app, load_command

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_every_command_module_registers_its_command() -> None:
    for name in COMMANDS:
        assert load_command(name).name == name


def test_help_lists_every_command_and_typos_get_suggestions() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for name in COMMANDS:
        assert f"│ {name} " in r.output
    r = runner.invoke(app, ["chek", "x"])
    assert r.exit_code == 2 and "No such command 'chek'. Did you mean 'check'" in r.output


def test_check_imports_only_its_own_command() -> None:
    code = ("import sys\nfrom nasc.cli.app import main\nsys.argv = ['nasc', 'check', "
            "'examples/darts_v2_cifar.nas']\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code\n"
            "print(sorted(m for m in sys.modules if m.startswith('nasc.cli.cmd_')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "['nasc.cli.cmd_check']"
