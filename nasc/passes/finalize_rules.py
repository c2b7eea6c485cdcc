"""Finalization rules: how a node of a search space becomes a node of a discrete network, given the
mixing probabilities of its choice edges. The built-in rules are listed in `_RULES` at the end of
this module; `register_rule(name, fn)` adds one (a search strategy's own selection rule, say).

A rule maps one node to the edges it keeps, each with the op chosen for it. Fixed edges (plain op
calls in a space) are always kept; rules decide only about choice edges.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from nasc.errors import PassError, did_you_mean
from nasc.ir.model import Choice, Edge, Node, OpCall

# ops that contribute nothing to a sum (`none` is the DARTS name; `zero` the primitive)
NONE_OPS = frozenset({"none", "zero"})

# (node, {edge index: probabilities over its candidates}) -> kept edges in index order
FinalizeRule = Callable[[Node, Mapping[int, Sequence[float]]], list[Edge]]


def register_rule(name: str, fn: FinalizeRule) -> None:
    """Add finalization rule `fn` under `name` (a name may be registered once)."""
    if name in _RULES:
        raise PassError(f"finalize rule `{name}` is already defined", hint="pick another name")
    _RULES[name] = fn


def get_rule(name: str) -> FinalizeRule:
    """The rule named `name`; unknown names raise `PassError` with a did-you-mean hint."""
    try:
        return _RULES[name]
    except KeyError:
        hint = did_you_mean(name, _RULES) or f"known rules: {', '.join(sorted(_RULES))}"
        raise PassError(f"unknown finalize rule `{name}`", hint=hint) from None


def rule_names() -> list[str]:
    """Names of the registered finalization rules, sorted."""
    return sorted(_RULES)


def _is_none(call: OpCall) -> bool:
    return call.op in NONE_OPS


def best_candidate(choice: Choice, probs: Sequence[float], exclude_none: bool) -> int:
    """Index of the strongest candidate (the first on ties); with `exclude_none`, `none` candidates
    are skipped unless every candidate is `none`."""
    idx = [i for i, c in enumerate(choice.candidates) if not (exclude_none and _is_none(c))]
    if not idx:
        idx = list(range(len(choice.candidates)))
    return max(idx, key=lambda i: (probs[i], -i))


def _with_op(edge: Edge, call: OpCall) -> Edge:
    return edge.model_copy(update={"op": call})


def darts_rule(node: Node, probs: Mapping[int, Sequence[float]]) -> list[Edge]:
    """DARTS: each choice edge takes its best candidate other than `none`; a node with `keep=k`
    keeps the k choice edges whose best candidate is strongest (ties: the earlier edge)."""
    picks: dict[int, tuple[float, OpCall]] = {}
    for i, e in enumerate(node.edges):
        if isinstance(e.op, Choice):
            b = best_candidate(e.op, probs[i], exclude_none=True)
            picks[i] = (probs[i][b], e.op.candidates[b])
    kept = set(picks)
    if node.keep is not None:
        ranked = sorted(picks, key=lambda i: (-picks[i][0], i))
        kept = set(ranked[: node.keep])
    out = []
    for i, e in enumerate(node.edges):
        if i in picks:
            if i in kept:
                out.append(_with_op(e, picks[i][1]))
        else:
            out.append(e)
    return out


def argmax_rule(node: Node, probs: Mapping[int, Sequence[float]]) -> list[Edge]:
    """Every edge takes its most probable candidate, `none` included; in a `sum` node edges whose
    choice is `none` are dropped (they add zero) unless that would leave the node empty, in which
    case the strongest of them stays as `none`. `concat`/`proj` nodes keep them (channels count)."""
    out: list[tuple[int, Edge]] = []
    dropped: list[tuple[float, int, Edge]] = []
    for i, e in enumerate(node.edges):
        if not isinstance(e.op, Choice):
            out.append((i, e))
            continue
        b = best_candidate(e.op, probs[i], exclude_none=False)
        new = _with_op(e, e.op.candidates[b])
        if node.combine == "sum" and _is_none(e.op.candidates[b]):
            dropped.append((probs[i][b], i, new))
        else:
            out.append((i, new))
    if not out and dropped:
        _, i, e = max(dropped, key=lambda t: (t[0], -t[1]))
        out.append((i, e))
    return [e for _, e in sorted(out, key=lambda t: t[0])]


def petridish_rule(node: Node, probs: Mapping[int, Sequence[float]]) -> list[Edge]:
    """Petridish (`num_edges_to_sample`): rank every (choice edge, candidate) pair of the node by
    |weight| and keep the `keep` strongest (all pairs when `keep` is None; ties: the earlier edge,
    then the earlier candidate), each as an edge with that one op. Two ops on the same input may
    both be kept, so the node can end with more edges than it had. `none` candidates are never
    kept. Fixed edges are kept. Use it with `logits=False`: Petridish's weights are raw (signed,
    L1-penalised), not softmaxed; the search's output rewiring is `nasc.search.petridish_grow.select`.
    """
    pairs = [(abs(probs[i][j]), i, j)
             for i, e in enumerate(node.edges) if isinstance(e.op, Choice)
             for j, c in enumerate(e.op.candidates) if not _is_none(c)]
    ranked = sorted(pairs, key=lambda t: (-t[0], t[1], t[2]))
    k = len(ranked) if node.keep is None else node.keep
    kept = {(i, j) for _, i, j in ranked[:k]}
    out: list[Edge] = []
    for i, e in enumerate(node.edges):
        if isinstance(e.op, Choice):
            out.extend(_with_op(e, c) for j, c in enumerate(e.op.candidates) if (i, j) in kept)
        else:
            out.append(e)
    return out


# the built-in rules (name -> rule)
_RULES: dict[str, FinalizeRule] = {
    "darts": darts_rule,
    "argmax": argmax_rule,
    "petridish": petridish_rule,
}
