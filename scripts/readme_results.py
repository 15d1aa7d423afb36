"""Put the Kodak BD-rate rows of the shipped models into README.md (called by `make results`).

Replaces the text between `<!-- results:begin -->` and `<!-- results:end -->` with the RD figure
and, from the generated table (notebooks/figures/kodak_bd.md), the header and the rows of the
shipped models, for PSNR and MS-SSIM.

    python scripts/readme_results.py notebooks/figures/kodak_bd.md README.md hyperprior,gmm results/kodak
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def model_rows(table_md: str, models: list[str], note: str = "rows: ours; negative = fewer bits than the column") -> str:
    """Each table of a BD-rate markdown file (from `neurocodec plot --table`), keeping the rows
    whose label starts with one of `models` (any case)."""
    wanted = {m.lower() for m in models}
    out = []
    for block in re.split(r"(?m)^## ", table_md)[1:]:
        title, _, body = block.partition("\n")
        lines = [ln for ln in body.splitlines() if ln.startswith("|")]
        if len(lines) < 2:
            continue
        rows = [ln for ln in lines[2:] if ln.split("|")[1].strip().split(" ")[0].lower() in wanted]
        if rows:
            out += [f"**{title.strip()}** ({note})", "", lines[0], lines[1], *rows, ""]
    return "\n".join(out)


def rd_points(results: Path, models: list[str]) -> str:
    """Mean bpp / PSNR-RGB / MS-SSIM per quality level of each model's result file."""
    out = ["| model | " + " | ".join(f"q{q}" for q in range(1, 7)) + " |", "|---" * 7 + "|"]
    for m in models:
        f = results / f"kodak-{m}.json"
        if not f.exists():
            continue
        levels = sorted(json.loads(f.read_text())["levels"], key=lambda lv: lv["quality"])
        cells = [f"{lv['mean']['bpp']:.3f} bpp, {lv['mean']['psnr_rgb']:.2f} dB, {lv['mean']['ms_ssim']:.3f}" for lv in levels]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n" if len(out) > 2 else ""


def main(table: str, readme: str, models: str, results: str = "results/kodak") -> None:
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} lacks the {BEGIN} / {END} markers")
    names = models.split(",")
    body = "\n".join([
        "![Kodak rate-distortion](notebooks/figures/kodak_rd.png)",
        "",
        "Mean bpp (real .bin files), PSNR-RGB and MS-SSIM per quality level:",
        "",
        rd_points(Path(results), names),
        model_rows(Path(table).read_text(), names),
    ])
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(readme).write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
