"""`nasc train` on a compiled model: outputs, resume, and rendered errors with exit code 1."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import nasc
from nasc.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SMALL = ["--set", "data.train_size=64", "--set", "data.test_size=32", "--set", "trainer.tensorboard=false",
         "--set", "data.batch_size=16"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-cell DARTS_V2 network with an aux tower and drop path, compiled to a model file."""
    from nasc.lower.artifact import save_artifact
    from nasc.compiler import compile_model

    result = compile_model(ROOT / "examples" / "darts_v2_cifar.nas", cells=3, channels=4, aux=True,
                           drop_path=True, seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_artifact(path, result.model, result.module, result.overrides, {"source": "darts_v2_cifar.nas"})
    return path


@pytest.mark.slow
def test_train_writes_run_dir_and_trained_model(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(model_file), "--epochs", "1", "--out", str(out), "--seed", "3", *SMALL])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[-2:] == [f"run dir: {out}", f"trained model: {out / 'model.pt'}"]
    assert lines[-3].startswith("test top-1 ")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.yaml", "log.jsonl", "log.txt",
                                                     "metrics.jsonl", "model.pt", "pictures"]
    assert (out / "pictures" / "curves.png").is_file()  # the run pictures (nasc.search.pictures)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and f"{100 * rows[0]['test_top1']:.2f}%" in lines[-3]
    from nasc.lower.artifact import read_artifact

    art = read_artifact(out / "model.pt")
    assert art.meta["trained"]["epochs"] == 1 and art.meta["trained"]["seed"] == 3
    assert art.meta["source"] == "darts_v2_cifar.nas"  # provenance of the compiled file is kept
    before, after = nasc.load(str(model_file)).state_dict(), nasc.load(str(out / "model.pt")).state_dict()
    assert list(before) == list(after)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    cfg = (out / "config.yaml").read_text()
    assert f"model: {model_file.resolve()}" in cfg and "epochs: 1" in cfg and "seed: 3" in cfg

    # resuming a finished run trains nothing and reports the same result
    again = runner.invoke(app, ["train", "--resume", str(out)])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-3] == lines[-3]


def test_unknown_override_is_rendered(model_file: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["train", str(model_file), "--set", "trainer.epoch=2", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1
    assert "trainer.epoch: config error: unknown key `trainer.epoch`" in r.output
    assert "hint: did you mean `epochs`?" in r.output
    assert not (tmp_path / "o").exists()


def test_bad_config_file_points_at_the_line(model_file: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("trainer:\n  epochs: 2\noptimizer:\n  momentun: 0.8\n")
    r = runner.invoke(app, ["train", str(model_file), "--config", str(cfg)])
    assert r.exit_code == 1
    assert f"{cfg}:4:3: config error: unknown key `optimizer.momentun`" in r.output
    assert "    4 |   momentun: 0.8" in r.output and "hint: did you mean `momentum`?" in r.output


@pytest.mark.parametrize("args,message", [
    (["--resume", "RUN", "--epochs", "3"], "--epochs cannot be combined with --resume"),
    (["--resume", "NOTARUN"], "is not a run directory (no config.yaml)"),
    (["MISSING.pt"], "no such file"),
    (["MODEL", "--data", "cifar10:/definitely/not/here"], "dataset path `/definitely/not/here` does not exist"),
    (["MODEL", "--data", "imagenet:/x"], "unknown dataset `imagenet:/x`"),
    ([], "missing MODEL argument"),
])
def test_user_errors_exit_1(model_file: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "RUN").mkdir()
    (tmp_path / "RUN" / "config.yaml").write_text("run: {name: x}\n")
    (tmp_path / "NOTARUN").mkdir()
    subst = {"RUN": str(tmp_path / "RUN"), "NOTARUN": str(tmp_path / "NOTARUN"), "MODEL": str(model_file),
             "MISSING.pt": str(tmp_path / "missing.pt")}
    r = runner.invoke(app, ["train", *[subst.get(a, a) for a in args], "--out", str(tmp_path / "o")]
                      if "--resume" not in args else ["train", *[subst.get(a, a) for a in args]])
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output


def test_out_must_be_new_or_empty(model_file: Path, tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("")
    r = runner.invoke(app, ["train", str(model_file), "--out", str(tmp_path / "o"), *SMALL])
    assert r.exit_code == 1 and "exists and is not empty" in r.output and "--resume" in r.output


def _cli(args: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "nasc", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_cli_resume_after_sigkill_matches_an_uninterrupted_run(model_file: Path, tmp_path: Path) -> None:
    common = [*SMALL, "--epochs", "3", "--set", "data.train_size=128", "--set", "trainer.checkpoint_every_steps=3",
              "--set", "trainer.log_every_steps=1", "--set", "run.threads=1", "--set", "data.augment.cutout=8"]
    ref = _cli([str(model_file), "--out", str(tmp_path / "ref"), *common])
    killed = _cli([str(model_file), "--out", str(tmp_path / "run"), *common])
    assert killed.stderr is not None
    for line in killed.stderr:  # plain progress lines (stderr is not a terminal)
        if line.startswith("[train] epoch 2/3 step 1/8"):  # mid-run: 1.9 epochs still to go
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    ref_out, ref_err = ref.communicate(timeout=300)
    assert ref.returncode == 0, ref_err
    resumed = _cli(["--resume", str(tmp_path / "run")])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "[train] resuming at epoch 2, step " in err  # (8 steps per epoch, checkpoints every 3)
    a = nasc.load(str(tmp_path / "ref" / "model.pt")).state_dict()
    b = nasc.load(str(tmp_path / "run" / "model.pt")).state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert out.splitlines()[-3] == ref_out.splitlines()[-3]  # the same test accuracy line
