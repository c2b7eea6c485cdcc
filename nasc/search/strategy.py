"""What a search algorithm provides: the `SearchStrategy` interface, and what it gets and returns.

A search algorithm is one module with one `SearchStrategy` subclass, registered by name in
`nasc.search.registry` (or by a plugin's `nasc.searches` entry point). The run layer
(`nasc.search.scaffold`) does everything algorithms share: loading and preparing the space, the
run directory and its provenance, the run-log header, resume, the job executor, and the outputs
(`final.nas`, `final.yaml`, `genotype.txt`, `provenance.json`, the cell picture). The strategy
does only what is its own:

    class Evolution(SearchStrategy):
        name = "evolution"
        section = EvolutionSection          # validated as `search.evolution` in the config
        summary = "regularized evolution"
        def search(self, ctx: SearchContext) -> SearchOutcome:
            ...  # propose candidates, train them (ctx.executor(), ctx.checkpoint), decide
            return SearchOutcome(final=best_network, genotype=to_genotype(best_network), ...)

Steps, as the scaffold calls them: `prepare(space, config)` (the space at search size; default:
the section's `params` overrides, then `cells`/`channels` scale-up), then `search(ctx)` (propose
or train candidates, decide, derive: returns the final network and what to record). A strategy
checkpoints its own loop under its `name` in `ctx.checkpoint` so a killed run resumes; the
scaffold resumes everything else.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nasc.ir.model import Model

if TYPE_CHECKING:
    from nasc.search.executor import Executor
    from nasc.train.checkpoint import Checkpoint
    from nasc.train.distributed import DistContext
    from nasc.train.events import EventSink
    from nasc.train.rundir import RunDir


@dataclass(frozen=True)
class Flag:
    """A command-line flag of `nasc search NAME` that sets one config key of the strategy."""

    decls: tuple[str, ...]      # e.g. ("--trials",) or ("--first-order/--second-order",)
    key: str                    # dotted config key it sets, e.g. "search.random.trials"
    type: type                  # int, float, str or bool
    help: str
    # bool flags with two spellings map True/False to these config values
    values: tuple[Any, Any] | None = None


@dataclass
class SearchContext:
    """What a strategy's `search` gets from the run layer."""

    name: str
    space: Model                # prepared: at search size, params applied
    config: Any                 # the validated experiment config
    run: RunDir
    source: str                 # where the space came from (for headers and provenance)
    events: EventSink           # progress events (the CLI renders them; the run log records them)
    checkpoint: Checkpoint      # the run's nested-loop checkpoint (key your loop by `name`)
    resuming: bool = False      # True when `--resume` reopened this run
    # this process's place in a torchrun job (None: one process); only strategies with
    # `distributed = True` are launched with several (they shard data, reduce gradients)
    dist: DistContext | None = None

    @property
    def section(self) -> Any:
        """The strategy's own config section (`config.search.<name>`)."""
        return getattr(self.config.search, self.name.replace("-", "_"))

    def executor(self) -> Executor:
        """A job executor as `search.executor` says (use it as a context manager)."""
        from nasc.search.executor import make_executor

        return make_executor(self.config.search.executor)


@dataclass
class SearchOutcome:
    """What a strategy found and what the run layer records of it."""

    final: Model                # the network found, at search size
    genotype: str | None        # its DARTS genotype text, when it has one
    header: str                 # how it was found: the comment block on top of final.nas/.yaml
    provenance: dict[str, Any] = field(default_factory=dict)  # merged into provenance.json
    # extra outputs: file name -> text, a function writing the file at the path it gets, or
    # None for a file the strategy already wrote (listed in the result's paths)
    files: dict[str, str | Callable[[Path], None] | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)     # returned to the caller as is
    message: str = ""           # the closing line of the run
    resumed: bool = False


@dataclass
class SearchResult:
    """What `run_search` / `resume_search` return."""

    algorithm: str
    run: RunDir
    space: Model
    final: Model
    genotype: str | None
    paths: dict[str, Path] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    lines: list[str] = field(default_factory=list)  # the summary a command prints


class SearchStrategy(ABC):
    """Base class of search algorithms (see the module docstring)."""

    name: ClassVar[str]
    section: ClassVar[type]                 # the config section class (a `nasc.train.config.Section`)
    summary: ClassVar[str] = ""
    default_config: ClassVar[str | None] = None  # shipped config file (`search_darts.yaml`)
    flags: ClassVar[tuple[Flag, ...]] = ()
    # whether `torchrun` may launch it with several processes (data-parallel search)
    distributed: ClassVar[bool] = False

    def prepare(self, space: Model, config: Any) -> Model:
        """The space as searched (default: `params` overrides, then `cells`/`channels`)."""
        from nasc.search.space import prepare_space

        return prepare_space(space, getattr(config.search, self.name.replace("-", "_")))

    @abstractmethod
    def search(self, ctx: SearchContext) -> SearchOutcome:
        """Run the search loop (resuming from `ctx.checkpoint`) and return what it found."""

    def summary_lines(self, result: SearchResult) -> list[str]:
        """The lines `nasc search NAME` prints first (the run dir and files follow)."""
        return [f"genotype: {result.genotype}"] if result.genotype else []

    def next_step(self, result: SearchResult) -> str | None:
        """The command to run next (printed last), if the algorithm has a suggestion."""
        return None
