"""Job executors: in process and on a real local Ray; retries, failures recorded, order."""
from __future__ import annotations

import json
from typing import Any

import pytest

from nasc.search.executor import (ExecutorSection, InlineExecutor, Job, call_with_retries,
                                  make_executor)

CALLS: dict[str, int] = {}


def flaky(name: str, fail_times: int, checkpoint: Any = None) -> str:
    """Fails `fail_times` times, then returns; records whether the local kwarg arrived."""
    CALLS[name] = CALLS.get(name, 0) + 1
    if CALLS[name] <= fail_times:
        raise RuntimeError(f"{name} attempt {CALLS[name]}")
    return f"{name} ok ({'with' if checkpoint is not None else 'without'} checkpoint)"


def test_inline_retries_then_records_the_last_error() -> None:
    CALLS.clear()
    jobs = [Job("a", f"{__name__}:flaky", {"name": "a", "fail_times": 1}),
            Job("b", f"{__name__}:flaky", {"name": "b", "fail_times": 5}),
            Job("c", f"{__name__}:flaky", {"name": "c", "fail_times": 0})]
    results = list(InlineExecutor(retries=2).run(jobs, local={"checkpoint": object()}))
    assert [r.key for r in results] == ["a", "b", "c"]
    assert results[0].ok and results[0].value == "a ok (with checkpoint)" and results[0].attempts == 2
    assert not results[1].ok and results[1].attempts == 3 and results[1].value is None
    assert results[1].error is not None and results[1].error.startswith("RuntimeError: b attempt 3")
    assert results[2].attempts == 1 and CALLS == {"a": 2, "b": 3, "c": 1}


def interrupted() -> None:
    """A job the user stops with Ctrl-C."""
    CALLS["interrupted"] = CALLS.get("interrupted", 0) + 1
    raise KeyboardInterrupt


def test_keyboard_interrupt_is_not_swallowed_nor_retried() -> None:
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        call_with_retries(f"{__name__}:interrupted", {}, 3)
    assert CALLS == {"interrupted": 1}


@pytest.mark.slow
def test_local_ray_runs_jobs_in_order_or_as_finished_and_records_failures() -> None:
    import ray  # noqa: F401  (a test extra: a missing Ray fails here instead of skipping)
    section = ExecutorSection(kind="ray", cpus=2, retries=1)
    jobs = [Job("ok", "json:loads", {"s": "[1, 2]"}), Job("bad", "json:loads", {"s": "{"}),
            Job("ok2", "json:dumps", {"obj": {"x": 1}})]
    with make_executor(section) as ex:
        ordered = list(ex.run(jobs, ordered=True))
        unordered = list(ex.run(jobs, ordered=False))
    assert [r.key for r in ordered] == ["ok", "bad", "ok2"]
    assert ordered[0].value == [1, 2] and ordered[2].value == json.dumps({"x": 1})
    assert not ordered[1].ok and ordered[1].attempts == 2
    assert ordered[1].error is not None and ordered[1].error.startswith("JSONDecodeError")
    assert sorted(r.key for r in unordered) == ["bad", "ok", "ok2"]
