"""Device handling: every path that takes a ``device`` runs on a CUDA GPU and gives the CPU's numbers.

Two kinds of test:

* a **static check**, run everywhere (no GPU needed): an AST scan of ``coinfer/*.py`` that flags
  ``.numpy()`` on a tensor whose expression does not pass through ``.cpu()``, and ``torch.load``
  without ``map_location``. That is the class of bug behind ``TypeError: can't convert cuda:0 device
  type tensor to numpy``, which a CPU-only test suite never triggers. A line that converts a tensor
  known to live in host memory says so with a ``# cpu: <why>`` comment; and a scan of the book's
  cells: one that loads a network onto the default device (a GPU on Colab) moves it to the CPU;
* **GPU runs** (skipped without CUDA): the pruning and encoding experiments with tiny settings on
  ``cuda``, compared with the same runs on the CPU, and the helpers that build their own inputs
  (profiling, activations, feature sources, the Huffman codec, a learned codec).

On a GPU machine: ``python -m pytest tests/test_cuda.py -q`` (well under a minute).
"""

from __future__ import annotations

import ast
import contextlib
import textwrap
from pathlib import Path

import pytest
import torch

from coinfer.core.network import resnet18, split

PACKAGE = Path(__file__).resolve().parents[1] / "coinfer"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# ------------------------------------------------------------------------------- static check

def _passes_through_cpu(node: ast.AST) -> bool:
    """Whether the receiver expression ``node`` (of ``<node>.numpy()``) calls ``.cpu()`` somewhere."""
    while True:
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "cpu":
                return True
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return False


def device_problems(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: message`` for each ``.numpy()`` without ``.cpu()`` and each ``torch.load`` without
    ``map_location``; a ``# cpu: <reason>`` comment on the line allows a ``.numpy()``."""
    lines = source.splitlines()
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        text = " ".join(lines[node.lineno - 1:node.end_lineno])
        if node.func.attr == "numpy" and not node.args and not _passes_through_cpu(node.func.value):
            comment = text.partition("# cpu:")[2].strip()
            if not comment:
                problems.append(f"{filename}:{node.lineno}: .numpy() on an expression without .cpu() "
                                f"(add .detach().cpu(), or '# cpu: <why it is in host memory>')")
        if (node.func.attr == "load" and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
                and not any(k.arg == "map_location" for k in node.keywords)):
            problems.append(f"{filename}:{node.lineno}: torch.load without map_location")
    return problems


def test_the_static_check_flags_what_it_should_and_only_that():
    source = textwrap.dedent("""
        a = x.numpy()
        b = probs.detach().numpy()
        c = model(x)[0].numpy()
        d = x.detach().cpu().numpy()
        e = x.cpu()[0].double().numpy()
        f = x.numpy()   # cpu: a dataset array in host memory
        g = x.numpy()   # cpu:
        h = torch.load(path, weights_only=True)
        i = torch.load(path, map_location="cpu", weights_only=True)
        j = np.asarray(x).tolist()
    """)
    flagged = [int(p.split(":")[1]) for p in device_problems(source)]
    assert flagged == [2, 3, 4, 8, 9]          # a, b, c, g (a reasonless allowance), h


def test_no_tensor_reaches_numpy_without_cpu():
    problems = [p for path in sorted(PACKAGE.rglob("*.py"))   # every subpackage (glob saw 17 of the modules)
                for p in device_problems(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert not problems, "\n".join(problems)


def test_book_cells_move_a_model_loaded_on_the_default_device_to_the_cpu():
    """get_baseline and load_model put a network on the default device, a GPU on a Colab GPU runtime,
    while the book's cells feed it CPU tensors: a cell that loads one moves it to the CPU (chapter 3's
    codec demo did not; no CPU test run could see it)."""
    import re

    book = PACKAGE.parent / "book"
    problems = []
    for page in sorted(book.glob("*.md")):
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", page.read_text(), flags=re.S)
        problems += [f"{page.name}: a cell calls {call} without .cpu()" for cell in cells
                     for call in re.findall(r"\b(get_baseline|load_model)\(", cell) if ".cpu()" not in cell]
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------- GPU runs

@pytest.fixture(scope="module")
def fashion():
    from coinfer.data import load_dataset

    try:
        load_dataset("fashion-mnist", train=False, limit=1)
    except Exception as error:   # pragma: no cover - no dataset on this machine
        pytest.skip(f"Fashion-MNIST unavailable: {error}")


def _net(width: float = 1 / 16):
    torch.manual_seed(0)
    return resnet18(width=width).eval()


@needs_cuda
def test_profiling_and_shape_probes_accept_a_gpu_model_and_leave_it_there():
    from coinfer.core.encoding import build_codec, codec_costs
    from coinfer.core.costs import flop_counter_macs, module_device, profile_splits, thop_macs

    cpu, gpu = _net(), _net().cuda()
    assert module_device(gpu).type == "cuda" and module_device(torch.nn.ReLU()).type == "cpu"
    assert profile_splits(gpu) == profile_splits(cpu)
    assert thop_macs(gpu, (3, 32, 32)) == thop_macs(cpu, (3, 32, 32))
    assert flop_counter_macs(gpu, (3, 32, 32)) == flop_counter_macs(cpu, (3, 32, 32))
    (dev_c, srv_c), (dev_g, srv_g) = split(cpu, "layer2.1"), split(gpu, "layer2.1")
    codec = build_codec((8, 16, 16), "c2-d8-l4")
    assert codec_costs(dev_g, codec.cuda(), srv_g) == codec_costs(dev_c, codec.cpu(), srv_c)
    assert all(p.is_cuda for p in gpu.parameters())                  # nothing was moved in place


@needs_cuda
def test_activation_counts_accept_a_gpu_model():
    from coinfer.core.latency import split_activations

    assert split_activations(_net().cuda()) == split_activations(_net())


@needs_cuda
def test_time_forward_refuses_a_gpu_module_by_name():
    from coinfer.core.costs import time_forward

    with pytest.raises(ValueError, match="cuda"):
        time_forward(_net().cuda(), (3, 32, 32), repeats=1, warmup=0)


@contextlib.contextmanager
def _no_waiting():
    """Any op that makes the CPU wait for the GPU raises (``torch.cuda.set_sync_debug_mode``)."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


@needs_cuda
def test_copy_to_device_queues_a_host_tensor_without_waiting_for_the_gpu():
    from coinfer.tensor_data import copy_to_device

    host = torch.arange(1000)
    with _no_waiting():
        copied = copy_to_device(host, "cuda")
        with pytest.raises(RuntimeError, match="synchroniz"):
            host.to("cuda")                                          # what it replaces
    assert copied.is_cuda and torch.equal(copied.cpu(), host)


@needs_cuda
def test_resident_batches_and_a_codec_step_do_not_wait_for_the_gpu(fashion):
    """An epoch of the GPU path's augmented batches, and a training step of a codec with an entropy
    model (its likelihoods) and of a JSCC code over the BSC, queue everything without waiting
    (``tests/test_host_reads.py`` counts the reads of whole trainings on the CPU)."""
    from coinfer.core import channel as ch
    from coinfer.core.encoding import build_codec
    from coinfer.core.jscc import make_codec
    from coinfer.data import load_dataset
    from coinfer.tensor_data import ResidentLoader

    data = load_dataset("fashion-mnist", train=True, augment=True, limit=64)
    loader = ResidentLoader(data, 16, shuffle=True, seed=0, device="cuda", channels_last=True)
    codec = build_codec((8, 16, 16), "c2-d8-l4").cuda().train()
    codec.fit_entropy_model(torch.randn(32, 8, 16, 16, device="cuda"))
    jscc = make_codec((8, 16, 16), 8, ch.BSCChannel(0.1, torch.Generator().manual_seed(0))).cuda().train()
    feature = torch.randn(16, 8, 16, 16, device="cuda")
    with _no_waiting():
        batches = list(loader)
        out = codec(feature)
        (out["feature_hat"].square().mean() + out["aux_loss"]).backward()
        jscc(feature)["feature_hat"].square().mean().backward()
    assert len(batches) == 4 and out["likelihoods"].is_cuda


@needs_cuda
def test_codec_evaluation_on_a_gpu_matches_the_cpu(fashion):
    """Train a tiny codec on each device from the same features; bits and round trip agree."""
    from coinfer.data import load_dataset
    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import FeatureSource, evaluate_codec, get_encode_config, train_codec
    from coinfer.train import seed_everything

    config = get_encode_config("quick", warmup_epochs=1, epochs=1, batch_size=16, eval_batch_size=12)
    train, test = (load_dataset("fashion-mnist", train=t, limit=n) for t, n in ((True, 48), (False, 24)))
    results = {}
    for device in ("cpu", "cuda"):
        device_part, server_part = split(_net().to(device), "layer3.1")
        source = FeatureSource(device_part, train, precompute=True, batch_size=12)   # device from the part
        assert source.device.type == device
        seed_everything(0)
        codec = build_codec(source.feature_shape, "c4-d4-l2").to(device)
        train_codec(codec, server_part, source, config)
        results[device] = evaluate_codec(codec, server_part, FeatureSource(device_part, test, True, 12), 12)
    cpu, gpu = results["cpu"], results["cuda"]
    assert gpu["roundtrip_exact"] and gpu["test_images"] == cpu["test_images"] == 24
    assert gpu["bits_fixed"] == cpu["bits_fixed"] == 4
    for key in ("bits_real", "bits_model", "bits_one_stream"):
        assert 0 < gpu[key] < 32, key              # 4 one-bit symbols, a few bytes at most
    assert sum(map(sum, gpu["z_histogram"])) == sum(map(sum, cpu["z_histogram"]))


@needs_cuda
def test_run_encoding_on_a_gpu(fashion):
    from coinfer.experiments.encoding import get_encode_config, run as run_encoding

    config = get_encode_config("quick", splits=("layer3.1", "pool"), code_sizes=("d4-l2", "d4-k4"),
                               train_limit=48, test_limit=24, warmup_epochs=1, epochs=1, batch_size=16,
                               huffman_splits=("layer2.1", "pool"), huffman_train_images=16, eval_batch_size=12)
    tables = {}
    for device in ("cpu", "cuda"):
        model = _net().to(device)
        tables[device] = run_encoding("quick", config, model=model, device=torch.device(device),
                                      command="test", log=lambda *_: None)
        assert all(p.device.type == device for p in model.parameters())   # the model stayed where it was
    key = lambda r: (r.method, r.split, r.code_size)                       # noqa: E731
    cpu = {key(r): r for r in tables["cpu"].records}
    gpu = {key(r): r for r in tables["cuda"].records}
    assert set(cpu) == set(gpu) and len(gpu) == 6
    for k, r in gpu.items():
        c = cpu[k]
        # Costs do not depend on the device; accuracy and bits may move a little with float rounding.
        assert (r.device_macs, r.device_params, r.server_macs) == (c.device_macs, c.device_params, c.server_macs), k
        assert abs(r.accuracy - c.accuracy) <= 0.25, k
        if r.method == "framework":
            assert r.extra["roundtrip_exact"] and r.extra["test_images"] == 24
        else:
            assert r.extra["bits_fixed"] == c.extra["bits_fixed"]
            assert r.bits_per_image == pytest.approx(c.bits_per_image, rel=0.05), k


@needs_cuda
def test_the_original_baseline_follows_its_device_from_a_cpu_model(fashion):
    """The sweep keeps its baseline on the CPU and asks for a record on the GPU (the paper smoke run on an
    H200 stopped here: the images went to the GPU, the parts stayed on the CPU)."""
    from coinfer.data import load_dataset
    from coinfer.experiments.encoding import get_encode_config, original_record

    config = get_encode_config("quick", huffman_train_images=16, eval_batch_size=12)
    train, test = (load_dataset("fashion-mnist", train=t, limit=n) for t, n in ((True, 16), (False, 24)))
    records = {device: original_record(_net().cpu(), "layer2.1", train, test, config, torch.device(device),
                                       log=lambda *_: None) for device in ("cpu", "cuda")}
    cpu, gpu = records["cpu"], records["cuda"]
    assert (gpu.device_macs, gpu.server_macs, gpu.extra["bits_fixed"]) == (cpu.device_macs, cpu.server_macs,
                                                                           cpu.extra["bits_fixed"])
    assert gpu.extra["test_images"] == 24 and gpu.bits_per_image == pytest.approx(cpu.bits_per_image, rel=0.05)


@needs_cuda
def test_run_pruning_on_a_gpu(fashion, tmp_path):
    """Prune on the GPU; the saved weights, re-evaluated and re-profiled on the CPU, give its record."""
    import shutil

    from coinfer.data import load_dataset, make_loader
    from coinfer.paths import checkpoints_dir, pruned_checkpoint_path
    from coinfer.config import get_preset
    from coinfer.core.pruning import pruned_costs
    from coinfer.experiments.pruning import load_pruned, run as run_pruning
    from coinfer.train import evaluate

    baseline = checkpoints_dir() / "quick" / "baseline.pt"
    if not baseline.exists():   # else run_pruning would train one
        pytest.skip("the quick preset's baseline checkpoint is not here")
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / "quick").mkdir(parents=True)
    shutil.copy(baseline, checkpoints / "quick" / "baseline.pt")
    # 10 steps of 128 images: enough to leave the collapse right after masking (37% on the CPU).
    preset = get_preset("quick", pruning={"splits": ("layer2.1",), "sparsities": (0.5,), "control": False,
                                          "train_limit": 1280})
    table = run_pruning(preset, checkpoints=checkpoints, device=torch.device("cuda"), save_checkpoints=True)
    assert sorted(r.sparsity for r in table.records) == [0.0, 0.5]
    record = next(r for r in table.records if r.sparsity == 0.5)
    pruned = load_pruned(pruned_checkpoint_path("quick", "layer2.1", 0.5, preset.seed, checkpoints), torch.device("cpu"))
    costs = pruned_costs(pruned)
    assert (record.device_macs, record.device_params, record.server_macs, record.bits_per_image) == \
        (costs["device_macs"], costs["device_params"], costs["server_macs"], costs["feature_bits_float32"])
    test = make_loader(load_dataset("fashion-mnist", train=False), 500, shuffle=False)
    assert abs(record.accuracy - evaluate(pruned.pipeline(), test, torch.device("cpu"))) <= 0.02


@needs_cuda
def test_serve_codecs_fit_on_a_gpu_model(fashion, tmp_path):
    from coinfer.experiments.codecs import train_learned_codec
    from coinfer.serve.configuration import fit_huffman_codec

    cpu, gpu = _net(), _net().cuda()
    # Fitted on a CPU float64 copy: the same code whatever device holds the weights.
    assert (fit_huffman_codec(split(gpu, "layer3.1")[0], "fashion-mnist", images=16).fingerprint()
            == fit_huffman_codec(split(cpu, "layer3.1")[0], "fashion-mnist", images=16).fingerprint())
    codec, meta = train_learned_codec(gpu, "pool", "d4-l2", path=tmp_path / "codec.pt", log=lambda *_: None,
                                      train_limit=48, test_limit=24, warmup_epochs=1, epochs=1, batch_size=16,
                                      eval_batch_size=12)
    assert meta["test_images"] == 24 and (tmp_path / "codec.pt").exists()


# ------------------------------------------------------------------------------- the device check

def _cuda_check():
    """``benchmarks/cuda_check.py`` as a module (a script, not a package module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cuda_check", PACKAGE.parent / "benchmarks" / "cuda_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps: must be an integer >= 1, got '0'"),           # was the default (0 is falsy)
    (["--steps", "-5"], "--steps: must be an integer >= 1, got '-5'"),         # was an endless loop in _rate
    (["--steps", "2.5"], "--steps: must be an integer >= 1, got '2.5'"),
    (["--train-images", "0"], "--train-images: must be an integer >= 5, got '0'"),  # was the default
    (["--train-images", "4"], "--train-images: must be an integer >= 5, got '4'"),  # 5 batch files of none
])
def test_the_device_check_refuses_step_and_image_counts_it_cannot_run(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        _cuda_check().arguments(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_the_device_check_keeps_the_counts_it_is_given_and_times_only_whole_steps(tmp_path):
    import pickle

    check = _cuda_check()
    args = check.arguments(["--steps", "1", "--train-images", "7"])
    assert (args.steps, args.train_images) == (1, 7)
    assert check.arguments([]).steps is None                    # the device's default, chosen in main
    root = check.write_synthetic_cifar10(tmp_path, 7, 2)        # 2, 2, 1, 1, 1: no image lost to the 5 files
    sizes = [len(pickle.load(open(root / "cifar-10-batches-py" / f"data_batch_{i}", "rb"))["labels"])
             for i in range(1, 6)]
    assert sizes == [2, 2, 1, 1, 1]
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    batches = [(torch.randn(2, 3, 2, 2), torch.tensor([0, 1]))] * 4
    for steps in (0, -5):                                       # it would never reach step warmup + steps
        with pytest.raises(ValueError, match=f"steps must be an integer >= 1.*got steps={steps}"):
            check._rate(model, batches, steps, torch.device("cpu"))
    assert check._rate(model, batches, 2, torch.device("cpu"), warmup=1) > 0


def test_resuming_the_device_check_runs_a_failed_check_again(tmp_path):
    import json

    report = {"gpu": None, "torch": torch.__version__, "device": "cpu", "date": "2026-01-02"}
    earlier = {**report, "date": "2026-01-01", "provenance": {"git_commit": "abc1234"},
               "split": {"error": "RuntimeError: CUDA out of memory", "traceback": "..."}, "split_seconds": 3.0,
               "kept": {"factor": 1.3}, "kept_seconds": 12.5, "factors": {"kept": 1.3}}
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    kept = _cuda_check().resumed(str(tmp_path / "earlier.json"), report)
    assert kept == {"kept": {"factor": 1.3}, "kept_seconds": 12.5, "resumed_from": [{"git_commit": "abc1234"}]}
    # A check asked for again keeps its earlier result until the new one replaces it, so that a call
    # stopped during the rerun leaves a report that still has it (the H200's codec_concurrency lost
    # its own so once); then the earlier one moves to superseded, oldest first.
    check = _cuda_check()
    again = {**report, **check.resumed(str(tmp_path / "earlier.json"), report)}
    assert again["kept"] == {"factor": 1.3} and "superseded" not in again
    check.replaced(again, "kept", {"factor": 1.1}, 9.04)
    assert again["kept"] == {"factor": 1.1} and again["kept_seconds"] == 9.0
    assert again["superseded"] == {"kept": [{"factor": 1.3}]}
    (tmp_path / "again.json").write_text(json.dumps({**again, "provenance": {"git_commit": "def5678"}}))
    third = {**report, **check.resumed(str(tmp_path / "again.json"), report)}
    check.replaced(third, "kept", {"factor": 1.2}, 8.0)
    assert third["superseded"] == {"kept": [{"factor": 1.3}, {"factor": 1.1}]}
    # A rerun that fails keeps the measurement it would have replaced, and says why it failed.
    check.replaced(third, "kept", {"error": "RuntimeError: CUDA out of memory"}, None)
    assert third["kept"] == {"factor": 1.2} and third["kept_seconds"] == 8.0
    assert third["failed_reruns"] == {"kept": {"error": "RuntimeError: CUDA out of memory"}}
    # A failed check run again for the first time just takes the new result.
    check.replaced(third, "split", {"max_abs_difference": 0.0}, 1.0)
    assert third["split"] == {"max_abs_difference": 0.0} and "split" not in third["superseded"]


def test_the_device_check_reruns_only_with_a_report_to_resume(capsys):
    with pytest.raises(SystemExit):
        _cuda_check().arguments(["--rerun", "data_path"])
    assert "--rerun needs --resume REPORT" in capsys.readouterr().err
    args = _cuda_check().arguments(["--resume", "r.json", "--rerun", "data_path", "paper_smoke"])
    assert args.rerun == ["data_path", "paper_smoke"]


def test_the_quick_check_compares_with_the_committed_baselines_accuracy(tmp_path, monkeypatch):
    import coinfer.experiments.encoding as encoding
    import coinfer.experiments.pruning as pruning
    import coinfer.train as train

    failed = RuntimeError("not run here")
    monkeypatch.setattr(train, "get_baseline", lambda *a, **k: (_net(), {"test_accuracy": 0.5}))
    for module in (pruning, encoding):
        monkeypatch.setattr(module, "run", lambda *a, **k: (_ for _ in ()).throw(failed))
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))           # as the paper cell leaves it: not the checkout
    out = _cuda_check().quick_pipeline(torch.device("cpu"), tmp_path)
    _, meta = train.load_checkpoint(PACKAGE.parent / "data" / "checkpoints" / "quick" / "baseline.pt")
    assert out["baseline"] == {"test_accuracy": 0.5, "seconds": out["baseline"]["seconds"],
                               "cpu_committed_accuracy": meta["test_accuracy"]}


def test_the_throughput_check_prices_the_paper_baseline_on_its_training_split(tmp_path, monkeypatch):
    """The paper baseline trains on the training split less the validation images (45,000 of CIFAR-10's
    50,000), not on every training image."""
    import coinfer.core.network as network
    import coinfer.data as data

    check = _cuda_check()
    check.write_synthetic_cifar10(tmp_path, 5_040, 10)              # less the paper's 5,000 validation images: 40
    monkeypatch.setenv("COINFER_DATA", str(tmp_path))
    monkeypatch.setenv("COINFER_TRUST_LOCAL_DATA", "1")
    loaded = []

    def loader(dataset, batch_size, shuffle, num_workers):           # a few small batches, not 8 processes
        loaded.append(len(dataset))
        return [(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))] * 12

    monkeypatch.setattr(data, "make_loader", loader)
    monkeypatch.setattr(network, "resnet18", lambda width: torch.nn.Sequential(torch.nn.Flatten(),
                                                                              torch.nn.Linear(3072, 10)))
    out = check.throughput(torch.device("cpu"), "cifar10", steps=3)
    assert loaded == [40] and out["train_images"] == 40
    estimate = out["paper_epochs"] * 40 / out["train_images_per_s"] / 60
    assert out["paper_baseline_estimate_min"] == pytest.approx(estimate, abs=0.06)
