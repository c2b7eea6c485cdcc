"""Networks from DARTS genotypes: the macro skeletons of the DARTS evaluation networks and the
import of a `Genotype(...)` string onto one of them (or onto any space or network file).

    import_genotype(text)                     -> the DARTS CIFAR network (20 cells, C=36, aux) of it
    import_genotype(text, imagenet=True)      -> the DARTS ImageNet mobile network (14 cells, C=48)
    import_genotype(text, space=model)        -> `model`'s skeleton with the genotype's cells
    darts_skeleton(imagenet=False, ...)       -> the skeleton itself (its cells are placeholders)

The skeletons are `examples/darts_v2_cifar.nas` and `examples/darts_v2_imagenet.nas` without
their cells: the stems, the preprocessing of the two cell inputs (`preprocess`: a 1x1
ReLU-conv-BN, or a factorized reduce after a reduction), reductions at a third and two thirds of
the depth, the classifier and the auxiliary tower after the second reduction (weight 0.4) - the
reference code's `NetworkCIFAR` / `NetworkImageNet`. The genotype's ops are looked up in the
skeleton's op libraries (std.nas has every op of the DARTS family: `sep_conv_7x7`,
`conv_7x1_1x7`, ...). `to_genotype` of the result gives the genotype back (in pt.darts' form).
"""
from __future__ import annotations

from collections.abc import Sequence

from nasc.errors import Diagnostics, ParseError
from nasc.ir.model import Model
from nasc.search.genotype import from_genotype, parse_genotype

CIFAR = {"C": 36, "layers": 20, "classes": 10, "input": 32}
IMAGENET = {"C": 48, "layers": 14, "classes": 1000, "input": 224}


def _tuple(values: Sequence[int]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"


def skeleton_text(*, imagenet: bool = False, name: str | None = None, C: int | None = None,
                  layers: int | None = None, classes: int | None = None, input_size: int | None = None,
                  input_channels: int = 3, stem_channels: int | None = None,
                  reductions: Sequence[int] | None = None, aux_after: int | None | bool = True) -> str:
    """The .nas text of a DARTS evaluation skeleton (placeholder cells). Unset values are the
    paper's; `reductions` None is the DARTS rule; `aux_after` True puts the tower after cell
    `2 * layers // 3`, an int after that cell, False/None leaves it out; `stem_channels` (CIFAR
    only) defaults to `C * 3`."""
    d = IMAGENET if imagenet else CIFAR
    C = d["C"] if C is None else C
    layers = d["layers"] if layers is None else layers
    classes = d["classes"] if classes is None else classes
    size = d["input"] if input_size is None else input_size
    name = name or ("genotype_imagenet" if imagenet else "genotype_cifar")
    red = "(layers // 3, 2 * layers // 3)" if reductions is None else _tuple(reductions)
    if imagenet:
        stems = "  stem = imagenet_stem0(C_out=C)\n  stem = imagenet_stem1(C_out=C)\n"
    else:
        stem_c = "C * 3" if stem_channels is None or stem_channels == 3 * C else str(stem_channels)
        stems = f"  stem = cifar_stem(C_out={stem_c})\n"
    aux = ""
    if aux_after is not None and aux_after is not False:
        after = "2 * layers // 3" if aux_after is True else str(aux_after)
        aux = f"  aux = {'imagenet_aux' if imagenet else 'cifar_aux'} after {after} weight 0.4\n"
    cell = ("(s0: preprocess, s1: preprocess) {\n  n0 = skip_connect(s0) + skip_connect(s1)\n"
            "  return concat(n0)\n}\n")
    return (f"import std\n\nparam C = {C}\nparam layers = {layers}\nparam classes = {classes}\n\n"
            f"cell normal{cell}\ncell reduce{cell}\n"
            f"network {name} {{\n  input = ({input_channels}, {size}, {size})\n  classes = classes\n"
            f"{stems}  cells = layers\n  channels = C\n  reductions = {red}\n  head = classifier\n{aux}}}\n")


def darts_skeleton(**kwargs: object) -> Model:
    """The parsed (unverified: its cells are placeholders) skeleton of `skeleton_text(**kwargs)`."""
    from nasc.frontend import parse_source

    return parse_source(skeleton_text(**kwargs), None)  # type: ignore[arg-type]


def verified(model: Model) -> Model:
    """`model` if it verifies, else `Diagnostics` of every problem (e.g. an unknown op)."""
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    errors = verify(model, primitive_table())
    if errors:
        raise Diagnostics(errors)
    return model


def import_genotype(text: str, *, space: Model | None = None, imagenet: bool = False,
                    name: str | None = None) -> Model:
    """The discrete network of genotype `text` (DARTS' flat form or pt.darts' nested form) on the
    macro skeleton of `space` (a loaded space or network), else the DARTS CIFAR or (`imagenet`)
    ImageNet evaluation network. Raises `ParseError` on a malformed genotype and `Diagnostics`
    (unknown op, input index out of range, ...) when the result does not verify."""
    genes = parse_genotype(text)  # first: a malformed genotype is reported before anything else
    base = space if space is not None else darts_skeleton(imagenet=imagenet, name=name)
    if name is not None and space is not None:
        base = base.model_copy(update={"name": name})
    missing = [k for k in ("normal", "reduce") if k not in genes]
    model = from_genotype(text, base)
    if space is None and missing:
        # a genotype of one cell type on the default skeleton: the placeholder of the other stays,
        # which is not a network anyone meant
        raise ParseError(f"genotype: no {missing[0]}= cell", hint="give both normal= and reduce= "
                         "(or --space FILE whose own cells are kept)")
    return verified(model)
