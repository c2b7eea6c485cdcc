"""LR schedules, the structured log and the nested-loop checkpoint file."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from nasc.errors import CheckpointError
from nasc.atomic import atomic_save
from nasc.train.checkpoint import Checkpoint, load_file, rng_state, set_rng_state
from nasc.train.config import ScheduleSection
from nasc.train.runlog import StructuredLog, read_log
from nasc.train.schedule import LRSchedule


def _opt(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_epoch_cosine_equals_torch_cosine_annealing() -> None:
    opt_a, opt_b = _opt(0.025), _opt(0.025)
    sched = LRSchedule(ScheduleSection(name="cosine", min_lr=0.001), epochs=10, steps_per_epoch=7, base_lr=0.025)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt_b, T_max=10, eta_min=0.001)
    for epoch in range(10):
        for step in (0, 3, 6):  # constant within an epoch
            assert sched.apply(opt_a, epoch, step) == pytest.approx(opt_b.param_groups[0]["lr"], abs=1e-12)
        opt_b.step()
        ref.step()


def test_warmup_then_cosine_per_step() -> None:
    cfg = ScheduleSection(name="cosine", interval="step", warmup_epochs=1, warmup_start_factor=0.1)
    s = LRSchedule(cfg, epochs=3, steps_per_epoch=4, base_lr=1.0)
    assert [s.factor(0, k) for k in range(4)] == pytest.approx([0.1, 0.325, 0.55, 0.775])
    assert s.factor(1, 0) == pytest.approx(1.0)
    assert s.factor(2, 0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_step_multistep_constant() -> None:
    step = LRSchedule(ScheduleSection(name="step", step_size=2, gamma=0.5), epochs=6, steps_per_epoch=1, base_lr=1)
    assert [step.factor(e) for e in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    multi = LRSchedule(ScheduleSection(name="multistep", milestones=(1, 4), gamma=0.1), epochs=6,
                       steps_per_epoch=1, base_lr=1)
    assert [multi.factor(e) for e in range(6)] == pytest.approx([1, 0.1, 0.1, 0.1, 0.01, 0.01])
    const = LRSchedule(ScheduleSection(name="constant"), epochs=6, steps_per_epoch=1, base_lr=1)
    assert const.factor(5) == 1.0


def test_schedule_scales_each_param_group() -> None:
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1], "lr": 0.1}, {"params": [p2], "lr": 0.01}], lr=0.1)
    s = LRSchedule(ScheduleSection(name="step", step_size=1, gamma=0.5), epochs=3, steps_per_epoch=1, base_lr=0.1)
    s.apply(opt, 2)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.025, 0.0025])


def test_structured_log_semantics_and_replay(tmp_path: Path) -> None:
    log = StructuredLog(tmp_path / "log.jsonl")
    log.add("device", "cpu")
    log.add("device", "cuda")  # scalars overwrite
    log.add({"a": 1, "b": {"x": 1}})
    log.add("b", {"y": 2})  # mappings merge
    log.add("losses", [1.0])
    log.add("losses", 0.5)  # lists append
    with log.section("epochs"):
        with log.section(0):
            log.add("acc", torch.tensor(0.25))
        log.begin_sec(1)
        log.add("acc", 0.5)
        log.end_sec()
        log.add(value="first")  # keyless adds use the section's counter
        log.add(value="second")
    log.add(("epochs", 1, "time"), 3)
    log.close()
    want = {"device": "cuda", "a": 1, "b": {"x": 1, "y": 2}, "losses": [1.0, 0.5],
            "epochs": {0: {"acc": 0.25}, 1: {"acc": 0.5, "time": 3}, 2: "first", 3: "second"}}
    assert log.tree == want
    assert read_log(tmp_path / "log.jsonl") == want  # int keys survive JSON


def test_structured_log_int_keys_and_counter(tmp_path: Path) -> None:
    log = StructuredLog(tmp_path / "l.jsonl")
    with log.section("trials"):
        log.add(value={"acc": 0.1})
        log.add(value={"acc": 0.2})
    with log.section("epochs"):
        with log.section(3):
            log.add("acc", 0.75)
    log.add(("epochs", 3, "time"), 1.5)
    log.close()
    tree = read_log(tmp_path / "l.jsonl")
    assert tree == {"trials": {0: {"acc": 0.1}, 1: {"acc": 0.2}}, "epochs": {3: {"acc": 0.75, "time": 1.5}}}


def test_append_and_a_reopened_log_continue_the_tree(tmp_path: Path) -> None:
    log = StructuredLog(tmp_path / "l.jsonl")
    log.append("resumes", 3)
    log.add("b", {"x": 1})
    log.close()
    again = StructuredLog(tmp_path / "l.jsonl")  # a resumed process
    again.append("resumes", 7)
    again.add("b", {"y": 2})
    again.close()
    want = {"resumes": [3, 7], "b": {"x": 1, "y": 2}}
    assert again.tree == want and read_log(tmp_path / "l.jsonl") == want


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    log = StructuredLog(tmp_path / "l.jsonl")
    log.add("a", 1)
    log.add("b", 2)
    log.close()
    text = (tmp_path / "l.jsonl").read_text()
    (tmp_path / "l.jsonl").write_text(text[:-7])  # a run killed mid-write
    assert read_log(tmp_path / "l.jsonl") == {"a": 1}
    assert all(json.loads(line) for line in text.splitlines())


def test_atomic_save_leaves_no_temp_files(tmp_path: Path) -> None:
    atomic_save({"x": torch.ones(2)}, tmp_path / "c" / "last.pt")
    atomic_save({"x": torch.zeros(2)}, tmp_path / "c" / "last.pt")
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["last.pt"]
    assert torch.equal(load_file(tmp_path / "c" / "last.pt")["x"], torch.zeros(2))


def test_commit_snapshots_and_drops_nested_loops(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    ckpt = Checkpoint(path)
    w = torch.zeros(3)
    ckpt.commit("search", {"index": 0, "w": w})
    ckpt.commit("search/0/train", {"epoch": 2})
    ckpt.commit("search/0/pretrain", {"epoch": 1})
    w += 5  # a later in-place update must not leak into the saved outer state
    ckpt.commit("searchx", {"index": 7})  # a sibling whose name shares the prefix survives
    again = Checkpoint(path)
    assert sorted(again.keys()) == ["search", "search/0/pretrain", "search/0/train", "searchx"]
    assert torch.equal(again.get("search")["w"], torch.zeros(3))
    again.commit("search", {"index": 1, "w": w})
    assert sorted(Checkpoint(path).keys()) == ["search", "searchx"]
    assert Checkpoint(path).get("search")["index"] == 1


def test_corrupt_or_foreign_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "a.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        Checkpoint(tmp_path / "a.pt")
    torch.save({"format": "other"}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="not a nasc checkpoint"):
        Checkpoint(tmp_path / "b.pt")


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    random.seed(2)
    atomic_save(rng_state(), tmp_path / "rng.pt")
    a = (torch.rand(3), random.random())
    set_rng_state(load_file(tmp_path / "rng.pt"))
    b = (torch.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
