"""`nasc report RUN_DIR...`: compare finished runs (seeds of one method, or several methods).

    from nasc.search.report import build_report
    rep = build_report(["runs/s0", "runs/s1", "runs/s2"], "report")
    rep.paths["report.md"], rep.runs[0].val_top1, rep.stats["darts"]["val_top1"]["mean"]

From each run's files (nothing is retrained): the held-out top-1 of the main training loop's last
epoch and its best epoch (`metrics.jsonl`; for a random search, the best trial's, and for
Petridish the best pool model's, from provenance.json / pool.json), the test top-1 of a training
run, the parameters and multiply-adds of the derived network (`final.nas`, or the trained
`model.pt`, through the cost model), and the wall time (first to last entry of `log.jsonl`).
Runs are grouped by algorithm (provenance.json; `train` for a training run); per group every
figure gets its mean, sample standard deviation (n - 1), min and max. The main loops' curves
become a mean line with a +-1 std band per group; the derived architectures (genotype text, or
the canonical printed IR when there is none) are listed with how many runs found each.

Outputs under `out`: `report.md`, `curves.png` / `curves.svg` and `report.json` (the same numbers,
unrounded, for scripts).
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nasc.atomic import atomic_write_text
from nasc.errors import ConfigError, NascError
from nasc.search.pictures import check_run_dir, config_value, metric_loops, read_json, read_jsonl

#: the compared figures: key -> (table heading, kind); kind "pct" shows a fraction as percent
COLUMNS: dict[str, tuple[str, str]] = {
    "val_top1": ("val top-1, last epoch (%)", "pct"),
    "best_val_top1": ("val top-1, best epoch (%)", "pct"),
    "test_top1": ("test top-1, last epoch (%)", "pct"),
    "params": ("params", "int"),
    "macs": ("MACs", "int"),
    "wall_s": ("wall time (s)", "float"),
}
STATS = ("mean", "std", "min", "max")


@dataclass
class RunFigures:
    """The figures of one run that a report compares (None: the run does not have it)."""

    run_dir: Path
    algorithm: str
    seed: int | None = None
    epochs: int | None = None
    val_top1: float | None = None
    best_val_top1: float | None = None
    test_top1: float | None = None
    params: int | None = None
    macs: int | None = None
    wall_s: float | None = None
    architecture: str | None = None
    #: the main loop per epoch (1-based): metric -> {epoch: value}
    curves: dict[str, dict[int, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, column: str) -> float | None:
        """The figure of `column` (a key of `COLUMNS`)."""
        v = getattr(self, column)
        return float(v) if isinstance(v, (int, float)) else None


@dataclass
class Report:
    """What `build_report` wrote: the files, the runs' figures, the per-group statistics
    (`stats[group][column]` -> {"n", "mean", "std", "min", "max"}) and the distinct architectures
    (text, runs that found it), most found first."""

    out: Path
    paths: dict[str, Path]
    runs: list[RunFigures]
    stats: dict[str, dict[str, dict[str, float | None]]]
    architectures: list[tuple[str, list[str]]]


# ------------------------------------------------------------------------------ reading a run

def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def main_loop(loops: dict[str, list[dict[str, Any]]]) -> str | None:
    """The run's own training loop: a top-level loop (`darts`, `train`; no `/`), the longest if
    several. None when every loop is nested (a random search's trials, Petridish's jobs)."""
    top = [k for k in loops if "/" not in k]
    return max(top, key=lambda k: len(loops[k])) if top else None


def read_run(run_dir: str | Path) -> RunFigures:
    """The figures of the run in `run_dir` (see the module docstring); `ConfigError` when it is
    not a run directory."""
    root = check_run_dir(run_dir)
    prov = read_json(root / "provenance.json")
    prov = prov if isinstance(prov, dict) else {}
    algorithm = prov.get("algorithm") if isinstance(prov.get("algorithm"), str) else "train"
    fig = RunFigures(root, algorithm)
    seed = prov.get("seed", config_value(root, "run", "seed"))
    fig.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    loops = metric_loops(read_jsonl(root / "metrics.jsonl"))
    loop = main_loop(loops)
    if loop is not None:
        rows = loops[loop]
        fig.epochs = len(rows)
        for key in ("val_top1", "test_top1", "train_loss", "train_top1", "val_loss", "test_loss"):
            series = {int(r.get("epoch", i)) + 1: v for i, r in enumerate(rows)
                      if (v := _num(r.get(key))) is not None}
            if series:
                fig.curves[key] = series
        val = fig.curves.get("val_top1")
        if val:
            fig.val_top1, fig.best_val_top1 = val[max(val)], max(val.values())
        test = fig.curves.get("test_top1")
        if test:
            fig.test_top1 = test[max(test)]
    _search_best(root, prov, fig)
    _cost(root, fig)
    fig.wall_s = _wall_time(root)
    fig.architecture = _architecture(root, fig)
    return fig


def _search_best(root: Path, prov: dict[str, Any], fig: RunFigures) -> None:
    """Trial-based searches have no top-level loop: their held-out top-1 is the chosen model's."""
    if fig.val_top1 is not None:
        return
    best = _num(prov.get("val_top1"))  # random search: the best trial's
    if best is None and prov.get("algorithm") == "petridish":
        pool = read_json(root / "pool.json")
        rows = pool.get("pool") if isinstance(pool, dict) else None
        chosen = [r for r in rows or [] if isinstance(r, dict) and r.get("id") == prov.get("best")]
        best = _num(chosen[0].get("val_top1")) if chosen else None
    if best is not None:
        fig.val_top1 = fig.best_val_top1 = best
        fig.notes.append("val top-1 is the chosen model's (a trial-based search has no epoch curve)")


def _cost(root: Path, fig: RunFigures) -> None:
    """Params and multiply-adds of the derived network (final.nas) or the trained model."""
    from nasc.analysis.cost import cost
    from nasc.analysis.elaborate import elaborate

    try:
        model = _final_model(root)
        if model is None:
            return
        report = cost(elaborate(model))
    except NascError as exc:
        fig.notes.append(f"no params / MACs: {exc}")
        return
    fig.params, fig.macs = report.params, report.macs


def _final_model(root: Path) -> Any:
    """The run's final network as IR: `final.nas` (a search), else `model.pt` (a training run)."""
    if (root / "final.nas").is_file():
        from nasc.frontend import load_model

        return load_model(root / "final.nas")
    if (root / "model.pt").is_file():
        from nasc.lower.artifact import read_artifact

        return read_artifact(root / "model.pt").model
    return None


def _wall_time(root: Path) -> float | None:
    """Seconds from the first to the last entry of log.jsonl (a resumed run includes its pause)."""
    stamps = [t for r in read_jsonl(root / "log.jsonl") if (t := _num(r.get("t"))) is not None]
    return round(max(stamps) - min(stamps), 3) if len(stamps) >= 2 else None


def _architecture(root: Path, fig: RunFigures) -> str | None:
    """The genotype text, else the canonical printed form of the final network."""
    genotype = root / "genotype.txt"
    if genotype.is_file():
        text = genotype.read_text(encoding="utf-8").strip()
        if text:
            return text
    from nasc.ir.printer import print_model
    from nasc.search.genotype import genotype_or_none

    try:
        model = _final_model(root)
    except NascError:
        return None
    if model is None:
        return None
    return genotype_or_none(model) or print_model(model).strip()


# ------------------------------------------------------------------------------ statistics

def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """n, mean, sample std (n - 1; None for a single value: a spread needs two), min and max."""
    from nasc.export.run_plots import mean_std

    mean, std = mean_std(values)
    return {"n": len(values), "mean": mean, "std": std if len(values) > 1 else None,
            "min": min(values), "max": max(values)}


def group_stats(runs: Sequence[RunFigures]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per algorithm, per column of `COLUMNS` that some run has: `summarize` of the values."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for group in sorted({r.algorithm for r in runs}):
        members = [r for r in runs if r.algorithm == group]
        out[group] = {}
        for column in COLUMNS:
            values = [v for r in members if (v := r.value(column)) is not None]
            if values:
                out[group][column] = summarize(values)
    return out


# ------------------------------------------------------------------------------ the report

def build_report(run_dirs: Sequence[str | Path], out: str | Path = "report") -> Report:
    """Read every run, write `report.md`, `curves.png|svg` and `report.json` into `out` (created
    if needed). Raises `ConfigError` for no runs, a folder given twice or one that is not a run."""
    if not run_dirs:
        raise ConfigError("no run directories to compare", key="RUN_DIR",
                          hint="nasc report runs/search-darts-a runs/search-darts-b ...")
    seen: set[Path] = set()
    for d in run_dirs:
        resolved = Path(d).resolve()
        if resolved in seen:
            raise ConfigError(f"`{d}` is given twice", key="RUN_DIR",
                              hint="each run counts once in the statistics")
        seen.add(resolved)
    runs = [read_run(d) for d in run_dirs]
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"`{target}` exists and is not a folder", key="--out",
                          hint="pass a folder for the report files")
    target.mkdir(parents=True, exist_ok=True)
    stats = group_stats(runs)
    architectures = _distinct(runs)
    paths: dict[str, Path] = {}
    curves = _plot(runs, target, paths)
    paths["report.md"] = atomic_write_text(target / "report.md",
                                           _markdown(runs, stats, architectures, curves))
    data = {"runs": [{**{k: v for k, v in asdict(r).items() if k != "curves"},
                      "run_dir": str(r.run_dir)} for r in runs],
            "stats": stats, "architectures": [{"architecture": a, "runs": n} for a, n in architectures]}
    paths["report.json"] = atomic_write_text(target / "report.json", json.dumps(data, indent=1) + "\n")
    return Report(target, paths, runs, stats, architectures)


def _distinct(runs: Sequence[RunFigures]) -> list[tuple[str, list[str]]]:
    """Each distinct architecture with the runs that found it, most often found first."""
    found: dict[str, list[str]] = {}
    for r in runs:
        if r.architecture is not None:
            found.setdefault(r.architecture, []).append(str(r.run_dir))
    return sorted(found.items(), key=lambda kv: -len(kv[1]))


def _plot(runs: Sequence[RunFigures], out: Path, paths: dict[str, Path]) -> bool:
    """curves.png / .svg: per group, held-out top-1 and train loss, mean and std band."""
    from nasc.export.run_plots import EnvelopePanel, plot_envelope

    held = EnvelopePanel("held-out top-1 (%)", scale=100.0)
    loss = EnvelopePanel("train loss (cross-entropy, nats)")
    for r in runs:
        series = r.curves.get("val_top1") or r.curves.get("test_top1")
        if series:
            held.groups.setdefault(r.algorithm, []).append(series)
        if r.curves.get("train_loss"):
            loss.groups.setdefault(r.algorithm, []).append(r.curves["train_loss"])
    if not held.groups and not loss.groups:
        return False
    n = sum(1 for r in runs if r.curves)
    for suffix in ("png", "svg"):
        paths[f"curves.{suffix}"] = plot_envelope(
            [held, loss], out / f"curves.{suffix}",
            title=f"{n} of {len(runs)} runs with per-epoch curves: mean and \u00b11 std per epoch")
    return True


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.2f}"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _markdown(runs: Sequence[RunFigures], stats: dict[str, dict[str, dict[str, float | None]]],
              architectures: list[tuple[str, list[str]]], curves: bool) -> str:
    columns = [c for c in COLUMNS if any(r.value(c) is not None for r in runs)]
    heads = [COLUMNS[c][0] for c in columns]
    lines = [f"# Run report: {len(runs)} run{'s' if len(runs) > 1 else ''}", "",
             "Figures read from each run directory's files (nothing retrained). Percentages are "
             "top-1 accuracy; params and MACs are of the derived network (`final.nas`, or a "
             "training run's `model.pt`) from the cost model; wall time is first to last entry of "
             "`log.jsonl`. std is the sample standard deviation (n - 1).", "",
             "## Runs", "",
             "| run | algorithm | seed | epochs | " + " | ".join(heads) + " |",
             "|---|---|---|---|" + "---|" * len(columns)]
    for r in runs:
        cells = [_fmt(r.value(c), COLUMNS[c][1]) for c in columns]
        lines.append(f"| `{r.run_dir}` | {r.algorithm} | {'–' if r.seed is None else r.seed} | "
                     f"{'–' if r.epochs is None else r.epochs} | " + " | ".join(cells) + " |")
    for group, per in stats.items():
        n = sum(1 for r in runs if r.algorithm == group)
        lines += ["", f"## {group}: {n} run{'s' if n > 1 else ''}", "",
                  "| statistic | " + " | ".join(heads) + " |", "|---|" + "---|" * len(columns)]
        for stat in STATS:
            cells = [_fmt(per[c][stat], COLUMNS[c][1]) if c in per else "–" for c in columns]
            lines.append(f"| {stat} | " + " | ".join(cells) + " |")
    notes = sorted({f"`{r.run_dir}`: {note}" for r in runs for note in r.notes})
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Curves", ""]
    if curves:
        lines += ["Per algorithm: the mean over runs per epoch (bold), \u00b11 std (band), each run "
                  "(faint). Held-out top-1 is the validation split of a search, the test split "
                  "of a training run.", "", "![curves](curves.png)"]
    else:
        lines.append("No run has a top-level training loop with per-epoch figures.")
    lines += ["", "## Derived architectures", ""]
    if not architectures:
        lines.append("No run has a derived architecture (final.nas / genotype.txt / model.pt).")
    for i, (text, found) in enumerate(architectures, 1):
        lines += [f"{i}. found by {len(found)} of {len(runs)} run{'s' if len(runs) > 1 else ''}: "
                  + ", ".join(f"`{f}`" for f in found), "", "   ```", *(f"   {t}" for t in
                                                                        text.splitlines()),
                  "   ```", ""]
    return "\n".join(lines).rstrip() + "\n"
