"""The GPU kernels, run by the Triton interpreter on the CPU, reproduce the golden bytes.

The interpreter must be chosen before the kernels are defined (TRITON_INTERPRET=1 at import),
so the kernels run in one subprocess (tests/entropy/golden/run_interp.py) and these tests
check its results. No GPU is needed; on a GPU machine test_gpu_cuda.py runs the compiled
kernels on large inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .golden.make_golden import load

ROOT = Path(__file__).resolve().parents[2]
NAMES = [c["name"] for c in load()]


@pytest.fixture(scope="module")
def interp() -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "tests.entropy.golden.run_interp"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", NAMES)
def test_interpreted_encoder_reproduces_golden_bytes(interp, name):
    r = interp["encode"][name]
    assert r["equal"], r


@pytest.mark.parametrize("name", NAMES)
def test_interpreted_decoder_decodes_golden_bytes(interp, name):
    assert interp["decode"][name]


def test_encoder_retried_after_escape_overflow(interp):
    """The escape-heavy case needs more words than the first plan allows: exercised."""
    assert interp["encode_retries"] >= 1


def test_damaged_streams_fail_like_the_cpu(interp):
    rows = interp["corrupt"]
    assert len(rows) >= 20
    bad = [r for r in rows if not r["same"]]
    assert not bad, bad
    assert sum(r["gpu"] is not None for r in rows) >= len(rows) // 2
    assert interp["single_raises"]
