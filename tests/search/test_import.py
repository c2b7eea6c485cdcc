"""`nasc import genotype|archai`: DARTS-family genotypes and Archai descriptions become networks
whose parameter counts are the reference code's, and whose genotype reads back unchanged; the
`genotype:` source prefix of viz / compile / train."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasc import api
from nasc.cli.app import app
from nasc.errors import NascError, ParseError
from nasc.search.genotype import parse_genotype, to_genotype

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import darts_reference as ref  # noqa: E402
from archai_fixture import archai_desc  # noqa: E402

runner = CliRunner()

# (params without the aux tower, with it) of the reference code's NetworkCIFAR(36, 10, 20, aux)
# and NetworkImageNet(48, 1000, 14, aux); the test recomputes them with the reference builder
COUNTS = {
    "NASNet": ((3_830_950, 4_288_944), (5_564_320, 6_800_520)),
    "AmoebaNet": ((3_145_078, 3_603_072), (4_627_360, 5_863_560)),
    "DARTS_V1": ((3_169_414, 3_645_840), (4_510_432, 5_771_208)),
    "DARTS_V2": ((3_349_342, 3_825_768), (4_718_752, 5_979_528)),
    "PC_DARTS_cifar": ((3_634_678, 4_111_104), (5_270_560, 6_531_336)),
    "PC_DARTS_image": ((3_721_510, 4_197_936), (5_342_464, 6_603_240)),
}


def _all_params(net: object) -> int:
    return sum(p.numel() for p in net.parameters())  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(COUNTS))
def test_family_genotypes_compile_to_the_reference_counts(name: str) -> None:
    g = ref.FAMILY[name]
    text = ref.genotype_text(g)
    cifar_ref = ref.NetworkCIFAR(36, 10, 20, True, g)
    imagenet_ref = ref.NetworkImageNet(48, 1000, 14, True, g)
    expected = COUNTS[name]
    assert ((ref.count_parameters(cifar_ref), _all_params(cifar_ref)),
            (ref.count_parameters(imagenet_ref), _all_params(imagenet_ref))) == expected
    for imagenet, (without_aux, with_aux) in zip((False, True), expected):
        result = api.import_genotype(text, imagenet=imagenet)
        cost = api.stats(result.model).cost.as_dict()
        assert (cost["params"], cost["params_with_aux"]) == (without_aux, with_aux)
        module = api.compile(result.model).module
        assert _all_params(module) == with_aux
        assert _all_params(module) - _all_params(module.aux) == without_aux
        # the round trip: the network's genotype is the one imported
        assert parse_genotype(result.genotype) == parse_genotype(text)
        assert to_genotype(result.model) == result.genotype


def test_default_skeletons_are_the_example_networks() -> None:
    v2 = ref.genotype_text(ref.DARTS_V2)
    for imagenet, example in ((False, "darts_v2_cifar.nas"), (True, "darts_v2_imagenet.nas")):
        model = api.import_genotype(v2, imagenet=imagenet).model
        expected = api.load(ROOT / "examples" / example)
        assert model.model_copy(update={"name": expected.name}) == expected


def test_written_file_loads_back_and_pt_darts_form_is_accepted(tmp_path: Path) -> None:
    pt = ("Genotype(normal=[[('sep_conv_3x3', 0), ('skip_connect', 1)], [('sep_conv_5x5', 2), "
          "('max_pool_3x3', 0)]], normal_concat=range(2, 4), reduce=[[('max_pool_3x3', 0), "
          "('sep_conv_7x7', 1)], [('conv_7x1_1x7', 2), ('skip_connect', 2)]], reduce_concat=[2, 3])")
    out = tmp_path / "net.nas"
    result = api.import_genotype("genotype:" + pt, out=out, name="mine")
    assert result.path == out and out.read_text() == result.text
    loaded = api.load(out)
    assert loaded == result.model and loaded.name == "mine"
    assert to_genotype(loaded) == pt.replace("reduce_concat=[2, 3]", "reduce_concat=range(2, 4)")
    assert api.format_file(out, check=True).changed is False


def test_space_file_gives_the_skeleton() -> None:
    space = ROOT / "examples" / "darts_space.nas"
    result = api.import_genotype(ref.genotype_text(ref.DARTS_V2), space=space)
    base = api.load(space)
    assert result.model.layout == base.layout and result.model.stems == base.stems
    assert result.model.affine == base.affine
    assert not any(e.op.kind == "choice" for c in result.model.cells for n in c.nodes for e in n.edges)
    assert parse_genotype(result.genotype) == parse_genotype(ref.genotype_text(ref.DARTS_V2))


@pytest.mark.parametrize("text, message", [
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)])", "no reduce= cell"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 9)], reduce=[('skip_connect', 0), "
     "('skip_connect', 1)])", "input 9 does not exist"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x4', 1)], reduce=[('skip_connect', 0), "
     "('skip_connect', 1)])", "unknown op `sep_conv_3x4`"),
])
def test_bad_genotypes_are_located_errors(text: str, message: str) -> None:
    with pytest.raises(NascError) as info:
        api.import_genotype(text)
    assert message in str(info.value)


def test_genotype_prefix_in_load_compile_draw(tmp_path: Path) -> None:
    text = "genotype:" + ref.genotype_text(ref.DARTS_V1)
    assert api.is_genotype_source(text) and not api.is_genotype_source("net.nas")
    model = api.load(text, ["C=8", "layers=5"])
    assert [p.default for p in model.params] == [8, 5, 10]
    result = api.compile(text, overrides=["C=4", "layers=3"], aux=False)
    assert len(result.network.cells) == 3 and result.module.aux is None
    drawn = api.draw(text, tmp_path / "g.dot", overrides=["layers=5"])
    assert drawn.path.read_text().startswith("digraph") and len(drawn.network.cells) == 5


def test_cli_import_genotype_and_viz_prefix(tmp_path: Path) -> None:
    text = ref.genotype_text(ref.PC_DARTS_cifar)
    out = tmp_path / "pc.nas"
    r = runner.invoke(app, ["import", "genotype", text, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "20 cells, 3,634,678 params" in r.output and out.is_file()
    r = runner.invoke(app, ["import", "genotype", text, "--imagenet", "-o", str(tmp_path / "i.nas")])
    assert r.exit_code == 0 and "14 cells, 5,270,560 params" in r.output
    r = runner.invoke(app, ["viz", "genotype:" + text, "-o", str(tmp_path / "g.dot"), "--set", "layers=5"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["import", "genotype", "Genotype(normal=[", "-o", str(tmp_path / "x.nas")])
    assert r.exit_code != 0 and "genotype" in r.output and not (tmp_path / "x.nas").exists()


# ---- Archai ----------------------------------------------------------------------------------

V2_NORMAL = [[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)], [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)],
             [("sep_conv_3x3", 1), ("skip_connect", 0)], [("skip_connect", 0), ("dil_conv_3x3", 2)]]
V2_REDUCE = [[("max_pool_3x3", 0), ("max_pool_3x3", 1)], [("skip_connect", 2), ("max_pool_3x3", 1)],
             [("max_pool_3x3", 0), ("skip_connect", 2)], [("skip_connect", 2), ("max_pool_3x3", 1)]]


def test_archai_description_imports_without_executing_tags(tmp_path: Path) -> None:
    desc = tmp_path / "final_model_desc.yaml"
    desc.write_text(archai_desc(V2_NORMAL, V2_REDUCE))
    assert "!!python/object:archai.nas.model_desc.CellDesc" in desc.read_text()
    out = tmp_path / "net.nas"
    result = api.import_archai(desc, out=out)
    assert parse_genotype(result.genotype) == parse_genotype(ref.genotype_text(ref.DARTS_V2))
    assert api.stats(result.model).cost.params == 3_349_342  # the DARTS_V2 CIFAR network
    assert api.load(out) == result.model


def test_archai_macro_is_read(tmp_path: Path) -> None:
    desc = tmp_path / "d.yaml"
    desc.write_text(archai_desc(V2_NORMAL[:2], V2_REDUCE[:2], cells=8, C=16, classes=100, aux_after=6))
    model = api.import_archai(desc).model
    net = api.stats(model).network
    assert len(net.cells) == 8 and [p.default for p in model.params] == [16, 8, 100]
    assert model.aux is not None and api.to_nas(model).count("after 6 weight 0.4") == 1
    assert to_genotype(model).count("range(2, 4)") == 2


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.mark.parametrize("edit, needle, message", [
    (lambda t: t.replace("!!python/object:archai.nas.model_desc.AuxTowerDesc",
                         "!!python/object/apply:os.system", 1),
     "os.system", "tag `tag:yaml.org,2002:python/object/apply:os.system` is not allowed"),
    (lambda t: t.replace("name: concate_channels", "name: proj_channels", 1),
     "proj_channels", "cell post op `proj_channels` is not supported"),
    (lambda t: t.replace("name: dil_conv_3x3", "name: mixed_op", 1), "mixed_op", "op `mixed_op`"),
])
def test_archai_refusals_point_at_their_line(tmp_path: Path, edit, needle: str, message: str) -> None:
    text = edit(archai_desc(V2_NORMAL, V2_REDUCE))
    desc = tmp_path / "d.yaml"
    desc.write_text(text)
    with pytest.raises(ParseError) as info:
        api.import_archai(desc)
    assert message in info.value.message
    assert info.value.span is not None and info.value.span.file == str(desc)
    assert info.value.span.line == _line_of(text, needle)


def test_archai_cells_of_one_type_must_agree(tmp_path: Path) -> None:
    other = [list(n) for n in V2_REDUCE]
    other[0] = [("avg_pool_3x3", 0), ("max_pool_3x3", 1)]
    desc = tmp_path / "d.yaml"
    desc.write_text(archai_desc(V2_NORMAL, V2_REDUCE, reduce_override={13: other}))
    with pytest.raises(ParseError, match="cell 13 \\(reduction\\) differs"):
        api.import_archai(desc)


def test_cli_import_archai(tmp_path: Path) -> None:
    desc = tmp_path / "d.yaml"
    desc.write_text(archai_desc(V2_NORMAL, V2_REDUCE))
    r = runner.invoke(app, ["import", "archai", str(desc), "-o", str(tmp_path / "a.nas")])
    assert r.exit_code == 0, r.output
    assert "3,349,342 params" in r.output and "genotype: Genotype(normal=[[('sep_conv_3x3', 0)" in r.output


def test_train_source_compiles_the_genotype_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = "genotype:" + ref.genotype_text(ref.DARTS_V2)
    path = api._genotype_model_file(text)  # what `nasc train genotype:...` trains
    assert path.parent == Path("runs") / "genotypes" and path.is_file()
    assert api._genotype_model_file(text) == path  # a resumed run finds the same file
    assert to_genotype(api.read_model(path)) == to_genotype(api.load(text))
