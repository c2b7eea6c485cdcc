"""`nasc gallery eval RUN_DIR`: train the frontier models of a Petridish run at full size.

    result = evaluate_gallery("runs/search-petridish-...", cells=20, channels=36)
    result.rows            # per model: id, params, MACs, test top-1 / error, time
    result.paths           # gallery-eval/results.csv, results.json, accuracy.png / .svg

Each gallery model (`gallery/model-<id>.nas`) is scaled up (`--cells`, `--channels`), compiled with
the evaluation passes and trained with the evaluation recipe (`examples/configs/train.yaml`, toy
by default, `--full` for the paper's) as a job on the executor, so the models train in parallel on
Ray with `--executor ray`. A model that fails is recorded with its error. The results and a plot of
test accuracy against cost go to `RUN_DIR/gallery-eval/` (its own run directory: config, logs).
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasc.atomic import atomic_write_text
from nasc.errors import CheckpointError, SearchError
from nasc.train.events import EventSink, Message

GALLERY = "gallery"
EVAL_DIR = "gallery-eval"


@dataclass
class GalleryResult:
    """What `evaluate_gallery` produced."""

    root: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)


def gallery_models(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The frontier models of a Petridish run: (id, .nas path), by id."""
    root = Path(run_dir) / GALLERY
    if not root.is_dir():
        raise CheckpointError(f"`{run_dir}` has no {GALLERY}/ folder",
                              hint="pass the run directory of a finished `nasc search petridish`")
    found = []
    for path in root.glob("model-*.nas"):
        m = re.fullmatch(r"model-(\d+)\.nas", path.name)
        if m:
            found.append((int(m.group(1)), path))
    if not found:
        raise SearchError(f"`{root}` holds no gallery model", hint="the search found no frontier")
    return sorted(found)


def eval_job(model: str, config: dict[str, Any], key: str, *, checkpoint: Any = None,
             run: Any = None, events: EventSink | None = None) -> dict[str, Any]:
    """Compile a gallery model (eval passes), train it with the config's recipe, test it."""
    import torch

    from nasc.analysis.cost import cost
    from nasc.compiler import compile_model
    from nasc.ir.serde import from_data
    from nasc.search.registry import ensure_sections
    from nasc.search.space import fit_to_data
    from nasc.train.config import validate_config
    from nasc.train.data import build_data
    from nasc.train.distributed import resolve_device
    from nasc.train.runner import seed_everything
    from nasc.train.trainer import Trainer

    ensure_sections()
    cfg = validate_config(config)
    started = time.perf_counter()
    device = resolve_device(cfg.run.device)
    if cfg.run.threads is not None:
        torch.set_num_threads(cfg.run.threads)
    seed_everything(cfg.run.seed)
    data = build_data(cfg.data, device=device, seed=cfg.run.seed)
    net = fit_to_data(from_data(json.loads(model), "gallery model"), data.num_classes,
                      data.input_shape)
    compiled = compile_model(net, drop_path=cfg.trainer.drop_path_prob > 0, seed=cfg.run.seed)
    trainer = Trainer(compiled.module, trainer=cfg.trainer, optimizer=cfg.optimizer,
                      schedule=cfg.schedule, device=device, checkpoint=checkpoint,
                      key=f"gallery/{key}/train", run=run, events=events,
                      eval_batch_size=cfg.data.eval_batch_size)
    trainer.fit(data.train, None)
    test = trainer.evaluate(data.test)
    report = cost(compiled.network)
    return {"params": report.params, "macs": report.macs, "test_top1": test["top1"],
            "test_error": 1.0 - test["top1"], "time": round(time.perf_counter() - started, 3)}


def evaluate_gallery(run_dir: str | Path, *, cells: int | None = None, channels: int | None = None,
                     config_path: str | Path | None = None, overrides: list[str] | None = None,
                     full: bool = False, values: dict[str, Any] | None = None,
                     events: EventSink | None = None) -> GalleryResult:
    """Train every gallery model of `run_dir` at the given size; write the results and the plot."""
    from nasc.frontend import load_model
    from nasc.ir.serde import to_json
    from nasc.passes.scale_up import scale_up
    from nasc.resources import configs_dir
    from nasc.search.executor import Job, make_executor
    from nasc.search.registry import ensure_sections
    from nasc.train.checkpoint import Checkpoint
    from nasc.train.config import load_config
    from nasc.train.events import fanout
    from nasc.train.rundir import RunDir

    models = gallery_models(run_dir)
    ensure_sections()
    shipped = configs_dir() / "train.yaml"
    path = config_path if config_path is not None else (shipped if shipped.is_file() else None)
    cfg = load_config(path, overrides=list(overrides or ()), full=full, values=values)
    out = Path(run_dir) / EVAL_DIR
    run = RunDir.open(out) if (out / "config.yaml").is_file() else RunDir.create("gallery", out=out)
    run.write_config(cfg)
    sink = fanout(run.event_sink, events)
    checkpoint = Checkpoint(run.checkpoint_path)
    saved = checkpoint.get("gallery")
    rows: list[dict[str, Any]] = json.loads(saved["rows"]) if saved else []
    done = {r["id"] for r in rows}
    cfg_json = cfg.model_dump(mode="json")
    jobs = []
    for i, src in models:
        if i in done:
            continue
        m = scale_up(load_model(src), cells=cells, channels=channels)
        jobs.append(Job(f"model-{i}", "nasc.search.gallery:eval_job",
                        {"model": to_json(m, self_contained=True), "config": cfg_json,
                         "key": f"model-{i}"}))
    sink(Message(f"gallery eval: {len(models)} models ({len(done)} done), "
                 f"{cfg.trainer.epochs} epochs each, executor {cfg.search.executor.kind}"))
    try:
        with make_executor(cfg.search.executor) as ex:
            local = {"checkpoint": checkpoint, "run": run, "events": sink}
            for job, r in zip(jobs, ex.run(jobs, ordered=True, local=local)):
                i = int(job.key.split("-")[1])
                row = {"id": i, **(r.value if r.ok else {"error": r.error, "attempts": r.attempts})}
                rows.append(row)
                checkpoint.commit("gallery", {"rows": json.dumps(rows)})
                run.log.add(("gallery", job.key), row)
                sink(Message(f"[gallery] model {i}: " + (f"test top-1 {100 * row['test_top1']:.2f}%, "
                                                         f"{row['macs']} MACs" if r.ok else
                                                         f"failed: {r.error}")))
        result = GalleryResult(out, sorted(rows, key=lambda r: r["id"]))
        result.paths = _write(out, result.rows)
    finally:
        run.close()
    return result


def _write(out: Path, rows: list[dict[str, Any]]) -> dict[str, Path]:
    paths = {"results.json": out / "results.json", "results.csv": out / "results.csv"}
    atomic_write_text(paths["results.json"], json.dumps(rows, indent=1) + "\n")
    keys = ["id", "params", "macs", "test_top1", "test_error", "time", "error"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(paths["results.csv"], buf.getvalue())
    ok = [r for r in rows if "test_top1" in r]
    try:
        from nasc.export.plots import plot_front
    except ImportError:  # matplotlib missing: the table is the result
        return paths
    if ok:
        for suffix in ("png", "svg"):
            paths[f"accuracy.{suffix}"] = out / f"accuracy.{suffix}"
            plot_front(ok, "macs", "test_error", paths[f"accuracy.{suffix}"], key="id",
                       title="Gallery at full size: test error against multiply-adds")
    return paths
