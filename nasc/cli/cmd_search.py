"""`nasc search ALGO SPACE`: architecture search, one subcommand per registered algorithm.

    nasc search darts examples/darts_space.nas                    # toy run on the built-in data
    nasc search darts examples/darts_space.nas --full --data cifar10:./data --second-order
    nasc search random examples/darts_space.nas --trials 8 --executor ray
    nasc search darts space.nas --set trainer.epochs=5 --set search.darts.channels=8 --out runs/s1
    nasc search darts --resume runs/search-darts-20240101-120000  # continue a killed search
    torchrun --nproc_per_node 2 -m nasc search darts space.nas    # data-parallel (darts, pc-darts, gdas)

Every algorithm of `nasc.api.search_names()` (built-ins and plugins) gets the same options plus
its own flags (`SearchStrategy.flags`). Commands are built when asked for, so importing the CLI
does not import the algorithms (nor torch). The library emits progress events; they are rendered
here (rich on a terminal, plain lines otherwise).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import click
import typer
from typer.core import TyperGroup

from nasc.cli.runs import flag_values, refuse_with_resume, run_with_progress
from nasc.errors import ConfigError


def _common_parameters() -> list[inspect.Parameter]:
    """The options every `nasc search NAME` has."""
    def opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                 annotation=annotation)

    return [
        inspect.Parameter("space", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[Path],
                          default=typer.Argument(None, help="the search space (.nas / .yaml); "
                                                            "optional with --resume")),
        opt("config", Optional[Path], typer.Option(None, "--config", help="experiment config "
                                                   "(default: the algorithm's shipped one)")),
        opt("sets", list[str], typer.Option([], "--set", help="override a config key: "
                                                              "SECTION.KEY=VALUE")),
        opt("full", bool, typer.Option(False, "--full", help="the paper's settings instead of the "
                                                             "toy ones")),
        opt("out", Optional[Path], typer.Option(None, "--out", help="run directory (default "
                                                                    "runs/NAME-TIME)")),
        opt("resume", Optional[Path], typer.Option(None, "--resume", help="continue the run in "
                                                                          "this folder")),
        opt("seed", Optional[int], typer.Option(None, "--seed", help="random seed")),
        opt("data", Optional[str], typer.Option(None, "--data", help="builtin | cifar10:PATH | "
                                                "cifar100:PATH | mnist:PATH | folder:PATH | a "
                                                "plugin dataset")),
        opt("device", Optional[str], typer.Option(None, "--device", help="auto | cpu | cuda | "
                                                                         "cuda:N")),
        opt("executor", Optional[str], typer.Option(None, "--executor", help="where jobs run: "
                                                                             "inline | ray")),
        opt("ray_address", Optional[str], typer.Option(None, "--ray-address", help="a Ray cluster "
                                                       "(host:port); implies --executor ray")),
        opt("benchmark", Optional[Path], typer.Option(None, "--benchmark", help="a NAS-Bench-201 "
                                                      "data file: look up the true accuracy of "
                                                      "each derived cell")),
    ]


def _flag_parameter(i: int, flag: Any) -> inspect.Parameter:
    annotation = Optional[flag.type]
    return inspect.Parameter(f"flag_{i}", inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=typer.Option(None, *flag.decls, help=flag.help))


def build_command(name: str) -> click.Command:
    """The click command of `nasc search NAME` for a registered algorithm."""
    from nasc import api

    info = api.search_info(name)
    flags = info.flags

    def command(**kw: Any) -> None:
        flag_set: dict[str, Any] = {}
        given: dict[str, Any] = {}
        for i, flag in enumerate(flags):
            value = kw.pop(f"flag_{i}")
            if value is None:
                continue
            given[flag.decls[0]] = value
            flag_set[flag.key] = (flag.values[0] if value else flag.values[1]) if flag.values else value
        result = run_with_progress(lambda events: _search(name, kw, flag_set, given, events))
        if not result.run.enabled:  # a torchrun rank other than 0: rank 0 reports
            return
        for line in result.lines:
            typer.echo(line)
        typer.echo(f"run dir: {result.run.root}")
        for file, path in result.paths.items():
            if file != "provenance.json":
                typer.echo(f"  {file:<13} {path}")
        step = api.search_next_step(result)
        if step:
            typer.echo(f"next: {step}")

    params = _common_parameters() + [_flag_parameter(i, f) for i, f in enumerate(flags)]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = info.summary[:1].upper() + info.summary[1:] + "."
    sub = typer.Typer(add_completion=False)
    sub.command(name)(command)
    return typer.main.get_command(sub)


def _search(name: str, kw: dict[str, Any], flag_set: dict[str, Any], given: dict[str, Any],
            events: Any) -> Any:
    from nasc import api

    api.check_search_launch(name)  # before a run folder is made
    executor = kw["executor"]
    if executor is not None and executor not in ("inline", "ray"):
        raise ConfigError(f"unknown executor `{executor}`", key="--executor", hint="use inline or ray")
    if kw["resume"] is not None:
        refuse_with_resume({"SPACE": kw["space"], "--config": kw["config"], "--set": kw["sets"],
                            "--full": kw["full"], "--out": kw["out"], "--seed": kw["seed"],
                            "--data": kw["data"], "--executor": executor,
                            "--ray-address": kw["ray_address"], "--benchmark": kw["benchmark"],
                            **given}, "search")
        return api.resume_search(kw["resume"], events=events, device=kw["device"], expect=name)
    if kw["space"] is None:
        raise ConfigError("missing SPACE argument", key="SPACE",
                          hint=f"nasc search {name} examples/darts_space.nas")
    if kw["ray_address"] is not None and executor is None:
        executor = "ray"
    values = flag_values({"data.dataset": kw["data"], "run.seed": kw["seed"],
                          "run.device": kw["device"], "search.executor.kind": executor,
                          "search.executor.address": kw["ray_address"],
                          "search.benchmark": None if kw["benchmark"] is None
                          else str(kw["benchmark"].resolve()), **flag_set})
    return api.search(name, kw["space"], config=kw["config"], overrides=kw["sets"],
                      full=kw["full"], values=values, out=kw["out"], events=events)


class SearchGroup(TyperGroup):
    """`nasc search`: its subcommands are the registered algorithms, built on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from nasc import api

        return api.search_names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from nasc import api

        if cmd_name not in api.search_names():
            return None
        return build_command(cmd_name)


search_app = typer.Typer(name="search", cls=SearchGroup, no_args_is_help=True,
                         add_completion=False,
                         help="Search an architecture in a search space (one subcommand per "
                              "algorithm; `nasc plugins` lists them).")


def register(app: typer.Typer) -> None:
    """Register the `nasc search` command group."""
    app.add_typer(search_app, name="search")
