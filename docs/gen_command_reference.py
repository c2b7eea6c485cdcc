"""Print the README's "Command reference" section from the CLI itself (paste it over the old one;
`tests/cli/test_discover.py` fails when the README misses a command or an option).

    python docs/gen_command_reference.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cli"))
from test_discover import _commands
lines = ["## Command reference", "",
         "Every command and option (`nasc COMMAND --help` says more; a test keeps this list complete).", "",
         "| command | options | what it does |", "|---|---|---|"]
for full, cmd in _commands():
    args = " ".join(p.name.upper() for p in cmd.params if p.param_type_name == "argument")
    opts = []
    for p in cmd.params:
        if p.param_type_name == "option":
            o = "/".join(p.opts + p.secondary_opts)
            if o != "--help":
                opts.append(f"`{o}`")
    first = (cmd.help or "").strip().split("\n\n")[0].replace("\n", " ")
    first = first.split(". ")[0].rstrip(".") + "."
    lines.append(f"| `nasc {full}{(' ' + args) if args else ''}` | {', '.join(opts) or '—'} | {first.replace('|', '/')} |")
print("\n".join(lines))
