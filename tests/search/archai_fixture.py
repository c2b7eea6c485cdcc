"""Writes small model descriptions in the format of Archai's `ModelDesc.save` (`yaml.dump` of
`archai.nas.model_desc.ModelDesc`, Python tags included), for the import tests."""
from __future__ import annotations

T = "!!python/object:archai.nas.model_desc."
Gene = list[list[tuple[str, int]]]


def _op(name: str, indent: str, ch: int, stride: int = 1) -> list[str]:
    return [f"{T}OpDesc", f"{indent}children: null", f"{indent}children_ins: null", f"{indent}in_len: 1",
            f"{indent}name: {name}", f"{indent}params:", f"{indent}  conv: {T}ConvMacroParams",
            f"{indent}    ch_in: {ch}", f"{indent}    ch_out: {ch}", f"{indent}  stride: {stride}",
            f"{indent}trainables: null"]


def _cell(i: int, kind: str, gene: Gene, C: int, post: str) -> list[str]:
    out = [f"- {T}CellDesc", "  _nodes:"]
    for node in gene:
        out += [f"  - {T}NodeDesc", "    edges:"]
        for op, j in node:
            stride = 2 if kind == "reduction" and j < 2 else 1
            lines = _op(op, "        ", C, stride)
            out += [f"    - {T}EdgeDesc", "      input_ids:", f"      - {j}", f"      op_desc: {lines[0]}",
                    *lines[1:]]
    post_lines = _op(post, "    ", C * len(gene))
    out += ["  alphas_from: 0", f"  cell_ch_out: {C * len(gene)}",
            "  cell_type: !!python/object/apply:archai.nas.model_desc.CellType", f"  - {kind}",
            f"  id: {i}", "  max_final_edges: 2", f"  node_ch_out: {C}",
            f"  post_op: {post_lines[0]}", *post_lines[1:],
            "  s0_op: " + _op("prepr_normal", "    ", C)[0], *_op("prepr_normal", "    ", C)[1:]]
    return out


def archai_desc(normal: Gene, reduce: Gene, *, cells: int = 20, C: int = 36, classes: int = 10,
                post: str = "concate_channels", stem: str = "stem_conv3x3", aux_after: int | None = None,
                reduce_override: dict[int, Gene] | None = None) -> str:
    """The YAML text of a DARTS-like description: reductions at a third and two thirds."""
    lines = [f"{T}ModelDesc", "_cell_descs:"]
    reductions = (cells // 3, 2 * cells // 3)
    ch = C
    for i in range(cells):
        if i in reductions:
            ch *= 2
        kind = "reduction" if i in reductions else "regular"
        gene = (reduce_override or {}).get(i, reduce if kind == "reduction" else normal)
        lines += _cell(i, kind, gene, ch, post)
    aux = 2 * cells // 3 if aux_after is None else aux_after
    lines.append("aux_tower_descs:")
    for i in range(cells):
        if i == aux:
            lines += [f"- {T}AuxTowerDesc", "  ch_in: 576", f"  n_classes: {classes}", "  stride: 3"]
        else:
            lines.append("- null")
    stem_lines = _op(stem, "  ", 3 * C)
    lines += ["ds_ch: 3", "logits_op: " + _op("linear", "  ", C)[0], *_op("linear", "  ", C)[1:],
              f"n_classes: {classes}", "params: {}",
              "pool_op: " + _op("pool_adaptive_avg2d", "  ", C)[0], *_op("pool_adaptive_avg2d", "  ", C)[1:],
              f"stem0_op: {stem_lines[0]}", *stem_lines[1:], f"stem1_op: {stem_lines[0]}", *stem_lines[1:]]
    return "\n".join(lines) + "\n"
