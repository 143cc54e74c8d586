"""Every chapter runs top to bottom in a fresh environment that has only what its install cell installs.

What Colab does, done here without internet:

1. **The checkout, as cloned.** The files git knows (tracked, or new and not ignored) are copied to a
   temporary folder: no dataset, no build output, no ``.egg-info``; only what a ``git clone`` of
   this working tree would give (so a chapter that needs an uncommitted file fails here).
2. **The install cell's own command.** Each chapter's first cell is executed with ``google.colab``
   faked and ``subprocess.run`` recorded: the ``pip install ...`` it would run in Colab is taken
   from the cell itself (its constraints file pins torch and torchvision to the versions already
   installed, as Colab's are), and run with a new virtualenv's pip against the copied checkout.
   pip reads this machine's configured package index, so nothing is downloaded from outside.
3. **Colab's preinstalled torch.** Colab ships torch and the cell never reinstalls it. By default
   (``COINFER_FRESH_TORCH=link``) the new virtualenv gets the same: a folder on its ``sys.path``
   that links this machine's torch, torchvision and their dependency closure, nothing else.
   ``COINFER_FRESH_TORCH=install`` lets pip install torch too (a ~5 GB CUDA build here: minutes).
4. **Each paired ``.ipynb``** (the file Colab opens) is executed by nbclient with a kernel of the
   new virtualenv, in ``book/`` of the copy, with the quick preset; any error fails the test. A
   first injected cell checks that the kernel is the virtualenv's and imports the copy's coinfer.

Marked ``slow`` and ``fresh_env``; skipped unless selected (``pytest -m fresh_env``) or
``COINFER_FRESH_ENV=1``, as ``make fresh-env-test`` and .ci/run do. Per-chapter times are printed
and written to ``benchmarks/out/fresh_env.json``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.fresh_env]

ROOT = Path(__file__).resolve().parents[1]
COLAB_CLONE = "/content/coinfer-repo"
INSTALL_TIMEOUT_S = 1200
CELL_TIMEOUT_S = 300                 # as the book build (_config.yml execute.timeout)
TIMES: dict[str, float] = {}


def toc_chapters() -> list[str]:
    """``book/NN_slug`` of every numbered chapter in _toc.yml, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    files += [c["file"] for c in toc.get("chapters", [])]
    return [f for f in files if re.match(r"book/\d\d_", f)]


def _run(cmd, timeout, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if result.returncode:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
                    f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA", "JUPYTER", "COINFER", "PIP_REQUIRE"))}
    env.update(extra)
    return env


def copy_checkout(dest: Path) -> Path:
    """Copy what a clone of this working tree holds (tracked + unignored new files) to ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


_CAPTURE = r"""
import json, os, subprocess, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
calls = []
subprocess.run = lambda cmd, **kw: calls.append(list(cmd))
os.chdir = lambda path: calls.append(["chdir", path])
os.path.isdir = lambda path: False
exec(compile(sys.stdin.read(), "install-cell", "exec"), {})
print(json.dumps(calls))
"""


def install_command(ipynb: Path) -> list[str]:
    """The ``python -m pip ...`` command that ``ipynb``'s install cell runs in Colab (recorded)."""
    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    assert "colab-install" in cell.metadata.get("tags", []), f"{ipynb.name}: first code cell is not the install cell"
    out = subprocess.run([sys.executable, "-c", _CAPTURE], input=cell.source, capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir()).stdout
    pips = [c for c in json.loads(out) if c[1:3] == ["-m", "pip"]]
    assert len(pips) == 1, f"{ipynb.name}: expected one pip command in the install cell, got {pips}"
    return pips[0][1:]


def _requirement_closure(names) -> set[str]:
    """Installed distributions needed by ``names``: their requirements, recursively, with markers
    and extras applied (torch's CUDA libraries come through ``cuda-toolkit[...]`` extras)."""
    from packaging.requirements import Requirement

    seen, todo = set(), [(name, frozenset()) for name in names]
    done = set()
    while todo:
        name, extras = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if (key, extras) in done:
            continue
        done.add((key, extras))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(key)
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def link_preinstalled(venv_python: Path, names=("torch", "torchvision")) -> list[str]:
    """Make this machine's ``names`` (and what they need) importable in the venv, as Colab's are."""
    site = Path(_run([str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     60).stdout.strip())
    shelf = site.parent.parent.parent / "preinstalled"
    shelf.mkdir()
    linked = sorted(_requirement_closure(names))
    for key in linked:
        if key in ("setuptools", "pip"):          # the virtualenv has its own
            continue
        dist = importlib.metadata.distribution(key)
        tops = set()
        for f in dist.files or []:
            top = f.parts[0]
            if top.endswith(".dist-info") or not top.startswith(("..", "__pycache__")):
                tops.add(top)
        for top in tops:
            src = Path(dist.locate_file(top))
            if src.exists() and not (shelf / top).exists() and src.parent.name == "site-packages":
                (shelf / top).symlink_to(src)
    (site / "_coinfer_preinstalled.pth").write_text(str(shelf) + "\n")
    return linked


@pytest.fixture(scope="module")
def fresh(request):
    """``(venv python, checkout copy)``: a new virtualenv with only what the install cell installs."""
    keep = os.environ.get("COINFER_FRESH_ENV_KEEP")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="coinfer-fresh-"))
    base.mkdir(parents=True, exist_ok=True)
    request.config._coinfer_fresh_env_times = TIMES        # printed by conftest's terminal summary
    notes = request.config._coinfer_fresh_env_notes = []
    say = notes.append
    try:
        clone = copy_checkout(base / "coinfer-repo")
        t0 = time.perf_counter()
        _run([sys.executable, "-m", "venv", str(base / "venv")], 300)
        python = base / "venv" / "bin" / "python"
        mode = os.environ.get("COINFER_FRESH_TORCH", "link")
        if mode not in ("link", "install"):
            raise ValueError(f"COINFER_FRESH_TORCH must be 'link' or 'install', got {mode!r}")
        if mode == "link":
            linked = link_preinstalled(python)
            say(f"linked Colab-like preinstalled packages: {', '.join(linked)}")
        chapters = toc_chapters()
        commands = {tuple(install_command(ROOT / f"{c}.ipynb")) for c in chapters}
        assert len(commands) == 1, f"chapters install different things: {commands}"
        cmd = list(commands.pop())
        constraints = cmd[cmd.index("-c") + 1]
        pins = base / "keep-preinstalled.txt"
        pins.write_text("\n".join(f"{p}=={importlib.metadata.version(p)}" for p in ("torch", "torchvision")))
        cmd[cmd.index("-c") + 1] = str(pins)
        cmd = [str(clone) + a[len(COLAB_CLONE):] if a.startswith(COLAB_CLONE) else a for a in cmd]
        assert constraints == "/tmp/keep-torch.txt" and any(a.startswith(str(clone)) for a in cmd), cmd
        say(f"{python} {' '.join(cmd)}")
        _run([str(python), *cmd, "--disable-pip-version-check"], INSTALL_TIMEOUT_S, env=_clean_env())
        TIMES["install"] = time.perf_counter() - t0
        say(f"virtualenv + install cell's pip command ({mode} torch): {TIMES['install']:.0f} s")
        yield python, clone
    finally:
        out = ROOT / "benchmarks" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "fresh_env.json").write_text(json.dumps({"seconds": TIMES}, indent=2) + "\n")
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


_EXECUTE = r"""
import sys, nbformat
from nbclient import NotebookClient
path, venv, clone, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
nb = nbformat.read(path, as_version=4)
check = ("import sys, coinfer\n"
         "import os\n"
         f"assert os.path.realpath(sys.prefix) == os.path.realpath({venv!r}), ('kernel is not the fresh virtualenv', sys.prefix)\n"
         f"assert coinfer.__file__.startswith({clone!r}), ('wrong coinfer', coinfer.__file__)")
nb.cells.insert(0, nbformat.v4.new_code_cell(check))
# shutdown_kernel="immediate": the kernel is killed after the last cell, as in the book build
# (book/_ext/coinfer_book.py), instead of running Python's exit for seconds more.
client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                        resources={"metadata": {"path": clone + "/book"}}, shutdown_kernel="immediate")
# Not client.execute(): its single kernel_info request, when the reply is lost on a busy machine,
# waits out the whole timeout before the first cell (seen: 300 s). setup_kernel() waits for the
# kernel with jupyter_client's retrying wait_for_ready instead; then every cell runs in order.
with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
        client.execute_cell(cell, index)
"""


@pytest.mark.parametrize("chapter", toc_chapters(), ids=lambda c: c.split("/")[-1])
def test_chapter_runs_top_to_bottom_in_a_fresh_environment(fresh, chapter):
    python, clone = fresh
    venv = str(python.parent.parent)
    t0 = time.perf_counter()
    env = _clean_env(COINFER_PRESET="quick", JUPYTER_PATH=f"{venv}/share/jupyter",
                     JUPYTER_DATA_DIR=f"{venv}/share/jupyter", JUPYTER_CONFIG_DIR=f"{venv}/etc/jupyter",
                     IPYTHONDIR=f"{venv}/ipython")
    _run([str(python), "-c", _EXECUTE, str(clone / f"{chapter}.ipynb"), venv, str(clone), str(CELL_TIMEOUT_S)],
         CELL_TIMEOUT_S * 3, env=env, cwd=clone / "book")
    TIMES[chapter.split("/")[-1]] = time.perf_counter() - t0
