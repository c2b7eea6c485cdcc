"""Plugins: the package of docs/extending.md, built from the page's code blocks and installed as a
real distribution (a `*.dist-info` with `entry_points.txt` on the path), adds an op, a pass, a
search algorithm and a dataset that `nasc check`, `compile`, `search` and `train` then use."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"


def doc_files() -> dict[str, str]:
    """The code blocks of the page whose first line is `# file: PATH`, by path."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    out = {}
    for block in blocks:
        first, _, rest = block.partition("\n")
        if first.startswith("# file: "):
            out[first[len("# file: "):].strip()] = rest
    return out


def install(site: Path) -> dict[str, str]:
    """Write the package and its dist-info into `site`; return the page's files."""
    files = doc_files()
    meta = tomllib.loads(files["pyproject.toml"])
    pkg = site / "nasc_extras"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""The example plugin of docs/extending.md."""\n')
    for name, text in files.items():
        if name.startswith("nasc_extras/"):
            (site / name).write_text(text)
    dist = site / "nasc_extras-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['project']['name']}\n"
                                   f"Version: {meta['project']['version']}\n")
    eps = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n"
                  for group, items in meta["project"]["entry-points"].items())
    (dist / "entry_points.txt").write_text(eps)
    return files


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    site = tmp_path_factory.mktemp("site")
    return site, install(site)


def nasc(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nasc", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600)


def test_the_page_has_every_file_of_the_plugin() -> None:
    assert set(doc_files()) == {"pyproject.toml", "nasc_extras/ops.py", "nasc_extras/passes.py",
                                "nasc_extras/search.py", "nasc_extras/data.py", "swishnet.nas"}


def test_plugins_lists_what_the_plugin_adds(plugin: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    site, _ = plugin
    r = nasc(site, "plugins", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {(p["kind"], p["name"]): p for p in json.loads(r.stdout)}
    for kind, name in [("op", "swish"), ("pass", "rename"), ("search", "first"), ("dataset", "blobs")]:
        assert rows[(kind, name)]["origin"] == "nasc-extras", rows[(kind, name)]
    assert rows[("op", "conv")]["origin"] == "built-in"
    assert rows[("search", "darts")]["origin"] == "built-in"


@pytest.mark.slow
def test_check_compile_search_and_train_use_the_plugin(plugin: tuple[Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    site, files = plugin
    net = tmp_path / "swishnet.nas"
    net.write_text(files["swishnet.nas"])
    # without the plugin, `swish` is unknown
    r = subprocess.run([sys.executable, "-m", "nasc", "check", str(net)], text=True,
                       capture_output=True, cwd=tmp_path)
    assert r.returncode == 1 and "swish" in r.stderr
    r = nasc(site, "check", str(net), cwd=tmp_path)
    assert r.returncode == 0, r.stderr

    model = tmp_path / "model.pt"
    r = nasc(site, "compile", str(net), "-o", str(model), "--passes", "rename,affine-bn",
             "--option", "rename.to=wide", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([sys.executable, "-c", "import sys; from nasc import api; "
                        "print(api.read_model(sys.argv[1]).name)", str(model)],
                       text=True, capture_output=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "wide"  # the plugin pass ran in the pipeline
    r = nasc(site, "train", str(model), "--data", "blobs", "--epochs", "1", "--out",
             str(tmp_path / "train"), "--set", "data.train_size=64", "--set", "data.test_size=32",
             "--set", "data.batch_size=32", "--set", "trainer.tensorboard=false", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "test top-1" in r.stdout
    config = (tmp_path / "train" / "config.yaml").read_text()
    assert "dataset: blobs" in config

    out = tmp_path / "search"
    r = nasc(site, "search", "first", str(ROOT / "examples" / "darts_space.nas"), "--out", str(out),
             "--set", "search.first.cells=3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["algorithm"] == "first" and prov["status"] == "finished"
    text = (out / "final.nas").read_text()
    assert text.startswith("# The first candidate of every choice")
    assert "max_pool_3x3" in text  # the first non-`none` candidate of the DARTS choice
    r = nasc(site, "check", str(out / "final.nas"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
