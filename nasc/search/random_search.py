"""The random-search strategy: sample N distinct networks of a space, train each briefly, keep the best.

    nasc search random examples/darts_space.nas --trials 8 --executor ray     # or, from Python:
    result = run_search("random", "examples/darts_space.nas", cfg, run=run, events=sink)
    result.details["trials"], result.details["best_index"], result.details["pareto"]

The space is prepared by the run layer (`search.random.params`, then scale-up to `cells`/`channels`:
the reduced size every trial trains at). Architectures are drawn up front from
`random.Random(run.seed)` with `nasc.search.random.sample_choices`, duplicates (equal IR) redrawn,
so a resumed run sees the same list. Trial `i` is a job on the run's executor (in process, or a Ray
task with `--executor ray`): it compiles its network (seed `run.seed + i`), trains it with the
`Trainer` on the training part of the data (`search.val_fraction` held out) and reports the
held-out accuracy (`val_top1`), plus params / MACs from the cost model. A trial that raises (after
`search.executor.retries` reruns) is recorded with its error and the search goes on.

Checkpoints (`checkpoints/last.pt`): loop key `random` holds the next trial index and the results
so far, committed after every trial; an in-process trial's trainer saves under `random/<i>/train`,
so a run killed mid-trial continues that trial where it was (Ray trials restart from scratch).

Outputs besides the run layer's: `trials.jsonl` (one row per trial) and `pareto.json` (the trials
no other beats on both accuracy and the cost axis, cheapest first).
"""
from __future__ import annotations

import json
import random
import time
from typing import Any, Literal

from pydantic import Field

from nasc.errors import CheckpointError, SearchError
from nasc.ir.model import Model
from nasc.limits import MAX_TRIALS
from nasc.search.strategy import Flag, SearchContext, SearchOutcome, SearchResult, SearchStrategy
from nasc.train.config import Section
from nasc.train.events import EventSink, Message
from nasc.train.rundir import RunDir

LOOP_KEY = "random"
# draws per wanted trial before giving up on finding distinct architectures (tiny spaces)
_MAX_DRAWS_PER_TRIAL = 50


class RandomSection(Section):
    """`search.random`: how many trials, at what size, against which cost."""

    trials: int = Field(4, ge=1, le=MAX_TRIALS, description="number of distinct architectures to train")
    channels: int | None = Field(None, ge=2, description="initial cell width C of each trial "
                                                         "(None: the space's own)")
    cells: int | None = Field(None, ge=1, description="number of cells (None: the space's own)")
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="overrides of the space's params (like `nasc check --set`)")
    cost: Literal["macs", "params", "latency_ms"] = Field(
        "macs", description="the cost axis of the Pareto front (accuracy against it); latency_ms "
                            "measures each trained trial's batch-1 eval forward on its device")
    latency_repeat: int = Field(10, ge=1, description="cost latency_ms: timed forwards per trial "
                                                      "(after 3 warm-up runs); the median is kept")


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
    import torch

    from nasc.analysis.cost import cost
    from nasc.compiler import compile_model
    from nasc.search.genotype import genotype_or_none
    from nasc.search.nb201_bench import derived_accuracy
    from nasc.search.random import from_choices
    from nasc.search.space import fit_to_data
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
    net = from_choices(fit_to_data(space, data.num_classes, data.input_shape), picks)
    compiled = compile_model(net, aux=False, seed=seed)
    report = cost(compiled.network)
    trainer = Trainer(compiled.module, trainer=config.trainer, optimizer=config.optimizer,
                      schedule=config.schedule, device=device, checkpoint=checkpoint,
                      key=f"{LOOP_KEY}/{index}/train", run=run, events=events,
                      eval_batch_size=config.data.eval_batch_size)
    fit = trainer.fit(data.train, None)
    val = trainer.evaluate(data.val.data)
    row = {"trial": index, "genotype": genotype_or_none(net), "picks": picks,
           "classes": data.num_classes, "input": list(data.input_shape),
           "params": report.params, "macs": report.macs,
           "train_loss": fit.metrics.get("train_loss"), "train_top1": fit.metrics.get("train_top1"),
           "val_loss": val["loss"], "val_top1": val["top1"]}
    if config.search.random.cost == "latency_ms":
        from nasc.lower.latency import measure_latency

        row["latency_ms"] = measure_latency(compiled.module, tuple(data.input_shape), device=device,
                                            repeat=config.search.random.latency_repeat).median_ms
    bench = derived_accuracy(config, net)
    if bench is not None:  # the trial's true accuracy (NAS-Bench-201), next to the measured one
        row["benchmark"] = bench
    row["time"] = round(time.perf_counter() - started, 3)
    return row


def trial_job(space: str, picks: dict[str, str | None], config: dict[str, Any], index: int, *,
              checkpoint: Any = None, run: RunDir | None = None,
              events: EventSink | None = None) -> dict[str, Any]:
    """`run_trial` as an executor job: the IR (self-contained JSON) and config travel as plain data."""
    from nasc.ir.serde import from_data
    from nasc.search.registry import ensure_sections
    from nasc.train.config import validate_config

    ensure_sections()  # a fresh Ray worker has not registered the search sections yet
    return run_trial(from_data(json.loads(space), "space.nas"), picks, validate_config(config),
                     index, checkpoint=checkpoint, run=run, events=events)


def pareto_front(rows: list[dict[str, Any]], cost: str = "macs") -> list[dict[str, Any]]:
    """The rows no other row beats on both `val_top1` (higher) and `cost` (lower), by cost;
    failed trials (no `val_top1`) are left out."""
    from nasc.search.pareto import non_dominated, points_from_rows

    by_trial = {r["trial"]: r for r in rows}
    front = non_dominated(points_from_rows(rows, key="trial", cost=cost, accuracy="val_top1"))
    return [by_trial[p.key] for p in front]


def best_trial(rows: list[dict[str, Any]], cost: str = "macs") -> int:
    """Position of the best trial: highest `val_top1`, then lower `cost`, then the earlier;
    failed trials never win."""
    done = [i for i in range(len(rows)) if rows[i].get("val_top1") is not None]
    if not done:
        raise SearchError("every trial failed", hint="see the `error` of each row in trials.jsonl")
    return min(done, key=lambda i: (-rows[i]["val_top1"], rows[i][cost], i))


# ------------------------------------------------------------------------------ the strategy

class RandomSearch(SearchStrategy):
    """Random search (Li & Talwalkar, UAI 2019): the baseline every NAS method must beat."""

    name = "random"
    section = RandomSection
    summary = "random search: sample distinct networks of the space, train each briefly, keep the best"
    default_config = "search_random.yaml"
    flags = (Flag(("--trials",), "search.random.trials", int,
                  "architectures to train (default: the config's)"),)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from nasc.ir.serde import to_json

        config, run, sink, checkpoint = ctx.config, ctx.run, ctx.events, ctx.checkpoint
        rnd, executor = config.search.random, config.search.executor
        archs = draw_architectures(ctx.space, rnd.trials, config.run.seed)
        if len(archs) < rnd.trials:
            sink(Message(f"the space has only {len(archs)} distinct architectures", level="warning"))
        saved = checkpoint.get(LOOP_KEY)
        results: list[dict[str, Any]] = json.loads(saved["results"]) if saved else []
        start = int(saved["index"]) if saved else 0
        if saved is not None and int(saved.get("trials", len(archs))) != len(archs):
            raise CheckpointError(f"checkpoint `{LOOP_KEY}` was made for {saved['trials']} trials, "
                                  f"this run has {len(archs)}", hint="resume with the run's own config")
        run.log.add((LOOP_KEY, "setup"), {"space": ctx.source, "trials": len(archs),
                                          "executor": executor.kind, "start": start})
        sink(Message(f"random search: {len(archs)} trials of {config.trainer.epochs} epoch(s), "
                     f"executor {executor.kind}" + (f", resuming at trial {start + 1}" if start else "")))
        _write_trials(run, results)
        if saved is not None:
            _drop_lost_metrics(run, start, checkpoint)
        from nasc.search.executor import Job

        space_json, cfg_json = to_json(ctx.space, self_contained=True), config.model_dump(mode="json")
        jobs = [Job(f"trial/{i}", "nasc.search.random_search:trial_job",
                    {"space": space_json, "picks": archs[i], "config": cfg_json, "index": i})
                for i in range(start, len(archs))]
        with ctx.executor() as ex:
            local = {"checkpoint": checkpoint, "run": run, "events": sink}
            for i, job in zip(range(start, len(archs)), ex.run(jobs, ordered=True, local=local)):
                row = job.value if job.ok else {"trial": i, "genotype": None, "picks": archs[i],
                                                "error": job.error, "attempts": job.attempts}
                results = _commit(results, row, i, len(archs), checkpoint, run, sink)
        return self._decide(ctx, results, start > 0)

    def _decide(self, ctx: SearchContext, results: list[dict[str, Any]],
                resumed: bool) -> SearchOutcome:
        """Pick the best trial; the network as trained (the data's class count when a param)."""
        from nasc.search.random import from_choices
        from nasc.search.space import fit_to_data

        config, axis = ctx.config, ctx.config.search.random.cost
        i = best_trial(results, axis)
        row = results[i]
        best = from_choices(fit_to_data(ctx.space, row["classes"], tuple(row["input"])), row["picks"])
        keys = ("trial", "val_top1", "macs", "params", *(("latency_ms",) if axis == "latency_ms" else ()),
                "genotype")
        pareto = [{k: r[k] for k in keys} for r in pareto_front(results, axis)]
        failed = [r["trial"] for r in results if "error" in r]
        return SearchOutcome(
            final=best, genotype=row["genotype"],
            header=(f"Found by `nasc search random` (trial {row['trial'] + 1} of {len(results)}, "
                    f"{config.trainer.epochs} epoch(s) each, seed {config.run.seed}, data "
                    f"{config.data.dataset}) from {ctx.source}.\nHeld-out top-1 "
                    f"{100 * row['val_top1']:.2f}%; all trials: trials.jsonl in {ctx.run.root}.\n"
                    f"{row['genotype']}"),
            provenance={"trials": len(results), "best_trial": row["trial"],
                        "val_top1": row["val_top1"], "picks": row["picks"], "failed": failed},
            files={"pareto.json": json.dumps(pareto, indent=1) + "\n", "trials.jsonl": None},
            details={"trials": results, "best_index": i, "pareto": pareto},
            message=(f"best: trial {row['trial'] + 1}, val_top1={100 * row['val_top1']:.2f}%, "
                     f"{row['macs']} MACs: {row['genotype']}"),
            resumed=resumed)

    def summary_lines(self, result: SearchResult) -> list[str]:
        """The best trial and its genotype."""
        trials, i = result.details["trials"], result.details["best_index"]
        best = trials[i]
        return [f"best: trial {best['trial'] + 1} of {len(trials)}, "
                f"val_top1 {100 * best['val_top1']:.2f}%, {best['macs']} MACs"
                + (f", {best['latency_ms']:.2f} ms" if "latency_ms" in best else ""),
                f"genotype: {best['genotype']}"]


def _commit(results: list[dict[str, Any]], row: dict[str, Any], index: int, total: int,
            checkpoint: Any, run: RunDir, sink: EventSink) -> list[dict[str, Any]]:
    """Record a finished (or failed) trial: the loop's checkpoint, trials.jsonl, the logs."""
    results = [*results, row]
    checkpoint.commit(LOOP_KEY, {"index": index + 1, "trials": total, "results": json.dumps(results)})
    _write_trials(run, results)
    run.log.add((LOOP_KEY, "trials", index), row)
    if "error" in row:
        sink(Message(f"[random] trial {index + 1}/{total} failed after {row['attempts']} "
                     f"attempt(s): {row['error']}", level="warning"))
        return results
    sink(Message(f"[random] trial {index + 1}/{total}: val_top1={100 * row['val_top1']:.2f}% "
                 f"params={row['params']} macs={row['macs']}"
                 + (f" latency={row['latency_ms']:.2f}ms" if "latency_ms" in row else "")
                 + f" ({row['time']:.1f}s)"))
    return results


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
        from nasc.atomic import atomic_write_text

        atomic_write_text(run.root / "trials.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
