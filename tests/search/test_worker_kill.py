"""A Ray worker killed mid-job (SIGKILL, as the OOM killer or a lost node would) is rerun by Ray
when retries are left, and recorded as a failed job (never fatal) when none are; the other jobs
of the batch finish either way."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from nasc.search.executor import ExecutorSection, Job, make_executor

HERE = Path(__file__).resolve().parent


def die_once(marker: str) -> str:
    """Kill this worker on the first attempt (the marker file records it), succeed afterwards."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "survived"
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@pytest.fixture
def ray_sees_this_module(monkeypatch: Any) -> None:
    """Ray's workers inherit the environment of the local Ray started in the test."""
    import ray  # noqa: F401  (a test extra: a missing Ray fails here instead of skipping)

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.slow
@pytest.mark.parametrize("retries", [1, 0])
def test_a_killed_worker_is_retried_or_recorded_and_the_rest_finish(
        retries: int, tmp_path: Path, ray_sees_this_module: None) -> None:
    section = ExecutorSection(kind="ray", cpus=2, retries=retries)
    jobs = [Job("before", "json:dumps", {"obj": 1}),
            Job("victim", "test_worker_kill:die_once", {"marker": str(tmp_path / "died")}),
            Job("after", "json:dumps", {"obj": 2})]
    with make_executor(section) as ex:
        results = list(ex.run(jobs, ordered=True))
    assert (tmp_path / "died").exists()  # the worker did die once
    assert [r.key for r in results] == ["before", "victim", "after"]
    assert results[0].value == "1" and results[2].value == "2"
    victim = results[1]
    if retries:
        assert victim.ok and victim.value == "survived"
    else:
        assert not victim.ok and victim.error and victim.attempts == 1
