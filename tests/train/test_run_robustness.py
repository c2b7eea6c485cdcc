"""What a killed or crowded run leaves, and how the run folder copes: torn JSON-lines tails,
temporary files of interrupted atomic writes, the run folder lock (live holders refused by pid
and host, stale ones taken over, released on errors), a full disk during a checkpoint write,
writes over devices and folders refused, and a failed `nasc train` leaving no folder behind."""
from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import nasc.atomic as atomic
from nasc.atomic import NotARegularFile, atomic_write_text, remove_temp_files
from nasc.cli.app import app
from nasc.errors import CheckpointError, ConfigError
from nasc.train.checkpoint import Checkpoint
from nasc.train.rundir import RunDir, read_jsonl
from nasc.train.runlock import LOCK, RunLock
from nasc.train.runlog import read_log

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _new_run(path: Path) -> RunDir:
    run = RunDir.create("t", out=path)
    run.write_config({"run": {"name": "t"}})
    return run


# ------------------------------------------------------------------ torn lines, temp files


def test_a_torn_last_line_is_skipped_by_readers_and_cut_off_on_reopen(tmp_path: Path) -> None:
    run = _new_run(tmp_path / "run")
    run.append_metrics({"epoch": 0, "loss": 1.0})
    run.log.add("device", "cpu")
    run.close()
    with open(run.metrics_path, "a") as f:
        f.write('{"epoch": 1, "lo')  # a kill in the middle of the second row
    with open(run.root / "log.jsonl", "a") as f:
        f.write('{"op":"add","path":[["x","s"]],"val')
    with open(run.text_log_path, "a") as f:
        f.write("2024-01-01 00:00:00 half a li")
    (run.root / "trials.jsonl").write_text('{"trial": 0}\nnot json at all\n')
    assert run.read_metrics() == [{"epoch": 0, "loss": 1.0}]
    assert read_jsonl(run.root / "trials.jsonl") == [{"trial": 0}]

    again = RunDir.open(run.root)
    assert run.metrics_path.read_text() == '{"epoch": 0, "loss": 1.0}\n'
    assert (run.root / "trials.jsonl").read_text() == '{"trial": 0}\n'
    assert run.text_log_path.read_text().endswith("half a li\n")
    again.append_metrics({"epoch": 1, "loss": 0.5})
    again.log.add("resumed", True)
    again.close()
    assert [r["epoch"] for r in again.read_metrics()] == [0, 1]
    assert read_log(run.root / "log.jsonl") == {"device": "cpu", "resumed": True}
    for line in (run.root / "log.jsonl").read_text().splitlines():
        json.loads(line)  # every line whole


def test_a_bad_line_before_the_last_is_damage_not_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"a": 1}\ngarbage\n{"a": 2}\n')
    with pytest.raises(CheckpointError, match="line 2 is not JSON"):
        read_jsonl(path)


def test_reopening_deletes_only_temp_files_of_atomic_writes(tmp_path: Path) -> None:
    run = _new_run(tmp_path / "run")
    run.close()
    ours = [run.root / ".last.pt.k3j_x9a0.tmp", run.root / "checkpoints" / ".last.pt.abcdefgh.tmp",
            run.root / "gallery" / ".model-1.nas.0aq1zz2_.tmp"]
    theirs = [run.root / "notes.tmp", run.root / ".notes.tmp", run.root / ".x.toolongname.tmp",
              run.root / "last.pt.abcdefgh.tmp"]
    nested = run.root / "eval"  # a nested run folder cleans its own temp files when reopened
    nested.mkdir()
    (nested / "config.yaml").write_text("run: {}\n")
    theirs.append(nested / ".last.pt.abcdefgh.tmp")
    for p in ours + theirs:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    RunDir.open(run.root).close()
    assert [p for p in ours if p.exists()] == []
    assert [p for p in theirs if not p.exists()] == []


def test_the_temp_name_pattern_matches_what_the_writer_makes(tmp_path: Path, monkeypatch: Any) -> None:
    seen = []

    def spy(tmp: Any, target: Any) -> None:
        seen.append(Path(tmp).name)
        raise KeyboardInterrupt  # the moment a SIGKILL would leave the temp file behind

    monkeypatch.setattr(atomic.os, "replace", spy)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(tmp_path / "final.nas", "x")
    assert len(seen) == 1 and atomic.TEMP_NAME.match(seen[0])
    (tmp_path / seen[0]).write_text("left by a kill")
    assert remove_temp_files(tmp_path) == [tmp_path / seen[0]]


# ------------------------------------------------------------------ the lock

HOLDER = textwrap.dedent("""
    import sys, time
    from nasc.train.rundir import RunDir
    run = RunDir.open(sys.argv[1]) if sys.argv[2] == "open" else RunDir.create("t", out=sys.argv[1])
    print("locked", flush=True)
    sys.stdin.readline()
    run.close()
""")


def _holder(path: Path, how: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), how], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run = _new_run(tmp_path / "run")
    (run.root / "provenance.json").write_text('{"algorithm": "darts"}')
    run.close()
    holder = _holder(run.root, "open")
    try:
        for attempt in (lambda: RunDir.open(run.root), lambda: RunDir.create("t", out=run.root)):
            with pytest.raises(CheckpointError) as info:
                attempt()
            text = str(info.value)
            assert f"pid {holder.pid} on host {socket.gethostname()}" in text and "in use" in text
        # the CLI says the same, exit 1, no traceback
        r = runner.invoke(app, ["search", "darts", "--resume", str(run.root)])
        assert r.exit_code == 1 and f"pid {holder.pid}" in r.output and "Traceback" not in r.output
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    assert not (run.root / LOCK).exists()  # released on close
    RunDir.open(run.root).close()  # and free again


def test_out_into_a_running_fresh_folder_is_refused(tmp_path: Path) -> None:
    holder = _holder(tmp_path / "new", "create")
    try:
        with pytest.raises(CheckpointError, match=f"pid {holder.pid}"):
            RunDir.create("t", out=tmp_path / "new")
    finally:
        holder.kill()
        holder.wait(timeout=60)


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    run = _new_run(tmp_path / "run")
    run.close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "host": socket.gethostname(), "started": 1.0, "token": "old"}
    (run.root / LOCK).write_text(json.dumps(stale))
    again = RunDir.open(run.root)
    info = json.loads((run.root / LOCK).read_text())
    assert info["pid"] == os.getpid() and info["token"] != "old"
    again.close()
    assert not (run.root / LOCK).exists()
    (run.root / LOCK).write_text("{torn")  # a damaged lock file is stale too
    RunDir.open(run.root).close()


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path: Path) -> None:
    run = _new_run(tmp_path / "run")
    run.close()
    # our parent is alive, but started earlier than the lock says its holder did
    stale = {"pid": os.getppid(), "host": socket.gethostname(), "started": 1.0, "token": "old",
             "proc_start": "-1"}
    (run.root / LOCK).write_text(json.dumps(stale))
    RunDir.open(run.root).close()


def test_a_lock_of_another_host_is_refused_with_how_to_remove_it(tmp_path: Path) -> None:
    run = _new_run(tmp_path / "run")
    run.close()
    (run.root / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": 0}))
    with pytest.raises(CheckpointError) as info:
        RunDir.open(run.root)
    assert "pid 1 on host elsewhere.example" in str(info.value) and "delete the lock file" in str(info.value)


def test_the_lock_is_released_when_a_resume_fails(tmp_path: Path) -> None:
    from nasc.search.scaffold import resume_search

    run = _new_run(tmp_path / "run")
    (run.root / "provenance.json").write_text('{"algorithm": "darts"}')
    run.close()
    with pytest.raises(ConfigError):
        resume_search(run.root, expect="random")
    assert not (run.root / LOCK).exists()
    lock = RunLock.acquire(run.root)  # the same process may take it again
    RunLock.acquire(run.root).release()
    lock.release()  # a newer holder's lock is not removed by an older one of the same process


# ------------------------------------------------------------------ full disk, special files


class _FullDisk:
    """A file whose writes fail with ENOSPC once `room` bytes are written."""

    def __init__(self, f: Any, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data: Any) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self.room:
            self.f.write(memoryview(data).cast("B")[:self.room])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= n
        return self.f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.f.close()


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "checkpoints" / "last.pt"
    ckpt = Checkpoint(path)
    ckpt.commit("train", {"step": 1, "w": torch.arange(1000.0)})
    before = path.read_bytes()
    real = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: _FullDisk(real(fd, mode), 3000))
    with pytest.raises(CheckpointError) as info:
        ckpt.commit("train", {"step": 2, "w": torch.ones(5000)})
    assert "disk full while writing" in str(info.value) and "previous checkpoint is intact" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temp file left
    monkeypatch.undo()
    assert Checkpoint(path).get("train")["step"] == 1
    fresh = Checkpoint(tmp_path / "other.pt")
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: _FullDisk(real(fd, mode), 10))
    with pytest.raises(CheckpointError, match="no checkpoint was written yet"):
        fresh.commit("train", {"w": torch.ones(100)})


@pytest.mark.parametrize("make", ["dir", "fifo", "link_to_dir", "device"])
def test_atomic_writes_never_replace_anything_but_regular_files(tmp_path: Path, make: str) -> None:
    target = tmp_path / "target"
    if make == "dir":
        target.mkdir()
    elif make == "fifo":
        os.mkfifo(target)
    elif make == "link_to_dir":
        (tmp_path / "d").mkdir()
        target.symlink_to(tmp_path / "d")
    else:
        target = Path("/dev/null")
    with pytest.raises(NotARegularFile, match="not a regular file"):
        atomic_write_text(target, "x")
    if make == "device":
        assert Path("/dev/null").is_char_device()
    else:
        assert not target.is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_writes_replace_regular_files_and_links_to_them(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_text(real, "new")
    atomic_write_text(link, "via link")
    assert real.read_text() == "new" and link.read_text() == "via link"


# ------------------------------------------------------------------ failed train: no folder


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nasc.compiler import compile_model
    from nasc.lower.artifact import save_artifact

    result = compile_model(ROOT / "examples" / "resnet20.nas", overrides={"blocks": 3, "C": 4})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_artifact(path, result.model, result.module, result.overrides, {})
    return path


@pytest.mark.parametrize("args,message", [
    (["--data", "cifar10:/definitely/not/here"], "does not exist"),
    (["--data", "nosuchset"], "unknown dataset"),
])
def test_a_failed_train_leaves_no_run_folder(model_file: Path, tmp_path: Path, args: list[str],
                                             message: str) -> None:
    out = tmp_path / "o"
    r = runner.invoke(app, ["train", str(model_file), "--out", str(out), *args])
    assert r.exit_code != 0 and message in r.output
    assert not out.exists()
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04 not a model")  # a bad model file
    r = runner.invoke(app, ["train", str(tmp_path / "garbage.pt"), "--out", str(out)])
    assert r.exit_code == 1 and not out.exists()
