"""`nasc run ALGO SPACE`: search, then evaluate, as one resumable experiment (Archai's search and
eval folders).

    result = run_experiment("darts", "examples/darts_space.nas", out="runs/exp1")
    result.summary        # derived architecture, params, MACs, test top-1, time of each phase
    run_experiment(resume="runs/exp1")                  # a killed experiment continues

Phases, each its own run directory under the experiment's folder, each resumable:
1. `search/`: `nasc search ALGO SPACE` (the algorithm's config, toy by default, `--full`);
2. `model.pt`: the derived network scaled up (`--cells` / `--channels`; by default 5 cells and
   C=8, the papers' 20 cells and C=36 with `--full`) and compiled
   with the evaluation passes (aux tower where it fits, drop path, affine BN);
3. `eval/`: `nasc train model.pt` with the evaluation recipe (`train.yaml`, `--full` for the
   paper's).
`experiment.json` records the plan and each phase's state; `summary.json` / `summary.md` the
result. A phase that finished is never run again; a killed one is resumed from its checkpoint.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasc.atomic import atomic_write_text
from nasc.errors import CheckpointError, ConfigError, NascError
from nasc.train.events import EventSink, Message

PLAN = "experiment.json"


@dataclass
class ExperimentResult:
    """What `run_experiment` produced."""

    root: Path
    summary: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def _write_plan(root: Path, plan: dict[str, Any]) -> None:
    atomic_write_text(root / PLAN, json.dumps(plan, indent=1) + "\n")


def _read_plan(root: Path) -> dict[str, Any]:
    try:
        plan = json.loads((root / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CheckpointError(f"`{root}` has no readable {PLAN}: not a `nasc run` experiment",
                              hint="pass the folder `nasc run` printed") from None
    if not isinstance(plan, dict) or "algorithm" not in plan:
        raise CheckpointError(f"`{root / PLAN}` is not an experiment plan")
    return plan


def _eval_size(plan: dict[str, Any]) -> tuple[int, int]:
    """The evaluation size: the flags, else toy-sized (5 cells, C=8), or the papers' 20 cells and
    C=36 with `--full`."""
    cells = plan.get("cells") or (20 if plan.get("full") else 5)
    channels = plan.get("channels") or (36 if plan.get("full") else 8)
    return int(cells), int(channels)


def run_experiment(algorithm: str | None = None, space: str | Path | None = None, *,
                   config: str | Path | None = None, overrides: list[str] | None = None,
                   full: bool = False, values: dict[str, Any] | None = None,
                   cells: int | None = None, channels: int | None = None,
                   eval_config: str | Path | None = None, eval_overrides: list[str] | None = None,
                   out: str | Path | None = None, resume: str | Path | None = None,
                   events: EventSink | None = None) -> ExperimentResult:
    """Search, derive, scale up, compile and train, or continue the experiment in `resume`."""
    from nasc import api

    if resume is not None:
        root = Path(resume)
        plan = _read_plan(root)
    else:
        if algorithm is None or space is None:
            raise ConfigError("give ALGO and SPACE (or --resume RUN)", key="SPACE",
                              hint="nasc run darts examples/darts_space.nas")
        api.check_search_launch(algorithm)
        # everything that can be refused is refused before the folder exists
        api.load_search_config(algorithm, config, sets=list(overrides or ()), full=full,
                               values=values)
        api.load(space)
        root = Path(out) if out is not None else Path("runs") / (
            f"run-{algorithm}-{time.strftime('%Y%m%d-%H%M%S')}")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ConfigError(f"output folder `{root}` exists and is not empty", key="--out",
                              hint=f"pick a new --out, or continue it with --resume {root}")
        root.mkdir(parents=True, exist_ok=True)
        plan = {"algorithm": algorithm, "space": str(Path(space).resolve()),
                "config": str(config) if config else None, "overrides": list(overrides or ()),
                "full": full, "values": dict(values or {}), "cells": cells, "channels": channels,
                "eval_config": str(eval_config) if eval_config else None,
                "eval_overrides": list(eval_overrides or ()), "phases": {}}
        _write_plan(root, plan)
    say = events or (lambda e: None)
    phases: dict[str, Any] = plan.setdefault("phases", {})

    # ---- 1. search
    search_dir = root / "search"
    t0 = time.perf_counter()
    if phases.get("search", {}).get("done"):
        say(Message(f"[run] search: done ({search_dir})"))
    else:
        if (search_dir / "config.yaml").is_file():
            say(Message(f"[run] search: resuming {search_dir}"))
            found = api.resume_search(search_dir, events=events, expect=plan["algorithm"])
        else:
            say(Message(f"[run] search: {plan['algorithm']} on {plan['space']}"))
            found = api.search(plan["algorithm"], plan["space"], plan["config"],
                               overrides=plan["overrides"], full=plan["full"],
                               values=plan["values"], out=search_dir, events=events)
        phases["search"] = {"done": True, "seconds": round(time.perf_counter() - t0, 3)
                            + phases.get("search", {}).get("seconds", 0.0),
                            "genotype": found.genotype, "final": str(found.paths["final.nas"])}
        _write_plan(root, plan)

    # ---- 2. derive, scale up, compile
    eval_cells, eval_channels = _eval_size(plan)
    model_file = root / "model.pt"
    t1 = time.perf_counter()
    if not phases.get("compile", {}).get("done"):
        final = Path(phases["search"]["final"])
        try:
            compiled = api.compile(final, cells=eval_cells, channels=eval_channels, aux=True,
                                   drop_path=True)
            aux = True
        except NascError:  # the aux tower needs an 8x8 map: not every network has one
            compiled = api.compile(final, cells=eval_cells, channels=eval_channels, aux=False,
                                   drop_path=True)
            aux = False
        api.save_model(compiled, model_file, meta={"experiment": str(root)})
        report = api.stats(compiled.model)
        phases["compile"] = {"done": True, "cells": eval_cells, "channels": eval_channels,
                             "aux": aux, "params": report.cost.params, "macs": report.cost.macs,
                             "seconds": round(time.perf_counter() - t1, 3)}
        _write_plan(root, plan)
        say(Message(f"[run] compiled {final} at {eval_cells} cells, C={eval_channels}"
                    f"{' with aux' if aux else ''}: {report.cost.params} params, "
                    f"{report.cost.macs} MACs"))

    # ---- 3. evaluate
    eval_dir = root / "eval"
    t2 = time.perf_counter()
    if not phases.get("eval", {}).get("done"):
        if (eval_dir / "config.yaml").is_file():
            say(Message(f"[run] eval: resuming {eval_dir}"))
            trained = api.train(model_file, resume=eval_dir, events=events)
        else:
            say(Message(f"[run] eval: training {model_file}"))
            trained = api.train(model_file, config=plan["eval_config"], sets=plan["eval_overrides"],
                                full=plan["full"], out=eval_dir, events=events)
        assert trained is not None  # one process: the main one
        phases["eval"] = {"done": True, "test": trained.test, "model": str(trained.model_path),
                          "seconds": round(time.perf_counter() - t2, 3)
                          + phases.get("eval", {}).get("seconds", 0.0)}
        _write_plan(root, plan)
    result = ExperimentResult(root, _summary(plan), {})
    result.paths = _write_summary(root, result.summary)
    return result


def _summary(plan: dict[str, Any]) -> dict[str, Any]:
    p = plan["phases"]
    return {"algorithm": plan["algorithm"], "space": plan["space"],
            "genotype": p["search"].get("genotype"), "final": p["search"]["final"],
            "cells": p["compile"]["cells"], "channels": p["compile"]["channels"],
            "aux": p["compile"]["aux"], "params": p["compile"]["params"],
            "macs": p["compile"]["macs"], "test_top1": p["eval"]["test"].get("top1"),
            "test_top5": p["eval"]["test"].get("top5"),
            "seconds": {k: p[k]["seconds"] for k in ("search", "compile", "eval")}}


def _write_summary(root: Path, s: dict[str, Any]) -> dict[str, Path]:
    paths = {"summary.json": root / "summary.json", "summary.md": root / "summary.md"}
    atomic_write_text(paths["summary.json"], json.dumps(s, indent=1) + "\n")
    top1 = "n/a" if s["test_top1"] is None else f"{100 * s['test_top1']:.2f}%"
    lines = [f"# nasc run {s['algorithm']}", "", f"space: `{s['space']}`", "",
             "| | |", "|---|---|",
             f"| derived architecture | `{s['genotype'] or s['final']}` |",
             f"| evaluated at | {s['cells']} cells, C={s['channels']}{', aux' if s['aux'] else ''} |",
             f"| params | {s['params']:,} |", f"| MACs | {s['macs']:,} |",
             f"| test top-1 | {top1} |",
             f"| time: search / compile / eval | {s['seconds']['search']:.0f} s / "
             f"{s['seconds']['compile']:.1f} s / {s['seconds']['eval']:.0f} s |", ""]
    atomic_write_text(paths["summary.md"], "\n".join(lines))
    return paths
