"""The crash-safety matrix: `nasc search darts|random|petridish` and `nasc train`, each SIGKILLed
at five points in turn (first step, during a checkpoint write, right after a checkpoint write,
mid-epoch, during the final writes), resumed with `--resume` after each kill, must end with the
outputs of an uninterrupted run, bit for bit on the CPU; after every kill every file of the run
folder under its final name must parse (no half-written file is ever visible), and after the
last resume no temporary file or lock is left. Also: a second process on a running folder is
refused naming the holder, and a Ray worker killed mid-job is retried and the search finishes.

Kill points come from progress lines (steps) and from the test hook of `nasc.atomic`
(`NASC_TEST_KILL_AT="GLOB:N:during|before|after"`: SIGKILL at the N-th atomic write matching
GLOB in that process). Each row is one chain of processes on one folder: kill 1, resume and
kill 2, ..., resume to the end; tiny configs (a few steps) keep the whole matrix to minutes.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import xml.dom.minidom
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "darts_space.nas"
SEED = ROOT / "examples" / "petridish_seed.nas"
COMMON = ["--set", "run.threads=1", "--set", "run.device=cpu", "--set", "trainer.log_every_steps=1",
          "--set", "trainer.tensorboard=false"]

DARTS = ["search", "darts", str(SPACE), "--second-order", "--set", "search.darts.channels=4",
         "--set", "search.darts.cells=3", "--set", "data.train_size=48", "--set", "data.test_size=8",
         "--set", "data.batch_size=8", "--set", "trainer.epochs=3",
         "--set", "trainer.checkpoint_every_steps=1", "--seed", "5", *COMMON]
RANDOM = ["search", "random", str(SPACE), "--trials", "2", "--set", "search.random.cells=3",
          "--set", "data.train_size=96", "--set", "data.test_size=8", "--set", "data.batch_size=8",
          "--set", "trainer.epochs=2", "--set", "trainer.checkpoint_every_steps=1", "--seed", "3", *COMMON]
PETRIDISH = ["search", "petridish", str(SEED), "--set", "search.petridish.channels=4",
             "--set", "search.petridish.pareto.max_cells=3", "--set", "search.petridish.pareto.max_nodes=2",
             "--set", "search.petridish.max_jobs=6", "--set", "data.train_size=64",
             "--set", "data.test_size=8", "--set", "data.batch_size=8", "--set", "trainer.epochs=1",
             "--set", "trainer.checkpoint_every_steps=1",
             "--set", "search.petridish.candidate_ops=[skip_connect, max_pool_3x3, sep_conv_3x3]", *COMMON]
TRAIN = ["train", "MODEL", "--set", "data.train_size=48", "--set", "data.test_size=16",
         "--set", "data.batch_size=8", "--epochs", "2", "--set", "trainer.checkpoint_every_steps=2",
         "--set", "data.augment.cutout=4", *COMMON]

STEP = re.compile(r"^\[\S+\] epoch \d+(?:/\d+)? step (\d+)/(\d+) ")
APPEND_ONLY = {"log.jsonl", "metrics.jsonl"}  # appended in place: a kill may leave a torn tail


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NASC_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def _nasc(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nasc", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True,
                          env=_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


# ------------------------------------------------------------------ kill points


@dataclass(frozen=True)
class Kill:
    """One kill point: a line predicate on the progress output, or a `NASC_TEST_KILL_AT` spec."""

    name: str
    hook: str | None = None
    line: Callable[[str, int], bool] | None = None  # (line, steps seen so far) -> kill now


def first_step() -> Kill:
    return Kill("first step", line=lambda text, n: n == 1)


def mid_epoch() -> Kill:
    """A step line of the process, after its first, whose step is not the last of its epoch."""
    def hit(text: str, n: int) -> bool:
        m = STEP.match(text)
        return n >= 2 and m is not None and int(m.group(1)) < int(m.group(2))
    return Kill("mid-epoch", line=hit)


def checkpoint(when: str, n: int) -> Kill:
    return Kill(f"{when} checkpoint write {n}", hook=f"*/checkpoints/last.pt:{n}:{when}")


def final_write(glob: str, when: str = "during") -> Kill:
    return Kill(f"{when} final write {glob}", hook=f"{glob}:1:{when}")


def _kill(args: list[str], kill: Kill) -> list[str]:
    """Run `args` until `kill` fires; the process must die by SIGKILL. Returns its stderr lines."""
    env = _env(NASC_TEST_KILL_AT=kill.hook) if kill.hook else _env()
    proc = _nasc(args, env)
    assert proc.stderr is not None
    lines: list[str] = []
    steps = 0
    for text in proc.stderr:
        lines.append(text.rstrip())
        if STEP.match(text):
            steps += 1
        if kill.line is not None and kill.line(text, steps):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=600)
    proc.stderr.close()
    if proc.stdout is not None:
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, (kill.name, lines[-20:])
    return lines


# ------------------------------------------------------------------ file checks


def _parse(path: Path) -> None:
    """Parse `path` by its kind; raises when it is half written."""
    name = path.name
    data = path.read_bytes()
    if name.endswith(".jsonl"):
        lines = data.decode().split("\n")
        if name in APPEND_ONLY:
            lines = lines[:-1]  # a torn tail is allowed (cut off on resume); the rest must be whole
        else:
            assert data == b"" or data.endswith(b"\n"), path
        for line in lines:
            if line:
                json.loads(line)
    elif name.endswith(".json") or name == ".lock":
        json.loads(data)
    elif name.endswith((".yaml", ".yml")):
        yaml.safe_load(data)
    elif name == "model.pt":
        from nasc.lower.artifact import read_artifact

        read_artifact(path)
    elif name.endswith(".pt"):
        torch.load(path, map_location="cpu", weights_only=True)
    elif name.endswith(".nas"):
        from nasc.frontend import load_model

        load_model(path)
    elif name.endswith(".csv"):
        rows = list(csv.reader(data.decode().splitlines()))
        assert rows and all(len(r) == len(rows[0]) for r in rows), path
    elif name.endswith(".svg"):
        xml.dom.minidom.parseString(data)
    elif name.endswith(".png"):
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND", path


def _check_files(root: Path, *, finished: bool) -> None:
    """Every file under its final name parses; when `finished`, no temp file or lock remains."""
    from nasc.atomic import TEMP_NAME

    for path in sorted(root.rglob("*")):
        if not path.is_file() or "tb" in path.relative_to(root).parts:
            continue
        if TEMP_NAME.match(path.name):
            assert not finished, f"temp file left after the run finished: {path}"
            continue
        if finished:
            assert path.name != ".lock", "lock left after the run finished"
        try:
            _parse(path)
        except Exception as exc:
            raise AssertionError(f"{path} is half written: {exc}") from exc


# ------------------------------------------------------------------ output comparisons


def _rows(path: Path, drop: tuple[str, ...] = ("time",)) -> list[Any]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x]
    return [{k: v for k, v in r.items() if k not in drop} if isinstance(r, dict) else r for r in rows]


def _body(path: Path) -> list[str]:
    """A written source without its comment header (which names the run folder)."""
    return [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]


def _same_tensors(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _pt(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


def _strip_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_times(v) for k, v in value.items() if k not in ("time", "seconds", "run")}
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


def compare_darts(run: Path, ref: Path) -> None:
    """genotype, final network, supernet alphas and weights, alphas.jsonl, metrics.jsonl."""
    assert (run / "genotype.txt").read_text() == (ref / "genotype.txt").read_text()
    assert _body(run / "final.nas") == _body(ref / "final.nas")
    assert _body(run / "final.yaml") == _body(ref / "final.yaml")
    _same_tensors(_pt(run / "supernet.pt"), _pt(ref / "supernet.pt"), "supernet")
    assert _rows(run / "alphas.jsonl") == _rows(ref / "alphas.jsonl")
    assert _rows(run / "metrics.jsonl") == _rows(ref / "metrics.jsonl")


def compare_random(run: Path, ref: Path) -> None:
    """trials, the Pareto front, the final network, metrics."""
    assert _rows(run / "trials.jsonl") == _rows(ref / "trials.jsonl")
    assert _strip_times(json.loads((run / "pareto.json").read_text())) == \
        _strip_times(json.loads((ref / "pareto.json").read_text()))
    assert _body(run / "final.nas") == _body(ref / "final.nas")
    assert _rows(run / "metrics.jsonl") == _rows(ref / "metrics.jsonl")


def compare_petridish(run: Path, ref: Path) -> None:
    """The pool, every model's weights, the gallery and the final network."""
    assert _strip_times(json.loads((run / "pool.json").read_text())) == \
        _strip_times(json.loads((ref / "pool.json").read_text()))
    models = sorted(p.name for p in (ref / "models").glob("*.pt"))
    assert models and sorted(p.name for p in (run / "models").glob("*.pt")) == models
    for name in models:
        _same_tensors(_pt(run / "models" / name), _pt(ref / "models" / name), name)
    gallery = sorted(p.name for p in (ref / "gallery").iterdir())
    assert sorted(p.name for p in (run / "gallery").iterdir()) == gallery
    for name in gallery:
        if name.endswith(".nas"):
            assert _body(run / "gallery" / name) == _body(ref / "gallery" / name)
    assert _body(run / "final.nas") == _body(ref / "final.nas")


def compare_train(run: Path, ref: Path) -> None:
    """The trained weights and the metrics."""
    import nasc

    a, b = nasc.load(str(run / "model.pt")).state_dict(), nasc.load(str(ref / "model.pt")).state_dict()
    _same_tensors(dict(a), dict(b), "model")
    assert _rows(run / "metrics.jsonl") == _rows(ref / "metrics.jsonl")


# the kill points of each row, in the order the chain meets them
ROWS: dict[str, tuple[list[str], list[Kill], Callable[[Path, Path], None]]] = {
    "darts": (DARTS, [first_step(), mid_epoch(), checkpoint("during", 1), checkpoint("after", 1),
                      final_write("*/alphas.jsonl", "before"), final_write("*/final.yaml")], compare_darts),
    "random": (RANDOM, [first_step(), mid_epoch(), checkpoint("during", 1), checkpoint("after", 1),
                        final_write("*/trials.jsonl", "before"), final_write("*/pareto.json")],
               compare_random),
    "petridish": (PETRIDISH, [first_step(), mid_epoch(), checkpoint("during", 1), checkpoint("after", 1),
                              final_write("*/models/*.pt", "during"), final_write("*/pool.json", "after"),
                              final_write("*/final.yaml")], compare_petridish),
    "train": (TRAIN, [first_step(), mid_epoch(), checkpoint("during", 1), checkpoint("after", 1),
                      final_write("*/model.pt", "during"), final_write("*/model.pt", "after")], compare_train),
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nasc.compiler import compile_model
    from nasc.lower.artifact import save_artifact

    result = compile_model(ROOT / "examples" / "darts_v2_cifar.nas", cells=3, channels=4, aux=True,
                           drop_path=True, seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_artifact(path, result.model, result.module, result.overrides, {"source": "darts_v2_cifar.nas"})
    return path


def _resume_args(args: list[str], run: Path) -> list[str]:
    return [*args[:2], "--resume", str(run)] if args[0] == "search" else ["train", "--resume", str(run)]


@pytest.mark.slow
@pytest.mark.parametrize("row", list(ROWS))
def test_killed_at_every_point_and_resumed_gives_the_uninterrupted_outputs(
        row: str, tmp_path: Path, model_file: Path) -> None:
    args, kills, compare = ROWS[row]
    args = [str(model_file) if a == "MODEL" else a for a in args]
    ref, run = tmp_path / "ref", tmp_path / "run"
    _finish([*args, "--out", str(ref)])
    _check_files(ref, finished=True)

    for i, kill in enumerate(kills):
        _kill([*args, "--out", str(run)] if i == 0 else _resume_args(args, run), kill)
        _check_files(run, finished=False)
    _finish(_resume_args(args, run))
    _check_files(run, finished=True)
    compare(run, ref)


@pytest.mark.slow
def test_a_second_process_on_a_running_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = _nasc([*DARTS, "--out", str(run)], _env())
    assert first.stderr is not None
    try:
        for text in first.stderr:
            if STEP.match(text):  # running: the folder is locked
                break
        for second in (["search", "darts", "--resume", str(run)], [*DARTS, "--out", str(run)]):
            proc = subprocess.run([sys.executable, "-m", "nasc", *second], capture_output=True, text=True,
                                  env=_env(), timeout=300)
            assert proc.returncode == 1, proc.stderr[-2000:]
            assert f"in use by another nasc process: pid {first.pid} on host" in proc.stderr
            assert "Traceback" not in proc.stderr
    finally:
        first.kill()
        first.wait(timeout=60)
        first.stderr.close()
        if first.stdout is not None:
            first.stdout.close()
    # the killed holder's lock is stale: a resume takes it over and finishes
    _finish(["search", "darts", "--resume", str(run)])
    _check_files(run, finished=True)


@pytest.mark.slow
def test_a_ray_worker_killed_mid_job_is_retried_and_the_search_finishes(tmp_path: Path) -> None:
    import ray  # noqa: F401  (a test extra: a missing Ray fails here instead of skipping)

    ref, run = tmp_path / "ref", tmp_path / "run"
    ray_args = [*PETRIDISH, "--executor", "ray", "--set", "search.executor.cpus=2",
                "--set", "search.executor.retries=1"]
    _finish([*PETRIDISH, "--out", str(ref)])
    marker = tmp_path / "killed-once"
    # the first worker to save model 1's weights dies mid-write; Ray reruns the job elsewhere
    proc = subprocess.run([sys.executable, "-m", "nasc", *ray_args, "--out", str(run)], capture_output=True,
                          text=True, timeout=900,
                          env=_env(NASC_TEST_KILL_AT="*/models/1.pt:1:during",
                                   NASC_TEST_KILL_ONCE=str(marker)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.exists()  # a worker did die
    pool = json.loads((run / "pool.json").read_text())
    assert pool["failed"] == []
    assert _strip_times(pool) == _strip_times(json.loads((ref / "pool.json").read_text()))
    _check_files(run, finished=True)
