"""Put the LibriSpeech rate-distortion table into README.md (called by `make results-audio`).

Replaces the text between `<!-- audio-results:begin -->` and `<!-- audio-results:end -->` with
the RD figure, every point of every result file (mean over the 106 utterances: real kbps of the
whole file, PESQ-WB, STOI, SI-SDR, mel distance, level change) and the BD-rate rows of the
neural models against Opus from the generated table.

    python scripts/readme_audio_results.py results/librispeech notebooks/figures/librispeech_bd.md README.md dac,snac
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from readme_results import model_rows  # scripts/ is on the path when a script here runs

BEGIN, END = "<!-- audio-results:begin -->", "<!-- audio-results:end -->"
ORDER = ("dac", "snac", "opus", "mp3", "aac")


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def points_table(results: Path) -> str:
    rows = ["| codec | setting | kbps | PESQ-WB | STOI | SI-SDR dB | mel dist. | level dB |", "|---" * 8 + "|"]
    files = sorted(results.glob("librispeech-eval-*.json"),
                   key=lambda p: (ORDER.index(p.stem.split("-")[-1]) if p.stem.split("-")[-1] in ORDER else 99, p.name))
    for f in files:
        doc = json.loads(f.read_text())
        name = doc["codec"]["name"]
        unit = ("levels" if name == "snac" else "stages") if doc["codec"]["kind"] == "neural" else "kbps nominal"
        for lv in sorted(doc["levels"], key=lambda lv: lv["mean"]["kbps"]):
            m = lv["mean"]
            rows.append(f"| {name} | {lv['quality']} {unit} | {m['kbps']:.2f} | {_f(m.get('pesq_wb'), '.2f')} | "
                        f"{_f(m.get('stoi'), '.3f')} | {_f(m.get('si_sdr'), '.1f')} | {_f(m.get('mel_distance'), '.2f')} | "
                        f"{_f(m.get('level_db'), '+.2f')} |")
    return "\n".join(rows)


def main(results: str, table: str, readme: str, models: str) -> None:
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} block")
    body = ["", "![LibriSpeech RD](notebooks/figures/librispeech_rd.png)", "", points_table(Path(results)), ""]
    if Path(table).exists():
        body += [model_rows(Path(table).read_text(), models.split(","),
                            "negative = fewer bits than Opus for the same quality")]
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(readme).write_text(head + BEGIN + "\n".join(body) + "\n" + END + tail)


if __name__ == "__main__":
    main(*sys.argv[1:5])
