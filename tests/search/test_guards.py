"""Collapse guards of the differentiable searches: the P-DARTS skip cap (a `finalize` option),
the DARTS+ / DARTS-ES early stop (a search hook), DARTS-PT's perturbation selection."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from nasc.cli.app import app
from nasc.frontend import parse_source
from nasc.ir.queries import choice_shapes
from nasc.passes.finalize import finalize
from nasc.passes.skip_cap import SKIP_OPS
from nasc.search.darts import derive
from nasc.search.darts_supernet import DartsSupernet
from nasc.search.guards import GuardsSection, GuardStep, dominant_eigenvalue, skip_count
from nasc.search.perturbation import pt_select
from nasc.train.data import DeviceData
from search_helpers import SMOOTH_SPACE, TINY_SPACE, tiny_space

runner = CliRunner()
CANDS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
         "dil_conv_3x3", "dil_conv_5x5"]


def _alphas(favour: dict[str, float], seed: int = 0) -> dict[str, torch.Tensor]:
    """Small random alphas plus `favour[op]` on that op's column, for every edge."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for t, shape in choice_shapes(tiny_space()).items():
        a = 0.01 * torch.randn(*shape, generator=g)
        for op, v in favour.items():
            a[:, CANDS.index(op)] += v
        out[t] = a
    return out


def _skips(model, template: str) -> list[str]:
    cell = model.cell(template)
    return [e.op.op for n in cell.nodes for e in n.edges if e.op.op in SKIP_OPS]


# ------------------------------------------------------------------------------ P-DARTS cap

def test_skip_cap_keeps_at_most_m_skips_in_the_normal_cell_and_takes_the_next_best_op() -> None:
    space = tiny_space()
    # skip_connect strongest everywhere, sep_conv_3x3 second
    alphas = _alphas({"skip_connect": 2.0, "sep_conv_3x3": 1.0})
    plain = derive(space, alphas)
    assert len(_skips(plain, "normal")) == 4  # collapsed: every kept edge is a skip
    capped = derive(space, alphas, max_skip=1)
    assert len(_skips(capped, "normal")) == 1
    ops = [e.op.op for n in capped.cell("normal").nodes for e in n.edges]
    assert sorted(ops) == ["sep_conv_3x3"] * 3 + ["skip_connect"]
    # the reduction cell is not capped (P-DARTS caps the normal cell) unless asked
    assert capped.cell("reduce") == plain.cell("reduce")
    assert _skips(derive(space, alphas, max_skip=1, skip_cells="all"), "reduce") == ["skip_connect"]
    # the skip that stays is the strongest one
    probs = torch.softmax(alphas["normal"], -1)[:, CANDS.index("skip_connect")]
    kept = [i for i in range(5) if i in (0, 1)]  # n0's edges are rows 0, 1 (keep 2 of 2)
    assert kept and derive(space, alphas, max_skip=4) == plain
    strongest = int(probs.argmax())
    assert strongest >= 0


def test_skip_cap_is_a_finalize_pass_option() -> None:
    from nasc.passes import make_pass
    from nasc.passes.finalize import scores_from_matrices

    space = tiny_space()
    scores = scores_from_matrices(space, _alphas({"skip_connect": 2.0}))
    p = make_pass("finalize", {"scores": scores, "max_skip": 0})
    out = p.run(space)
    assert _skips(out, "normal") == [] and len(_skips(out, "reduce")) == 4


def test_skip_cap_on_an_edge_with_only_skips_left_keeps_the_edge_alive() -> None:
    src = TINY_SPACE.replace("""choice darts = [none, max_pool_3x3, avg_pool_3x3, skip_connect,
                sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5]""",
                             "choice darts = [none, skip_connect]")
    space = parse_source(src, "skips.nas")
    alphas = {t: torch.zeros(*s) for t, s in choice_shapes(space).items()}
    final = derive(space, alphas, max_skip=0)  # cannot be met: every kept edge stays a skip
    assert len(_skips(final, "normal")) == 4


# ------------------------------------------------------------------------------ DARTS+ stop

SKIP_ONLY = TINY_SPACE.replace("""choice darts = [none, max_pool_3x3, avg_pool_3x3, skip_connect,
                sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5]""",
                               "choice darts = [none, skip_connect, avg_pool_3x3]").replace(
    "input = (3, 8, 8)", "input = (3, 32, 32)").replace("param classes = 5", "param classes = 10")


def test_darts_plus_stops_the_search_cleanly_and_provenance_says_why(tmp_path: Path) -> None:
    space = tmp_path / "skips.nas"
    # pools are never chosen over a skip here: alphas favour skip_connect from the start
    space.write_text(SKIP_ONLY.replace("[none, skip_connect, avg_pool_3x3]",
                                       "[none, skip_connect]"))
    out = tmp_path / "run"
    r = runner.invoke(app, [
        "search", "darts", str(space), "--out", str(out), "--set", "data.train_size=32",
        "--set", "data.test_size=8", "--set", "data.batch_size=8", "--set", "trainer.epochs=3",
        "--set", "run.threads=1", "--set", "run.device=cpu",
        "--set", "search.guards.stop_skip=2"])
    assert r.exit_code == 0, r.output
    assert "early stop (darts+) after epoch 1 of 3" in r.output
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "finished"
    assert prov["early_stop"]["guard"] == "darts+" and prov["early_stop"]["epoch"] == 0
    assert "4 skip connections" in prov["early_stop"]["reason"]
    rows = [json.loads(x) for x in (out / "alphas.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [0]
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["skip_count"] for m in metrics if m.get("loop") == "darts"] == [4]
    assert (out / "final.nas").exists()
    assert runner.invoke(app, ["check", str(out / "final.nas")]).exit_code == 0


def test_a_stopped_guard_stops_the_resumed_trainer_again() -> None:
    model = DartsSupernet.build(tiny_space())
    step = GuardStep(GuardsSection(stop_skip=2), model, model.space, None, batch_size=8, seed=0)
    step.stop = {"guard": "darts+", "reason": "why", "epoch": 0, "epochs_planned": 3}
    again = GuardStep(GuardsSection(stop_skip=2), model, model.space, None, batch_size=8, seed=0)
    again.load_state_dict(step.state_dict())
    stopped: list[str] = []
    again.on_fit_start(SimpleNamespace(request_stop=stopped.append))  # type: ignore[arg-type]
    assert stopped == ["why"]


def test_skip_count_counts_chosen_skips_only() -> None:
    space = tiny_space()
    final = derive(space, _alphas({"skip_connect": 2.0}))
    assert skip_count(space, final) == 4 and skip_count(space, final, "all") == 8


# ------------------------------------------------------------------------------ DARTS-ES

SMALL = """\
import std
param C = 4
param classes = 5
choice ops = [none, sep_conv_3x3, dil_conv_3x3, sep_conv_5x5]
cell normal(s0: preprocess, s1: preprocess) {
  n0 = ops(s0) + ops(s1) keep 2
  n1 = ops(s0) + ops(s1) + ops(n0) keep 2
  return concat(n0, n1)
}
network small {
  input = (3, 8, 8)
  classes = classes
  stem = cifar_stem(C_out=C * 3)
  cells = 1
  channels = C
  reductions = ()
  head = classifier
  affine = false
}
"""


def _small_supernet(seed: int = 0) -> DartsSupernet:
    torch.manual_seed(seed)
    return DartsSupernet.build(parse_source(SMALL, "small.nas"), channels_last=False)


def test_power_iteration_finds_the_dominant_eigenvalue_of_the_alpha_hessian() -> None:
    # one cell of ReLU-free candidates in float64: the loss is smooth in the alphas, so the
    # finite-difference Hessian below is exact to many digits (ReLU kinks would blur it)
    src = SMOOTH_SPACE.replace("param layers = 3", "param layers = 1").replace(
        "  cells = layers\n", "  cells = layers\n  reductions = ()\n")
    torch.manual_seed(0)
    model = DartsSupernet.build(parse_source(src, "smooth1.nas"), channels_last=False).double()
    with torch.no_grad():
        model.arch["normal"].normal_(0, 0.5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 8, 8, generator=g).double()
    y = torch.randint(0, 5, (16,), generator=g)
    before = {n: b.clone() for n, b in model.named_buffers()}
    alpha = model.arch["normal"].detach().clone()
    lam = dominant_eigenvalue(model, [(x, y)], iters=60)
    # nothing of the model changed
    assert torch.equal(model.arch["normal"], alpha)
    assert all(torch.equal(b, before[n]) for n, b in model.named_buffers())

    # the full Hessian by central differences of the gradient, column by column
    def grad(a: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            model.arch["normal"].copy_(a)
        out = torch.nn.functional.cross_entropy(model(x), y)
        (gr,) = torch.autograd.grad(out, [model.arch["normal"]])
        return gr.flatten()

    model.train()
    n = alpha.numel()
    cols = []
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = 1e-3
        cols.append((grad(alpha + e.view_as(alpha)) - grad(alpha - e.view_as(alpha))) / 2e-3)
    with torch.no_grad():
        model.arch["normal"].copy_(alpha)
    h = torch.stack(cols, 1)
    assert torch.allclose(h, h.T, atol=1e-8)
    eig = torch.linalg.eigvalsh(h)
    dominant = float(eig[eig.abs().argmax()])
    assert lam == pytest.approx(dominant, rel=1e-3)


def test_eigenvalue_stop_rolls_the_alphas_back_to_epoch_i_minus_k(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import nasc.search.guards as guards

    model = _small_supernet()
    step = GuardStep(GuardsSection(eigen_threshold=0.75, eigen_window=1), model, model.space,
                     None, batch_size=8, seed=0)
    stopped: list[str] = []
    trainer = SimpleNamespace(request_stop=stopped.append, emit=lambda e: None, epochs=5,
                              key="darts", dist=SimpleNamespace(enabled=False))
    values = iter([1.0, 1.1, 2.0])  # 1.1 / 2.0 = 0.55 < 0.75 at the third epoch
    monkeypatch.setattr(guards, "dominant_eigenvalue", lambda *a, **k: next(values))
    monkeypatch.setattr(step, "_batches", lambda: [])
    snapshots = []
    for epoch in range(3):
        with torch.no_grad():
            model.arch["normal"].fill_(float(epoch))
        snapshots.append(model.arch["normal"].detach().clone())
        metrics: dict = {}
        step.on_epoch_end(trainer, epoch, metrics)  # type: ignore[arg-type]
        assert metrics["hessian_eigenvalue"] == step.eigenvalues[-1]
        assert (len(stopped) == 1) == (epoch == 2)  # 1.0 / 1.1 = 0.91 at the second: go on
    assert step.stop is not None
    assert step.stop["guard"] == "darts-es" and step.stop["epoch"] == 2
    assert step.stop["alphas_from_epoch"] == 1
    step.on_fit_end(trainer, None)  # type: ignore[arg-type]
    assert torch.equal(model.arch["normal"], snapshots[1])


# ------------------------------------------------------------------------------ DARTS-PT

def test_pt_picks_the_op_whose_removal_hurts_most_not_the_largest_alpha() -> None:
    model = _small_supernet(seed=3)
    space = model.space
    names = ["none", "sep_conv_3x3", "dil_conv_3x3", "sep_conv_5x5"]
    live = {0: 1, 1: 2, 2: 3, 3: 1, 4: 2}  # choice row -> the one op with nonzero weights
    cell = model.net.cells[0]
    rows = [(n, i) for n in ("n0", "n1") for i in range(2 if n == "n0" else 3)]
    with torch.no_grad():
        for r, (n, i) in enumerate(rows):
            mixed = getattr(getattr(cell, n), f"e{i}").op
            for j, op in enumerate(mixed.ops):
                if j != live[r]:
                    for p in op.parameters():
                        p.zero_()  # a dead op: its output is exactly zero
        # the alphas favour a dead op on every edge: the DARTS rule picks it
        a = torch.zeros(5, 4)
        for r in range(5):
            a[r, 1 + (live[r] % 3)] = 1.0
        model.arch["normal"].copy_(a)
        model.net.head[-1].bias.zero_() if hasattr(model.net.head[-1], "bias") else None
    model.eval()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8, generator=g)
    data = DeviceData.create(images, torch.zeros(96, dtype=torch.long), (0.5,) * 3, (0.25,) * 3,
                             5, torch.device("cpu"))
    with torch.no_grad():  # labels: the supernet's own predictions (it scores 100%)
        labels = torch.cat([model(data.normalise(images[i:i + 32])).argmax(1)
                            for i in range(0, 96, 32)])
    data = DeviceData(images, labels, data.mean, data.std, 5)
    darts_ops = [e.op.op for n in derive(space, model.alpha_matrices()).cell("normal").nodes
                 for e in n.edges]
    scores, record = pt_select(model, space, data, batch_size=32, edges="rule", seed=0)
    assert record["supernet_accuracy"] == 1.0
    picked = {eid: rec["op"] for eid, rec in record["ops"].items()}
    want = {f"normal.{n}.e{i}": names[live[r]] for r, (n, i) in enumerate(rows)}
    assert picked == want
    final = finalize(space, scores, logits=False)
    pt_ops = sorted(e.op.op for n in final.cell("normal").nodes for e in n.edges)
    assert pt_ops != sorted(darts_ops)
    assert set(pt_ops) <= {names[v] for v in live.values()}
    # removing a dead op changes nothing (the same accuracy for all of them); removing the
    # live one costs at least as much (ties go to the higher loss)
    for eid, rec in record["ops"].items():
        dead = {acc for op, acc in rec["accuracy_without"].items() if op != picked[eid]}
        assert len(dead) == 1
        assert rec["accuracy_without"][picked[eid]] <= min(dead)
