"""The channels-last workaround: torch 2.13's CPU backward of a 1x1 stride-2 channels-last conv
with 1-4 channels corrupts the heap, which a toy DARTS search at `search.darts.channels=2` hit
(SIGSEGV). The supernet leaves channels-last off when its elaborated network has such a conv."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasc.frontend import load_model
from nasc.passes.scale_up import scale_up
from nasc.search.darts_supernet import MIN_CHANNELS_LAST_WIDTH, DartsSupernet, narrowest_conv

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "darts_space.nas"


@pytest.mark.parametrize("channels, expected", [(2, False), (4, False), (5, True), (8, True)])
def test_channels_last_only_without_narrow_strided_1x1_convs(channels: int, expected: bool) -> None:
    space = scale_up(load_model(SPACE), cells=3, channels=channels)
    for asked in (None, True):  # even an explicit request: it would crash the process
        model = DartsSupernet.build(space, device="cpu", channels_last=asked)
        narrow = narrowest_conv(model.net.network)
        assert narrow is not None and (narrow >= MIN_CHANNELS_LAST_WIDTH) == expected
        assert model.channels_last is expected
    assert DartsSupernet.build(space, device="cpu", channels_last=False).channels_last is False


@pytest.mark.slow
def test_toy_search_at_two_channels_completes(tmp_path: Path) -> None:
    """In a subprocess (a heap corruption must not take the test run down): the toy search at
    `search.darts.channels=2` exits 0, not by a signal."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nasc", "search", "darts", str(SPACE), "--set", "search.darts.channels=2",
           "--set", "data.train_size=256", "--set", "data.test_size=64", "--set", "trainer.epochs=1",
           "--out", str(out)]
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env, cwd=ROOT)
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert (out / "final.nas").is_file()
