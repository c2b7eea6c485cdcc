"""The public Python API of nasc: every command of the CLI is a thin wrapper over one function here.

    from nasc import api

    model = api.load("examples/darts_v2_cifar.nas", {"C": 16})      # parsed, verified IR
    report = api.check("examples/darts_space.nas")                  # model, network, warnings
    api.format_file("space.nas", check=True).changed                # canonical form (+ diff)
    api.stats("examples/darts_v2_cifar.nas").cost.params            # params, MACs, memory
    result = api.compile("final.nas", cells=20, channels=36, aux=True, drop_path=True)
    api.save_model(result, "model.pt")
    net = api.load_module("model.pt")                               # the nn.Module again
    api.train("model.pt", values={"trainer.epochs": 1})            # a run directory + model.pt
    api.search("random", "examples/darts_space.nas", overrides=["search.random.trials=2"])
    api.export_onnx("model.pt", "model.onnx")                       # verified with onnxruntime
    api.draw("final.nas", "cells.svg")                              # graphviz picture
    api.sweep("final.nas", cells="8:20", channels="16,36", plot="front.png").rows   # macro sweep
    api.plugins()                                                   # ops, passes, searches, datasets

Results are small immutable records (`NamedTuple`s: cheap to define, so importing this module
stays fast). Errors are `NascError`s (several at once as `Diagnostics`); nothing here prints.
`load`, `check`, `format_*`, `stats` and `sweep` (without latency or training), `draw` and
`schema` never import torch: the torch-backed layers (lowering, training, search, export) are
imported inside the functions that need them.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from nasc.errors import ConfigError, NascError, ValidationError

if TYPE_CHECKING:
    from nasc.analysis.cost import CostReport
    from nasc.analysis.memory import TrainMemory
    from nasc.analysis.network import Network
    from nasc.compiler import CompileResult
    from nasc.export.onnx import OnnxReport
    from nasc.ir.model import Model
    from nasc.lower.latency import Latency
    from nasc.lower.net import NascNet
    from nasc.passes.registry import PassResult
    from nasc.plugins import PluginEntry
    from nasc.search.sweep import SweepResult
    from nasc.train import events  # imported on first use (`__getattr__`): check never needs it
    from nasc.train.events import Event, EventSink
    from nasc.train.rundir import RunDir

__all__ = [
    "CheckReport", "DrawResult", "FormatResult", "PluginInfo", "SearchInfo", "StatsReport",
    "TrainResult", "check", "check_search_launch", "compile", "create_run", "describe_event", "draw",
    "events", "export_onnx", "config_show", "format_file", "format_source", "gallery_eval", "load", "ops", "run_experiment", "load_config", "load_module",
    "load_search_config", "parse_pass_options", "plugins", "read_model", "resume_search",
    "save_model", "schema", "search", "search_info", "search_names", "search_next_step", "stats",
    "sweep", "to_nas", "train", "train_memory", "fit_memory",
]


def __getattr__(name: str) -> Any:
    """`api.events`: the progress event classes an event sink receives (`nasc.train.events`)."""
    if name == "events":
        from nasc.train import events

        return events
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PathLike = str | os.PathLike[str]
#: model param overrides: a mapping, or command-line `NAME=VALUE` items (`--set C=16`)
Overrides = Mapping[str, object] | Sequence[str] | None


def _overrides(overrides: Overrides) -> dict[str, object] | None:
    """Overrides as a mapping (None when there are none), parsing `NAME=VALUE` items."""
    if overrides is None:
        return None
    if isinstance(overrides, Mapping):
        return dict(overrides) or None
    if not overrides:  # the common case: no parser (and no YAML) to import
        return None
    from nasc.frontend import parse_overrides

    return parse_overrides([overrides] if isinstance(overrides, str) else overrides) or None


# ---- source files: load, check, format, stats (torch-free) ------------------------------------


def load(path: PathLike, overrides: Overrides = None) -> Model:
    """Read, parse, resolve imports, apply param `overrides` and verify the model in `path` (or
    build the network of a `genotype:Genotype(...)` source: `import_genotype`)."""
    from nasc.frontend import load_model

    if is_genotype_source(path):
        return _genotype_source(path, overrides)
    return load_model(str(path), _overrides(overrides))


class CheckReport(NamedTuple):
    """What `check` found. For an op library (a .nas file of imports and ops only) `model` is None
    and `library_ops` counts the file's own ops; otherwise `network` is the elaborated model."""

    path: str
    model: Model | None = None
    network: Network | None = None
    params: int | None = None
    warnings: tuple[NascError, ...] = ()
    search_space: bool = False
    choice_edges: int = 0
    library_ops: int | None = None


def check(path: PathLike, overrides: Overrides = None) -> CheckReport:
    """Parse, verify and infer every shape of the model in `path` (or check an op library's ops).

    Errors raise `NascError` (usually `Diagnostics` holding all of them); lint warnings (unused
    nodes) are returned in the report.
    """
    from nasc.analysis.cost import cost
    from nasc.analysis.elaborate import elaborate
    from nasc.frontend import is_library, load_library, read_text
    from nasc.ir.model import LOCAL_MODULE
    from nasc.ir.queries import choice_edge_ids, is_search_space
    from nasc.ir.verify import lint

    file = str(path)
    if is_library(read_text(file), file):
        ops = load_library(file)
        return CheckReport(file, library_ops=sum(1 for d in ops if d.module == LOCAL_MODULE))
    model = load(file, overrides)
    warnings = tuple(lint(model))
    network = elaborate(model)
    space = is_search_space(model)
    return CheckReport(file, model, network, cost(network).params, warnings, space,
                       sum(len(choice_edge_ids(c)) for c in model.cells) if space else 0)


def _yaml_header(text: str) -> str:
    """The leading `#` comment block of a YAML file (kept when it is rewritten)."""
    lines = []
    for ln in text.splitlines():
        if not ln.startswith("#"):
            break
        lines.append(ln)
    return "\n".join(lines) + "\n" if lines else ""


def format_source(text: str, path: PathLike) -> str:
    """The canonical form of source `text` read from `path` (.nas keeps its comments; .yaml/.json
    keep a leading comment block). Raises `NascError` if it does not parse, or if the formatted
    text would not give back the same IR (so formatting can never change a model)."""
    from nasc.frontend import YAML_SUFFIXES, parse_source

    file = str(path)
    suffix = Path(file).suffix.lower()
    if suffix in YAML_SUFFIXES:
        from nasc.ir.model import LOCAL_MODULE
        from nasc.ir.serde import to_json, to_yaml

        model = parse_source(text, file)
        # a self-contained file (imported ops written out) stays self-contained
        contained = any(d.module != LOCAL_MODULE for d in model.ops) and not any(
            d.module != LOCAL_MODULE and d.span is not None and d.span.file != file for d in model.ops)
        out = to_json(model, contained) if suffix == ".json" else _yaml_header(text) + to_yaml(model, contained)
        if parse_source(out, file) != model:
            raise ValidationError("internal error: formatting would change the model; file left as is")
        return out

    from nasc.frontend.dsl import build_model, read_source
    from nasc.frontend.imports import resolve_imports
    from nasc.ir.printer import print_library, print_model

    src = read_source(text, file)
    imported = resolve_imports([(i.name, i.span) for i in src.imports], file)
    if not (src.networks or src.cells or src.params or src.choices):  # an op library
        out = print_library([i.name for i in src.imports], src.ops, src)
        again = read_source(out, file)
        if again.ops != src.ops or [i.name for i in again.imports] != [i.name for i in src.imports]:
            raise ValidationError("internal error: formatting would change the library; file left as is")
        return out
    model = build_model(src, imported)
    out = print_model(model, src)
    if parse_source(out, file) != model:
        raise ValidationError("internal error: formatting would change the model; file left as is")
    return out


class FormatResult(NamedTuple):
    """One file through `format_file`: its text before and after, and whether it was rewritten."""

    path: str
    original: str
    formatted: str
    written: bool = False

    @property
    def changed(self) -> bool:
        """Whether the file was not in canonical form."""
        return self.original != self.formatted

    def diff(self) -> str:
        """A unified diff from the file to its canonical form ("" when it is canonical)."""
        return "".join(difflib.unified_diff(self.original.splitlines(True), self.formatted.splitlines(True),
                                            fromfile=self.path, tofile=f"{self.path} (formatted)"))


def format_file(path: PathLike, check: bool = False) -> FormatResult:
    """Format the file at `path`; unless `check`, rewrite it (atomically) when it is not canonical.

    Unreadable or invalid files, and a failed write, raise `NascError`.
    """
    from nasc.atomic import atomic_write_text
    from nasc.frontend import read_text

    file = str(path)
    text = read_text(file)
    out = format_source(text, file)
    if out == text or check:
        return FormatResult(file, text, out)
    try:
        atomic_write_text(path, out)
    except OSError as e:
        raise NascError(f"cannot write {file}: {e.strerror or e}") from None
    return FormatResult(file, text, out, written=True)


def to_nas(model: Model) -> str:
    """The canonical `.nas` text of `model` (what `nasc compile --dump-after` prints)."""
    from nasc.ir.printer import print_model

    return print_model(model)


def schema() -> dict[str, Any]:
    """The JSON Schema of the YAML/JSON model form (for editor completion)."""
    from nasc.ir.serde import json_schema

    return json_schema()


class StatsReport(NamedTuple):
    """`stats` of one model: its elaboration, the analytic costs, and the measured latency if asked."""

    model: Model
    network: Network
    cost: CostReport
    latency: Latency | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`nasc stats --json`): the model name, the cost report, the latency."""
        extra = {"latency": self.latency.as_dict()} if self.latency is not None else {}
        return {"model": self.model.name, **self.cost.as_dict(), **extra}


def stats(source: PathLike | Model, overrides: Overrides = None, *, latency: bool = False,
          batch: int = 1, device: str = "cpu", repeat: int = 20, threads: int | None = None) -> StatsReport:
    """Parameters, multiply-adds and float32 activation memory of one batch-1 eval forward (a
    choice edge counts all its candidates). With `latency`, also the measured eval forward time
    (lowers the network, imports torch; a search space is refused)."""
    from nasc.analysis.cost import cost
    from nasc.analysis.elaborate import elaborate
    from nasc.ir.model import Model

    model = source if isinstance(source, Model) else load(source, overrides)
    network = elaborate(model)
    report = cost(network)
    measured = None
    if latency:
        from nasc.lower.latency import network_latency
        from nasc.train.distributed import resolve_device

        measured = network_latency(network, batch_size=batch, device=resolve_device(device),
                                   repeat=repeat, threads=threads)
    return StatsReport(model, network, report, measured)


def train_memory(source: PathLike | Model, overrides: Overrides = None, *, batch: int = 64,
                 optimizer: str = "sgd", amp: bool = False, checkpointing: bool = False) -> TrainMemory:
    """The predicted peak memory of one training step of a network, or of the DARTS supernet of a
    search space (its cell batch norms non-affine, as `nasc search darts` trains it), at `batch`
    images: weights, gradients, optimizer state (`sgd` momentum, `adam`, `adamw`, `none`), the
    activations autograd saves and the backward's transient, without running anything
    (`nasc.analysis.memory`; torch-free). `checkpointing`: activation checkpointing per cell."""
    from nasc.analysis.memory import train_memory as _train_memory

    return _train_memory(_memory_network(source, overrides), batch=batch, optimizer=optimizer, amp=amp,
                         checkpointing=checkpointing)


def fit_memory(source: PathLike | Model, budget: int | str, overrides: Overrides = None, *,
               optimizer: str = "sgd", amp: bool = False, checkpointing: bool = False) -> int:
    """The largest batch whose predicted training peak (`train_memory`) fits in `budget` (bytes
    or a size such as `"16GB"`, binary units); 0 when not even one image fits."""
    from nasc.analysis.memory import fit_batch
    from nasc.limits import parse_size

    return fit_batch(_memory_network(source, overrides), parse_size(budget, "--fit-memory"),
                     optimizer=optimizer, amp=amp, checkpointing=checkpointing)


def _memory_network(source: PathLike | Model, overrides: Overrides) -> Network:
    from nasc.analysis.elaborate import elaborate
    from nasc.ir.model import Model
    from nasc.ir.queries import is_search_space

    model = source if isinstance(source, Model) else load(source, overrides)
    if is_search_space(model):
        from nasc.search.darts import supernet

        model = supernet(model)
    return elaborate(model)


# ---- compile, model files, export, pictures -------------------------------------------------


def parse_pass_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Command-line pass options `["aux-towers.weight=0.3", "finalize.scores=@a.json"]` ->
    `{"aux-towers": {"weight": 0.3}, ...}` (`@file` values are read from JSON/YAML)."""
    from nasc.compiler import parse_pass_options as _parse

    return _parse(items)


def compile(source: PathLike | Model, *, overrides: Overrides = None,  # noqa: A001 (the verb users expect)
            passes: str | Sequence[str] | None = None,
            options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
            cells: int | None = None, channels: int | None = None, reductions: Sequence[int] | None = None,
            aux: bool | None = None, drop_path: bool = False, seed: int | None = 0, verify: bool = False,
            observer: Callable[[PassResult], None] | None = None,
            max_memory: int | str | None = None) -> CompileResult:
    """Compile a `.nas`/`.yaml` file (or a `Model`) through the passes to a module.

    The default pipeline scales up (`cells`, `channels`, `reductions`), adds or removes the aux
    tower (`aux`), marks drop path and makes cell batch norms affine; `passes` replaces it (then
    give per-pass `options`, a mapping or `PASS.KEY=VALUE` items). `observer` sees every pass
    result as it happens. A network over the memory limit (`nasc.limits`: the machine's memory,
    or `max_memory`, bytes or `"64G"`) is refused before its module is built. See
    `nasc.compiler.compile_model`.
    """
    from nasc.compiler import compile_model
    from nasc.limits import max_memory as memory_limit

    opts = parse_pass_options(options) if options is not None and not isinstance(options, Mapping) else options
    if is_genotype_source(source):  # `genotype:Genotype(...)` is built here, overrides applied
        source, overrides = load(source, overrides), None  # type: ignore[arg-type]
    with memory_limit(max_memory):
        return compile_model(source, overrides=_overrides(overrides), passes=passes, options=opts, cells=cells,
                             channels=channels, reductions=reductions, aux=aux, drop_path=drop_path, seed=seed,
                             verify=verify, observer=observer)


def save_model(result: CompileResult, path: PathLike, meta: Mapping[str, Any] | None = None) -> Path:
    """Write a compile result (IR + weights, hashed) to one file loadable with `load_module`;
    `meta` adds provenance to what the result records (source, passes, seed)."""
    from nasc.lower.artifact import save_artifact

    info = {"source": result.source, "passes": [r.name for r in result.passes], "seed": result.seed,
            **dict(meta or {})}
    return save_artifact(path, result.model, result.module, result.overrides, info)


def load_module(path: PathLike, map_location: str = "cpu") -> NascNet:
    """Rebuild the `nn.Module` stored in a model file (`save_model`, `nasc compile`), eval mode."""
    from nasc.lower.artifact import load_module as _load

    return _load(path, map_location)


def read_model(path: PathLike) -> Model:
    """The IR stored in a model file (checked like `load_module`, without building the module)."""
    from nasc.lower.artifact import read_artifact

    return read_artifact(path).model


def export_onnx(model: PathLike | NascNet, path: PathLike, *, opset: int | None = None,
                tolerance: float | None = None) -> OnnxReport:
    """Export a model file (or a loaded module) to ONNX at `path` (eval mode, dynamic batch) after
    checking onnxruntime agrees with torch within `tolerance`."""
    from nasc.export import onnx

    net = load_module(model) if isinstance(model, (str, os.PathLike)) else model
    return onnx.export_onnx(net, path, opset=onnx.DEFAULT_OPSET if opset is None else opset,
                            tolerance=onnx.DEFAULT_TOLERANCE if tolerance is None else tolerance)


class DrawResult(NamedTuple):
    """What `draw` wrote: the picture's path, the model drawn and its network (None: cells only)."""

    path: Path
    model: Model
    network: Network | None


def draw(source: PathLike | Model, path: PathLike, *, fmt: str | None = None, overrides: Overrides = None,
         cells_only: bool = False) -> DrawResult:
    """Draw every cell template (edges labelled by op, choices listed) and, unless `cells_only`,
    the macro network, to `path` (svg | png | pdf | dot; default from the suffix). `source` is a
    .nas/.yaml file, a model file from `nasc compile` (.pt, imports torch) or a `Model`."""
    from nasc.analysis.elaborate import elaborate
    from nasc.export.viz import write_picture
    from nasc.ir.model import Model

    if isinstance(source, Model):
        model = source
    elif Path(source).suffix == ".pt":
        model = read_model(source)
    else:
        model = load(source, overrides)
    network = None if cells_only else elaborate(model)
    return DrawResult(write_picture(model, path, fmt, network), model, network)


# ---- runs: configs, training, search ----------------------------------------------------------


def load_config(path: PathLike | None = None, *, default: str = "train.yaml", sets: Sequence[str] = (),
                full: bool = False, values: Mapping[str, Any] | None = None) -> Any:
    """An experiment config: the file at `path` (else the shipped `default`), with `--full`, then
    `SECTION.KEY=VALUE` items `sets`, then `values` (dotted keys) applied, validated."""
    from nasc.resources import configs_dir
    from nasc.train.config import load_config as _load

    cfg_path: Path | None = Path(path) if path is not None else configs_dir() / default
    if path is None and not cfg_path.is_file():  # type: ignore[union-attr]
        cfg_path = None  # an installation without the shipped configs: schema defaults
    return _load(cfg_path, overrides=list(sets), full=full, values=dict(values or {}))


def create_run(config: Any, *, out: PathLike | None = None) -> RunDir:
    """A new run directory named after `config.run.name` (or exactly `out`) holding the config."""
    from nasc.train.rundir import RunDir

    run = RunDir.create(config.run.name, out=out)
    run.write_config(config)
    return run


def describe_event(event: Event) -> str | None:
    """One human line for a progress event (None for events too frequent to show)."""
    from nasc.train.rundir import describe_event as _describe

    return _describe(event)


def _absolute(path: PathLike) -> str:
    """`path` made absolute, links resolved where possible (a symlink loop stays as written, for
    the model file check to refuse with a clear message)."""
    try:
        return str(Path(path).resolve())
    except (RuntimeError, OSError):
        return os.path.abspath(path)


class TrainResult(NamedTuple):
    """A finished `train`: test metrics (`top1`, `top5`, `loss`), the run dir, the trained model."""

    test: dict[str, float]
    run_dir: Path
    model_path: Path
    outcome: Any = None  # the trainer's full `TrainOutcome`


def train(model: PathLike | None = None, *, config: PathLike | None = None, sets: Sequence[str] = (),
          values: Mapping[str, Any] | None = None, full: bool = False, out: PathLike | None = None,
          resume: PathLike | None = None, device: str | None = None,
          events: EventSink | None = None,
          on_run_dir: Callable[[Path], None] | None = None) -> TrainResult | None:
    """Train a model file (from `nasc compile`) with the evaluation recipe; write a run directory
    (config, logs, metrics, checkpoints) and the trained model as `RUN/model.pt`.

    The config is `config` (default: the shipped train.yaml) with `full`, `sets` and `values`
    applied; `resume` continues the run in that folder instead (its config is kept; `device` may
    change). `on_run_dir` learns the run folder as soon as it exists. Under torchrun every rank
    calls this; only the main one gets a result (the others get None).

    A failure before training starts (a bad model file, missing data) leaves no run folder
    behind; the run folder's lock is released however the call ends (Ctrl-C included).
    """
    opened: list[RunDir] = []
    try:
        return _train(model, config, sets, values, full, out, resume, device, events, on_run_dir, opened)
    finally:
        for run in opened:
            run.close()  # idempotent: a finished run is already closed


def _train(model: PathLike | None, config: PathLike | None, sets: Sequence[str],
           values: Mapping[str, Any] | None, full: bool, out: PathLike | None, resume: PathLike | None,
           device: str | None, events: EventSink | None, on_run_dir: Callable[[Path], None] | None,
           opened: list[RunDir]) -> TrainResult | None:
    """`train`'s body; every run folder it opens is appended to `opened` (closed by `train`)."""
    from nasc.analysis.cost import check_memory_limit
    from nasc.analysis.elaborate import elaborate
    from nasc.limits import max_memory as memory_limit
    from nasc.lower.artifact import load_module as _load, read_artifact, save_artifact
    from nasc.train.config import validate_config
    from nasc.train.datasets import load_dataset
    from nasc.train.distributed import setup
    from nasc.train.rundir import RunDir
    from nasc.train.runner import train_model

    name = ""
    run: RunDir | None
    if resume is not None:
        run = RunDir.open(resume)
        opened.append(run)
        raw = run.read_config()
        if device is not None:  # the device may change (e.g. resume a GPU run on the CPU)
            raw.setdefault("run", {})["device"] = device
        cfg = validate_config(raw)
        if model is None:
            if cfg.run.model is None:
                raise ConfigError("the run does not record its model file", key="run.model",
                                  hint="pass the model file: nasc train MODEL.pt --resume RUN")
            model = Path(cfg.run.model)
    else:
        if model is None:
            raise ConfigError("missing MODEL argument", key="MODEL",
                              hint="nasc train model.pt (compile one with `nasc compile`)")
        if is_genotype_source(model):  # compiled once into runs/genotypes/ (a resume finds it)
            model = _genotype_model_file(model)
        vals = {**dict(values or {}), "run.model": _absolute(model)}
        if device is not None:
            vals["run.device"] = device
        cfg = load_config(config, default="train.yaml", sets=sets, full=full, values=vals)
        name = cfg.run.name if cfg.run.name != "train" else f"train-{Path(model).stem}"
        run = None  # created below, once the model is known to load
    with memory_limit(cfg.run.max_memory, "run.max_memory"):
        artifact = read_artifact(model)
        # the training figure (weights, gradients, optimizer state, a batch of activations) is
        # checked on the analytic cost before any module or dataset is allocated
        check_memory_limit(elaborate(artifact.model), batch=cfg.data.batch_size, training=True,
                           key=str(model))
        module = _load(model)
    dist, _ = setup(cfg.run.device)
    with memory_limit(cfg.run.max_memory, "run.max_memory"):  # the dataset is checked against it too
        # loaded before the run folder exists, so that missing or bad data leaves none behind
        dataset = dist.agree(lambda: load_dataset(cfg.data.dataset, seed=cfg.run.seed,
                                                  train_size=cfg.data.train_size,
                                                  test_size=cfg.data.test_size,
                                                  image_size=cfg.data.image_size))
    if run is None:
        def create() -> RunDir:
            made = RunDir.create(name, out=out, enabled=dist.is_main)
            opened.append(made)
            made.write_config(cfg)
            return made

        # only rank 0 checks and writes the folder: if that fails, every rank must stop
        run = dist.agree(create)
        # every rank uses rank 0's folder (their clocks may name it a second apart)
        root = dist.all_gather_object(str(run.root))[0]
        if not dist.is_main:
            run = RunDir(Path(root), enabled=False)
    elif not dist.is_main:
        run = RunDir(run.root, enabled=False)
    if on_run_dir is not None:
        on_run_dir(run.root)
    run.info(f"model: {model}")
    with memory_limit(cfg.run.max_memory, "run.max_memory"):
        outcome = train_model(module, cfg, run=run, events=events, dataset=dataset)
    if not dist.is_main:
        dist.shutdown()
        return None
    out_path = run.root / "model.pt"
    meta = dict(artifact.meta)
    meta["trained"] = {"run": str(run.root), "dataset": cfg.data.dataset,
                       "epochs": cfg.trainer.epochs, "seed": cfg.run.seed,
                       "test_top1": outcome.test["top1"], "test_loss": outcome.test["loss"]}
    save_artifact(out_path, artifact.model, module, artifact.overrides, meta)
    run.info(f"trained model written to {out_path}")
    from nasc.search.pictures import pictures_or_note

    pictures_or_note(run)  # training curves: logged, never fatal
    run.close()
    dist.shutdown()
    return TrainResult(dict(outcome.test), run.root, out_path, outcome)


def search_names() -> list[str]:
    """The search algorithms `search` knows: built-ins in table order, then plugins by name."""
    from nasc.search.registry import search_names as _names

    return list(_names())


class SearchInfo(NamedTuple):
    """What the command line needs of a search algorithm: its one-line summary, its own flags
    (`nasc.search.strategy.Flag`: decls, config key, type, help), its shipped config, its origin."""

    name: str
    summary: str
    flags: tuple[Any, ...] = ()
    default_config: str | None = None
    origin: str = "built-in"


def search_info(name: str) -> SearchInfo:
    """Describe search algorithm `name` (imports its strategy; an unknown name is a `ConfigError`)."""
    from nasc.search.registry import entries, get_search

    strategy = get_search(name)
    return SearchInfo(name, strategy.summary, tuple(strategy.flags), strategy.default_config,
                      entries()[name].origin)


def check_search_launch(name: str) -> None:
    """Refuse a launch search `name` cannot run under (several torchrun processes for a search
    that runs in one), before anything is written."""
    from nasc.search.registry import get_search
    from nasc.search.scaffold import require_launch

    require_launch(get_search(name), f"nasc search {name}")


def load_search_config(name: str, path: PathLike | None = None, *, sets: Sequence[str] = (),
                       full: bool = False, values: Mapping[str, Any] | None = None) -> Any:
    """The experiment config of search `name`: `path`, or the algorithm's shipped default, with
    `full`, `SECTION.KEY=VALUE` items `sets` and `values` (dotted keys) applied."""
    from nasc.search.scaffold import load_search_config as _load

    return _load(name, path, overrides=list(sets), full=full, values=values)


def search(algorithm: str, space: PathLike, config: Any = None, *, overrides: Sequence[str] = (),
           full: bool = False, values: Mapping[str, Any] | None = None, out: PathLike | None = None,
           run: RunDir | None = None, events: EventSink | None = None) -> Any:
    """Search the space in `space` with `algorithm` (see `search_names`); returns its
    `SearchResult` (final network, genotype, output paths, summary lines).

    Without `run`, as `nasc search` does: `config` is a config file (default: the algorithm's
    shipped one) with `full`, `overrides` (`SECTION.KEY=VALUE`) and `values` applied, and a new
    run directory (`out`, or runs/NAME-TIME) is made. With `run` (`create_run`), `config` is an
    already loaded config (`load_search_config`) and the search writes into that run.
    """
    from nasc.search import scaffold

    if run is not None:
        return scaffold.run_search(algorithm, space, config, run=run, events=events)
    return scaffold.start_search(algorithm, space, config_path=config, overrides=list(overrides), full=full,
                                 values=values, out=out, events=events)


def resume_search(run_dir: PathLike, *, events: EventSink | None = None, device: str | None = None,
                  expect: str | None = None) -> Any:
    """Continue the killed search in `run_dir` where its checkpoint left it (`device` may change;
    `expect`, when given, must be the run's algorithm)."""
    from nasc.search.scaffold import resume_search as _resume

    return _resume(run_dir, events=events, device=device, expect=expect)


def search_next_step(result: Any) -> str | None:
    """The command the algorithm suggests running after its search `result`, if any."""
    from nasc.search.registry import get_search

    return get_search(result.algorithm).next_step(result)


def gallery_eval(run_dir: PathLike, *, cells: int | None = None, channels: int | None = None,
                 config: PathLike | None = None, overrides: Sequence[str] = (), full: bool = False,
                 values: Mapping[str, Any] | None = None, events: EventSink | None = None) -> Any:
    """Train the frontier models of a Petridish run (`gallery/`) at the given size with the
    evaluation recipe (`train.yaml`, or `config`), on the executor; returns the rows and the
    paths of `gallery-eval/results.csv`, `results.json` and the accuracy plot."""
    from nasc.search.gallery import evaluate_gallery

    return evaluate_gallery(run_dir, cells=cells, channels=channels, config_path=config,
                            overrides=list(overrides), full=full, values=dict(values or {}),
                            events=events)


def run_experiment(algorithm: str | None = None, space: PathLike | None = None, *,
                   config: PathLike | None = None, overrides: Sequence[str] = (), full: bool = False,
                   values: Mapping[str, Any] | None = None, cells: int | None = None,
                   channels: int | None = None, eval_config: PathLike | None = None,
                   eval_overrides: Sequence[str] = (), out: PathLike | None = None,
                   resume: PathLike | None = None, events: EventSink | None = None) -> Any:
    """`nasc run`: search, derive, scale up, compile with the eval passes and train with the eval
    recipe as one resumable experiment (`search/`, `model.pt`, `eval/`, `summary.md`); with
    `resume`, continue the experiment in that folder (see `nasc.experiment`)."""
    from nasc.experiment import run_experiment as _run

    return _run(algorithm, space, config=config, overrides=list(overrides), full=full,
                values=dict(values or {}), cells=cells, channels=channels, eval_config=eval_config,
                eval_overrides=list(eval_overrides), out=out, resume=resume, events=events)


# ---- sweep: one network over ranges of its macro skeleton --------------------------------------


def sweep(source: PathLike | Model, *, cells: str | int | Sequence[int] | None = None,
          reductions: str | int | Sequence[int] | None = None, nodes: str | int | Sequence[int] | None = None,
          channels: str | int | Sequence[int] | None = None, overrides: Overrides = None,
          latency: bool = False, device: str | None = None, repeat: int = 20, threads: int | None = None,
          train: bool = False, config: PathLike | None = None, sets: Sequence[str] = (), full: bool = False,
          values: Mapping[str, Any] | None = None, executor: str | None = None, x: str = "macs",
          y: str | None = None, csv: PathLike | None = None, json: PathLike | None = None,
          plot: PathLike | None = None, log: bool = False, events: EventSink | None = None) -> SweepResult:
    """Measure the network (or search space) in `source` over a grid of macro skeletons.

    Each axis is `"A:B"` (inclusive), `"A:B:STEP"`, `"16,36"`, one value or a sequence; None keeps
    the file's own: `cells` and `channels` (the `scale-up` pass), `reductions` (a count, placed
    evenly), `nodes` (the `nodes` pass). Every point gets exact params, MACs and activation memory
    (torch-free); `latency` adds the measured batch-1 forward (`device`, `repeat`, `threads`);
    `train` trains each network with the toy trainer config of random search (`config`, `sets`,
    `full`, `values`; `executor` inline | ray) and adds accuracy and error. Invalid points are
    `skipped` rows, failed trainings `failed` rows. The front is over `x` and `y`; `csv`, `json`
    and `plot` (.png/.svg/.pdf) are written. Returns `nasc.search.sweep.SweepResult`.
    """
    from nasc.ir.model import Model
    from nasc.search.sweep import parse_axis, run_sweep, write_outputs

    axes = {name: parse_axis(value, name) for name, value in
            (("cells", cells), ("reductions", reductions), ("nodes", nodes), ("channels", channels))}
    model = source if isinstance(source, Model) else load(source, overrides)
    measure = None
    if latency:
        from nasc.train.distributed import resolve_device

        measure = {"device": resolve_device(device or "cpu"), "repeat": repeat, "threads": threads}
    cfg = None
    if train:
        vals = dict(values or {})
        if executor is not None:
            vals["search.executor.kind"] = executor
        if device is not None:
            vals["run.device"] = device
        cfg = load_search_config("random", config, sets=sets, full=full, values=vals)
    elif config is not None or sets or full or values or executor is not None:
        raise ConfigError("a training config only applies when training (--train)", key="--train",
                          hint="add --train, or drop --config / SECTION.KEY=VALUE sets / --executor")
    result = run_sweep(model, **axes, latency=measure, train=cfg, x=x, y=y, events=events,
                       source=None if isinstance(source, Model) else str(source))
    return write_outputs(result, csv=csv, json=json, plot=plot, log=log)


# ---- plugins ----------------------------------------------------------------------------------

#: plugin group of each kind `plugins` lists
_GROUPS = {"op": "nasc.ops", "pass": "nasc.passes", "search": "nasc.searches", "dataset": "nasc.datasets"}


class PluginInfo(NamedTuple):
    """One op, pass, search algorithm or dataset nasc knows, and where it comes from: `built-in`,
    `stdlib:<file>` (ops written in nasc) or the distribution of the plugin that adds it."""

    kind: str
    name: str
    origin: str
    target: str | None = None
    error: str | None = None  # why a plugin could not be registered


def _registered(kind: str) -> dict[str, str]:
    """The names a registry knows (built-ins and plugins), each with its origin."""
    if kind == "op":
        from nasc.ops.registry import primitive_origins

        return primitive_origins()
    if kind == "pass":
        from nasc.passes.registry import pass_origins

        return pass_origins()
    if kind == "search":
        from nasc.search.registry import entries

        return {name: e.origin for name, e in entries().items()}
    from nasc.train.datasets import dataset_entries

    return {e.name: e.source for e in dataset_entries()}


def _stdlib_ops() -> list[PluginInfo]:
    """The composite ops of the shipped op libraries (`stdlib_ops/*.nas`)."""
    from nasc.frontend import load_library
    from nasc.ir.model import LOCAL_MODULE
    from nasc.resources import stdlib_dir

    out = []
    for lib in sorted(stdlib_dir().glob("*.nas")):
        out += [PluginInfo("op", d.name, f"stdlib:{lib.name}") for d in load_library(lib)
                if d.module == LOCAL_MODULE]
    return out


def plugins() -> list[PluginInfo]:
    """Every op, pass, search algorithm and dataset nasc can use, with its origin: `built-in`, a
    shipped op library (`stdlib:std.nas`), or the plugin distribution whose entry point adds it
    (`target` is then the entry point's `module:attr`). A plugin that fails to load raises
    `ConfigError` naming it, except a dataset plugin: it is listed with its `error`."""
    from nasc.plugins import all_entry_points

    entries: dict[str, list[PluginEntry]] = all_entry_points()
    out: list[PluginInfo] = []
    for kind, group in _GROUPS.items():
        targets = {e.name: e.target for e in entries.get(group, [])}
        origins = _registered(kind)
        for name, origin in origins.items():
            out.append(PluginInfo(kind, name, origin, None if origin == "built-in" else targets.get(name)))
        if kind == "op":
            out += _stdlib_ops()
    from nasc.train.datasets import plugin_errors

    broken = {e.name: e for e in entries.get(_GROUPS["dataset"], [])}
    for name, err in plugin_errors().items():
        e = broken.get(name)
        out.append(PluginInfo("dataset", name, (e.distribution if e else None) or "unknown package",
                              e.target if e else None, err.message))
    return out


# ---- import: networks from DARTS genotypes, Archai descriptions and NAS-Bench-201 strings ------

#: a source argument that starts with this is a genotype, not a file (`nasc viz "genotype:..."`)
GENOTYPE_PREFIX = "genotype:"


class ImportResult(NamedTuple):
    """An imported network: the model, the `.nas` text written to `path` (None: not written), its
    DARTS genotype (genotype and Archai imports) or its NAS-Bench-201 string (`arch`)."""

    model: Model
    text: str
    path: Path | None = None
    genotype: str | None = None
    arch: str | None = None


def is_genotype_source(source: object) -> bool:
    """Whether a source argument is `genotype:Genotype(...)` rather than a path."""
    return isinstance(source, (str, os.PathLike)) and os.fspath(source).startswith(GENOTYPE_PREFIX)


def _genotype_source(source: PathLike, overrides: Overrides = None) -> Model:
    """The network of a `genotype:` source on the DARTS CIFAR skeleton, with param overrides
    (`--set C=16`) applied and verified - what `load` gives for a file."""
    from nasc.frontend import apply_overrides
    from nasc.search.genotype_import import import_genotype as _import, verified

    model = _import(os.fspath(source)[len(GENOTYPE_PREFIX):])
    return verified(apply_overrides(model, _overrides(overrides)))


def _genotype_model_file(source: PathLike) -> Path:
    """`nasc train genotype:...`: the genotype's network compiled with the evaluation passes (drop
    path marked) into `runs/genotypes/<hash>.pt`, named by the genotype so that a resumed run
    finds the same file (and the same weights: the compile seed is fixed)."""
    import hashlib

    path = Path("runs") / "genotypes" / (hashlib.sha256(os.fspath(source).encode()).hexdigest()[:16] + ".pt")
    if not path.is_file():
        save_model(compile(source, drop_path=True), path, {"genotype": os.fspath(source)[len(GENOTYPE_PREFIX):]})
    return path


def _write_import(model: Model, out: PathLike | None, header: Sequence[str]) -> tuple[str, Path | None]:
    from nasc.atomic import atomic_write_text

    text = "".join(f"# {line}\n" for line in header) + to_nas(model)
    if out is None:
        return text, None
    try:
        return text, atomic_write_text(out, text)
    except OSError as e:
        raise NascError(f"cannot write {out}: {e.strerror or e}") from None


def import_genotype(genotype: str, *, space: PathLike | Model | None = None, imagenet: bool = False,
                    name: str | None = None, out: PathLike | None = None) -> ImportResult:
    """The discrete network of a DARTS / pt.darts `Genotype(...)` string (a leading `genotype:`
    is allowed) on the macro skeleton of `space` (a space or network file, or a `Model`), else the
    DARTS CIFAR evaluation network (20 cells, C=36, aux tower) or, with `imagenet`, the mobile
    ImageNet one (14 cells, C=48); written as `.nas` to `out` when given (atomically).
    `result.genotype` is `to_genotype` of the network: the same genotype, in pt.darts' form."""
    from nasc.ir.model import Model as _Model
    from nasc.search.genotype import to_genotype
    from nasc.search.genotype_import import import_genotype as _import

    text = genotype[len(GENOTYPE_PREFIX):] if genotype.startswith(GENOTYPE_PREFIX) else genotype
    base = space if isinstance(space, _Model) or space is None else load(space)
    model = _import(text, space=base, imagenet=imagenet, name=name)
    back = to_genotype(model)
    where = "" if space is None or isinstance(space, _Model) else f" on the skeleton of {space}"
    nas, path = _write_import(model, out, [f"imported by `nasc import genotype`{where}:", back])
    return ImportResult(model, nas, path, genotype=back)


def import_archai(path: PathLike, *, name: str | None = None, out: PathLike | None = None) -> ImportResult:
    """The network of an Archai model description (`final_model_desc.yaml`), read without
    constructing any of its Python-tagged objects (see `nasc.search.archai_import`); written as
    `.nas` to `out` when given. `result.genotype` is the genotype of its cells."""
    from nasc.frontend import read_text
    from nasc.search.archai_import import import_archai as _import

    file = str(path)
    imported = _import(read_text(file), file, name=name)
    nas, written = _write_import(imported.model, out, [f"imported by `nasc import archai` from {file}:",
                                                        imported.genotype])
    return ImportResult(imported.model, nas, written, genotype=imported.genotype)


def import_nb201(arch: str, *, space: PathLike | Model | None = None,
                 out: PathLike | None = None) -> ImportResult:
    """The network of a NAS-Bench-201 architecture string (`|nor_conv_3x3~0|+|...|`) on the NB201
    macro skeleton (`examples/nb201_space.nas`; or `space`'s), parameter-exact to the benchmark's
    own builder; written as `.nas` to `out` when given. `result.arch` is `nb201_arch` of it."""
    from nasc.ir.model import Model as _Model
    from nasc.search.nb201 import arch_string, from_arch

    base = space if isinstance(space, _Model) or space is None else load(space)
    model = from_arch(arch, base)
    back = arch_string(model)
    nas, path = _write_import(model, out, ["imported by `nasc import nb201`:", back])
    return ImportResult(model, nas, path, arch=back)


def nb201_arch(source: PathLike | Model) -> str:
    """The NAS-Bench-201 string of a network's cell (`none` for absent edges): what names a
    derived NB201 cell and keys `nb201_lookup`."""
    from nasc.ir.model import Model as _Model
    from nasc.search.nb201 import arch_string

    return arch_string(source if isinstance(source, _Model) else load(source))


def nb201_lookup(benchmark: PathLike, arch: str, *, dataset: str = "cifar10", metric: str = "test",
                 hp: str = "200") -> float | None:
    """The benchmark accuracy (%) of NB201 string `arch` in a local benchmark file (None: not
    listed). See `nasc.search.nb201_bench` for the accepted formats."""
    from nasc.search.nb201_bench import lookup

    return lookup(benchmark, arch, dataset=dataset, metric=metric, hp=hp)


__all__ += ["GENOTYPE_PREFIX", "ImportResult", "import_archai", "import_genotype", "import_nb201",
            "is_genotype_source", "nb201_arch", "nb201_lookup"]


# ---- run pictures and reports ------------------------------------------------------------------


def plot_run(run_dir: PathLike) -> Any:
    """(Re)draw the pictures of the run in `run_dir` into `run_dir/pictures/` from its files:
    training curves, for a differentiable search the mixing-weight heatmaps per epoch with their
    GIF and the derived cells per epoch, for a random search accuracy against cost with the front.
    Returns a `nasc.search.pictures.RunPictures` (`paths`: the files; `skipped`: what was not drawn
    and why). Raises `ConfigError` when `run_dir` is not a run directory."""
    from nasc.search.pictures import write_run_pictures

    return write_run_pictures(run_dir)


def report(run_dirs: Sequence[PathLike], out: PathLike = "report") -> Any:
    """Compare finished runs (seeds, methods): `report.md` (final figures per run, mean / std /
    min / max per algorithm, the distinct derived architectures), `curves.png|svg` (mean line and
    std band per algorithm) and `report.json` in `out`. Returns a `nasc.search.report.Report`."""
    from nasc.search.report import build_report

    return build_report(list(run_dirs), out)


__all__ += ["plot_run", "report"]


# ---- discoverability: ops and configs -----------------------------------------------------------

class OpInfo(NamedTuple):
    """One op `nasc ops` lists: a primitive (with its exact cost formulas) or a composite written in
    nasc (with its definition), its parameters and where it is defined."""

    name: str
    kind: str           # "primitive" or "composite"
    params: str         # e.g. "out=C_out, k, stride=1, pad=0, dilation=1, groups=1, bias=false"
    origin: str         # "built-in", a plugin's distribution, or `std.nas:17`
    detail: str         # the cost formulas, or the definition as nasc prints it
    doc: str | None = None


def _primitive_params(prim: Any) -> str:
    parts = []
    for name, f in prim.Params.model_fields.items():
        if name in prim.context_defaults:
            parts.append(f"{name}={prim.context_defaults[name]}")
        elif f.is_required():
            parts.append(name)
        else:
            d = f.get_default(call_default_factory=True)
            parts.append(f"{name}={str(d).lower() if isinstance(d, bool) else d}")
    return ", ".join(parts)


def ops(library: PathLike | None = None) -> list[OpInfo]:
    """Every op nasc knows: the primitives, then the composites of the shipped libraries
    (`stdlib_ops/*.nas`); with `library` (a name such as `std`, or a `.nas` path), only that
    library's own ops. Torch-free."""
    from nasc.frontend import load_library
    from nasc.frontend.imports import import_path
    from nasc.ir.expr import format_expr
    from nasc.ir.model import LOCAL_MODULE
    from nasc.ir.printer import print_library
    from nasc.ops.registry import primitive_origins, primitive_table
    from nasc.resources import stdlib_dir

    out: list[OpInfo] = []
    if library is None:
        origins = primitive_origins()
        for name, prim in primitive_table().items():
            doc = (type(prim).__doc__ or "").strip().splitlines()
            out.append(OpInfo(name, "primitive", _primitive_params(prim), origins[name], prim.cost,
                              doc[0] if doc else None))
        libs = sorted(stdlib_dir().glob("*.nas"))
    else:
        text = str(library)
        found = import_path(text, None) if not text.endswith(".nas") else Path(text)
        if found is None or not Path(found).is_file():
            raise ConfigError(f"no op library `{library}`", key="LIB",
                              hint="a shipped library name (std, nb201) or a .nas file")
        libs = [Path(found)]
    for lib in libs:
        for d in load_library(lib):
            if d.module != LOCAL_MODULE:
                continue
            params = ", ".join(p.name if p.default is None else f"{p.name}={format_expr(p.default)}"
                               for p in d.params)
            line = f":{d.span.line}" if d.span is not None else ""
            body = print_library((), (d.model_copy(update={"doc": None}),)).strip()
            out.append(OpInfo(d.name, "composite", params, f"{lib.name}{line}", body, d.doc))
    return out


def config_show(kind: str, name: str | None = None, *, full: bool = False) -> list[tuple[str, Any, str]]:
    """The fully resolved default config of `train`, or of `search NAME` (its shipped file with
    `full` applied when asked), as (dotted key, value, description) rows, every key included."""
    from pydantic import BaseModel

    if kind == "train":
        cfg = load_config(None, default="train.yaml", full=full)
    elif kind == "search":
        if name is None:
            raise ConfigError("`config show search` needs the algorithm", key="NAME",
                              hint=f"one of: {', '.join(search_names())}")
        cfg = load_search_config(name, full=full)
    else:
        raise ConfigError(f"unknown config kind `{kind}`", key="KIND", hint="train or search")
    rows: list[tuple[str, Any, str]] = []

    def walk(model: BaseModel, prefix: str) -> None:
        for key, f in type(model).model_fields.items():
            value = getattr(model, key)
            dotted = f"{prefix}{key}"
            if isinstance(value, BaseModel):
                walk(value, dotted + ".")
            else:
                rows.append((dotted, value.model_dump(mode="json") if hasattr(value, "model_dump")
                             else value, f.description or ""))

    walk(cfg, "")
    return rows
