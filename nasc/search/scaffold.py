"""The run layer every search algorithm shares: start or resume a run, call the strategy, write
the outputs.

    from nasc.search.scaffold import load_search_config, run_search, resume_search
    cfg = load_search_config("darts", overrides=["trainer.epochs=3"])       # the shipped default
    run = RunDir.create(cfg.run.name); run.write_config(cfg)
    result = run_search("darts", "examples/darts_space.nas", cfg, run=run, events=sink)
    result.final, result.genotype, result.paths["final.nas"], result.details
    result = resume_search("runs/search-darts-...", events=sink)             # a killed run continues

What it does for every algorithm (see `nasc.search.strategy` for what an algorithm does):
- refuses a multi-process `torchrun` launch unless the strategy is data-parallel; a data-parallel
  one joins the job (`nasc.train.distributed.setup`): rank 0 alone creates or reopens (locks) and
  writes the run folder, the other ranks learn its path and read its checkpoint, so every rank
  resumes from rank 0's; `SearchContext.dist` tells the strategy its rank;
- loads the space, lets the strategy prepare it (search size), records it as `space.nas` (read back
  on resume) and starts `provenance.json` with the algorithm's name (how `--resume` knows it);
- writes the run-log header (seed, device, versions, threads);
- opens the run's nested-loop checkpoint and hands everything to `strategy.search`;
- writes `final.nas` / `final.yaml` (with the strategy's header), `genotype.txt` where there is one,
  the strategy's extra files, `provenance.json`, a picture of the cells (`cells.svg`) and the run
  pictures (`pictures/`: `nasc.search.pictures`).
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasc import __version__
from nasc.atomic import atomic_write_text
from nasc.errors import CheckpointError, ConfigError, NascError
from nasc.ir.model import Model
from nasc.limits import max_memory
from nasc.search.registry import ensure_sections, get_search
from nasc.search.space import comment_header
from nasc.search.strategy import SearchContext, SearchOutcome, SearchResult, SearchStrategy
from nasc.train.events import EventSink, Message, fanout
from nasc.train.rundir import RunDir

if TYPE_CHECKING:
    from nasc.train.distributed import DistContext

PROVENANCE = "provenance.json"


def require_launch(strategy: SearchStrategy, command: str) -> None:
    """Refuse a multi-process `torchrun` launch of a search that runs in one process.

    Under torchrun every rank would run the whole search and race on the same run folder.
    """
    if strategy.distributed or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    raise ConfigError(f"`{command}` runs in a single process, not under a multi-process torchrun",
                      key="WORLD_SIZE",
                      hint=f"run `{command}` directly; `torchrun ... -m nasc train` trains a derived "
                           "network with DDP, and `--executor ray` runs a search's jobs in parallel")


def _join(strategy: SearchStrategy, device: str) -> tuple[DistContext, bool]:
    """This process's place in the torchrun job of a data-parallel search (one process
    otherwise), and whether this call created the process group (and so tears it down)."""
    from nasc.train.distributed import DistContext, setup

    if not strategy.distributed or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext(), False
    import torch.distributed

    owned = not torch.distributed.is_initialized()
    dist, _ = setup(device)
    return dist, owned


def _main_only(dist: DistContext, open_run: Any) -> RunDir:
    """`open_run(enabled)` on every rank, enabled on rank 0 only, failing everywhere if it fails
    anywhere; the other ranks get a write-nothing view of rank 0's folder (whose name, from its
    clock, may differ from theirs by a second)."""
    run: RunDir = dist.agree(lambda: open_run(dist.is_main))
    if not dist.enabled:
        return run
    root = dist.all_gather_object(str(run.root))[0]
    return run if dist.is_main else RunDir(Path(root), enabled=False)


def load_search_config(name: str, path: str | Path | None = None, *, overrides: Sequence[str] = (),
                       full: bool = False, values: Mapping[str, Any] | None = None) -> Any:
    """The experiment config of search `name`: `path`, or the strategy's shipped default, with the
    `full:` overlay when asked, `overrides` (`key=value`) and `values` (dotted key -> value)."""
    from nasc.resources import configs_dir
    from nasc.train.config import load_config

    strategy = get_search(name)
    ensure_sections()
    if path is None and strategy.default_config is not None:
        shipped = configs_dir() / strategy.default_config
        path = shipped if shipped.is_file() else None  # an install without configs: defaults
    return load_config(path, overrides=overrides, full=full, values=values)


def start_search(name: str, space_path: str | Path, *, config_path: str | Path | None = None,
                 overrides: Sequence[str] = (), full: bool = False,
                 values: Mapping[str, Any] | None = None, out: str | Path | None = None,
                 events: EventSink | None = None) -> SearchResult:
    """A new search run as `nasc search NAME SPACE` starts it: refuse a wrong launch, load the
    config (`values` are dotted keys set by flags) and the space, and only then create the run
    directory (`out`, or runs/NAME-TIME), so a bad input leaves no folder behind; then search."""
    strategy = get_search(name)
    require_launch(strategy, _command(name))
    cfg = load_search_config(name, config_path, overrides=overrides, full=full,
                             values={"run.model": str(Path(space_path).resolve()), **(values or {})})
    space = _prepared(strategy, space_path, cfg)
    dist, owned = _join(strategy, cfg.run.device)

    def create(enabled: bool) -> RunDir:
        made = RunDir.create(cfg.run.name, out=out, enabled=enabled)
        with _closed_on_error(made):
            made.write_config(cfg)
        return made

    run = _main_only(dist, create)
    return _start(strategy, space, cfg, run, events, cfg.run.model or str(space_path), dist, owned)


def _command(name: str) -> str:
    return f"nasc search {name}"


def run_search(name: str, space_path: str | Path, config: Any, *, run: RunDir,
               events: EventSink | None = None) -> SearchResult:
    """Search the space in `space_path` with algorithm `name` as `config` says, into `run`.

    Under torchrun (a data-parallel strategy) every rank calls this; only rank 0's `run`
    writes (make it with `RunDir.create(..., enabled=rank == 0)` and the same `out`).
    """
    strategy = get_search(name)
    require_launch(strategy, _command(name))
    space = _prepared(strategy, space_path, config)
    dist, owned = _join(strategy, config.run.device)
    return _start(strategy, space, config, run, events, config.run.model or str(space_path), dist,
                  owned)


def _prepared(strategy: SearchStrategy, space_path: str | Path, config: Any) -> Model:
    from nasc.frontend import load_model

    return strategy.prepare(load_model(space_path), config)


def _start(strategy: SearchStrategy, space: Model, config: Any, run: RunDir,
           events: EventSink | None, source: str, dist: DistContext, owned: bool) -> SearchResult:
    """Record the prepared space and the algorithm in the new run, then search."""
    from nasc.ir.printer import print_model

    with _closed_on_error(run):
        if run.enabled:
            atomic_write_text(run.root / "space.nas",
                              comment_header(f"the space searched, from {source}") + print_model(space))
            _write_provenance(run, {"algorithm": strategy.name, "status": "running", "space": source})
        run.info(f"space: {source}")
    return _run(strategy, space, config, run, events, source, dist, owned, resuming=False)


def run_algorithm(run_dir: str | Path) -> str:
    """The algorithm a search run directory was started with (from its provenance.json)."""
    path = Path(run_dir) / PROVENANCE
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("algorithm")
    except (OSError, ValueError, AttributeError):
        name = None
    if not isinstance(name, str):
        raise CheckpointError(f"`{run_dir}` has no readable {PROVENANCE}: not a search run",
                              hint="resume a folder written by `nasc search ALGORITHM`")
    return name


def resume_search(run_dir: str | Path, *, events: EventSink | None = None,
                  device: str | None = None, expect: str | None = None) -> SearchResult:
    """Continue the search in `run_dir` (its config, space and checkpoint).

    `expect` (the command's algorithm) must match the run's own.
    """
    from nasc.frontend import load_model
    from nasc.train.config import validate_config

    # read without the lock first: the algorithm says whether several processes may resume it
    view = RunDir.open(run_dir, enabled=False)
    name = run_algorithm(view.root)
    if expect is not None and expect != name:
        raise ConfigError(f"`{view.root}` is a `{name}` search, not `{expect}`", key="--resume",
                          hint=f"continue it with `nasc search {name} --resume {view.root}`")
    strategy = get_search(name)
    require_launch(strategy, _command(name))
    ensure_sections()
    raw = view.read_config()
    if device is not None:
        raw.setdefault("run", {})["device"] = device
    config = validate_config(raw)
    dist, owned = _join(strategy, config.run.device)
    # rank 0 locks the folder (a second resume of it is refused); the others only read it
    run = _main_only(dist, lambda enabled: RunDir.open(run_dir, enabled=enabled))
    with _closed_on_error(run):
        space_file = run.root / "space.nas"
        if not space_file.is_file():
            raise CheckpointError(f"`{run.root}` has no space.nas: not a search run",
                                  hint=f"resume a folder written by `{_command(name)}`")
        source = config.run.model or str(space_file)
        space = load_model(space_file)
    return _run(strategy, space, config, run, events, source, dist, owned, resuming=True)


@contextlib.contextmanager
def _closed_on_error(run: RunDir) -> Iterator[None]:
    """Close `run` (releasing its lock) when the block raises, Ctrl-C included."""
    try:
        yield
    except BaseException:
        run.close()
        raise


def _header(config: Any, world_size: int) -> dict[str, Any]:
    import torch

    from nasc.train.distributed import resolve_device

    return {"name": config.run.name, "seed": config.run.seed,
            "device": str(resolve_device(config.run.device)), "nasc": __version__,
            "torch": torch.__version__, "python": platform.python_version(),
            "threads": config.run.threads or torch.get_num_threads(), "world_size": world_size}


def _run(strategy: SearchStrategy, space: Model, config: Any, run: RunDir, events: EventSink | None,
         source: str, dist: DistContext, owned: bool, *, resuming: bool) -> SearchResult:
    from nasc.train.checkpoint import Checkpoint
    from nasc.train.events import null_sink

    try:
        opened = run
        if dist.enabled and not dist.is_main and run.enabled:  # a caller's run on another rank
            run = RunDir(run.root, enabled=False)
        # events come from rank 0 only; every rank of a torchrun job reads rank 0's checkpoint
        sink = fanout(run.event_sink if run.enabled else None, events) if dist.is_main else null_sink
        checkpoint = Checkpoint(run.checkpoint_path if run.enabled or dist.enabled else None,
                                writable=run.enabled)
        run.log.add("run", _header(config, dist.world_size))
        ctx = SearchContext(strategy.name, space, config, run, source, sink, checkpoint, resuming,
                            dist=dist)
        # networks the search builds over `run.max_memory` are refused before they are allocated
        with max_memory(getattr(config.run, "max_memory", None), "run.max_memory"):
            outcome = strategy.search(ctx)
        result = _finish(strategy, ctx, outcome)
        if outcome.message:
            sink(Message(outcome.message))
    finally:
        run.close()
        opened.close()
        if owned:
            dist.shutdown()
    result.lines = strategy.summary_lines(result)
    return result


def _write_provenance(run: RunDir, data: dict[str, Any]) -> None:
    atomic_write_text(run.root / PROVENANCE, json.dumps(data, indent=1) + "\n")


def _finish(strategy: SearchStrategy, ctx: SearchContext, outcome: SearchOutcome) -> SearchResult:
    """Write the outputs every search has, then the strategy's own files."""
    from nasc.ir.printer import print_model
    from nasc.ir.serde import to_yaml

    run, config = ctx.run, ctx.config
    result = SearchResult(algorithm=strategy.name, run=run, space=ctx.space, final=outcome.final,
                          genotype=outcome.genotype, details=outcome.details,
                          resumed=outcome.resumed)
    if not run.enabled:
        return result
    root = run.root
    run.remove_temp_files()  # the jobs are over: what a killed job process left behind
    header = comment_header(outcome.header)
    paths = {"final.nas": root / "final.nas", "final.yaml": root / "final.yaml"}
    atomic_write_text(paths["final.nas"], header + print_model(outcome.final))
    atomic_write_text(paths["final.yaml"], header + to_yaml(outcome.final))
    if outcome.genotype is not None:
        paths["genotype.txt"] = root / "genotype.txt"
        atomic_write_text(paths["genotype.txt"], outcome.genotype + "\n")
    for name, content in outcome.files.items():
        paths[name] = root / name
        if isinstance(content, str):
            atomic_write_text(paths[name], content)
        elif content is not None:
            content(paths[name])
    from nasc.search.nb201_bench import derived_accuracy

    bench = derived_accuracy(config, outcome.final)
    if bench is not None:
        outcome.provenance["benchmark"] = bench
        run.info(f"benchmark: {bench}")
    provenance = {"algorithm": strategy.name, "status": "finished", "space": ctx.source,
                  "epochs": config.trainer.epochs, "seed": config.run.seed,
                  "dataset": config.data.dataset, "batch_size": config.data.batch_size,
                  "run": str(root), "nasc": __version__, "genotype": outcome.genotype,
                  **outcome.provenance}
    paths[PROVENANCE] = root / PROVENANCE
    _write_provenance(run, provenance)
    try:
        from nasc.export.viz import write_picture

        paths["cells.svg"] = write_picture(outcome.final, root / "cells.svg")
    except (ImportError, NascError, OSError) as exc:  # graphviz's `dot` may be missing
        run.info(f"no cell picture: {exc}")
    from nasc.search.pictures import pictures_or_note

    paths.update(pictures_or_note(run))  # curves, alphas, fronts: logged, never fatal
    run.log.add((strategy.name, "result"), {"genotype": outcome.genotype,
                                            "final": str(paths["final.nas"])})
    result.paths = paths
    return result
