"""Networks from Archai model descriptions (`final_model_desc.yaml`, `ModelDesc.save`).

    import_archai(text, file)  -> ArchaiImport(model, genotype)

Archai writes a description with `yaml.dump(model_desc)`, so every object carries a Python tag
(`!!python/object:archai.nas.model_desc.CellDesc`, `!!python/object/apply:...CellType`).
nasc never constructs them: the tags naming an `archai.` class (and `!!python/tuple`) are blanked
out of the text - column for column, so positions stay exact - and the document is read as plain
mappings and lists by the guarded loader (`nasc.yamlio`). Any other Python tag (one that would
name a class or function outside Archai) is left in place, and the loader refuses it at its line.

What is read, and how it maps (everything else in the description is ignored):

- `_cell_descs` (or `cell_descs`): per cell `cell_type` (regular | reduction) and `_nodes` (or
  `nodes`), each node's `edges` with `op_desc.name` and `input_ids` (0, 1: the cell inputs s0,
  s1; k + 2: node k) - this is the DARTS genotype of the cell. Every regular cell must have the
  same nodes, and every reduction cell (nasc shares one template per cell type).
- `post_op.name`: `concate_channels` (the output concatenates every node) is supported;
  `proj_channels` is refused (nasc's cell output is a concat or a sum, not a projection).
- The macro skeleton: the number of cells, which are reductions, the first cell's `node_ch_out`
  (C), the stem's output width, `n_classes`, `ds_ch` (input channels), the stem kind
  (`stem_conv3x3`: CIFAR, 32x32; `stem_conv3x3_s4` + `stem_conv3x3_s4s2`: ImageNet, 224x224) and
  the cell after which `aux_tower_descs` holds a tower.

Not expressible, and what the import does instead: Archai's CIFAR model applies its two stems to
the input side by side (`s0 = stem0(x)`, `s1 = stem1(x)`, two sets of weights); nasc chains
stems, so the import uses one stem for both (`s0 = s1 = stem(x)`), as the DARTS reference does
(Archai's model has one more stem's parameters). Archai's aux tower always has its second batch
norm, and DARTS' ImageNet tower (used by the ImageNet import) has not. The tower's loss weight is
not in the description; the import uses DARTS' 0.4.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from nasc.errors import ParseError, did_you_mean
from nasc.ir.model import Model
from nasc.source import Span
from nasc.yamlio import Positions, load_yaml

# the tags of Archai's own classes, and tuples; blanked out so the document reads as plain data
_ARCHAI_TAG = re.compile(r"!!python/(?:object(?:/apply|/new)?:archai\.[A-Za-z0-9_.]+|tuple)")
_STEMS = {"stem_conv3x3": "cifar", "stem_conv3x3_s4": "imagenet", "stem_conv3x3_s4s2": "imagenet"}
_HINT = "a model description as Archai's ModelDesc.save writes it (final_model_desc.yaml)"


class ArchaiImport(NamedTuple):
    """An imported Archai description: the network and its genotype (pt.darts' form)."""

    model: Model
    genotype: str


def blank_archai_tags(text: str) -> str:
    """`text` with every Archai class tag (and `!!python/tuple`) replaced by as many spaces."""
    return _ARCHAI_TAG.sub(lambda m: " " * len(m.group(0)), text)


class _Reader:
    """Field access with located errors over the plain data of one description."""

    def __init__(self, data: Any, pos: Positions, file: str | None) -> None:
        self.data, self.pos, self.file = data, pos, file

    def where(self, path: tuple[Any, ...]) -> Span | None:
        return self.pos.locate(path) or Span(file=self.file, line=1, col=1)

    def fail(self, msg: str, path: tuple[Any, ...], hint: str = _HINT) -> ParseError:
        return ParseError(f"Archai description: {msg}", self.where(path), hint)

    def get(self, path: tuple[Any, ...], *names: str, kind: type | tuple[type, ...] = object,
            optional: bool = False) -> tuple[Any, tuple[Any, ...]]:
        """The value of the first of `names` present in the mapping at `path`, and its path."""
        node = self.at(path)
        if not isinstance(node, Mapping):
            raise self.fail("expected a mapping here", path)
        for name in names:
            if name in node:
                value = node[name]
                if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
                    if optional and value is None:
                        return None, (*path, name)
                    raise self.fail(f"`{name}` has the wrong type ({type(value).__name__})", (*path, name))
                return value, (*path, name)
        if optional:
            return None, path
        raise self.fail(f"missing `{names[0]}`", path)

    def at(self, path: tuple[Any, ...]) -> Any:
        node = self.data
        for key in path:
            node = node[key]
        return node


def _cell_type(r: _Reader, path: tuple[Any, ...]) -> str:
    value, p = r.get(path, "cell_type")
    # an Enum dumps as `!!python/object/apply:...CellType [regular]`: a one-item list once blanked
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, Mapping):
        value = value.get("_value_", value.get("value"))
    if value not in ("regular", "reduction"):
        raise r.fail(f"unknown cell_type {value!r}", p, hint="cell types are regular and reduction")
    return str(value)


def _cell_gene(r: _Reader, path: tuple[Any, ...], known_ops: set[str]) -> tuple[list[list[tuple[str, int]]], tuple]:
    nodes, npath = r.get(path, "_nodes", "nodes", kind=list)
    post, ppath = r.get(path, "post_op", kind=Mapping)
    post_name, pn = r.get(ppath, "name", kind=str)
    if post_name != "concate_channels":
        raise r.fail(f"cell post op `{post_name}` is not supported", pn,
                     hint="nasc imports cells whose output concatenates the nodes (concate_channels); "
                          "a cell output is a concat or a sum in nasc, not a projection")
    gene = []
    for k in range(len(nodes)):
        edges, epath = r.get((*npath, k), "edges", kind=list)
        if not edges:
            raise r.fail(f"node {k} has no edges", (*npath, k),
                         hint="import a finalized description (after Archai's finalizers), not a search one")
        pairs = []
        for i in range(len(edges)):
            op, opath = r.get((*epath, i), "op_desc", kind=Mapping)
            name, name_path = r.get(opath, "name", kind=str)
            ids, ipath = r.get((*epath, i), "input_ids", kind=list)
            if len(ids) != 1 or not isinstance(ids[0], int) or isinstance(ids[0], bool) or ids[0] < 0:
                raise r.fail(f"edge input_ids {ids!r}: nasc edges read one state", ipath,
                             hint="each edge of a DARTS-style cell reads one earlier state")
            if name not in known_ops:
                raise r.fail(f"op `{name}` has no nasc equivalent", name_path,
                             hint=("a search description still has mixed ops: finalize it in Archai first"
                                   if name == "mixed_op" else did_you_mean(name, known_ops)
                                   or "nasc imports the ops of std.nas (the DARTS family)"))
            pairs.append((name, ids[0]))
        gene.append(pairs)
    return gene, npath


def import_archai(text: str, file: str | None = None, *, name: str | None = None) -> ArchaiImport:
    """The nasc network of an Archai model description (see the module docstring). Raises
    `ParseError` pointing at the line of anything it cannot read or express."""
    from nasc.search.genotype import to_genotype
    from nasc.search.genotype_import import darts_skeleton, import_genotype

    data, pos = load_yaml(blank_archai_tags(text), file)
    r = _Reader(data, pos, file)
    if not isinstance(data, Mapping):
        raise r.fail("the document is not a mapping", ())
    cells, cpath = r.get((), "_cell_descs", "cell_descs", kind=list)
    if not cells:
        raise r.fail("no cells", cpath)
    first, _ = r.get((*cpath, 0), "node_ch_out", kind=int)
    classes, _ = r.get((), "n_classes", kind=int)
    channels_in, _ = r.get((), "ds_ch", kind=int, optional=True)
    stem, spath = r.get((), "stem0_op", kind=Mapping)
    stem_name, sn = r.get(spath, "name", kind=str)
    if stem_name not in _STEMS:
        raise r.fail(f"stem `{stem_name}` is not supported", sn,
                     hint="nasc imports Archai's DARTS stems: stem_conv3x3 (CIFAR), stem_conv3x3_s4 (ImageNet)")
    imagenet = _STEMS[stem_name] == "imagenet"
    stem_c = None
    if not imagenet:
        params, pp = r.get(spath, "params", kind=Mapping, optional=True)
        if params is not None and isinstance(params.get("conv"), Mapping):
            stem_c = params["conv"].get("ch_out")
    towers, tpath = r.get((), "aux_tower_descs", kind=list, optional=True)
    aux_after = next((i for i, t in enumerate(towers or []) if t is not None), None)

    known = {d.name for d in darts_skeleton(imagenet=imagenet).ops}
    genes: dict[str, tuple[list[list[tuple[str, int]]], tuple]] = {}
    reductions = []
    for i in range(len(cells)):
        kind = _cell_type(r, (*cpath, i))
        if kind == "reduction":
            reductions.append(i)
        gene, gpath = _cell_gene(r, (*cpath, i), known)
        key = "reduce" if kind == "reduction" else "normal"
        if key not in genes:
            genes[key] = (gene, gpath)
        elif genes[key][0] != gene:
            raise r.fail(f"cell {i} ({kind}) differs from the first {kind} cell", gpath,
                         hint="nasc shares one cell template per type (normal, reduce); import a "
                              "description whose cells of one type agree")
    layers = len(cells)
    dflt = [layers // 3, 2 * layers // 3]
    skeleton = dict(imagenet=imagenet, name=name or "archai", C=first, layers=layers, classes=classes,
                    input_channels=channels_in or 3, stem_channels=stem_c,
                    reductions=None if reductions == dflt else reductions,
                    aux_after=(True if aux_after == 2 * layers // 3 else aux_after))
    # the genotype's concat: Archai's concate_channels concatenates every node
    parts = []
    for key in ("normal", "reduce"):
        if key in genes:
            gene = genes[key][0]
            parts.append(f"{key}={gene!r}, {key}_concat=range(2, {2 + len(gene)})")
    text_g = "Genotype(" + ", ".join(parts) + ")"
    model = import_genotype(text_g, space=darts_skeleton(**skeleton))
    return ArchaiImport(model, to_genotype(model))
