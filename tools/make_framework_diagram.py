"""Draw the three-step framework of Shao & Zhang (2020, Fig. 2) as an SVG for the introduction.

    python tools/make_framework_diagram.py        # writes book/_static/framework.svg (make diagram)

Plain SVG from hand-placed boxes (no plotting library), so the file is small, sharp at any zoom,
and diffs readably; tests/test_book_classroom.py checks that the committed file is this script's
output. The three bands follow the paper's Fig. 2 and its caption::

    1  split the network     pre-trained DNN -> cut at split point s -> device part | server part
    2  compress the device   incremental pruning loop: mask the smallest l2-norm channels ->
       part                  update the unmasked weights (back-propagation) -> recover the masked
                             weights -> raise the sparsity ... until the target; then compaction
    3  encode the feature    device layers -> encoder (dimension reduction) -> either learned
                             source coding (quantizer + entropy coding, then a channel code) or
                             JSCC (learned mapping to channel symbols over AWGN / BSC) ->
                             decoder -> server layers -> class
    every configuration      -> a lookup table -> the fastest entry for a given device and link
"""

from __future__ import annotations

import html
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "book" / "_static" / "framework.svg"

W, H = 1000, 716
DEVICE, SERVER, LINK = "#e8f1fb", "#eef7ee", "#fff4e0"
STEP, INK, GREY = "#b42318", "#1f2328", "#444"
BLUE_LAYER, GREEN_LAYER, CODER = "#9ec5ea", "#a8d5a2", "#f7d9a8"


def box(x, y, w, h, fill, stroke=GREY, rx=8, dash=None, width=1.2):
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"{d}/>')


def text(x, y, s, size=13, anchor="middle", weight="normal", color=INK, italic=False):
    style = ' font-style="italic"' if italic else ""
    return (f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{color}"{style}>{html.escape(s)}</text>')


def lines(x, y, rows, size=12, gap=15, **kw):
    """Several centred lines of text starting at baseline ``y``."""
    return "".join(text(x, y + i * gap, row, size, **kw) for i, row in enumerate(rows))


def arrow(x1, y1, x2, y2, color=GREY, dash=None):
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="1.8"{d} '
            'marker-end="url(#head)"/>')


def path_arrow(d, color=GREY):
    return f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.8" marker-end="url(#head)"/>'


def badge(x, y, n):
    return f'<circle cx="{x}" cy="{y}" r="13" fill="{STEP}"/>' + text(x, y + 5, str(n), 15, weight="bold", color="#fff")


def layers(x, y, n, fill, w=12, h=54, gap=5, faded=()):
    return "".join(box(x + i * (w + gap), y, w, h, "#e4ebf2" if i in faded else fill,
                       stroke="#4a6d8c", rx=2, dash="3 2" if i in faded else None) for i in range(n))


def band(y, h, n, title, subtitle):
    return (box(10, y, W - 20, h, "#fcfcfd", stroke="#d0d7de", rx=10) + badge(34, y + 24, n)
            + text(56, y + 29, title, 16, anchor="start", weight="bold")
            + text(W - 24, y + 29, subtitle, 12, anchor="end", color="#57606a", italic=True))


def step1(y):
    out = [band(y, 150, 1, "Split the network", "choose a split point s that does not (highly) suffer from data amplification")]
    out.append(layers(40, y + 55, 10, "#c9d1d9"))
    out.append(lines(122, y + 130, ["pre-trained DNN (ResNet18)"]))
    out.append(arrow(225, y + 82, 300, y + 82))
    out.append(layers(320, y + 55, 4, BLUE_LAYER))
    out.append(f'<line x1="392" y1="{y + 42}" x2="392" y2="{y + 122}" stroke="{STEP}" stroke-width="2.5" stroke-dasharray="6 4"/>')
    out.append(text(392, y + 138, "split point s", 13, weight="bold", color=STEP))
    out.append(layers(405, y + 55, 6, GREEN_LAYER))
    out.append(text(352, y + 48, "device part", 12, color="#2f5d8a"))
    out.append(text(455, y + 48, "server part", 12, color="#2f6a2f"))
    out.append(lines(760, y + 70, ["the paper's s1..s5: after the stem and each stage;",
                                   "early split points send features larger than the image,",
                                   "late ones leave most computation on the weak device"], 12, 17, color="#57606a"))
    return "".join(out)


def step2(y):
    out = [band(y, 200, 2, "Compress the on-device model: incremental pruning",
                "masks follow the l2-norm; pruned channels shrink the sent feature too")]
    out.append(layers(40, y + 80, 4, BLUE_LAYER))
    out.append(text(70, y + 155, "device part", 12))
    out.append(arrow(112, y + 107, 150, y + 107))
    boxes = [("mask", ["set the channels with", "the smallest ℓ2-norm to 0"]),
             ("update", ["train the unmasked weights", "(back-propagation)"]),
             ("recover", ["recover the masked weights", "(they may come back)"]),
             ("sparsity", ["raise the sparsity ratio", "one step (0 -> target)"])]
    bx, bw, gap = 148, 160, 16
    for i, (head, rows) in enumerate(boxes):
        x = bx + i * (bw + gap)
        out.append(box(x, y + 72, bw, 70, "#fdecea" if i == 0 else "#ffffff", stroke=STEP if i == 0 else GREY))
        out.append(text(x + bw / 2, y + 92, f"{i + 1}. {head}", 13, weight="bold"))
        out.append(lines(x + bw / 2, y + 110, rows, 10.5, 14))
        if i < 3:
            out.append(arrow(x + bw, y + 107, x + bw + gap - 2, y + 107))
    last = bx + 3 * (bw + gap)
    out.append(path_arrow(f"M{last + bw / 2},{y + 142} L{last + bw / 2},{y + 172} L{bx + bw / 2},{y + 172} "
                          f"L{bx + bw / 2},{y + 146}"))
    out.append(text((bx + last + bw) / 2, y + 188, "repeat every few iterations while training, until the "
                    "desired sparsity (accuracy above the threshold)", 11, color="#57606a", italic=True))
    out.append(arrow(last + bw, y + 107, 855, y + 107))
    out.append(layers(862, y + 80, 4, BLUE_LAYER, w=9, gap=4, faded=(1,)))
    out.append(lines(905, y + 155, ["compaction: a", "smaller device part"], 11, 14))
    return "".join(out)


def step3(y):
    out = [band(y, 270, 3, "Encode the intermediate feature: two-step encoding",
                "trained end to end for the task's accuracy, not for reconstruction")]
    # Device and server regions.
    out.append(box(24, y + 45, 340, 215, DEVICE, stroke="#4a6d8c", rx=8))
    out.append(text(194, y + 62, "edge device", 13, weight="bold", color="#2f5d8a"))
    out.append(box(754, y + 45, 232, 215, SERVER, stroke="#3f7a3f", rx=8))
    out.append(text(870, y + 62, "edge server", 13, weight="bold", color="#2f6a2f"))
    out.append(layers(36, y + 125, 4, BLUE_LAYER, w=10, gap=4, faded=(1,)))
    out.append(lines(62, y + 200, ["pruned", "layers"], 11, 14))
    out.append(arrow(90, y + 152, 108, y + 152))
    out.append(f'<polygon points="110,{y + 117} 170,{y + 132} 170,{y + 172} 110,{y + 187}" fill="{CODER}" stroke="#8c6a2f"/>')
    out.append(lines(140, y + 207, ["encoder:", "dimension reduction"], 10.5, 14))
    # Two branches.
    out.append(path_arrow(f"M172,{y + 152} L190,{y + 152} L190,{y + 105} L203,{y + 105}"))
    out.append(path_arrow(f"M172,{y + 152} L190,{y + 152} L190,{y + 205} L203,{y + 205}"))
    out.append(box(205, y + 80, 162, 50, "#ffffff"))
    out.append(lines(286, y + 100, ["learned source coding:", "quantizer + entropy coding"], 11, 14))
    out.append(box(205, y + 180, 162, 50, "#ffffff"))
    out.append(lines(286, y + 200, ["JSCC: learned map to", "channel symbols"], 11, 14))
    out.append(text(198, y + 162, "or", 11, anchor="start", italic=True, color="#57606a"))
    # The link.
    out.append(box(390, y + 75, 335, 60, LINK, stroke="#8c6a2f"))
    out.append(lines(557, y + 96, ["bits (Huffman / range coding), then a channel code", "at capacity; noiseless link of rate r kB/s"], 11, 15))
    out.append(box(390, y + 175, 335, 60, LINK, stroke="#8c6a2f"))
    out.append(lines(557, y + 196, ["channel uses over a noisy channel:", "AWGN (SNR in dB) or BSC (flip rate p)"], 11, 15))
    out.append(arrow(367, y + 105, 388, y + 105))
    out.append(arrow(367, y + 205, 388, y + 205))
    out.append(text(557, y + 160, "wireless link", 12, weight="bold", color="#8c6a2f"))
    # Server.
    out.append(path_arrow(f"M725,{y + 105} L745,{y + 105} L745,{y + 150} L763,{y + 150}"))
    out.append(path_arrow(f"M725,{y + 205} L745,{y + 205} L745,{y + 154} L763,{y + 154}"))
    out.append(f'<polygon points="765,{y + 132} 815,{y + 117} 815,{y + 187} 765,{y + 172}" fill="{CODER}" stroke="#8c6a2f"/>')
    out.append(text(790, y + 207, "decoder", 11))
    out.append(arrow(817, y + 152, 833, y + 152))
    out.append(layers(835, y + 122, 6, GREEN_LAYER, w=9, gap=4, h=60))
    out.append(lines(865, y + 200, ["server", "layers"], 11, 14))
    out.append(arrow(912, y + 152, 930, y + 152))
    out.append(text(955, y + 157, "class", 13, weight="bold"))
    return "".join(out)


def lookup(y):
    return (box(10, y, W - 20, 50, "#f6f8fa", stroke="#d0d7de", rx=10)
            + text(W / 2, y + 21, "Every output model (split point, sparsity, code size, channel) is profiled and stored in a "
                   "lookup table:", 13)
            + text(W / 2, y + 39, "for a given device, link and server, deploy the entry with the lowest "
                   "end-to-end latency (that fits the device's memory).", 13))


def draw() -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img" '
             'aria-label="The three-step framework of Shao and Zhang (2020, Fig. 2): split the network, '
             'prune the device part incrementally, encode the feature with source coding or JSCC">',
             '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
             f'<path d="M0,0 L10,4 L0,8 z" fill="{GREY}"/></marker></defs>',
             f'<rect width="{W}" height="{H}" fill="#fff"/>',
             step1(8), step2(166), step3(374), lookup(H - 60),
             "</svg>"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Draw the framework diagram (the paper's Fig. 2) as an SVG.")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write it (default {OUT})")
    args = parser.parse_args(argv)   # (--help printed and exited before: it wrote the file too)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(draw())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
