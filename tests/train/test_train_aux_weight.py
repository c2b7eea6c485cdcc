"""The aux-head loss weight has one source: the model's IR (`aux = ... weight W` or the aux-towers
pass's `weight`), overridden only by an explicit `trainer.aux_weight`; the run log says which."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nasc.analysis.elaborate import elaborate
from nasc.frontend import load_model
from nasc.ir.model import Model
from nasc.lower import NascNet, build_module
from nasc.passes import run_pipeline
from nasc.resources import configs_dir
from nasc.train.config import load_config
from nasc.train.data import build_data
from nasc.train.rundir import RunDir
from nasc.train.runlog import read_log
from nasc.train.runner import train_model
from nasc.train.trainer import Trainer, resolve_aux_weight

from train_helpers import TinyNet, tiny_config

CPU = torch.device("cpu")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def small_model(tmp_path: Path, weight: str = "0.25") -> Model:
    """DARTS_V2 at toy size (C=4, 3 cells) with the aux weight written in the source."""
    text = (EXAMPLES / "darts_v2_cifar.nas").read_text()
    assert "weight 0.4" in text
    path = tmp_path / "net.nas"
    path.write_text(text.replace("weight 0.4", f"weight {weight}"))
    return load_model(path, {"C": 4, "layers": 3})


def lower(model: Model) -> NascNet:
    torch.manual_seed(0)
    return build_module(elaborate(model))


def small_cfg(**values: object) -> object:
    return tiny_config(**{"data.train_size": 32, "data.test_size": 16, "data.batch_size": 16,
                          "trainer.epochs": 1, "trainer.drop_path_prob": 0.0, **values})


def test_a_model_compiled_with_weight_0_25_trains_with_0_25(tmp_path: Path) -> None:
    net = lower(small_model(tmp_path))
    assert net.aux_weight == pytest.approx(0.25)
    cfg = small_cfg()
    assert cfg.trainer.aux_weight is None  # type: ignore[attr-defined]
    trainer = Trainer.from_config(net, cfg, device=CPU)
    assert (trainer.aux_weight, trainer.aux_weight_source) == (0.25, "model")
    bundle = build_data(cfg.data, device=CPU, seed=0)  # type: ignore[attr-defined]
    x, y = bundle.train.next_batch()
    net.train()
    with torch.no_grad():  # the same forward the step does (batch statistics, no drop path)
        logits, aux = net(x)
        main, side = F.cross_entropy(logits, y), F.cross_entropy(aux, y)
    loss, _ = trainer.train_step(x, y)
    assert float(side) > 0.1  # the aux term is not negligible, so its weight shows in the loss
    assert float(loss) == pytest.approx(float(main + 0.25 * side), rel=1e-5)
    assert float(loss) != pytest.approx(float(main + 0.4 * side), rel=1e-3)


def test_the_aux_towers_pass_weight_reaches_training(tmp_path: Path) -> None:
    model = run_pipeline(small_model(tmp_path), "aux-towers", {"aux-towers": {"weight": 0.3}})
    trainer = Trainer.from_config(lower(model), small_cfg(), device=CPU)
    assert (trainer.aux_weight, trainer.aux_weight_source) == (0.3, "model")
    logits, aux, y = torch.randn(4, 10), torch.randn(4, 10), torch.arange(4)
    want = F.cross_entropy(logits, y) + 0.3 * F.cross_entropy(aux, y)
    assert torch.allclose(trainer.criterion((logits, aux), y), want)


def test_an_explicit_config_value_wins_and_is_logged(tmp_path: Path) -> None:
    net = lower(small_model(tmp_path))
    cfg = small_cfg(**{"trainer.aux_weight": 0.6})
    run = RunDir.create("aux", base=tmp_path)
    outcome = train_model(net, cfg, run=run)
    run.close()
    assert outcome.fit.global_step == 2
    text = (run.root / "log.txt").read_text()
    assert ("[train] aux loss weight 0.6 (config: trainer.aux_weight is set, overriding the "
            "model's 0.25)") in text
    setup = read_log(run.root / "log.jsonl")["train"]["setup"]
    assert setup["aux_weight"]["value"] == 0.6 and setup["aux_weight"]["source"] == "config"
    trainer = Trainer.from_config(lower(small_model(tmp_path)), cfg, device=CPU)
    logits, aux, y = torch.randn(4, 10), torch.randn(4, 10), torch.arange(4)
    want = F.cross_entropy(logits, y) + 0.6 * F.cross_entropy(aux, y)
    assert torch.allclose(trainer.criterion((logits, aux), y), want)


def test_the_model_weight_is_logged_when_the_config_says_nothing(tmp_path: Path) -> None:
    run = RunDir.create("aux", base=tmp_path)
    train_model(lower(small_model(tmp_path)), small_cfg(), run=run)
    run.close()
    assert "aux loss weight 0.25 (model: the model's aux head weight" in (run.root / "log.txt").read_text()
    setup = read_log(run.root / "log.jsonl")["train"]["setup"]
    assert (setup["aux_weight"]["value"], setup["aux_weight"]["source"]) == (0.25, "model")


def test_resolution_rules() -> None:
    assert resolve_aux_weight(TinyNet(), None)[:2] == (0.4, "default")  # a module that does not say
    assert resolve_aux_weight(TinyNet(), 0.0)[:2] == (0.0, "config")
    weighted = TinyNet()
    weighted.aux_weight = 0.25  # type: ignore[assignment]
    assert resolve_aux_weight(weighted, None)[:2] == (0.25, "model")
    weight, source, why = resolve_aux_weight(weighted, 0.25)
    assert (weight, source) == (0.25, "config") and "overriding" not in why


def test_the_shipped_train_config_leaves_the_weight_to_the_model() -> None:
    for full in (False, True):
        cfg = load_config(configs_dir() / "train.yaml", full=full)
        assert cfg.trainer.aux_weight is None  # DARTS_V2 says `weight 0.4`: same as before
