"""`nasc import genotype|archai|nb201`: a network from another tool's description, as `.nas`.

    nasc import genotype "Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)" -o net.nas
    nasc import genotype "Genotype(...)" --imagenet -o net.nas      # the mobile ImageNet network
    nasc import genotype "Genotype(...)" --space my_space.nas -o net.nas
    nasc import archai final_model_desc.yaml -o net.nas
    nasc import nb201 "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|" -o net.nas

Each prints the network's size and its genotype (or NB201 string) read back from the result.
`nasc viz`, `nasc compile` and `nasc train` also take `genotype:Genotype(...)` in place of a file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import ConfigError, NascError

import_app = typer.Typer(name="import", no_args_is_help=True, add_completion=False,
                         help="Import a network: a DARTS genotype, an Archai description, an NB201 string.")


def _report(result: Any, what: str) -> None:
    stats = api.stats(result.model)
    typer.echo(f"imported {what}: network `{result.model.name}`, {len(stats.network.cells)} cells, "
               f"{stats.cost.params:,} params")
    if result.genotype is not None:
        typer.echo(f"genotype: {result.genotype}")
    if result.arch is not None:
        typer.echo(f"nb201: {result.arch}")
    typer.echo(f"wrote {result.path}")


@import_app.command("genotype")
def genotype_cmd(
    genotype: str = typer.Argument(..., help="a DARTS / pt.darts Genotype(...) string"),
    output: Path = typer.Option(..., "-o", "--output", help="the .nas file to write"),
    space: Optional[Path] = typer.Option(None, "--space", help="take the macro skeleton from this "
                                                               "space or network file"),
    imagenet: bool = typer.Option(False, "--imagenet", help="the DARTS ImageNet mobile network "
                                                            "(14 cells, C=48) instead of CIFAR's"),
    name: Optional[str] = typer.Option(None, "--name", help="the network's name"),
) -> None:
    """A DARTS genotype on the DARTS evaluation network (CIFAR: 20 cells, C=36, aux tower)."""
    try:
        if space is not None and imagenet:
            raise ConfigError("--space and --imagenet exclude each other", key="--imagenet",
                              hint="the space file's skeleton replaces the ImageNet one")
        result = api.import_genotype(genotype, space=space, imagenet=imagenet, name=name, out=output)
        _report(result, "genotype")
    except NascError as e:
        raise fail(e) from None


@import_app.command("archai")
def archai_cmd(
    desc: Path = typer.Argument(..., help="Archai model description (final_model_desc.yaml)"),
    output: Path = typer.Option(..., "-o", "--output", help="the .nas file to write"),
    name: Optional[str] = typer.Option(None, "--name", help="the network's name"),
) -> None:
    """An Archai model description (read without executing its Python tags)."""
    try:
        _report(api.import_archai(desc, name=name, out=output), str(desc))
    except NascError as e:
        raise fail(e) from None


@import_app.command("nb201")
def nb201_cmd(
    arch: str = typer.Argument(..., help="a NAS-Bench-201 architecture string |op~0|+|op~0|op~1|+|...|"),
    output: Path = typer.Option(..., "-o", "--output", help="the .nas file to write"),
    space: Optional[Path] = typer.Option(None, "--space", help="take the macro skeleton from this "
                                                               "file (default: examples/nb201_space.nas)"),
) -> None:
    """A NAS-Bench-201 cell on the benchmark's network (C=16, 3 stages of 5 cells)."""
    try:
        _report(api.import_nb201(arch, space=space, out=output), "NB201 cell")
    except NascError as e:
        raise fail(e) from None


def register(app: typer.Typer) -> None:
    """Register the `nasc import` command group."""
    app.add_typer(import_app, name="import")
