"""Data-parallel differentiable searches under torchrun (gloo, two single-threaded CPU processes):
weights and architecture parameters identical on both ranks after every step, equal to a
one-process run at the same global batch, one writer, and a SIGKILLed launch resumed under
torchrun ending bit-identical to an uninterrupted one.

Every run goes through the command line (`ddp_search_script.py` wraps `nasc.cli.app` and dumps
each rank's parameters after every step and its final state). The global batch is 16: each rank
takes every other sample of it (8 each), so the two ranks together see exactly the one-process
run's batch, and the mean of their gradients is its gradient.

Tolerance against the one-process run: on `NOBN_SPACE` (no batch norm anywhere: DARTS' supernet
puts a BN after each pool, so the space has no pools either) the runs agree to float rounding:
1e-6 absolute for first order, and 1e-5 for second order, whose finite-difference quotient divides
rounding differences by `2 eps`. With batch norm each rank normalises with the statistics of its
own 8 samples instead of all 16 (SyncBatchNorm does not run on gloo/CPU), which changes every
gradient (at these batch sizes by tens of percent of a step's update), and Adam moves each alpha
by about its lr per step whatever the gradient's size, so an alpha whose gradient is near zero
may step the other way. On the DARTS toy space the test asks the whole parameter vector to agree
within 2% (norm of the difference over the norm; measured 0.14% after the first step, 0.5% after
four) and each alpha within the four steps' worth of Adam's lr of both runs; the exactness of the
reductions is what the batch-norm-free test checks. Augmentation is off in both: each rank
augments its shard with its own generator.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPACE = ROOT / "examples" / "darts_space.nas"
SCRIPT = HERE / "ddp_search_script.py"

NOBN_SPACE = """\
import std

param C = 4
param layers = 3
param classes = 10

op nb_conv_3x3 {
  relu
  conv(k=3, stride=stride, pad=1)
}
op nb_dil_3x3 {
  relu
  conv(out=C_in, k=3, stride=stride, pad=2, dilation=2, groups=C_in)
  conv(k=1)
}
op nb_skip { if stride == 1 { identity } else { conv(k=1, stride=stride) } }
op nb_pre {
  relu
  conv(k=1, stride=stride)
}
choice darts = [none, nb_skip, nb_conv_3x3, nb_dil_3x3]

cell normal(s0: nb_pre, s1: nb_pre) {
  n0 = darts(s0) + darts(s1) keep 2
  n1 = darts(s0) + darts(s1) + darts(n0) keep 2
  return concat(n0, n1)
}

cell reduce(s0: nb_pre, s1: nb_pre) {
  n0 = darts(s0) + darts(s1) keep 2
  n1 = darts(s0) + darts(s1) + darts(n0) keep 2
  return concat(n0, n1)
}

network nobn {
  input = (3, 32, 32)
  classes = classes
  stem = conv(out=C * 3, k=3, pad=1)
  cells = layers
  channels = C
  head = classifier
  affine = false
}
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _cmd(dump: Path, args: list[str], *, procs: int) -> list[str]:
    """The search `args` with a dump in `dump`: under torchrun with `procs` processes, or plain."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
              str(procs)] if procs > 1 else [sys.executable]
    return [*launch, str(SCRIPT), str(dump), "search", *args]


def _run(dump: Path, args: list[str], *, procs: int) -> None:
    proc = subprocess.run(_cmd(dump, args, procs=procs), capture_output=True, text=True,
                          env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _settings(name: str, *, train_size: int, augment: bool, every: int = 0) -> list[str]:
    section = name.replace("-", "_")
    out = ["--set", f"search.{section}.channels=4", "--set", f"search.{section}.cells=3",
           "--set", f"data.train_size={train_size}", "--set", "data.test_size=8",
           "--set", "data.batch_size=16", "--set", "trainer.epochs=2",
           "--set", f"trainer.checkpoint_every_steps={every}", "--set", "run.threads=1",
           "--set", "run.device=cpu", "--set", "trainer.tensorboard=false", "--seed", "3"]
    if not augment:
        out += ["--set", "data.augment.crop_padding=0", "--set", "data.augment.flip=false"]
    if name == "pc-darts":  # K=2 of C=4 channels; the architecture moves from the first step
        out += ["--set", "search.pc_darts.warmup_epochs=0", "--set", "search.pc_darts.k=2"]
    return out


def _dump(path: Path) -> dict[str, object]:
    return torch.load(path, weights_only=True)


def _params(dump: dict[str, object], prefix: tuple[str, ...]) -> dict[str, torch.Tensor]:
    state = dump["state"]
    assert isinstance(state, dict)
    return {k: v for k, v in state.items() if k.startswith(prefix)}


CASES = [("darts", "--first-order", 1e-6), ("darts", "--second-order", 1e-5),
         ("pc-darts", None, 1e-6), ("gdas", None, 1e-6)]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "flag", "atol"), CASES,
                         ids=["darts-first", "darts-second", "pc-darts", "gdas"])
def test_two_ranks_agree_with_each_other_and_with_one_process(tmp_path: Path, name: str,
                                                              flag: str | None,
                                                              atol: float) -> None:
    space = tmp_path / "nobn.nas"
    space.write_text(NOBN_SPACE)
    args = [name, str(space), *([flag] if flag else []),
            *_settings(name, train_size=80, augment=False)]  # 40 + 40 images: 2 steps per epoch
    _run(tmp_path / "ddp", [*args, "--out", str(tmp_path / "run2")], procs=2)
    _run(tmp_path / "one", [*args, "--out", str(tmp_path / "run1")], procs=1)
    r0, r1, one = (_dump(tmp_path / d / f"rank{r}.pt") for d, r in
                   (("ddp", 0), ("ddp", 1), ("one", 0)))
    steps0, steps1, steps_one = r0["steps"], r1["steps"], one["steps"]
    assert isinstance(steps0, list) and isinstance(steps1, list) and isinstance(steps_one, list)
    assert len(steps0) == len(steps1) == len(steps_one) == 4
    for k, (a, b, c) in enumerate(zip(steps0, steps1, steps_one)):
        assert torch.equal(a, b), f"ranks differ after step {k}"       # bit for bit
        torch.testing.assert_close(a, c, rtol=0, atol=atol, msg=f"step {k}")
    state0, state1 = r0["state"], r1["state"]
    assert isinstance(state0, dict) and isinstance(state1, dict)
    for key in state0:  # buffers too: rank 0's are broadcast at the end of each epoch
        assert torch.equal(state0[key], state1[key]), key
    # the architecture moved, identically
    arch = _params(r0, ("arch.", "beta."))
    assert arch and all(v.abs().max() > 1e-3 for v in arch.values())
    for key, value in arch.items():
        torch.testing.assert_close(value, one["state"][key], rtol=0, atol=atol)  # type: ignore[index]
    # rank 0 alone wrote the run folder: one row per epoch, the same as the one-process run's
    rows2 = [json.loads(x) for x in (tmp_path / "run2" / "alphas.jsonl").read_text().splitlines()]
    rows1 = [json.loads(x) for x in (tmp_path / "run1" / "alphas.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows2] == [0, 1] and rows2[-1]["genotype"] == rows1[-1]["genotype"]
    log = [json.loads(x) for x in (tmp_path / "run2" / "log.jsonl").read_text().splitlines()]
    header = next(e["value"] for e in log if e["path"] == [["run", "s"]])
    assert header["world_size"] == 2


@pytest.mark.slow
def test_with_batch_norm_ranks_agree_and_stay_close_to_one_process(tmp_path: Path) -> None:
    args = ["darts", str(SPACE), "--first-order", *_settings("darts", train_size=80, augment=False)]
    _run(tmp_path / "ddp", [*args, "--out", str(tmp_path / "run2")], procs=2)
    _run(tmp_path / "one", [*args, "--out", str(tmp_path / "run1")], procs=1)
    r0, r1, one = (_dump(tmp_path / d / f"rank{r}.pt") for d, r in
                   (("ddp", 0), ("ddp", 1), ("one", 0)))
    steps0, steps1, steps_one = r0["steps"], r1["steps"], one["steps"]
    assert isinstance(steps0, list) and isinstance(steps1, list) and isinstance(steps_one, list)
    assert len(steps0) == len(steps_one) == 4
    for a, b in zip(steps0, steps1):
        assert torch.equal(a, b)
    for a, ref in zip(steps0, steps_one):  # weights and alphas, flattened
        assert (a - ref).norm() <= 0.02 * ref.norm()
    lr = 3e-3  # the toy config's alpha lr: Adam moves an alpha by about lr per step
    for key, alpha in _params(r0, ("arch.",)).items():
        assert (alpha - one["state"][key]).abs().max() <= 2 * 4 * lr, key  # type: ignore[index]


# ------------------------------------------------------------------ SIGKILL and resume

def _run_and_kill(dump: Path, args: list[str], when: str) -> list[str]:
    """Launch under torchrun and SIGKILL the launcher and its workers (its process group) when
    rank 0 prints `when`, as a node that dies takes every process with it."""
    proc = subprocess.Popen(_cmd(dump, args, procs=2), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line.rstrip())
            if line.rstrip() == when:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and seen[-1:] != [when]:
            os.killpg(proc.pid, signal.SIGKILL)  # never leave workers behind on a failure
        proc.wait(timeout=120)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, seen[-30:]
    return seen


def _rows(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "flag"), [("darts", "--second-order"), ("gdas", None)])
def test_killed_torchrun_search_resumes_bit_identically(tmp_path: Path, name: str,
                                                        flag: str | None) -> None:
    # 48 train / 48 held-out images, global batch 16: 3 steps per epoch, a checkpoint after
    # every step; augmentation on, so each rank's own held-out stream state must come back
    args = [name, str(SPACE), *([flag] if flag else []),
            *_settings(name, train_size=96, augment=True, every=1)]
    ref, run = tmp_path / "ref", tmp_path / "run"
    _run(tmp_path / "ref-dump", [*args, "--out", str(ref)], procs=2)

    seen = _run_and_kill(tmp_path / "killed", [*args, "--out", str(run)],
                         f"[{name}] checkpoint at epoch 2 step 1 (step 4)")  # mid-epoch
    assert f"[{name}] starting: 2 epochs of 3 steps" in seen
    assert not (run / "final.nas").exists()
    _run(tmp_path / "resumed", [name, "--resume", str(run)], procs=2)

    for r in (0, 1):  # each rank ends where the uninterrupted run's rank ends, bit for bit
        done, again = (_dump(tmp_path / d / f"rank{r}.pt") for d in ("ref-dump", "resumed"))
        assert done["global_step"] == again["global_step"] == 6
        for key, value in done["state"].items():  # type: ignore[attr-defined]
            assert torch.equal(value, again["state"][key]), (r, key)  # type: ignore[index]
    a, b = (torch.load(d / "supernet.pt", weights_only=True) for d in (ref, run))
    assert a["alphas"] == b["alphas"]
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert _rows(ref / "alphas.jsonl") == _rows(run / "alphas.jsonl")
    assert _rows(ref / "metrics.jsonl") == _rows(run / "metrics.jsonl")
    assert (ref / "genotype.txt").read_text() == (run / "genotype.txt").read_text()
