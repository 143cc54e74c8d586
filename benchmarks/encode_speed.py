"""Speed of the feature encoder's pieces: entropy coding, and codec training per split point.

Prints a table and writes ``benchmarks/out/encode_speed.json``. Timings are machine-dependent and
are never asserted in tests. Run::

    python benchmarks/encode_speed.py                 # this machine (CPU, or the GPU if present)
    python benchmarks/encode_speed.py --width 1.0     # the paper's width (estimates the paper preset)

Measured: packets per second of the range coder (encode and decode) and of the Huffman coder;
images per second of one training epoch of a codec on cached features (``precompute=True``) and
with the device part run per batch (``precompute=False``, as in the paper preset).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def coder_speed(images: int = 2000) -> dict:
    from coinfer.core.entropy import CategoricalEntropyModel, HuffmanCode

    g = torch.Generator().manual_seed(0)
    out = {}
    for positions, alphabet in ((16, 4), (1, 16), (32, 4)):
        model = CategoricalEntropyModel(positions, alphabet)
        p = torch.softmax(torch.randn(alphabet, generator=g), 0)
        symbols = torch.multinomial(p, images * positions, replacement=True, generator=g).view(images, positions)
        model.fit(symbols)
        t = time.perf_counter(); packets = model.encode(symbols); enc = time.perf_counter() - t
        t = time.perf_counter(); back = model.decode(packets); dec = time.perf_counter() - t
        assert torch.equal(back, symbols)
        out[f"range d{positions} alphabet {alphabet}"] = {"encode_packets_per_s": images / enc,
                                                          "decode_packets_per_s": images / dec}
    rng = np.random.default_rng(0)
    data = np.minimum(rng.geometric(0.05, size=(200, 4096)), 255)
    code = HuffmanCode.from_samples(data, 256)
    t = time.perf_counter(); packets = code.encode(data); enc = time.perf_counter() - t
    t = time.perf_counter(); code.decode(packets[:20]); dec = (time.perf_counter() - t) * 10
    out["huffman 4096 symbols of 8 bits"] = {"encode_packets_per_s": 200 / enc, "decode_packets_per_s": 200 / dec}
    return out


def training_speed(width: float, splits: tuple[str, ...], images: int, device: torch.device) -> dict:
    from torch.utils.data import TensorDataset

    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import FeatureSource, _run_epochs, evaluate_codec, freeze, get_encode_config
    from coinfer.core.network import resnet18, split

    net = resnet18(width=width).to(device).eval()
    freeze(net)
    g = torch.Generator().manual_seed(0)
    dataset = TensorDataset(torch.randn(images, 3, 32, 32, generator=g), torch.randint(0, 10, (images,), generator=g))
    config = get_encode_config("paper", batch_size=128)
    out = {}
    for point in splits:
        device_part, server_part = split(net, point)
        for precompute in (True, False):
            source = FeatureSource(device_part, dataset, precompute=precompute, batch_size=500, device=device)
            codec = build_codec(source.feature_shape, config.code_size_at("d16-l4", source.feature_shape)).to(device)
            codec.bottleneck.enabled = True
            _run_epochs([codec], server_part, source, config, 1, 0, "warm", True, [0.0])   # warm caches / cuDNN
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            _run_epochs([codec], server_part, source, config, 1, 1, "timed", True, [0.0])
            if device.type == "cuda":
                torch.cuda.synchronize()
            out[f"{point} precompute={precompute}"] = images / (time.perf_counter() - t)
        # The evaluation path on this device: real packets, decoded, classified.
        codec.entropy_model.fit(torch.cat([codec.symbols(f).cpu() for f, _ in source.batches(500)]))
        result = evaluate_codec(codec, server_part, source, batch_size=500)
        out[f"{point} roundtrip_exact"] = result["roundtrip_exact"]
    return out


def paper_estimate(speeds: dict, splits: tuple[str, ...]) -> dict:
    """Hours the paper preset's encoding run would take at these training speeds (no evaluation)."""
    from coinfer.experiments.encoding import get_encode_config

    config = get_encode_config("paper")
    epochs, train_images = config.warmup_epochs + config.epochs, 50_000
    seconds = {p: len(config.code_sizes) * epochs * train_images / speeds[f"{p} precompute=False"]
               for p in splits if f"{p} precompute=False" in speeds}
    return {"seconds_per_split": seconds, "hours_total": sum(seconds.values()) / 3600,
            "note": f"{len(config.code_sizes)} code sizes x {epochs} epochs x {train_images} images per split"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--splits", nargs="+", default=["layer1.1", "layer2.1", "layer3.1", "pool"])
    parser.add_argument("--skip-coders", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "encode_speed.json",
                        help="where to write the measurement (default benchmarks/out/encode_speed.json)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from coinfer.results_origin import hardware

    result = {"hardware": hardware(), "device": str(device), "width": args.width, "torch_threads": torch.get_num_threads()}
    if not args.skip_coders:
        result["coders"] = coder_speed()
        for name, v in result["coders"].items():
            print(f"{name:<32} encode {v['encode_packets_per_s']:>10,.0f} packets/s   "
                  f"decode {v['decode_packets_per_s']:>10,.0f} packets/s")
    result["train_images_per_s"] = training_speed(args.width, tuple(args.splits), args.images, device)
    for name, v in result["train_images_per_s"].items():
        print(f"codec training, width {args.width:g}, {name:<28} {v:>10,.0f} images/s" if not isinstance(v, bool)
              else f"evaluation on {device}, {name}: {v}")
    if args.width == 1.0:
        result["paper_preset_estimate"] = paper_estimate(result["train_images_per_s"], tuple(args.splits))
        print(f"paper preset estimate (training only): {result['paper_preset_estimate']['hours_total']:.2f} h "
              f"({result['paper_preset_estimate']['note']})")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
