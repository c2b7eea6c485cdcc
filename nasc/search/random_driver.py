"""The random-search loop: sample N distinct networks of a space, train each briefly, keep the best.

    from nasc.search.random_driver import search_random, resume_random
    cfg = load_config("examples/configs/search_random.yaml", overrides=["search.random.trials=8"])
    run = RunDir.create("search-random"); run.write_config(cfg)
    result = search_random("examples/darts_space.nas", cfg, run=run, events=sink)
    result.best, result.trials, result.paths["final.nas"]
    result = resume_random("runs/search-random-...", events=sink)   # a killed run continues

The space is prepared like DARTS' (`search.random.params`, then scale-up to `cells`/`channels`:
the reduced size every trial trains at) and written to `space.nas`. Architectures are drawn up
front from `random.Random(run.seed)` with `nasc.search.random.sample`, duplicates (equal IR)
redrawn, so a resumed run sees the same list. Trial `i` compiles its network (seed `run.seed + i`),
trains it with the `Trainer` on the training part of the data (`search.val_fraction` held out) and
reports the held-out accuracy (`val_top1`), plus params / MACs from the cost model. Trials are
independent functions of (network, config, index): run in process, or as Ray tasks
(`search.random.executor: ray`).

Checkpoints (`checkpoints/last.pt`): loop key `random` holds the next trial index and the results
so far, committed after every trial; an in-process trial's trainer saves under `random/<i>/train`,
so a run killed mid-trial continues that trial where it was (Ray trials restart from scratch).

Outputs in the run dir: `space.nas`, `trials.jsonl` (one row per trial), `pareto.json` (the trials
no other beats on both accuracy and MACs, by MACs), `final.nas` / `final.yaml` (the best trial's
network at search size), `provenance.json`, plus the run dir's usual config, logs and metrics.
"""
from __future__ import annotations

import json
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from nasc.errors import CheckpointError, ConfigError
from nasc.atomic import atomic_write_text
from nasc.ir.model import Model
from nasc.search import runs
from nasc.search import driver as _darts_driver  # registers `search.darts`: stored configs hold it
from nasc.train.config import Section, register_section
from nasc.train.events import EventSink, Message, fanout
from nasc.train.rundir import RunDir

LOOP_KEY = "random"
# draws per wanted trial before giving up on finding distinct architectures (tiny spaces)
_MAX_DRAWS_PER_TRIAL = 50


class RandomSection(Section):
    """`search.random`: how many trials, at what size, run where."""

    trials: int = Field(4, ge=1, description="number of distinct architectures to train")
    channels: int | None = Field(None, ge=2, description="initial cell width C of each trial "
                                                         "(None: the space's own)")
    cells: int | None = Field(None, ge=1, description="number of cells (None: the space's own)")
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="overrides of the space's params (like `nasc check --set`)")
    executor: Literal["inline", "ray"] = Field("inline", description="run trials in this process "
                                                                     "or as Ray tasks")
    ray_cpus: int | None = Field(None, ge=1, description="CPUs Ray may use (None: Ray's default)")
    cost: Literal["macs", "params", "latency_ms"] = Field(
        "macs", description="the cost axis of the Pareto front (accuracy against it); latency_ms "
                            "measures each trained trial's batch-1 eval forward on its device")
    latency_repeat: int = Field(10, ge=1, description="cost latency_ms: timed forwards per trial "
                                                      "(after 3 warm-up runs); the median is kept")


register_section("search.random", RandomSection)


@dataclass
class RandomResult:
    """What a random search produced."""

    run: RunDir
    space: Model
    best: Model
    best_index: int
    trials: list[dict[str, Any]] = field(default_factory=list)
    pareto: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    resumed: bool = False


# ------------------------------------------------------------------------------ the space

def prepare_space(space: Model, config: Any) -> Model:
    """The space as searched: param overrides, then the trial size (`scale-up`)."""
    return runs.prepare_space(space, config.search.random)


def draw_architectures(space: Model, n: int, seed: int) -> list[dict[str, str | None]]:
    """`n` distinct draws (`sample_choices`) from `random.Random(seed)`; fewer if the space has fewer."""
    from nasc.search.random import from_choices, sample_choices

    rng = random.Random(seed)
    seen: set[Model] = set()
    out: list[dict[str, str | None]] = []
    for _ in range(n * _MAX_DRAWS_PER_TRIAL):
        if len(out) == n:
            break
        picks = sample_choices(space, rng)
        net = from_choices(space, picks)
        if net in seen:  # dedupe by IR equality (spans excluded)
            continue
        seen.add(net)
        out.append(picks)
    return out


# ------------------------------------------------------------------------------ one trial

def run_trial(space: Model, picks: dict[str, str | None], config: Any, index: int, *,
              checkpoint: Any = None, run: RunDir | None = None,
              events: EventSink | None = None) -> dict[str, Any]:
    """Train the network `picks` describes (seed `run.seed + index`) and measure it.

    Returns the trial's row: index, genotype, picks, the data's class count and input shape,
    params, MACs, train loss / top-1, held-out loss / top-1 and the wall time. A pure function
    of its inputs (same device and threads).
    """
    from nasc.analysis.cost import cost
    from nasc.lower.compile import compile_model
    from nasc.search.genotype import to_genotype
    from nasc.search.random import from_choices
    from nasc.train.data import build_data
    from nasc.train.distributed import resolve_device
    from nasc.train.runner import seed_everything
    from nasc.train.trainer import Trainer

    started = time.perf_counter()
    device = resolve_device(config.run.device)
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    seed = config.run.seed + index
    seed_everything(seed)
    data = build_data(config.data, device=device, seed=config.run.seed,
                      val_fraction=config.search.val_fraction)
    net = from_choices(_darts_driver._fit_to_data(space, data.num_classes, data.input_shape), picks)
    compiled = compile_model(net, aux=False, seed=seed)
    report = cost(compiled.network)
    trainer = Trainer(compiled.module, trainer=config.trainer, optimizer=config.optimizer,
                      schedule=config.schedule, device=device, checkpoint=checkpoint,
                      key=f"{LOOP_KEY}/{index}/train", run=run, events=events,
                      eval_batch_size=config.data.eval_batch_size)
    fit = trainer.fit(data.train, None)
    val = trainer.evaluate(data.val.data)
    row = {"trial": index, "genotype": to_genotype(net), "picks": picks,
           "classes": data.num_classes, "input": list(data.input_shape),
           "params": report.params, "macs": report.macs,
           "train_loss": fit.metrics.get("train_loss"), "train_top1": fit.metrics.get("train_top1"),
           "val_loss": val["loss"], "val_top1": val["top1"]}
    if config.search.random.cost == "latency_ms":
        from nasc.lower.latency import measure_latency

        row["latency_ms"] = measure_latency(compiled.module, tuple(data.input_shape), device=device,
                                            repeat=config.search.random.latency_repeat).median_ms
    row["time"] = round(time.perf_counter() - started, 3)
    return row


def _ray_trial(space_json: str, picks: dict[str, str | None], config_json: dict[str, Any],
               index: int) -> dict[str, Any]:
    """`run_trial` in a Ray worker: the IR and config travel as JSON."""
    from nasc.lower.artifact import model_from_json
    from nasc.train.config import validate_config

    return run_trial(model_from_json(space_json, "space.nas"), picks,
                     validate_config(config_json), index)


# ------------------------------------------------------------------------------ the run

def search_random(space_path: str | Path, config: Any, *, run: RunDir,
                  events: EventSink | None = None) -> RandomResult:
    """Run a random search of the space in `space_path` as `config` says, into `run`."""
    runs.require_single_process("nasc search random")
    space, source = runs.start_space(space_path, config, config.search.random, run)
    return _run(space, config, run, events, source)


def resume_random(run_dir: str | Path, *, events: EventSink | None = None,
                  device: str | None = None) -> RandomResult:
    """Continue the random search in `run_dir` (its config, space and checkpoint)."""
    runs.require_single_process("nasc search random")
    run, config, space, source = runs.reopen_run(run_dir, device, "nasc search random")
    return _run(space, config, run, events, source)


def _run(space: Model, config: Any, run: RunDir, events: EventSink | None,
         source: str) -> RandomResult:
    from nasc.train.checkpoint import Checkpoint

    rnd = config.search.random
    sink = fanout(run.event_sink if run.enabled else None, events)
    checkpoint = Checkpoint(run.checkpoint_path if run.enabled else None)
    archs = draw_architectures(space, rnd.trials, config.run.seed)
    if len(archs) < rnd.trials:
        sink(Message(f"the space has only {len(archs)} distinct architectures", level="warning"))
    saved = checkpoint.get(LOOP_KEY)
    results: list[dict[str, Any]] = json.loads(saved["results"]) if saved else []
    start = int(saved["index"]) if saved else 0
    if saved is not None and int(saved.get("trials", len(archs))) != len(archs):
        raise CheckpointError(f"checkpoint `{LOOP_KEY}` was made for {saved['trials']} trials, "
                              f"this run has {len(archs)}", hint="resume with the run's own config")
    run.log.add("run", {"name": config.run.name, "seed": config.run.seed,
                        "torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads()})
    run.log.add((LOOP_KEY, "setup"), {"space": source, "trials": len(archs),
                                      "executor": rnd.executor, "start": start})
    sink(Message(f"random search: {len(archs)} trials of {config.trainer.epochs} epoch(s), "
                 f"executor {rnd.executor}" + (f", resuming at trial {start + 1}" if start else "")))
    _write_trials(run, results)
    if saved is not None:
        _drop_lost_metrics(run, start, checkpoint)
    if rnd.executor == "ray":
        results = _run_ray(space, archs, config, start, results, checkpoint, run, sink)
    else:
        for i in range(start, len(archs)):
            row = run_trial(space, archs[i], config, i, checkpoint=checkpoint, run=run, events=sink)
            results = _commit(results, row, i, len(archs), checkpoint, run, sink)
    result = _finish(space, results, config, run, source)
    result.resumed = start > 0
    best = results[result.best_index]
    sink(Message(f"best: trial {best['trial'] + 1}, val_top1={100 * best['val_top1']:.2f}%, "
                 f"{best['macs']} MACs: {best['genotype']}"))
    run.close()
    return result


def _commit(results: list[dict[str, Any]], row: dict[str, Any], index: int, total: int,
            checkpoint: Any, run: RunDir, sink: EventSink) -> list[dict[str, Any]]:
    """Record a finished trial: the loop's checkpoint, trials.jsonl, the logs."""
    results = [*results, row]
    checkpoint.commit(LOOP_KEY, {"index": index + 1, "trials": total, "results": json.dumps(results)})
    _write_trials(run, results)
    run.log.add((LOOP_KEY, "trials", index), row)
    sink(Message(f"[random] trial {index + 1}/{total}: val_top1={100 * row['val_top1']:.2f}% "
                 f"params={row['params']} macs={row['macs']}"
                 + (f" latency={row['latency_ms']:.2f}ms" if "latency_ms" in row else "")
                 + f" ({row['time']:.1f}s)"))
    return results


def _run_ray(space: Model, archs: list[dict[str, str | None]], config: Any, start: int,
             results: list[dict[str, Any]], checkpoint: Any, run: RunDir,
             sink: EventSink) -> list[dict[str, Any]]:
    """Run the remaining trials as Ray tasks; commit them in trial order as they finish."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray executor needs the `ray` package", key="search.random.executor",
                          hint="pip install ray, or use executor inline") from None
    from nasc.lower.artifact import model_to_json

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=config.search.random.ray_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(_ray_trial)
        cfg_json = config.model_dump(mode="json")
        space_json = model_to_json(space)
        refs = [task.remote(space_json, archs[i], cfg_json, i) for i in range(start, len(archs))]
        for i, ref in zip(range(start, len(archs)), refs):
            results = _commit(results, ray.get(ref), i, len(archs), checkpoint, run, sink)
    finally:
        if started_here:
            ray.shutdown()
    return results


def pareto_front(rows: list[dict[str, Any]], cost: str = "macs") -> list[dict[str, Any]]:
    """The rows no other row beats on both `val_top1` (higher) and `cost` (lower), by cost."""
    front = [r for r in rows
             if not any(o["val_top1"] >= r["val_top1"] and o[cost] <= r[cost]
                        and (o["val_top1"] > r["val_top1"] or o[cost] < r[cost]) for o in rows)]
    return sorted(front, key=lambda r: (r[cost], -r["val_top1"], r["trial"]))


def best_trial(rows: list[dict[str, Any]], cost: str = "macs") -> int:
    """Position of the best trial: highest `val_top1`, then lower `cost`, then the earlier."""
    return min(range(len(rows)), key=lambda i: (-rows[i]["val_top1"], rows[i][cost], i))


def _finish(space: Model, results: list[dict[str, Any]], config: Any, run: RunDir,
            source: str) -> RandomResult:
    """Pick the best trial and write the outputs."""
    from nasc.ir.printer import print_model
    from nasc.ir.serde import to_yaml
    from nasc.search.random import from_choices

    axis = config.search.random.cost
    i = best_trial(results, axis)
    # the network as trained: the class count the data set (when the space has it as a param)
    fitted = _darts_driver._fit_to_data(space, results[i]["classes"], tuple(results[i]["input"]))
    best = from_choices(fitted, results[i]["picks"])
    keys = ("trial", "val_top1", "macs", "params", *(("latency_ms",) if axis == "latency_ms" else ()),
            "genotype")
    pareto = [{k: r[k] for k in keys} for r in pareto_front(results, axis)]
    result = RandomResult(run=run, space=space, best=best, best_index=i, trials=results,
                          pareto=pareto)
    if not run.enabled:
        return result
    root = run.root
    row = results[i]
    provenance = {"algorithm": "random", "space": source, "trials": len(results),
                  "epochs": config.trainer.epochs, "seed": config.run.seed,
                  "dataset": config.data.dataset, "run": str(root), "best_trial": row["trial"],
                  "val_top1": row["val_top1"], "genotype": row["genotype"], "picks": row["picks"]}
    header = runs.comment_header(
        f"Found by `nasc search random` (trial {row['trial'] + 1} of {len(results)}, "
        f"{config.trainer.epochs} epoch(s) each, seed {config.run.seed}, data {config.data.dataset}) "
        f"from {source}.\nHeld-out top-1 {100 * row['val_top1']:.2f}%; all trials: trials.jsonl "
        f"in {root}.\n{row['genotype']}")
    paths = {name: root / name for name in ("final.nas", "final.yaml", "pareto.json",
                                            "trials.jsonl", "provenance.json")}
    atomic_write_text(paths["final.nas"], header + print_model(best))
    atomic_write_text(paths["final.yaml"], header + to_yaml(best))
    atomic_write_text(paths["pareto.json"], json.dumps(pareto, indent=1) + "\n")
    atomic_write_text(paths["provenance.json"], json.dumps(provenance, indent=1) + "\n")
    run.log.add((LOOP_KEY, "result"), {"best_trial": row["trial"], "final": str(paths["final.nas"])})
    result.paths = paths
    return result


def _drop_lost_metrics(run: RunDir, start: int, checkpoint: Any) -> None:
    """On resume: drop metrics.jsonl rows of trials a killed run trained past its checkpoint
    (trial `start` keeps them when its trainer checkpoint exists: the trainer trims those)."""
    def lost(row: dict[str, Any]) -> bool:
        parts = str(row.get("loop", "")).split("/")
        if len(parts) != 3 or parts[0] != LOOP_KEY or not parts[1].isdigit():
            return False
        i = int(parts[1])
        return i > start or (i == start and checkpoint.get(row["loop"]) is None)

    rows = run.read_metrics()
    if any(lost(r) for r in rows):
        run.rewrite_metrics([r for r in rows if not lost(r)])


def _write_trials(run: RunDir, rows: list[dict[str, Any]]) -> None:
    """Rewrite trials.jsonl from the committed rows (drops rows of a killed run's lost trial)."""
    if run.enabled:
        atomic_write_text(run.root / "trials.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
