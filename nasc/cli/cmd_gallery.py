"""`nasc gallery eval RUN_DIR`: train the frontier models of a Petridish run at full size.

    nasc gallery eval runs/search-petridish-...                          # toy recipe, in process
    nasc gallery eval runs/search-petridish-... --cells 20 --channels 36 --full --executor ray
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc.cli.runs import flag_values, run_with_progress

gallery_app = typer.Typer(name="gallery", no_args_is_help=True, add_completion=False,
                          help="Work with the model gallery of a Petridish run.")


@gallery_app.command("eval")
def eval_cmd(
    run_dir: Path = typer.Argument(..., help="the run directory of `nasc search petridish`"),
    cells: Optional[int] = typer.Option(None, "--cells", min=1, help="scale every model to this "
                                                                     "many cells"),
    channels: Optional[int] = typer.Option(None, "--channels", min=1, help="initial cell width C"),
    config: Optional[Path] = typer.Option(None, "--config", help="training config (default: the "
                                                                 "shipped train.yaml)"),
    sets: list[str] = typer.Option([], "--set", help="override a config key: SECTION.KEY=VALUE"),
    full: bool = typer.Option(False, "--full", help="the paper's evaluation recipe"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="training epochs"),
    data: Optional[str] = typer.Option(None, "--data", help="builtin | cifar10:PATH | ..."),
    executor: Optional[str] = typer.Option(None, "--executor", help="inline | ray"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="a Ray cluster "
                                                                          "(host:port)"),
) -> None:
    """Train every model of the run's gallery/ and plot test accuracy against cost."""
    from nasc import api

    if ray_address is not None and executor is None:
        executor = "ray"
    values = flag_values({"trainer.epochs": epochs, "data.dataset": data,
                          "search.executor.kind": executor, "search.executor.address": ray_address})

    def job(events: Any) -> Any:
        return api.gallery_eval(run_dir, cells=cells, channels=channels, config=config,
                                overrides=sets, full=full, values=values, events=events)

    result = run_with_progress(job)
    for row in result.rows:
        if "test_top1" in row:
            typer.echo(f"model {row['id']}: test top-1 {100 * row['test_top1']:.2f}%, "
                       f"{row['params']} params, {row['macs']} MACs")
        else:
            typer.echo(f"model {row['id']}: failed: {row.get('error')}")
    typer.echo(f"results: {result.root}")
    for name, path in result.paths.items():
        typer.echo(f"  {name:<13} {path}")


def register(app: typer.Typer) -> None:
    """Register the `nasc gallery` command group."""
    app.add_typer(gallery_app, name="gallery")
