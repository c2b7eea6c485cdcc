"""What may name things in nasc: identifiers that are not reserved words.

Names of params, ops and their params, cells, cell inputs and nodes appear in `.nas` text as
`NAME` tokens, so a model built from YAML or by a pass must use names the printer can print back
and the parser can read: `[A-Za-z_][A-Za-z0-9_]*`, and none of the grammar's keywords.
"""
from __future__ import annotations

import re

# every word the grammar (grammar/nasc.lark) reserves
RESERVED: tuple[str, ...] = ("import", "param", "op", "choice", "cell", "network", "return", "keep",
                             "after", "weight", "if", "else", "and", "or", "not", "true", "false")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a param, op, cell, input or node; None when it can."""
    if not _IDENT.match(name):
        return "is not a name (letters, digits and `_`, not starting with a digit)"
    if name in RESERVED:
        return "is a reserved word of nasc"
    return None

# names every op call sees besides the model params: the input shape and the caller's context
CONTEXT_NAMES: tuple[str, ...] = ("C_in", "H_in", "W_in", "C_out", "stride", "affine")
