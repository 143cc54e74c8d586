"""Where a result came from: the command line that made it, the commit, the machine and the date.

:meth:`coinfer.results.Provenance.collect` fills a table's provenance from these; a sweep cell, a
benchmark report and a search summary record the same (``coinfer.results`` re-exports them).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path


def invocation(argv: list[str] | None = None) -> str:
    """The command line that is running, as a user would type it again.

    ``python -m coinfer run sweep`` arrives as ``sys.argv == [".../coinfer/__main__.py", "run",
    "sweep"]``; the path is written back as ``-m coinfer``, so a table's provenance names the command
    and not a file of one checkout.

    Parameters
    ----------
    argv : list of str, optional
        Default ``sys.argv``.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.results_origin import invocation
    >>> invocation(["/home/me/coinfer/coinfer/__main__.py", "run", "sweep", "--preset", "quick"])
    'python -m coinfer run sweep --preset quick'
    >>> invocation(["tools/print_book.py"])
    'python tools/print_book.py'
    >>> print(invocation(["benchmarks/plan_check.py", "--set", "sweep.code_sizes=('d16-l4', 'd16-k16')"]))
    python benchmarks/plan_check.py --set "sweep.code_sizes=('d16-l4', 'd16-k16')"
    """
    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "coinfer":
        argv[:1] = ["-m", "coinfer"]
    return " ".join(_shell_word(word) for word in ["python"] + argv)


def _shell_word(word: str) -> str:
    """``word`` as a POSIX shell reads it back: bare if it can be, else in double quotes where nothing in
    it is special there (the readable form of a Python literal such as ``('d16-l4',)``), else
    :func:`shlex.quote`'s single quotes."""
    if word and not re.search(r"[^\w@%+=:,./-]", word):
        return word
    return f'"{word}"' if not re.search(r'["$`\\!]', word) else shlex.quote(word)


#: Tracked paths that do not make a commit ``+dirty``: the committed tables, benchmark reports and
#: checkpoints, which the regeneration commands write (``make results`` rewrites one after another, and
#: each later table would otherwise call itself made from uncommitted changes; a codec checkpoint records
#: its training time, so it is new bytes every time). What a result reads from them is recorded by
#: digest: the baseline's weights (sweep cells, finished seeds, codec checkpoints) and a table another
#: table reads (``coinfer.experiments.Experiment.reads``).
GENERATED_PATHS = ("data/results", "data/checkpoints")


#: The commit a copy of the checkout was made from, for a copy whose git metadata is not its own (the
#: lent GPU machine's copy of a working tree keeps the session's first commit): 40 hexadecimal digits,
#: taken as given, so set it only to the commit the copy's files are (committed, nothing changed since).
COMMIT_ENV = "COINFER_COMMIT"


def git_commit(checkout: str | Path | None = None) -> str:
    r"""The commit of the coinfer checkout (40 hexadecimal digits), with ``+dirty`` if it has uncommitted
    changes outside :data:`GENERATED_PATHS`; ``""`` outside git; ``COINFER_COMMIT``
    (:data:`COMMIT_ENV`) where it is set.

    Parameters
    ----------
    checkout : str or Path, optional
        A folder inside the git checkout to ask (default: this package's own).

    Examples
    --------
    >>> import re
    >>> from coinfer.results_origin import git_commit
    >>> bool(re.fullmatch(r"([0-9a-f]{40}(\+dirty)?)?", git_commit()))
    True
    """
    given = os.environ.get(COMMIT_ENV, "")
    if given:
        if not re.fullmatch(r"[0-9a-f]{40}", given):
            raise ValueError(f"{COMMIT_ENV}={given!r}: give a whole commit hash, 40 lowercase hexadecimal digits")
        return given
    here = Path(checkout) if checkout is not None else Path(__file__).resolve().parent
    outside_generated = [":(top)", *(f":(top,exclude){p}" for p in GENERATED_PATHS)]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *outside_generated],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+dirty" if dirty else "")


def hardware() -> str:
    """The machine's architecture and CPU core count, then the CUDA device's name when there is one.

    Examples
    --------
    >>> from coinfer.results_origin import hardware
    >>> "CPU cores" in hardware()
    True
    """
    import torch

    desc = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        desc += f", {torch.cuda.get_device_name(0)}"
    return desc


def utc_now() -> str:
    """Now in UTC to the second, ISO 8601: the date every table's provenance and every cell file records.

    Examples
    --------
    >>> from coinfer.results_origin import utc_now
    >>> import datetime
    >>> datetime.datetime.fromisoformat(utc_now()).utcoffset(), len(utc_now())
    (datetime.timedelta(0), 25)
    """
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
