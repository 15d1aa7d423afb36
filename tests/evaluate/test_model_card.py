"""scripts/model_card.py: a stage's command is written as it was run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)


def test_stage_command():
    yaml = "neurocodec/train/configs/shallow-cpu.yaml --model.init_args.lr 1e-4"
    assert mc.stage_how(yaml, lightning=True) == f"neurocodec-train fit --config {yaml}"
    # train_continue.py runs neurocodec-train itself: its command line is the stage's command
    cont = "scripts/train_continue.py shallow-2l --threads 1 --minutes 120"
    assert mc.stage_how(cont, lightning=True) == cont
    # a codec .pt (entropy_finetune's): --config is the command
    ft = "python -m neurocodec.train.entropy_finetune gmm --minutes 40"
    assert mc.stage_how(ft, lightning=False) == ft
    assert mc.stage_how(yaml, lightning=False) == yaml
