"""Draw the three-step framework of Shao & Zhang (2020, Fig. 2) as an SVG for the introduction.

    python tools/make_framework_diagram.py        # writes book/_static/framework.svg

Plain SVG written by hand-placed boxes (no plotting library), so the file is small, sharp at any
zoom, and diffs readably. Layout, left to right::

    input image -> [device: layers up to split s -> pruned (step 2) -> encoder (step 3)]
                -> wireless link (bits, noise) -> [server: decoder -> remaining layers] -> class
"""

from __future__ import annotations

import html
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "book" / "_static" / "framework.svg"

W, H = 980, 325
DEVICE, SERVER, LINK, STEP = "#e8f1fb", "#eef7ee", "#fff4e0", "#b42318"


def box(x, y, w, h, fill, stroke="#444", rx=8, dash=None):
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{fill}" stroke="{stroke}"{d}/>'


def text(x, y, s, size=14, anchor="middle", weight="normal", color="#1f2328", italic=False):
    style = ' font-style="italic"' if italic else ""
    return (f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{color}"{style}>{html.escape(s)}</text>')


def arrow(x1, y1, x2, y2, color="#444"):
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2" marker-end="url(#head)"/>'


def step_badge(x, y, n):
    return (f'<circle cx="{x}" cy="{y}" r="12" fill="{STEP}"/>'
            + text(x, y + 5, str(n), size=14, weight="bold", color="#fff"))


def layer_stack(x, y, n, w=14, h=70, gap=6, fill="#9ec5ea", faded=()):
    out = []
    for i in range(n):
        f = "#dfe9f3" if i in faded else fill
        out.append(box(x + i * (w + gap), y, w, h, f, stroke="#4a6d8c", rx=2))
    return "".join(out)


def draw() -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img" '
             'aria-label="The three-step framework: split, prune the device part, encode the feature">',
             '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
             '<path d="M0,0 L10,4 L0,8 z" fill="#444"/></marker></defs>',
             f'<rect width="{W}" height="{H}" fill="#fff"/>']
    # Input image.
    parts.append(box(20, 130, 70, 70, "#f3f3f3", rx=4))
    for i in range(4):
        for j in range(4):
            shade = 200 - 25 * ((i + 2 * j) % 5)
            parts.append(f'<rect x="{27 + 14 * i}" y="{137 + 14 * j}" width="13" height="13" '
                         f'fill="rgb({shade},{shade - 20},{shade - 40})"/>')
    parts.append(text(55, 222, "input image", 13))
    parts.append(arrow(92, 165, 118, 165))
    # Device.
    parts.append(box(120, 40, 355, 270, DEVICE, stroke="#4a6d8c"))
    parts.append(text(297, 64, "edge device (few FLOP/s, little memory)", 15, weight="bold"))
    parts.append(layer_stack(140, 130, 6, faded=(1, 4)))
    parts.append(text(195, 226, "on-device layers", 12))
    parts.append(text(195, 242, "pruned incrementally", 12, color=STEP))
    parts.append(step_badge(152, 105, 2))
    # Encoder.
    parts.append(f'<polygon points="290,125 360,145 360,185 290,205" fill="#f7d9a8" stroke="#8c6a2f"/>')
    parts.append(text(325, 226, "encoder:", 12))
    parts.append(text(325, 242, "reduce, quantize", 12))
    parts.append(text(325, 258, "(or JSCC)", 12))
    parts.append(step_badge(325, 105, 3))
    parts.append(arrow(262, 165, 288, 165))
    parts.append(text(420, 160, "0110 1001", 13, italic=True))
    parts.append(text(420, 178, "few bits", 12))
    parts.append(arrow(362, 165, 382, 165))
    # Split line.
    parts.append(f'<line x1="490" y1="30" x2="490" y2="320" stroke="{STEP}" stroke-width="2.5" stroke-dasharray="7 5"/>')
    parts.append(text(490, 22, "split point s: where the network is cut", 13, weight="bold", color=STEP))
    parts.append(step_badge(330, 17, 1))
    # Link.
    parts.append(box(500, 120, 150, 90, LINK, stroke="#8c6a2f"))
    parts.append(text(575, 148, "wireless link", 14, weight="bold"))
    parts.append(text(575, 168, "rate r (kB/s)", 12))
    parts.append(text(575, 186, "noise: AWGN / BSC", 12))
    parts.append(arrow(458, 165, 498, 165))
    parts.append(arrow(652, 165, 678, 165))
    # Server.
    parts.append(box(680, 40, 280, 270, SERVER, stroke="#3f7a3f"))
    parts.append(text(820, 64, "edge server (many FLOP/s)", 15, weight="bold"))
    parts.append(f'<polygon points="700,145 760,125 760,205 700,185" fill="#f7d9a8" stroke="#8c6a2f"/>')
    parts.append(text(730, 226, "decoder", 12))
    parts.append(layer_stack(775, 110, 6, w=14, h=110, gap=6, fill="#a8d5a2"))
    parts.append(arrow(762, 165, 773, 165))
    parts.append(text(830, 242, "remaining layers", 12))
    parts.append(arrow(892, 165, 912, 165))
    parts.append(text(935, 170, "class", 13, weight="bold"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(draw())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
