"""The paper preset end to end on a CPU: every command of the README's paper section, at full width,
on a tiny CIFAR-10 written in its real on-disk format, with ``COINFER_SMOKE=1`` scaling every stage
down to a handful of steps (``coinfer.config.smoke_overrides``): the same code paths as the real run,
so a change that breaks the paper preset fails here, not on a reader's GPU. The commands train with
the GPU path's choices (the training set held as one tensor and augmented there, channels_last,
the codes of a split point through one server pass), bf16 autocast aside; on a machine with CUDA they run there,
bf16 included (the device check, ``benchmarks/cuda_check.py``, runs this test on the GPU).

Checkpoints and tables go to a scratch ``COINFER_HOME``. The book build with ``COINFER_PRESET=paper``
on the smoke tables takes a minute or two more, so it runs only with ``COINFER_SMOKE_BOOK=1``, which
CI sets (``.ci/run``). With ``COINFER_SMOKE_KEEP=<folder>`` the run is kept there, and a later pytest
process with the same setting reuses it while the code it ran is unchanged: CI's book step builds from
the run its test step made instead of running every command again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cifar_support import write_tiny_cifar10

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

#: The commands run, in order (``python -m coinfer`` + these), each timed.
COMMANDS = [
    ["profile", "--width", "1.0", "--dataset", "cifar10"],
    ["train", "--preset", "paper"],
    ["run", "original-float32", "--preset", "paper"],
    ["run", "pruning", "--preset", "paper", "--seeds", "0", "1"],       # two seeds: the averaged table
    ["run", "encoding", "--preset", "paper", "--seeds", "0"],
    ["run", "rate", "--preset", "paper", "--seeds", "0"],
    ["run", "jscc", "--preset", "paper", "--seeds", "0"],
    ["run", "sweep", "--preset", "paper", "--seeds", "0", "--workers", "2"],   # the tasks dealt to two processes
    ["search", "--preset", "paper", "--trials", "2", "--seed", "0"],
    ["search", "--preset", "paper", "--export"],
    ["latency", "--rate", "40KB/s", "--preset", "paper"],
]


def readme_paper_commands() -> list[list[str]]:
    """The ``python -m coinfer ...`` lines of the README's "Running at paper scale on a GPU" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Running at paper scale on a GPU", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#")[0].split()[3:] for line in block.splitlines() if line.startswith("python -m coinfer ")]


def test_every_command_of_the_readme_paper_section_is_in_the_smoke_run():
    readme = readme_paper_commands()
    assert len(readme) >= 4, readme
    ran = [" ".join(c) for c in COMMANDS]
    for command in readme:
        words = [w for w in command if not w.startswith("--") or w in ("--preset",)]
        assert any(all(w in r.split() for w in words) for r in ran), f"README runs {command}; the smoke run does not"


#: A kept run's files: the folder's owner mark (only a folder holding it is ever emptied) and the
#: finished run's record (its times, what the GPU path counted, and the code it ran).
KEEP_MARK, KEEP_RECORD = ".coinfer-paper-smoke", "smoke_run.json"


def source_fingerprint() -> str:
    """SHA-256 of everything a kept run depends on: the package, the test's own files, the committed
    tables and checkpoints that the book build copies in beside the smoke tables, and whether it ran on
    a GPU."""
    import torch

    digest = hashlib.sha256(f"cuda={torch.cuda.is_available()}".encode())
    files = sorted((ROOT / "coinfer").rglob("*.py")) + [Path(__file__), ROOT / "tests" / "cifar_support.py"]
    files += sorted(p for folder in ("data/results", "data/checkpoints/quick") for p in (ROOT / folder).rglob("*")
                    if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def kept_run(home: Path) -> dict | None:
    """The finished run kept in ``home``, if the code it ran is this checkout's."""
    record = home / KEEP_RECORD
    if not record.exists():
        return None
    kept = json.loads(record.read_text())
    return kept if kept["source"] == source_fingerprint() else None


def keep_home(keep: str) -> Path:
    """The folder ``COINFER_SMOKE_KEEP`` names, ready for a smoke run: as it is when it holds a finished
    run of this code, else emptied (only if it holds nothing or a kept run) and marked as a kept run's."""
    home = Path(keep).resolve()
    if kept_run(home):
        return home
    if home.exists() and any(home.iterdir()):
        if not (home / KEEP_MARK).exists():
            raise ValueError(f"COINFER_SMOKE_KEEP={keep!r} is a folder that holds other files: give a new or "
                             "empty folder (a kept smoke run is replaced when the code changes)")
        shutil.rmtree(home)                       # a kept run of other code, or an unfinished one
    home.mkdir(parents=True, exist_ok=True)
    (home / KEEP_MARK).touch()
    return home


@pytest.fixture(scope="module")
def smoke_home(tmp_path_factory):
    keep = os.environ.get("COINFER_SMOKE_KEEP")
    home = keep_home(keep) if keep else tmp_path_factory.mktemp("paper-smoke")
    if kept_run(home):
        return home
    (home / "data").mkdir()
    write_tiny_cifar10(home / "data", n_train=100, n_test=40)     # 80 training + 20 validation images
    return home


@pytest.fixture(scope="module")
def smoke_env(smoke_home):
    # Only the paper preset is scaled down: the book built from its tables also reads the committed
    # quick preset's checkpoints and tables, which must keep their own settings.
    env = {"COINFER_HOME": str(smoke_home), "COINFER_SMOKE": "paper", "COINFER_TRUST_LOCAL_DATA": "1",
           "COINFER_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


#: What the commands train with: the GPU path's choices (:meth:`DataPath.for_device` for CUDA: images
#: held and augmented on the device, channels_last, the codes trained together through one server
#: pass on their stacked batch), so that
#: a reader's GPU run is never the first to take them; on a CPU all but bf16 autocast, which is slow
#: there without bf16 units (tests/test_data_path_stages.py trains each stage under it). With CUDA the
#: commands run on the GPU (their default device) and the path is exactly the GPU's.
def gpu_path():
    from dataclasses import replace

    import torch

    from coinfer.tensor_data import DataPath

    path = DataPath.for_device("cuda")
    return path if torch.cuda.is_available() else replace(path, autocast=None)


@pytest.fixture(scope="module")
def smoke_run(smoke_home, smoke_env):
    """Every command, in this process (one torch import), on the GPU path's choices, timed; a failing
    command fails the test. A run kept by ``COINFER_SMOKE_KEEP`` for this code is reused."""
    kept = kept_run(smoke_home)
    if kept:
        return kept["times"], kept["used"]
    import torch

    from coinfer.cli import main
    from coinfer.experiments.encoding import _CodecTraining
    from coinfer.tensor_data import DataPath, ResidentLoader

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = gpu_path()
    # Counted, to show that the GPU path's code ran: resident epochs and codec steps whose codes shared
    # one server pass.
    used = {"resident epochs": 0, "stacked codec steps": 0}
    originals = (DataPath.__dict__["for_device"], ResidentLoader.__iter__, _CodecTraining.forward)

    def epoch(loader):
        used["resident epochs"] += 1
        return originals[1](loader)

    def codec_step(training, features):
        used["stacked codec steps"] += training.stack and len(training.codec) > 1
        return originals[2](training, features)

    DataPath.for_device = classmethod(lambda cls, device: path)
    ResidentLoader.__iter__, _CodecTraining.forward = epoch, codec_step
    times = {}
    try:
        for command in COMMANDS:
            start = time.time()
            code = main(command)
            times[" ".join(command)] = round(time.time() - start, 1)
            assert code == 0, f"python -m coinfer {' '.join(command)} failed (exit {code}); see the output above"
    finally:
        torch.set_num_threads(threads)
        DataPath.for_device, ResidentLoader.__iter__, _CodecTraining.forward = originals
    if (smoke_home / KEEP_MARK).exists():
        (smoke_home / KEEP_RECORD).write_text(json.dumps({"source": source_fingerprint(), "times": times, "used": used}))
    return times, used


def _table(home: Path, name: str) -> dict:
    return json.loads((home / "data" / "results" / f"{name}_paper.json").read_text())


def test_paper_preset_runs_end_to_end_at_full_width(smoke_home, smoke_run, capsys):
    times, used = smoke_run
    print("\n".join(f"{t:7.1f} s  python -m coinfer {c}" for c, t in times.items()))
    print(f"{sum(times.values()):7.1f} s  in all")
    for name in ("original-float32", "pruning", "encoding", "rate", "jscc", "sweep", "search"):
        table = _table(smoke_home, name)
        prov = table["provenance"]
        assert (prov["preset"], prov["dataset"]) == ("paper", "cifar10"), name
        assert table["records"], f"{name}_paper.json holds no records"
    from coinfer.config import get_preset

    assert get_preset("paper").width == 1.0                        # full width, smoke or not
    sweep = _table(smoke_home, "sweep")
    assert {r["method"] for r in sweep["records"]} == {"framework", "original", "2-step-pruning", "bottlenet++",
                                                       "png", "on-device"}
    assert sweep["provenance"]["preset"] == "paper"
    pruning = _table(smoke_home, "pruning")
    assert {(r["split"], r["sparsity"]) for r in pruning["records"] if r["sparsity"] > 0} == {("stem", 0.75),
                                                                                             ("pool", 0.75)}
    baseline = smoke_home / "data" / "checkpoints" / "paper" / "baseline.pt"
    assert baseline.exists()
    assert all(n > 0 for n in used.values()), used                     # the GPU path's code ran


def test_a_kept_smoke_run_is_reused_only_for_the_same_code_and_never_empties_a_foreign_folder(tmp_path):
    home = keep_home(str(tmp_path / "kept"))
    assert (home / KEEP_MARK).exists() and kept_run(home) is None        # new: nothing to reuse yet
    (home / "data").mkdir()
    (home / KEEP_RECORD).write_text(json.dumps({"source": source_fingerprint(), "times": {"a": 1.0}, "used": {}}))
    assert keep_home(str(home)) == home and kept_run(home)["times"] == {"a": 1.0}
    assert (home / "data").exists()                                      # reused as it is
    (home / KEEP_RECORD).write_text(json.dumps({"source": "other code", "times": {}, "used": {}}))
    assert kept_run(home) is None
    assert keep_home(str(home)) == home and not (home / "data").exists()   # emptied for a new run
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="COINFER_SMOKE_KEEP=.*mine.*holds other files"):
        keep_home(str(foreign))
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_smoke_setting_needs_a_scratch_home(monkeypatch):
    from coinfer.config import get_preset

    monkeypatch.setenv("COINFER_SMOKE", "1")
    monkeypatch.delenv("COINFER_HOME", raising=False)
    with pytest.raises(ValueError, match="COINFER_HOME"):
        get_preset("paper")


def test_smoke_can_scale_one_preset_and_names_a_bad_value(monkeypatch, tmp_path):
    from coinfer.config import PRESETS, get_preset

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    monkeypatch.setenv("COINFER_SMOKE", "paper")
    assert get_preset("paper").pruning.epochs == 1 < PRESETS["paper"].pruning.epochs
    assert get_preset("quick") == PRESETS["quick"]
    monkeypatch.setenv("COINFER_SMOKE", "papr")
    with pytest.raises(ValueError, match="'papr' names no preset.*quick, paper"):
        get_preset("quick")


@pytest.mark.skipif(os.environ.get("COINFER_SMOKE_BOOK") != "1",
                    reason="the book build on the smoke tables takes a minute or two: set COINFER_SMOKE_BOOK=1 (CI does)")
def test_book_builds_from_the_paper_preset_smoke_tables(smoke_home, smoke_env, smoke_run, tmp_path):
    # Chapters 6 to 8 read the quick preset's committed tables and checkpoints whatever the preset:
    # copies of them (the build must not write into the checkout) join the smoke run's paper ones.
    for source in (ROOT / "data" / "results").iterdir():
        target = smoke_home / "data" / "results" / source.name
        if not target.exists():
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    shutil.copytree(ROOT / "data" / "checkpoints" / "quick", smoke_home / "data" / "checkpoints" / "quick",
                    dirs_exist_ok=True)
    env = {**os.environ, **smoke_env, "COINFER_PRESET": "paper", "PYTHONPATH": str(ROOT)}
    start = time.time()
    result = subprocess.run([sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
                             "build", str(ROOT), "--path-output", str(tmp_path), "-W", "-n"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    print(f"book build on the smoke tables: {time.time() - start:.0f} s")
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, log[-6000:]
