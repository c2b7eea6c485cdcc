"""Graphviz pictures of a model: one cluster per cell template (its inputs, nodes, edges labelled by
op, choices listing their candidates, the output combine) and a macro picture of the network
(input, stems, every cell instance with its output shape, head and aux tower).

Torch-free: it reads the IR and the elaborated network only. Rendering runs graphviz's `dot`.
"""
from __future__ import annotations

import os
from pathlib import Path

import graphviz

from nasc.analysis.network import Network
from nasc.errors import ExportError
from nasc.atomic import atomic_write_bytes
from nasc.ir.expr import format_expr
from nasc.ir.model import Cell, Choice, Model, OpCall

FORMATS = ("svg", "png", "pdf", "dot")
_FONT = "Helvetica"


def call_label(call: OpCall) -> str:
    """`conv_bn(k=1)`-style text of an op call (just the name when it has no args)."""
    if not call.args:
        return call.op
    args = ", ".join(f"{k}={format_expr(v)}" for k, v in call.args.items())
    return f"{call.op}({args})"


def _shape(s: tuple[int, int, int]) -> str:
    return f"{s[0]}x{s[1]}x{s[2]}"


def _esc(text: str) -> str:
    # graphviz treats a backslash in labels as an escape; none of our names have one, but args may
    return text.replace("\\", "\\\\")


def add_cell_cluster(g: graphviz.Digraph, cell: Cell) -> None:
    """Draw cell template `cell` as a cluster of `g`. A named choice (`choice darts = [...]`) labels
    its edges with the name and lists its candidates once in a legend; an inline one lists them on
    the edge."""
    with g.subgraph(name=f"cluster_cell_{cell.name}") as sg:
        sg.attr(label=f"cell {cell.name}", style="rounded", color="gray40", fontname=_FONT)
        pre = cell.name + "/"
        with sg.subgraph() as inputs:  # inputs side by side, in declaration order
            inputs.attr(rank="same")
            for inp in cell.inputs:
                label = inp.name + (f"\n{call_label(inp.op)}" if inp.op else "")
                inputs.node(pre + inp.name, _esc(label), shape="box", style="filled", fillcolor="lightblue")
            for a, b in zip(cell.inputs, cell.inputs[1:]):
                inputs.edge(pre + a.name, pre + b.name, style="invis")
        legend: dict[str, tuple[str, ...]] = {}
        for node in cell.nodes:
            label = f"{node.name}\n{node.combine}" + (f" keep {node.keep}" if node.keep is not None else "")
            sg.node(pre + node.name, label, shape="ellipse", style="filled", fillcolor="lightyellow")
            for i, e in enumerate(node.edges):
                attrs = {"fontname": _FONT, "fontsize": "10"}
                if isinstance(e.op, Choice):
                    names = tuple(call_label(c) for c in e.op.candidates)
                    if e.op.name:
                        legend[e.op.name] = names
                        label = f"{e.op.name}"
                    else:
                        label = "[" + " | ".join(names) + "]"
                    attrs["style"] = "dashed"
                else:
                    label = call_label(e.op)
                if e.drop_path:
                    label += "\n(drop path)"
                sg.edge(pre + e.input, pre + node.name, label=_esc(f"e{i}: {label}"), **attrs)
        out = pre + "out"
        sg.node(out, f"output\n{cell.output_combine}", shape="box", style="filled", fillcolor="palegreen")
        for s in cell.output:
            sg.edge(pre + s, out)
        for name, names in legend.items():
            # `\\l` ends a left-justified line in a graphviz label
            text = f"choice {name}:\\l" + "".join(f"  {_esc(n)}\\l" for n in names)
            sg.node(f"{pre}choice-{name}", text, shape="note", fontsize="10")


def add_macro_cluster(g: graphviz.Digraph, network: Network) -> None:
    """Draw the macro network (stems, cell instances, head, aux) as a cluster of `g`."""
    model = network.model
    with g.subgraph(name="cluster_network") as sg:
        sg.attr(label=f"network {model.name}", style="rounded", color="gray40", fontname=_FONT)
        sg.node("net/input", f"input\n{_shape(network.input_shape)}", shape="box")
        states: list[str] = []
        prev = "net/input"
        for i, (stem, call) in enumerate(zip(network.stems, model.stems)):
            name = f"net/stems.{i}"
            sg.node(name, _esc(f"stems.{i}: {call_label(call)}\n{_shape(stem.out_shape)}"), shape="box",
                    style="filled", fillcolor="lightblue")
            sg.edge(prev, name)
            prev = name
            states.append(name)
        for cell in network.cells:
            name = f"net/cells.{cell.index}"
            color = "lightsalmon" if cell.reduction else "lightyellow"
            sg.node(name, f"cells.{cell.index}: {cell.template}\n{_shape(cell.out_shape)}", shape="box",
                    style="filled", fillcolor=color)
            for inp in cell.inputs:
                sg.edge(states[inp.source], name, label=inp.name, fontsize="9")
            states.append(name)
        sg.node("net/head", _esc(f"head: {call_label(model.head.op)}\n{network.classes} classes"), shape="box",
                style="filled", fillcolor="palegreen")
        sg.edge(states[-1], "net/head")
        if network.aux is not None and network.aux_after is not None and model.aux is not None:
            sg.node("net/aux", _esc(f"aux: {call_label(model.aux.op)}\nweight {network.aux_weight:g}"),
                    shape="box", style="filled,dashed", fillcolor="lavender")
            sg.edge(states[len(network.stems) + network.aux_after], "net/aux", style="dashed")


def model_graph(model: Model, network: Network | None = None) -> graphviz.Digraph:
    """The whole picture: the macro network (when `network` is given) and every cell template."""
    g = graphviz.Digraph(name=model.name)
    g.attr(rankdir="TB", fontname=_FONT, compound="true")
    g.attr("node", fontname=_FONT, fontsize="11")
    if network is not None:
        add_macro_cluster(g, network)
    for cell in model.cells:
        add_cell_cluster(g, cell)
    return g


def render_bytes(graph: graphviz.Digraph, fmt: str) -> bytes:
    """Render with `dot` to `fmt` (`dot` gives the graph source)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown picture format `{fmt}`", hint=f"use one of: {', '.join(FORMATS)}")
    if fmt == "dot":
        return graph.source.encode()
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise ExportError("graphviz's `dot` program was not found",
                          hint="install graphviz (e.g. `apt install graphviz`) or use --format dot") from None
    except graphviz.CalledProcessError as e:
        raise ExportError(f"`dot` failed: {(e.stderr or b'').decode(errors='replace').strip()[:200]}") from None


def write_picture(model: Model, path: str | os.PathLike[str], fmt: str | None = None,
                  network: Network | None = None) -> Path:
    """Render `model` to `path` atomically; the format defaults to the file's suffix (else svg)."""
    fmt = fmt or (Path(path).suffix.lstrip(".").lower() or "svg")
    return atomic_write_bytes(path, render_bytes(model_graph(model, network), fmt))
