"""Petridish (Hu et al., NeurIPS 2019): grow networks forward, keep the Pareto frontier of error
against cost.

    nasc search petridish examples/petridish_seed.nas                 # toy, in process
    nasc search petridish examples/petridish_seed.nas --executor ray  # the same pool, on Ray
    result = run_search("petridish", "examples/petridish_seed.nas", cfg, run=run)
    result.details["pool"], result.details["hull"]

The loop (Archai's `SearcherPetridish.search`, seed 002), as jobs on the run's executor:
1. seed models: the seed network at its own size, or (`pareto.enabled`) every combination of cells,
   reductions and nodes per cell from the seed's own up to `max_cells`, `max_reductions`,
   `max_nodes`; each is trained by a job;
2. take the next finished job (the oldest: the same sequence in process and on Ray, so a seed gives
   one pool); a trained model enters the pool and the lower convex hull of error against cost is
   updated; a parent is sampled from the epsilon band around the hull (`convex_hull_eps`) and a
   search job grows it: in every cell template a candidate node whose inputs see the parent through
   stop-gradient and whose output joins the cell through stop-forward
   (`nasc.search.petridish_grow`), its (op, input) pairs weighted by architecture weights with an
   L1 penalty, trained together with the parent (whose outputs and gradients it cannot change);
   the strongest `num_edges_to_sample` pairs are kept and the node becomes an ordinary node;
3. the grown model goes to a training job, warm-started from the weights the parent has after
   the search job, and back into the pool;
4. stop when a trained model is over `max_madd` multiply-adds, the pool has `max_hull_points`
   models, or the job / time budget is spent.

The loop state (pool, hull, pending jobs, the sampler's state) is checkpointed after every job, so
a killed search resumes without redoing finished jobs; a job that fails is recorded and the search
goes on. Outputs besides the run layer's: `pool.csv` and `pool.json` (every model with its parent,
stage and figures), `gallery/` (each model on the frontier as `.nas`, `.yaml` and `.json`),
`pool.png` / `pool.svg` (error against cost, the frontier highlighted, parent-child arrows), and
`models/` (the weights of every trained model, for warm starts and `nasc gallery eval`).
"""
from __future__ import annotations

import csv
import io
import json
import random
import time
import zlib
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from nasc.atomic import atomic_write_text
from nasc.errors import ConfigError, SearchError
from nasc.ir.model import Model
from nasc.limits import MAX_TRIALS
from nasc.search.strategy import SearchContext, SearchOutcome, SearchResult, SearchStrategy
from nasc.train.config import Section
from nasc.train.events import EventSink, Message
from nasc.train.rundir import RunDir

LOOP_KEY = "petridish"
DARTS_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
COST_AXES = ("macs", "params", "activation_bytes", "latency_ms")
MAX_FAILED_IN_A_ROW = 5  # a search whose every job fails stops instead of sampling forever


class ParetoSeedSection(Section):
    """`search.petridish.pareto`: the seed pool (Archai's `pareto` section)."""

    enabled: bool = Field(True, description="seed with every combination of cells, reductions and "
                                            "nodes up to the maxima (false: the seed network only)")
    max_cells: int = Field(8, ge=1, description="most cells of a seed model")
    max_reductions: int = Field(3, ge=0, description="most reduction cells of a seed model")
    max_nodes: int = Field(3, ge=1, description="most nodes per cell of a seed model")


class PetridishSection(Section):
    """`search.petridish`: the frontier search and its stopping rules (Archai's petridish.yaml)."""

    channels: int | None = Field(None, ge=2, description="initial cell width C of every model "
                                                         "(None: the seed's own)")
    cells: int | None = Field(None, ge=1, description="cells of the seed network (None: its own)")
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="overrides of the seed's params (like `nasc check --set`)")
    convex_hull_eps: float = Field(0.025, ge=0, description="parents are sampled from the models "
                                                            "within this relative error of the hull")
    max_madd: int = Field(200_000_000, ge=1, description="stop when a trained model has more "
                                                         "multiply-adds than this")
    max_hull_points: int = Field(100, ge=1, le=MAX_TRIALS, description="stop when the pool has this many models")
    max_jobs: int | None = Field(None, ge=1, le=MAX_TRIALS, description="stop after this many finished jobs")
    max_seconds: float | None = Field(None, gt=0, description="stop after this much search time")
    num_edges_to_sample: int = Field(2, ge=1, description="(op, input) pairs a grown node keeps")
    candidate_ops: list[str] = Field(default_factory=lambda: list(DARTS_OPS),
                                     description="ops a candidate node chooses among")
    l1: float = Field(1e-3, ge=0, description="L1 penalty on the candidate's architecture weights")
    search_epochs: int = Field(1, ge=1, description="epochs of a search (growth) job")
    cost: Literal["macs", "params", "activation_bytes", "latency_ms"] = Field(
        "macs", description="the cost axis of the frontier")
    ordered: bool = Field(True, description="take jobs in submission order (reproducible on Ray); "
                                            "false: as they finish")
    pareto: ParetoSeedSection = Field(default_factory=ParetoSeedSection)


# ------------------------------------------------------------------------------ the models

def macro(model: Model) -> dict[str, int]:
    """Cells, reductions and nodes per cell (the largest template) of a network."""
    from nasc.analysis.elaborate import elaborate

    net = elaborate(model)
    return {"cells": len(net.cells), "reductions": sum(1 for c in net.cells if c.reduction),
            "nodes": max((len(c.nodes) for c in model.cells), default=0)}


def seed_models(seed: Model, section: PetridishSection) -> list[tuple[dict[str, int], Model]]:
    """The seed pool: the seed network, or every (cells, reductions, nodes) from its own up to
    the `pareto` maxima that makes a valid network."""
    from nasc.ir.macro import spaced_reductions
    from nasc.passes.scale_up import scale_up
    from nasc.passes.set_nodes import set_nodes

    own = macro(seed)
    if not section.pareto.enabled:
        return [(own, seed)]
    p = section.pareto
    out = []
    for cells in range(own["cells"], max(own["cells"], p.max_cells) + 1):
        for reductions in range(own["reductions"], max(own["reductions"], p.max_reductions) + 1):
            if reductions >= cells:
                continue
            for nodes in range(1, min(own["nodes"], p.max_nodes) + 1):
                m = scale_up(seed, cells=cells, reductions=spaced_reductions(cells, reductions))
                m = set_nodes(m, nodes)
                out.append(({"cells": cells, "reductions": reductions, "nodes": nodes}, m))
    return out


def _model_json(model: Model) -> str:
    from nasc.ir.serde import to_json

    return to_json(model, self_contained=True)


def _model_from_json(text: str) -> Model:
    from nasc.ir.serde import from_data

    return from_data(json.loads(text), "model.json")


def _job_seed(base: int, key: str) -> int:
    # a job's seed depends only on the run seed and its key: the same in process and on Ray
    return (base * 1_000_003 + zlib.crc32(key.encode())) % (2**31)


def _setup(config: Any, key: str) -> tuple[Any, Any]:
    import torch

    from nasc.train.data import build_data
    from nasc.train.distributed import resolve_device
    from nasc.train.runner import seed_everything

    device = resolve_device(config.run.device)
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    seed_everything(_job_seed(config.run.seed, key))
    data = build_data(config.data, device=device, seed=config.run.seed,
                      val_fraction=config.search.val_fraction)
    return device, data


def _warm_start(module: Any, path: str | None) -> int:
    """Load the tensors of `path` whose names and shapes the module has; returns how many."""
    if not path:
        return 0
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    own = module.state_dict()
    match = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    module.load_state_dict(match, strict=False)
    return len(match)


def _figures(model: Model, module: Any, data: Any, device: Any, config: Any) -> dict[str, Any]:
    from nasc.analysis.cost import cost
    from nasc.analysis.elaborate import elaborate

    report = cost(elaborate(model))
    row: dict[str, Any] = {"params": report.params, "macs": report.macs,
                           "activation_bytes": report.activation_bytes}
    if config.search.petridish.cost == "latency_ms":
        from nasc.lower.latency import measure_latency

        row["latency_ms"] = measure_latency(module, tuple(data.input_shape), device=device).median_ms
    return row


def train_job(model: str, config: dict[str, Any], key: str, epochs: int, out: str,
              init: str | None = None, *, checkpoint: Any = None, run: RunDir | None = None,
              events: EventSink | None = None) -> dict[str, Any]:
    """Train a discrete network (warm-started from `init`) and measure it; save weights to `out`."""
    from nasc.analysis.elaborate import elaborate
    from nasc.atomic import atomic_save
    from nasc.lower.net import build_module
    from nasc.search.registry import ensure_sections
    from nasc.search.space import fit_to_data
    from nasc.train.config import validate_config
    from nasc.train.trainer import Trainer

    ensure_sections()
    cfg = validate_config(config)
    started = time.perf_counter()
    device, data = _setup(cfg, key)
    net = fit_to_data(_model_from_json(model), data.num_classes, data.input_shape)
    module = build_module(elaborate(net))
    loaded = _warm_start(module, init)
    trainer_cfg = cfg.trainer.model_copy(update={"epochs": epochs})
    trainer = Trainer(module, trainer=trainer_cfg, optimizer=cfg.optimizer, schedule=cfg.schedule,
                      device=device, checkpoint=checkpoint, key=f"{LOOP_KEY}/{key}/train", run=run,
                      events=events, eval_batch_size=cfg.data.eval_batch_size)
    fit = trainer.fit(data.train, None)
    val = trainer.evaluate(data.val.data)
    atomic_save({k: v.detach().cpu() for k, v in module.state_dict().items()}, Path(out))
    return {"val_top1": val["top1"], "val_loss": val["loss"],
            "train_top1": fit.metrics.get("train_top1"), "warm_tensors": loaded,
            **_figures(net, module, data, device, cfg), "time": round(time.perf_counter() - started, 3)}


def search_job(model: str, config: dict[str, Any], key: str, out: str, init: str | None = None, *,
               checkpoint: Any = None, run: RunDir | None = None,
               events: EventSink | None = None) -> dict[str, Any]:
    """Grow the parent `model`: a candidate node in every cell template, trained with the parent
    (alphas with an L1 penalty), then the strongest pairs kept. Returns the child's IR; saves the
    weights (parent names unchanged) to `out` for the child's warm start."""
    import dataclasses

    import torch
    from torch import nn

    from nasc.analysis.elaborate import elaborate
    from nasc.atomic import atomic_save
    from nasc.lower.net import build_module
    from nasc.passes.finalize import scores_from_matrices
    from nasc.search.genotype import genotype_or_none
    from nasc.search.petridish_grow import arch_shape, grow, select
    from nasc.search.registry import ensure_sections
    from nasc.search.space import fit_to_data
    from nasc.train.config import validate_config
    from nasc.train.optim import build_optimizer
    from nasc.train.trainer import Callback, Trainer

    ensure_sections()
    cfg = validate_config(config)
    pd = cfg.search.petridish
    started = time.perf_counter()
    device, data = _setup(cfg, key)
    parent = fit_to_data(_model_from_json(model), data.num_classes, data.input_shape)
    grown_steps = []
    current = parent
    for template in sorted({c.name for c in parent.cells}):
        g = grow(current, template, pd.candidate_ops)
        grown_steps.append(g)
        current = g.model
    net = build_module(elaborate(current))
    _warm_start(net, init)
    shapes = {g.template: arch_shape(g) for g in grown_steps}

    class Growing(nn.Module):
        """The grown network with the candidates' architecture weights (raw, not softmaxed)."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.alphas = nn.ParameterDict({
                t: nn.Parameter(1e-3 * torch.randn(*shape)) for t, shape in shapes.items()})
            self.aux_weight = getattr(net, "aux_weight", None)

        def forward(self, x: Any) -> Any:
            return self.net(x, {t: a for t, a in self.alphas.items()})

    class L1Shrink(Callback):
        """L1 on the alphas as its proximal step after each weight step (soft thresholding)."""

        name = "petridish-l1"

        def post_step(self, trainer: Trainer, x: Any, y: Any, loss: Any) -> None:
            with torch.no_grad():
                for a in growing.alphas.values():
                    a.copy_(torch.sign(a) * torch.clamp(a.abs() - trainer.lr * pd.l1, min=0.0))

    growing = Growing().to(device)
    groups = [{"params": list(growing.net.parameters())},
              {"params": list(growing.alphas.parameters()), "weight_decay": 0.0}]
    optimizer = build_optimizer(groups, cfg.optimizer)
    trainer_cfg = cfg.trainer.model_copy(update={"epochs": pd.search_epochs})
    trainer = Trainer(growing, trainer=trainer_cfg, optimizer=cfg.optimizer, schedule=cfg.schedule,
                      device=device, optimizer_instance=optimizer, callbacks=[L1Shrink()],
                      checkpoint=checkpoint, key=f"{LOOP_KEY}/{key}/search", run=run,
                      events=events, eval_batch_size=cfg.data.eval_batch_size)
    trainer.fit(data.train, None)
    matrices = {t: a.detach().cpu().double() for t, a in growing.alphas.items()}
    scores = scores_from_matrices(current, matrices)
    child = current
    for g in reversed(grown_steps):  # each step's names are its own template's
        child = select(dataclasses.replace(g, model=child), scores, pd.num_edges_to_sample)
    atomic_save({k: v.detach().cpu() for k, v in net.state_dict().items()}, Path(out))
    genotype = genotype_or_none(child)  # a grown cell need not have two inputs per node
    return {"model": _model_json(child), "alphas": {t: m.tolist() for t, m in matrices.items()},
            "genotype": genotype, "time": round(time.perf_counter() - started, 3)}


# ------------------------------------------------------------------------------ the loop state

def _point_row(p: dict[str, Any], cost: str) -> dict[str, Any]:
    keys = ("id", "parent", "stage", "generation", "cells", "reductions", "nodes", "params", "macs",
            "activation_bytes", "val_top1", "error", "on_hull", "time", "genotype")
    return {k: p.get(k) for k in keys} | ({"latency_ms": p.get("latency_ms")} if cost == "latency_ms" else {})


class PetridishSearch(SearchStrategy):
    """Petridish: forward growth of networks near the error-versus-cost frontier."""

    name = "petridish"
    section = PetridishSection
    summary = "Petridish: grow networks near the error-versus-cost frontier, keep the gallery on it"
    default_config = "search_petridish.yaml"

    def prepare(self, space: Model, config: Any) -> Model:
        """The seed network: param overrides and the seed size; a space with choices is refused."""
        from nasc.ir.queries import is_search_space

        if is_search_space(space):
            raise ConfigError(f"`{space.name}` has choice edges: Petridish grows a network, it does "
                              "not search a space", key="SPACE",
                              hint="start from a small network such as examples/petridish_seed.nas")
        return super().prepare(space, config)

    # ------------------------------------------------------------------ the loop

    def search(self, ctx: SearchContext) -> SearchOutcome:
        config, run, sink = ctx.config, ctx.run, ctx.events
        pd: PetridishSection = config.search.petridish
        if pd.cost == "latency_ms" and config.search.executor.kind == "ray":
            sink(Message("latency measured in Ray workers shares their CPUs", level="warning"))
        models_dir = run.root / "models"
        if run.enabled:
            models_dir.mkdir(parents=True, exist_ok=True)
        cfg_json = config.model_dump(mode="json")
        saved = ctx.checkpoint.get(LOOP_KEY)
        if saved is not None:
            state = json.loads(saved["state"])
        else:
            state = {"pool": [], "failed": [], "pending": [], "next_id": 0, "jobs_done": 0,
                     "failed_in_a_row": 0, "elapsed": 0.0, "stopped": None, "rng": None}
            for shape, m in seed_models(ctx.space, pd):
                state["pending"].append(self._train_spec(state, m, cfg_json, config, models_dir,
                                                         parent=None, stage="seed", generation=0,
                                                         shape=shape, init=None))
        rng = random.Random(config.run.seed)
        if state["rng"] is not None:
            rng.setstate(_tuple(state["rng"]))
        run.log.add((LOOP_KEY, "setup"), {"space": ctx.source, "seeds": sum(
            1 for p in state["pending"] if p["stage"] == "seed"), "executor": config.search.executor.kind,
            "resumed": saved is not None, "cost": pd.cost})
        sink(Message(f"petridish: {len(state['pool'])} models in the pool, {len(state['pending'])} "
                     f"jobs queued, executor {config.search.executor.kind}"
                     + (" (resumed)" if saved is not None else "")))
        start = time.perf_counter() - float(state["elapsed"])
        with ctx.executor() as ex:
            local = {"checkpoint": ctx.checkpoint, "run": run, "events": sink}
            for spec in state["pending"]:
                ex.submit(_job(spec), local)
            while ex.pending and state["stopped"] is None:
                result = ex.next_result(ordered=pd.ordered)
                spec = next(s for s in state["pending"] if s["key"] == result.key)
                state["pending"].remove(spec)
                state["jobs_done"] += 1
                # the job's log record and messages follow the checkpoint commit: a run killed
                # in between redoes the job without having booked it twice
                notes: list[Any] = []
                new = self._on_result(state, spec, result, rng, cfg_json, config, models_dir,
                                      log=lambda *a: notes.append(("log", a)),
                                      say=lambda m: notes.append(("say", m)))
                state["stopped"] = state["stopped"] or self._stop_reason(state, pd, start)
                if state["stopped"] is None:
                    for s in new:
                        state["pending"].append(s)
                        ex.submit(_job(s), local)
                else:
                    dropped = ex.cancel_pending()
                    state["pending"] = []
                    notes.append(("say", Message(f"[petridish] stopping: {state['stopped']}"
                                                 + (f"; {len(dropped)} queued job(s) dropped"
                                                    if dropped else ""))))
                state["elapsed"] = time.perf_counter() - start
                state["rng"] = rng.getstate()
                ctx.checkpoint.commit(LOOP_KEY, {"state": json.dumps(state)})
                self._write_pool(run, state, pd.cost)
                for kind, note in notes:
                    run.log.add(*note) if kind == "log" else sink(note)
        if state["stopped"] is None:
            state["stopped"] = "no jobs left"
        return self._decide(ctx, state, saved is not None)

    def _train_spec(self, state: dict[str, Any], model: Model, cfg_json: dict[str, Any], config: Any,
                    models_dir: Path, *, parent: int | None, stage: str, generation: int,
                    shape: dict[str, int], init: str | None, genotype: str | None = None) -> dict[str, Any]:
        i = state["next_id"]
        state["next_id"] += 1
        return {"key": f"train-{i}", "kind": "train", "id": i, "parent": parent, "stage": stage,
                "generation": generation, **shape, "genotype": genotype,
                "fn": "nasc.search.petridish_search:train_job",
                "args": {"model": _model_json(model), "config": cfg_json, "key": f"train-{i}",
                         "epochs": config.trainer.epochs, "out": str(models_dir / f"{i}.pt"),
                         "init": init}}

    def _search_spec(self, state: dict[str, Any], parent: dict[str, Any], cfg_json: dict[str, Any],
                     models_dir: Path) -> dict[str, Any]:
        i = state["next_id"]
        state["next_id"] += 1
        return {"key": f"search-{i}", "kind": "search", "id": i, "parent": parent["id"],
                "stage": "search", "generation": parent["generation"] + 1,
                "fn": "nasc.search.petridish_search:search_job",
                "args": {"model": parent["model"], "config": cfg_json, "key": f"search-{i}",
                         "out": str(models_dir / f"search-{i}.pt"), "init": parent["weights"]}}

    def _on_result(self, state: dict[str, Any], spec: dict[str, Any], result: Any, rng: random.Random,
                   cfg_json: dict[str, Any], config: Any, models_dir: Path, *,
                   log: Callable[..., None], say: Callable[[Message], None]) -> list[dict[str, Any]]:
        """Book a finished job into `state`; return the jobs it leads to. Its structured-log
        record goes to `log`, its messages to `say` (both written after the commit)."""
        pd = config.search.petridish
        log((LOOP_KEY, "jobs", spec["key"]),
                    {"kind": spec["kind"], "id": spec["id"], "parent": spec["parent"], "ok": result.ok,
                     "attempts": result.attempts, "seconds": round(result.seconds, 3),
                     **({"error": result.error} if not result.ok else
                        {k: v for k, v in (result.value or {}).items() if k not in ("model", "alphas")})})
        state["failed_in_a_row"] = 0 if result.ok else state["failed_in_a_row"] + 1
        if not result.ok:
            state["failed"].append({"key": spec["key"], "id": spec["id"], "parent": spec["parent"],
                                    "error": result.error, "attempts": result.attempts})
            say(Message(f"[petridish] job {spec['key']} failed after {result.attempts} attempt(s): "
                         f"{result.error}", level="warning"))
            return [self._search_spec(state, self._sample(state, rng, pd), cfg_json, models_dir)] \
                if state["pool"] else []
        if spec["kind"] == "search":
            child = _model_from_json(result.value["model"])
            say(Message(f"[petridish] grew model {spec['parent']} -> {spec['id']} "
                         f"({result.seconds:.1f}s)"))
            return [self._train_spec(state, child, cfg_json, config, models_dir, parent=spec["parent"],
                                     stage="grown", generation=spec["generation"],
                                     shape=macro(child), init=spec["args"]["out"],
                                     genotype=result.value.get("genotype"))]
        point = {k: spec[k] for k in ("id", "parent", "stage", "generation", "cells", "reductions",
                                      "nodes", "genotype")}
        point.update(result.value)
        point["error"] = 1.0 - float(point["val_top1"])
        point["model"] = spec["args"]["model"]
        point["weights"] = spec["args"]["out"]
        state["pool"].append(point)
        _mark_hull(state["pool"], pd.cost)
        say(Message(f"[petridish] model {point['id']} ({point['stage']}, {point['cells']} cells, "
                     f"{point['nodes']} nodes): val_top1={100 * point['val_top1']:.2f}% "
                     f"{pd.cost}={point[pd.cost]} ({result.seconds:.1f}s); hull: "
                     f"{[p['id'] for p in state['pool'] if p['on_hull']]}"))
        return [self._search_spec(state, self._sample(state, rng, pd), cfg_json, models_dir)]

    @staticmethod
    def _sample(state: dict[str, Any], rng: random.Random, pd: PetridishSection) -> dict[str, Any]:
        """A parent drawn uniformly from the epsilon band around the hull."""
        from nasc.search.pareto import epsilon_band

        band = epsilon_band(_points(state["pool"], pd.cost), pd.convex_hull_eps)
        ids = [p.key for p in band]
        pick = ids[rng.randrange(len(ids))]
        return next(p for p in state["pool"] if p["id"] == pick)

    @staticmethod
    def _stop_reason(state: dict[str, Any], pd: PetridishSection, start: float) -> str | None:
        over = [p["id"] for p in state["pool"] if p["macs"] > pd.max_madd]
        if over:
            return f"model {over[0]} has more than max_madd = {pd.max_madd} multiply-adds"
        if len(state["pool"]) >= pd.max_hull_points:
            return f"the pool has max_hull_points = {pd.max_hull_points} models"
        if state["failed_in_a_row"] >= MAX_FAILED_IN_A_ROW:
            return f"{MAX_FAILED_IN_A_ROW} jobs failed in a row (see pool.json)"
        if pd.max_jobs is not None and state["jobs_done"] >= pd.max_jobs:
            return f"max_jobs = {pd.max_jobs} jobs done"
        if pd.max_seconds is not None and time.perf_counter() - start >= pd.max_seconds:
            return f"max_seconds = {pd.max_seconds} spent"
        return None

    # ------------------------------------------------------------------ outputs

    def _write_pool(self, run: RunDir, state: dict[str, Any], cost: str) -> None:
        if not run.enabled:
            return
        rows = [_point_row(p, cost) for p in state["pool"]]
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        atomic_write_text(run.root / "pool.csv", buf.getvalue())
        atomic_write_text(run.root / "pool.json", json.dumps(
            {"pool": rows, "failed": state["failed"], "stopped": state["stopped"]}, indent=1) + "\n")

    def _decide(self, ctx: SearchContext, state: dict[str, Any], resumed: bool) -> SearchOutcome:
        from nasc.ir.printer import print_model
        from nasc.ir.serde import to_yaml
        from nasc.search.space import comment_header

        pool, cost = state["pool"], ctx.config.search.petridish.cost
        if not pool:
            raise SearchError("no model was trained", hint="see the failed jobs in pool.json and log.jsonl")
        hull = [p for p in pool if p["on_hull"]]
        best = min(hull, key=lambda p: (p["error"], p[cost], p["id"]))
        run = ctx.run
        files: dict[str, Any] = {"pool.csv": None, "pool.json": None}
        if run.enabled:
            gallery = run.root / "gallery"
            gallery.mkdir(exist_ok=True)
            for p in hull:
                m = _model_from_json(p["model"])
                head = comment_header(
                    f"Petridish model {p['id']} ({p['stage']}, parent {p['parent']}), on the frontier: "
                    f"val_top1 {100 * p['val_top1']:.2f}%, {cost} {p[cost]}; from {ctx.source}")
                atomic_write_text(gallery / f"model-{p['id']}.nas", head + print_model(m))
                atomic_write_text(gallery / f"model-{p['id']}.yaml", head + to_yaml(m))
                atomic_write_text(gallery / f"model-{p['id']}.json",
                                  json.dumps(_point_row(p, cost) | {"weights": p["weights"]}, indent=1) + "\n")
            files.update(self._pictures(run, pool, cost))
        hull_rows = [_point_row(p, cost) for p in hull]
        return SearchOutcome(
            final=_model_from_json(best["model"]), genotype=best.get("genotype"),
            header=(f"Found by `nasc search petridish` (model {best['id']} of {len(pool)}, the most "
                    f"accurate on the frontier of error against {cost}; seed {ctx.config.run.seed}, "
                    f"data {ctx.config.data.dataset}) from {ctx.source}.\nHeld-out top-1 "
                    f"{100 * best['val_top1']:.2f}%, {best[cost]} {cost}; every model: pool.csv in "
                    f"{run.root}; the frontier: gallery/."),
            provenance={"pool": len(pool), "hull": [p["id"] for p in hull], "best": best["id"],
                        "stopped": state["stopped"], "failed": state["failed"], "cost": cost},
            files=files,
            details={"pool": [_point_row(p, cost) for p in pool], "hull": hull_rows,
                     "failed": state["failed"], "stopped": state["stopped"]},
            message=(f"petridish: {len(pool)} models, frontier {[p['id'] for p in hull]}; "
                     f"stopped: {state['stopped']}"),
            resumed=resumed)

    def _pictures(self, run: RunDir, pool: list[dict[str, Any]], cost: str) -> dict[str, Any]:
        """pool.png / pool.svg: error against cost, the frontier, parent-child arrows."""
        try:
            from nasc.export.plots import plot_front
        except ImportError:  # matplotlib missing: the picture is optional
            return {}
        rows = [{"id": p["id"], cost: p[cost], "error": p["error"], "stage": p["stage"]} for p in pool]
        arrows = [(p["parent"], p["id"]) for p in pool if p["parent"] is not None
                  and any(q["id"] == p["parent"] for q in pool)]
        out = {}
        for suffix in ("png", "svg"):
            path = run.root / f"pool.{suffix}"
            plot_front(rows, cost, "error", path, key="id",
                       front_keys=[p["id"] for p in pool if p["on_hull"]], arrows=arrows,
                       title="Petridish pool: held-out error against cost",
                       labels={"error": "held-out error (1 - top-1)", "macs": "multiply-adds",
                               "params": "parameters", "activation_bytes": "activation memory",
                               "latency_ms": "batch-1 latency"},
                       units={"latency_ms": "ms", "activation_bytes": "bytes"},
                       annotate={p["id"]: str(p["id"]) for p in pool}, color_by="stage",
                       points_label="models", front_label="lower convex hull (the gallery)",
                       arrows_label="grown from")
            out[f"pool.{suffix}"] = None
        return out

    def summary_lines(self, result: SearchResult) -> list[str]:
        """The pool, the frontier and why the search stopped."""
        d = result.details
        return [f"pool: {len(d['pool'])} models; frontier: "
                + ", ".join(f"{p['id']} ({100 * p['val_top1']:.1f}%)" for p in d["hull"]),
                f"stopped: {d['stopped']}"]

    def next_step(self, result: SearchResult) -> str | None:
        """Train the frontier at full size."""
        return f"nasc gallery eval {result.run.root}"


def _points(pool: list[dict[str, Any]], cost: str) -> list[Any]:
    from nasc.search.pareto import Point

    return [Point(p["id"], float(p[cost]), float(p["error"])) for p in pool]


def _mark_hull(pool: list[dict[str, Any]], cost: str) -> None:
    from nasc.search.pareto import lower_convex_hull

    on = {p.key for p in lower_convex_hull(_points(pool, cost))}
    for p in pool:
        p["on_hull"] = p["id"] in on


def _job(spec: dict[str, Any]) -> Any:
    from nasc.search.executor import Job

    return Job(spec["key"], spec["fn"], spec["args"])


def _tuple(value: Any) -> Any:
    """JSON lists back to the nested tuples `random.setstate` wants."""
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value
