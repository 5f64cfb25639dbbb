"""Completions per second through a stall, as an SVG for the docs (from bench/session_stall.py's results).

    python bench/stall_chart.py [--out docs/session-stall.svg]

One line per run (the tutorial's session held across passes; the same with FastAPI's max_concurrency; a
session per pass): requests completed per second over the measured window, and the offered rate dashed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUNS = [
    ("request", "session held across passes (the tutorial)", "#c0392b"),
    ("request-max-concurrency", "the same, Depends(get_db, max_concurrency=15)", "#2471a3"),
    ("pass", "a session per pass", "#229954"),
]
W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 340, 60, 20, 20, 90


def _polyline(points: list[tuple[float, float]], color: str, dash: str = "") -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline fill="none" stroke="{color}" stroke-width="2"{extra} points="{coords}"/>'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "session-stall.svg")
    args = parser.parse_args()
    series = []
    offered = 0.0
    for name, label, color in RUNS:
        point = json.loads((RESULTS / f"session-stall-{name}.json").read_text())["points"][0]
        timeline = point["measured"]["timeline"]
        offered = point["measured"]["offered_rps"]
        series.append((label, color, [(t[0], t[1]) for t in timeline]))
    t_max = max(t for _, _, pts in series for t, _ in pts) + 1.0
    y_max = max([offered * 1.3] + [v for _, _, pts in series for _, v in pts])

    def xy(t: float, v: float) -> tuple[float, float]:
        return LEFT + t / t_max * (W - LEFT - RIGHT), TOP + (1.0 - v / y_max) * (H - TOP - BOTTOM)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
             'font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>']
    for v in range(0, int(y_max) + 1, 50):
        _, y = xy(0, v)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v}</text>')
    for t in range(0, int(t_max) + 1, 10):
        x, y0 = xy(t, 0)
        parts.append(f'<text x="{x:.1f}" y="{y0 + 16:.1f}" text-anchor="middle">{t}</text>')
    parts.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - BOTTOM + 34}" text-anchor="middle">'
                 "seconds into the measured window</text>")
    parts.append(f'<text x="14" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {TOP + (H - TOP - BOTTOM) / 2:.0f})">completed per second</text>')
    parts.append(_polyline([xy(0, offered), xy(t_max, offered)], "#777", "6 4"))
    for i, (label, color, pts) in enumerate(series):
        parts.append(_polyline([xy(t + 0.5, v) for t, v in pts], color))
        ly = H - BOTTOM + 52 + 14 * i
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + 24}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{LEFT + 30}" y="{ly}">{label}</text>')
    parts.append(f'<text x="{W - RIGHT}" y="{xy(0, offered)[1] - 6:.1f}" text-anchor="end" fill="#555">'
                 f"offered {offered:.0f}/s</text>")
    parts.append("</svg>")
    args.out.write_text("\n".join(parts) + "\n")
    print(f"written {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
