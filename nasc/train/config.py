"""Experiment configs: YAML with `include:` inheritance, dotted overrides, toy/full modes, pydantic schema.

Usage:
    from nasc.train.config import load_config, register_section
    cfg = load_config("examples/configs/train.yaml", overrides=["trainer.epochs=50"], full=False)
    cfg.trainer.epochs, cfg.optimizer.lr, cfg.data.dataset
    cfg.model_dump(mode="json")          # the resolved config, as written to a run's config.yaml

File format:
- Every file (and every `include:`d file) is read by `nasc.yamlio.load_yaml`: safe tags only,
  alias bombs, deep nesting and oversized files refused, duplicate keys refused at the second
  key, merge keys (`<<: *base`) honoured; each error is a `ConfigError` at file:line:col.
- `include: base.yaml` (or a list) merges the named files first (paths relative to the including
  file; later files and the including file win; mappings merge deeply, everything else replaces).
  Include cycles are reported with the chain of files.
- `full:` is an overlay with the paper's settings: `load_config(..., full=True)` (`--full`) merges it
  over the rest; otherwise it is dropped. Configs are toy-sized by default so every command finishes
  in about a minute on a laptop CPU.
- Overrides `section.key=value` (`--set`) are parsed by `nasc.overrides.parse_overrides`: the
  value is a YAML scalar/flow value (`trainer.epochs=50`, `optimizer.betas=[0.5,0.999]`,
  `trainer.grad_clip=null`).
- Relative data paths in values are relative to the working directory.

Schema: top-level sections are pydantic models registered by name (`run`, `data`, `trainer`,
`optimizer`, `schedule`, `search`). Other modules add theirs with `register_section("search.darts",
DartsSection)` (a dotted name nests it in an existing section); every field of a registered section
needs a default. Unknown keys are rejected with a did-you-mean hint, the dotted key and the YAML
file:line:col of the offending key (`ConfigError`; several at once as `Diagnostics`).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic import ValidationError as PydanticValidationError

from nasc.errors import ConfigError, did_you_mean, raise_all
from nasc.limits import (MAX_BATCH, MAX_DATASET_SIZE, MAX_EPOCHS, MAX_IMAGE_SIDE, MAX_LR, MAX_SEED,
                         MAX_SOURCE_BYTES, MAX_THREADS, parse_size, read_file_bytes)
from nasc.overrides import parse_overrides
from nasc.source import Span
from nasc.yamlio import load_yaml

KeyPath = tuple[str | int, ...]


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected."""

    # inf/nan are never a setting (`lr: 1e400` reads as inf): refused like any bad value
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RunSection(Section):
    """Run identity and environment."""

    name: str = Field("train", description="the run folder's name prefix (runs/NAME-TIME)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seeds every generator (a 64-bit seed)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    threads: int | None = Field(None, ge=1, le=MAX_THREADS,
                                description="torch intra-op threads (None: torch default)")
    model: str | None = Field(None, description="model file being trained (recorded for --resume)")
    max_memory: int | str | None = Field(
        None, description="memory a network may need, bytes or e.g. 64G (None: NASC_MAX_MEMORY, else "
                          "the machine's); networks over it are refused before they are built")

    @field_validator("max_memory")
    @classmethod
    def _memory_size(cls, v: int | str | None) -> int | str | None:
        if v is not None:
            try:
                parse_size(v, "run.max_memory")
            except ConfigError as e:
                raise ValueError(e.message) from None
        return v


class AugmentSection(Section):
    """On-device augmentation of training batches (DARTS: crop 4, flip, cutout 16)."""

    crop_padding: int = Field(4, ge=0, description="random crop after zero padding; 0 disables")
    flip: bool = Field(True, description="random horizontal flips")
    cutout: int = Field(0, ge=0, description="side of the cutout square; 0 disables")


class DataSection(Section):
    """Dataset, sizes and batching."""

    dataset: str = Field("builtin", description="builtin | cifar10:PATH | cifar100:PATH | mnist:PATH | "
                                                "fashion_mnist:PATH | folder:PATH | a plugin's NAME[:PATH]")
    train_size: int | None = Field(None, ge=1, le=MAX_DATASET_SIZE,
                                   description="builtin: images generated (5000); files: cap")
    test_size: int | None = Field(None, ge=1, le=MAX_DATASET_SIZE,
                                  description="builtin: images generated (1000); files: cap")
    image_size: int | None = Field(None, ge=1, le=MAX_IMAGE_SIDE,
                                   description="folder datasets: resize to this square size")
    batch_size: int = Field(32, ge=1, le=MAX_BATCH, description="global batch (split over DDP ranks)")
    eval_batch_size: int = Field(256, ge=1, le=MAX_BATCH, description="batch size of evaluation")
    drop_last: bool = Field(True, description="drop the last incomplete training batch of an epoch")
    augment: AugmentSection = Field(default_factory=AugmentSection)


class TrainerSection(Section):
    """The training loop (defaults: the DARTS evaluation recipe, toy-sized)."""

    epochs: int = Field(3, ge=0, le=MAX_EPOCHS, description="training epochs")
    grad_clip: float | None = Field(5.0, gt=0, description="clip the gradient norm of the weights "
                                                            "to this (null: no clipping)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the loss")
    aux_weight: float | None = Field(None, ge=0, description="loss weight of the aux head; null: the "
                                     "model's own (the source's `aux ... weight W`), a number overrides it")
    drop_path_prob: float = Field(0.2, ge=0, lt=1, description="final drop-path probability (rises "
                                                                   "linearly from 0 over training)")
    checkpoint_cells: bool = Field(False, description="activation checkpointing per cell (recompute "
                                                      "each cell in the backward: less memory, slower)")
    amp: bool = Field(False, description="mixed precision (autocast)")
    amp_dtype: Literal["auto", "bf16", "fp16"] = Field(
        "auto", description="autocast type: auto (bf16 on CPU, fp16 with a grad scaler on GPU)")
    eval_every: int = Field(1, ge=1, description="evaluate every N epochs (and after the last)")
    checkpoint_every_steps: int = Field(0, ge=0, description="also checkpoint every N steps; 0: per epoch")
    log_every_steps: int = Field(10, ge=1, description="progress line every N steps")
    tensorboard: bool = Field(True, description="write TensorBoard scalars under tb/")
    ddp_find_unused: bool = Field(False, description="DDP find_unused_parameters (an aux head "
                                                                 "unused in eval)")


class OptimizerSection(Section):
    """A torch optimizer: `sgd` (momentum, nesterov) or `adam`/`adamw` (betas, eps)."""

    name: Literal["sgd", "adam", "adamw"] = Field("sgd", description="sgd | adam | adamw")
    lr: float = Field(0.025, gt=0, le=MAX_LR, description="learning rate")
    momentum: float = Field(0.9, ge=0, description="SGD momentum")
    nesterov: bool = Field(False, description="SGD with Nesterov momentum")
    weight_decay: float = Field(3e-4, ge=0, description="L2 weight decay")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon")


class ScheduleSection(Section):
    """Learning-rate schedule with linear warmup (see `nasc.train.schedule`)."""

    name: Literal["cosine", "step", "multistep", "constant"] = Field(
        "cosine", description="cosine | step | multistep | constant")
    interval: Literal["epoch", "step"] = Field("epoch", description="update the lr per epoch or per step")
    min_lr: float = Field(0.0, ge=0, description="cosine: final lr")
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up of the learning rate")
    warmup_start_factor: float = Field(0.0, ge=0, le=1, description="lr at step 0 = factor * lr")
    step_size: int = Field(30, ge=1, description="step: epochs between decays")
    milestones: tuple[int, ...] = Field((), description="multistep: epochs at which to decay")
    gamma: float = Field(0.1, gt=0, description="step / multistep: decay factor")


class SearchSection(Section):
    """Settings shared by search algorithms; algorithms register their own sub-sections."""

    val_fraction: float = Field(0.5, gt=0, lt=1, description="part of the training set held out "
                                                                   "for architecture updates")
    benchmark: str | None = Field(None, description="a NAS-Bench-201 data file: the true accuracy of "
                                                    "every derived cell is looked up in it")
    benchmark_dataset: str = Field("cifar10", description="the benchmark's dataset: cifar10 | "
                                                          "cifar10-valid | cifar100 | ImageNet16-120")


_SECTIONS: dict[str, type[BaseModel]] = {
    "run": RunSection,
    "data": DataSection,
    "trainer": TrainerSection,
    "optimizer": OptimizerSection,
    "schedule": ScheduleSection,
    "search": SearchSection,
}
_model_cache: type[BaseModel] | None = None


def register_section(name: str, model: type[BaseModel]) -> None:
    """Add a config section: `name` is top-level (`"darts"`) or dotted (`"search.darts"`).

    Re-registering the same model under the same name is a no-op; every field needs a default.
    """
    global _model_cache
    if _SECTIONS.get(name) is model:
        return
    parent = name.rpartition(".")[0]
    if parent and parent not in _SECTIONS:
        raise ValueError(f"cannot register `{name}`: section `{parent}` does not exist")
    _SECTIONS[name] = model
    _model_cache = None


def registered_sections() -> dict[str, type[BaseModel]]:
    """A copy of the section registry (dotted name -> model)."""
    return dict(_SECTIONS)


def _section_model(name: str) -> type[BaseModel]:
    """The section model with its registered children added as fields."""
    base = _SECTIONS[name]
    children = {
        key.rpartition(".")[2]: key for key in _SECTIONS if key.rpartition(".")[0] == name
    }
    if not children:
        return base
    fields: dict[str, Any] = {}
    for field, key in children.items():
        sub = _section_model(key)
        fields[field] = (sub, Field(default_factory=sub))
    return create_model(base.__name__, __base__=base, **fields)  # type: ignore[call-overload]


def experiment_model() -> type[BaseModel]:
    """The root config model built from the registered sections (cached until one is added)."""
    global _model_cache
    if _model_cache is None:
        fields: dict[str, Any] = {}
        for name in _SECTIONS:
            if "." in name:
                continue
            sub = _section_model(name)
            fields[name] = (sub, Field(default_factory=sub))
        _model_cache = create_model(  # type: ignore[call-overload]
            "ExperimentConfig", __base__=Section, **fields)
    return _model_cache


# ----------------------------------------------------------------------------------- YAML loading

class RawConfig:
    """A merged, not yet validated config: the data and where each key came from."""

    def __init__(self, data: dict[str, Any] | None = None,
                 locations: dict[KeyPath, Span | None] | None = None) -> None:
        self.data: dict[str, Any] = data if data is not None else {}
        # None marks a key set from the command line: it has no file position, and lookups for
        # keys below it must not fall back to an enclosing section of some file
        self.locations: dict[KeyPath, Span | None] = locations if locations is not None else {}

    def merge(self, other: RawConfig) -> None:
        """Deep-merge `other` over this config (its values and locations win)."""
        self.data = deep_merge(self.data, other.data)
        self.locations.update(other.locations)

    def span(self, path: KeyPath) -> Span | None:
        """The location of `path`, or of its nearest ancestor that has one."""
        for n in range(len(path), 0, -1):
            key = tuple(path[:n])
            if key in self.locations:
                return self.locations[key]
        return None


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: `over` merged into `base`; nested mappings merge, other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path,
               from_span: Span | None) -> tuple[dict[str, Any], dict[KeyPath, Span | None]]:
    """One config file's data and the span of every key, read by the guarded loader."""
    try:  # a regular file of bounded size: a device or FIFO (also behind a link) is refused unread
        text = read_file_bytes(path, max_bytes=MAX_SOURCE_BYTES, what="config file", error=ConfigError,
                               span=from_span, key=None if from_span else str(path)).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file `{path}` not found", span=from_span,
                          hint="paths in `include:` are relative to the including file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config file `{path}`: {exc}", span=from_span) from None
    data, positions = load_yaml(text, str(path), error=ConfigError)
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError("a config file must be a mapping of sections", span=Span(
            file=str(path), line=1, col=1), hint="start with e.g. `trainer:` on its own line")
    locations: dict[KeyPath, Span | None] = {path_: span for path_, span in positions.items() if path_}
    return data, locations


def read_config_file(path: str | Path, _stack: tuple[Path, ...] = (),
                     _from: Span | None = None) -> RawConfig:
    """Read one YAML config and everything it includes, merged (no validation, `full:` kept)."""
    try:
        path = Path(path).resolve()
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
        raise ConfigError(f"cannot read config file `{path}`: a symlink loop", span=_from,
                          key=None if _from else str(path)) from None
    if path in _stack:
        chain = " -> ".join(p.name for p in (*_stack, path))
        raise ConfigError(f"include cycle: {chain}", span=_from,
                          hint="remove one of the `include:` entries")
    data, locations = _read_yaml(path, _from)
    includes = data.pop("include", None)
    merged = RawConfig()
    if includes is not None:
        items = includes if isinstance(includes, list) else [includes]
        for i, item in enumerate(items):
            where = locations.get(("include", i) if isinstance(includes, list) else ("include",))
            if not isinstance(item, str):
                raise ConfigError("`include:` takes a file name or a list of file names",
                                  span=where, key="include")
            merged.merge(read_config_file(path.parent / item, (*_stack, path), where))
    locations = {k: v for k, v in locations.items() if k[:1] != ("include",)}
    merged.merge(RawConfig(data, locations))
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b.c=value` into the dotted key and the value typed by YAML (`nasc.overrides`)."""
    return parse_overrides([text], flag="--set")[0]


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set `data[a][b][c] = value` for `key = "a.b.c"`, creating mappings on the way."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set `{key}`: `{'.'.join(parts[:i + 1])}` is not a section",
                              key=key)
        node = nxt
    node[parts[-1]] = value


def resolve_config(path: str | Path | None, *, overrides: Sequence[str] = (), full: bool = False,
                   values: Mapping[str, Any] | None = None) -> RawConfig:
    """Read `path` (None: empty), apply the `full:` overlay when asked, then `overrides`
    (`"k=v"` strings) and `values` (dotted key -> value, e.g. from CLI flags), in that order."""
    raw = read_config_file(path) if path is not None else RawConfig()
    overlay = raw.data.pop("full", None)
    full_locs = {k[1:]: v for k, v in raw.locations.items() if k[:1] == ("full",) and len(k) > 1}
    raw.locations = {k: v for k, v in raw.locations.items() if k[:1] != ("full",)}
    if overlay is not None and not isinstance(overlay, dict):
        raise ConfigError("`full:` must be a mapping of sections", key="full")
    if full and overlay:
        raw.merge(RawConfig(overlay, full_locs))
    pairs = parse_overrides(overrides, flag="--set") + list((values or {}).items())
    for key, value in pairs:
        set_dotted(raw.data, key, value)
        path = tuple(key.split("."))
        raw.locations = {k: v for k, v in raw.locations.items() if k[:len(path)] != path}
        raw.locations[path] = None
    return raw


def _loc_key(loc: Sequence[Any]) -> KeyPath:
    # pydantic appends the variant name to tuple/union errors; keep only keys and indices
    return tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-",)))


def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """Field names of the section at `path` of `model` (empty when `path` is not a section)."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = fields[part].annotation
    return list(getattr(current, "model_fields", {}) or {})


def validate_config(raw: RawConfig | Mapping[str, Any]) -> BaseModel:
    """Validate a merged config against the registered sections; `ConfigError`/`Diagnostics`."""
    if not isinstance(raw, RawConfig):
        raw = RawConfig(dict(raw))
    model = experiment_model()
    try:
        return model.model_validate(raw.data)
    except PydanticValidationError as exc:
        errors: list[ConfigError] = []
        for err in exc.errors():
            path = _loc_key(err["loc"])
            dotted = ".".join(str(p) for p in path)
            span = raw.span(path)
            if err["type"] == "extra_forbidden":
                name = str(path[-1])
                candidates = _fields_at(model, path[:-1])
                hint = did_you_mean(name, candidates)
                if hint is None and candidates:
                    hint = "known keys: " + ", ".join(candidates)
                errors.append(ConfigError(f"unknown key `{dotted}`", span=span, key=dotted, hint=hint))
            else:
                got = err.get("input")
                shown = "" if isinstance(got, (dict, list)) else f" (got {_brief(got)})"
                errors.append(ConfigError(f"`{dotted}`: {err['msg']}{shown}", span=span, key=dotted))
        raise_all(errors)
        raise AssertionError("unreachable") from exc


def _brief(value: Any) -> str:
    """A bad value for an error message: huge numbers as a power of ten, long text cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"~10^{len(str(abs(value))) - 1}" if abs(value) < 10**4000 else "a huge integer"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_config(path: str | Path | None, *, overrides: Sequence[str] = (), full: bool = False,
                values: Mapping[str, Any] | None = None) -> Any:
    """Read, merge, override and validate a config; returns the root config model instance."""
    return validate_config(resolve_config(path, overrides=overrides, full=full, values=values))


def config_to_yaml(config: BaseModel) -> str:
    """The resolved config as YAML (what a run directory stores as `config.yaml`)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
