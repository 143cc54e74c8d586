"""Results as data: one :class:`Record` per evaluated configuration, a :class:`LookupTable` of them.

The paper (section II-D): "All the output models are profiled and stored in a lookup table. When we
need to deploy a DNN to the network edge, we can choose the best model from the table." Every
figure in the book is a view of such a table, and every table says what produced it
(:class:`Provenance`). A table is a JSON file::

    {"schema": "coinfer.lookup-table", "schema_version": 1,
     "provenance": {...}, "records": [{...}, ...]}

Users can bring their own records: build :class:`Record` objects (or dicts with the same fields),
wrap them in a :class:`LookupTable` and save it; :func:`load_table` validates every field and
rejects a wrong schema with a message naming the bad field.

Units: MACs are multiply-accumulates (FLOPs = 2 x MACs); sizes are bits per image; accuracy is a
fraction in [0, 1].
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from coinfer.results_origin import git_commit, hardware, invocation, utc_now   # what Provenance.collect records

SCHEMA = "coinfer.lookup-table"
SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A results file or record does not follow the lookup-table schema."""


@dataclass(frozen=True)
class Record:
    """One evaluated configuration of a co-inference method.

    Parameters
    ----------
    method : str
        What produced it, e.g. ``"original"``, ``"framework"``, ``"2-step-pruning"``,
        ``"bottlenet++"``, ``"png"``.
    split : str
        Canonical split point (:data:`coinfer.splits.SPLIT_POINTS`).
    accuracy : float
        Top-1 test accuracy, a fraction in [0, 1] (the mean over ``seeds`` runs).
    device_macs, server_macs : int
        Multiply-accumulates on the device (including any encoder) and on the server (including any
        decoder), per image.
    device_params : int
        Parameters on the device (including any encoder).
    bits_per_image : float
        What the device sends per image: the real encoded length where a coder ran.
    sparsity : float
        Channel sparsity of the device part, in [0, 1).
    code_size : str
        The encoder's setting (e.g. ``"c4-d64-l4"``), empty for none.
    channel : str
        ``"noiseless"``, ``"awgn:<snr_db>"`` or ``"bsc:<p>"``.
    bits_entropy : float or None
        Empirical entropy of the sent symbols, bits per image, where defined.
    val_accuracy : float or None
        Top-1 accuracy on the validation split (held-out training images): what every choice uses.
    accuracy_std, val_accuracy_std : float or None
        Sample standard deviation over the seeds (None for one seed).
    seeds : int
        How many training seeds the accuracies average (1: one run).
    extra : dict
        Anything else a method wants to keep (JSON-serializable).

    Examples
    --------
    >>> from coinfer.results import Record
    >>> r = Record(method="original", split="layer2.1", accuracy=0.91, device_macs=1_347_584,
    ...            device_params=2_852, server_macs=1_080_160, bits_per_image=16_384)
    >>> r.key
    ('original', 'layer2.1', 0.0, '', 'noiseless')
    >>> Record.from_dict(r.to_dict()) == r
    True
    """

    method: str
    split: str
    accuracy: float
    device_macs: int
    device_params: int
    server_macs: int
    bits_per_image: float
    sparsity: float = 0.0
    code_size: str = ""
    channel: str = "noiseless"
    bits_entropy: float | None = None
    val_accuracy: float | None = None
    accuracy_std: float | None = None
    val_accuracy_std: float | None = None
    seeds: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        validate_record(asdict(self))

    @property
    def key(self) -> tuple:
        """What identifies the configuration (two records with the same key describe the same one)."""
        return (self.method, self.split, round(self.sparsity, 6), self.code_size, self.channel)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "Record":
        validate_record(row)
        return cls(**row)


_REQUIRED = {"method": str, "split": str, "accuracy": (int, float), "device_macs": int, "device_params": int,
             "server_macs": int, "bits_per_image": (int, float)}
_OPTIONAL = {"sparsity": (int, float), "code_size": str, "channel": str, "bits_entropy": (int, float, type(None)),
             "val_accuracy": (int, float, type(None)), "accuracy_std": (int, float, type(None)),
             "val_accuracy_std": (int, float, type(None)), "seeds": int, "extra": dict}


#: The provenance's numbers and their ranges: fractions, points of accuracy, seconds.
_PROVENANCE_RANGES = {"baseline_accuracy": (0, 1), "baseline_val_accuracy": (0, 1), "accuracy_drop": (0, 100),
                      "wall_time_s": (0, math.inf)}   # (finite too)


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def check_channel(channel: Any) -> tuple[str, float | None]:
    """The kind and value of a channel string: ``"noiseless"``, ``"awgn:<SNR in dB>"`` (finite) or
    ``"bsc:<flip probability>"`` (in [0, 0.5]); a :class:`SchemaError` naming it otherwise.

    Parameters
    ----------
    channel : str

    Returns
    -------
    (str, float or None)
        ``("noiseless", None)``, ``("awgn", snr_db)`` or ``("bsc", p)``.

    Examples
    --------
    >>> from coinfer.results import check_channel
    >>> check_channel("awgn:10"), check_channel("bsc:0.01"), check_channel("noiseless")
    (('awgn', 10.0), ('bsc', 0.01), ('noiseless', None))
    >>> check_channel("bsc:0.7")
    Traceback (most recent call last):
    ...
    coinfer.results.SchemaError: channel 'bsc:0.7': a flip probability must be in [0, 0.5]
    """
    allowed = "use 'noiseless', 'awgn:<SNR dB>' (e.g. awgn:10) or 'bsc:<p>' (e.g. bsc:0.01, p in [0, 0.5])"
    if channel == "noiseless":
        return "noiseless", None
    kind, _, value = channel.partition(":") if isinstance(channel, str) else ("", "", "")
    if kind not in ("awgn", "bsc") or not value:
        raise SchemaError(f"unknown channel {channel!r}: {allowed}")
    try:
        number = float(value)
    except ValueError:
        raise SchemaError(f"channel {channel!r}: {value!r} is not a number; {allowed}") from None
    if kind == "awgn" and not math.isfinite(number):
        raise SchemaError(f"channel {channel!r}: an SNR must be a finite number of dB")
    if kind == "bsc" and not 0.0 <= number <= 0.5:
        raise SchemaError(f"channel {channel!r}: a flip probability must be in [0, 0.5]")
    return kind, number


def validate_record(row: Any, where: str = "record") -> None:
    """Raise :class:`SchemaError` naming the first field of ``row`` that breaks the schema.

    Parameters
    ----------
    row : dict
        A record as a JSON object (the fields of :class:`Record`; units there).
    where : str
        How the error message names the record (e.g. ``"results.json: record 3"``).

    Raises
    ------
    SchemaError
        On a missing, unknown or mistyped field, an unknown split point, an accuracy outside
        [0, 1], a sparsity outside [0, 1), a negative or infinite cost, or a channel that
        :func:`check_channel` refuses.

    Examples
    --------
    >>> from coinfer.results import validate_record
    >>> row = dict(method="png", split="input", accuracy=0.91, device_macs=0, device_params=0,
    ...            server_macs=0, bits_per_image=4064.0)
    >>> validate_record(row)                      # valid: returns None
    >>> validate_record({**row, "accuracy": 91.0})
    Traceback (most recent call last):
    ...
    coinfer.results.SchemaError: record: accuracy 91.0 must be a fraction in [0, 1]
    """
    from coinfer.splits import SPLIT_POINTS

    if not isinstance(row, dict):
        raise SchemaError(f"{where} must be a JSON object, got {type(row).__name__}")
    missing = [k for k in _REQUIRED if k not in row]
    if missing:
        raise SchemaError(f"{where} lacks required field(s) {missing}; required: {list(_REQUIRED)}")
    unknown = set(row) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise SchemaError(f"{where} has unknown field(s) {sorted(unknown)}; put extra values under 'extra'")
    for name, types in {**_REQUIRED, **_OPTIONAL}.items():
        if name in row and (not isinstance(row[name], types) or isinstance(row[name], bool)):
            raise SchemaError(f"{where}: field {name!r} must be {_type_names(types)}, "
                              f"got {row[name]!r} ({type(row[name]).__name__})")
    if row["split"] not in SPLIT_POINTS:
        raise SchemaError(f"{where}: split {row['split']!r} is not a split point; valid: {', '.join(SPLIT_POINTS)}")
    for name in ("accuracy", "val_accuracy"):
        if row.get(name) is not None and not 0.0 <= row[name] <= 1.0:
            raise SchemaError(f"{where}: {name} {row[name]!r} must be a fraction in [0, 1]")
    for name in ("accuracy_std", "val_accuracy_std", "bits_entropy"):
        if row.get(name) is not None and not (math.isfinite(row[name]) and row[name] >= 0):
            raise SchemaError(f"{where}: {name} {row[name]!r} must be finite and >= 0")
    if row.get("seeds", 1) < 1:
        raise SchemaError(f"{where}: seeds {row['seeds']!r} must be >= 1")
    if not 0.0 <= row.get("sparsity", 0.0) < 1.0:
        raise SchemaError(f"{where}: sparsity {row['sparsity']!r} must be in [0, 1)")
    for name in ("device_macs", "device_params", "server_macs", "bits_per_image"):
        if not (math.isfinite(row[name]) and row[name] >= 0):
            raise SchemaError(f"{where}: {name} {row[name]!r} must be finite and >= 0")
    try:
        check_channel(row.get("channel", "noiseless"))
    except SchemaError as error:
        raise SchemaError(f"{where}: {error}") from None


@dataclass(frozen=True)
class Provenance:
    """What produced a table: enough to tell two tables apart and to regenerate one.

    Fields: ``dataset`` and ``preset`` (what was measured), ``command`` (the one command that
    regenerates the table), ``wall_time_s`` (seconds it took), and, filled in by :meth:`collect`,
    the coinfer version, git commit, hardware, UTC date and seed. ``baseline_accuracy`` (the trained
    unsplit network's test accuracy, a fraction) and ``accuracy_drop`` (the preset's allowed drop,
    in percentage points) give the table's accuracy threshold (:func:`table_threshold`); tables
    written before they existed load with ``None``. ``validation`` is the held-out split every
    choice was made on (``{"images": 5000, "seed": 0}``); ``seeds`` the training seeds a table
    averages (:func:`coinfer.stats.aggregate_seeds`).

    Examples
    --------
    >>> from coinfer.results import Provenance
    >>> p = Provenance(dataset="fashion-mnist", preset="quick", command="python -m coinfer prune --preset quick",
    ...                wall_time_s=869.0, coinfer_version="0.1.0", git_commit="c790d4c0123456",
    ...                hardware="x86_64, 2 CPU cores", date="2026-11-27T23:00:00+00:00")
    >>> p.describe()
    "fashion-mnist, preset 'quick', x86_64, 2 CPU cores, coinfer 0.1.0 @ c790d4c012, 2026-11-27"
    """

    dataset: str
    preset: str
    command: str
    wall_time_s: float
    coinfer_version: str = ""
    git_commit: str = ""
    hardware: str = ""
    date: str = ""
    seed: int | None = None
    baseline_accuracy: float | None = None
    accuracy_drop: float | None = None
    validation: dict | None = None
    seeds: list | None = None
    baseline_val_accuracy: float | None = None

    @staticmethod
    def short_commit(commit: str) -> str:
        """``commit`` cut to 10 characters for a caption, ``+dirty`` kept (made from uncommitted changes);
        each of several commits joined by `` + `` (seeds run at different commits) is cut the same way."""
        return " + ".join(c[:10] + "+dirty" * c.endswith("+dirty") for c in commit.split(" + "))

    @classmethod
    def collect(cls, dataset: str, preset: str, wall_time_s: float, command: str | None = None,
                seed: int | None = None, baseline_accuracy: float | None = None,
                accuracy_drop: float | None = None, validation: dict | None = None) -> "Provenance":
        """Provenance of a run in this process: version, commit, hardware and date filled in.

        ``baseline_accuracy`` is the baseline checkpoint's ``test_accuracy`` (a fraction) and
        ``accuracy_drop`` the preset's ``accuracy_drop`` (points); pass both for :func:`table_threshold`.
        """
        from coinfer import __version__

        return cls(dataset=dataset, preset=preset, wall_time_s=round(float(wall_time_s), 1),
                   command=command if command is not None else invocation(),
                   coinfer_version=__version__, git_commit=git_commit(), hardware=hardware(),
                   date=utc_now(), seed=seed,
                   baseline_accuracy=None if baseline_accuracy is None else float(baseline_accuracy),
                   accuracy_drop=None if accuracy_drop is None else float(accuracy_drop),
                   validation=dict(validation) if validation is not None else None)

    def describe(self) -> str:
        """One line for a figure caption."""
        commit = self.short_commit(self.git_commit) or "unknown commit"
        return (f"{self.dataset}, preset '{self.preset}', {self.hardware or 'unknown hardware'}, "
                f"coinfer {self.coinfer_version} @ {commit}, {self.date[:10]}")


def accuracy_threshold(baseline_accuracy: float, drop_points: float) -> float:
    """The accuracy a configuration must reach: the baseline's accuracy minus an allowed drop.

    The one definition of the threshold (the paper, section V-A: 93% from the unsplit network's
    ~95%, a 2-point drop). Every table, figure, explorer, chooser and chapter uses it, through
    :func:`table_threshold` where a table is at hand.

    Parameters
    ----------
    baseline_accuracy : float
        The unsplit, unpruned network's test accuracy, a fraction in [0, 1].
    drop_points : float
        The allowed drop in percentage points (a preset's ``accuracy_drop``, 2.0).

    Returns
    -------
    float
        ``baseline_accuracy - drop_points / 100``, a fraction.

    Examples
    --------
    >>> from coinfer.results import accuracy_threshold
    >>> round(accuracy_threshold(0.9046, 2.0), 4)
    0.8846
    """
    return float(baseline_accuracy) - float(drop_points) / 100


def table_threshold(table: "LookupTable", part: str = "test") -> float:
    """The accuracy threshold of ``table``: its baseline accuracy minus its preset's drop.

    ``part="test"`` (reported accuracies) uses the baseline's test accuracy; ``part="val"`` (every
    choice: does a configuration meet the threshold?) applies the same rule on the validation split,
    the baseline's validation accuracy minus the same drop, to records' ``val_accuracy``.

    Both come from the table's :class:`Provenance` (``baseline_accuracy``: the baseline
    checkpoint's test accuracy; ``accuracy_drop``: the preset's drop in points), so the threshold
    is the one the table was made with.

    Parameters
    ----------
    table : LookupTable
        A table whose provenance carries ``baseline_accuracy`` and ``accuracy_drop``.
    part : {"test", "val"}
        Which split's baseline accuracy the drop is taken from.

    Returns
    -------
    float
        :func:`accuracy_threshold` of the two, a fraction.

    Raises
    ------
    ValueError
        If the provenance lacks either value (a table written before they were recorded).

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table, table_threshold
    >>> table = load_table(table_path("sweep", "quick"))
    >>> table.provenance.baseline_accuracy, table.provenance.accuracy_drop
    (0.9098, 2.0)
    >>> round(table_threshold(table), 4)
    0.8898
    """
    prov = table.provenance
    if part not in ("test", "val"):
        raise ValueError(f"part must be 'test' or 'val', got {part!r}")
    baseline = prov.baseline_accuracy if part == "test" else prov.baseline_val_accuracy
    if baseline is None or prov.accuracy_drop is None:
        raise ValueError(f"the table's provenance ({prov.describe()}) lacks the baseline's {part} accuracy or "
                         "accuracy_drop, which give its threshold; regenerate it or use accuracy_threshold()")
    return accuracy_threshold(baseline, prov.accuracy_drop)


#: Provenance fields that say when, where and by which command a table was made, not what it holds.
RUN_FIELDS = ("command", "wall_time_s", "coinfer_version", "git_commit", "hardware", "date")


def table_content_digest(path: str | Path) -> str:
    """A SHA-256 digest of what the table at ``path`` holds: its records and the provenance that gives
    their meaning (dataset, preset, seeds, validation split, baseline accuracies, allowed drop), without
    :data:`RUN_FIELDS` and the times a record measured (``extra`` keys ending in ``time_s``).

    A table regenerated to the same numbers at another commit, on another day or machine keeps its
    digest; a changed number changes it. A table that reads another keys its finished seeds on this
    (``coinfer.experiments.Experiment.reads``).

    Parameters
    ----------
    path : str or Path
        A saved table (:meth:`LookupTable.save`).

    Examples
    --------
    >>> import tempfile
    >>> from dataclasses import replace
    >>> from pathlib import Path
    >>> from coinfer.results import LookupTable, Provenance, Record, table_content_digest
    >>> r = Record(method="original", split="pool", accuracy=0.9, device_macs=10, device_params=1,
    ...            server_macs=5, bits_per_image=32, extra={"train_time_s": 3.0})
    >>> prov = Provenance("fashion-mnist", "quick", "example", 1.0, git_commit="a" * 40)
    >>> folder = Path(tempfile.mkdtemp())
    >>> made = table_content_digest(LookupTable(prov, [r]).save(folder / "made.json"))
    >>> again = LookupTable(replace(prov, git_commit="b" * 40, wall_time_s=2.0), [replace(r, extra={"train_time_s": 4.0})])
    >>> table_content_digest(again.save(folder / "again.json")) == made
    True
    >>> changed = LookupTable(prov, [replace(r, accuracy=0.8)])
    >>> table_content_digest(changed.save(folder / "changed.json")) == made
    False
    """
    import hashlib

    data = json.loads(Path(path).read_text())

    def untimed(extra: dict) -> dict:
        return {k: untimed(v) if isinstance(v, dict) else v for k, v in extra.items() if not k.endswith("time_s")}

    content = {**data, "provenance": {k: v for k, v in data.get("provenance", {}).items() if k not in RUN_FIELDS},
               "records": [{**r, "extra": untimed(r.get("extra", {}))} for r in data.get("records", [])]}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass
class LookupTable:
    """Records with their provenance; saved and loaded as JSON.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.results import LookupTable, Provenance, load_table
    >>> from coinfer.results import Record
    >>> r = Record(method="original", split="layer2.1", accuracy=0.91, device_macs=1_347_584,
    ...            device_params=2_852, server_macs=1_080_160, bits_per_image=16_384)
    >>> table = LookupTable(Provenance.collect("fashion-mnist", "quick", wall_time_s=1.0, command="example"))
    >>> table.add(r)
    >>> path = table.save(Path(tempfile.mkdtemp()) / "example.json")
    >>> load_table(path).select(method="original")[0].bits_per_image
    16384
    """

    provenance: Provenance
    records: list[Record] = field(default_factory=list)

    def add(self, record: Record) -> None:
        """Add ``record``, replacing any earlier record of the same configuration (same key)."""
        self.records = [r for r in self.records if r.key != record.key] + [record]

    def select(self, **criteria) -> list[Record]:
        """Records whose fields equal ``criteria`` (e.g. ``select(method="original")``)."""
        return [r for r in self.records if all(getattr(r, k) == v for k, v in criteria.items())]

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
                "provenance": asdict(self.provenance),
                "records": [r.to_dict() for r in self.records]}

    def save(self, path: str | Path) -> Path:
        """Write the table atomically (a reader never sees a half-written file), checked as :func:`load_table` checks."""
        return write_json_atomic(path, LookupTable.from_dict(self.to_dict(), source=str(path)).to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str = "table") -> "LookupTable":
        if not isinstance(data, dict):
            raise SchemaError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA:
            raise SchemaError(f"{source}: 'schema' is {data.get('schema')!r}, expected {SCHEMA!r}; "
                              "is this a coinfer lookup table?")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise SchemaError(f"{source}: schema_version {data.get('schema_version')!r} is not supported "
                              f"(this coinfer reads version {SCHEMA_VERSION})")
        prov = data.get("provenance")
        allowed = {f.name for f in fields(Provenance)}
        if not isinstance(prov, dict) or not {"dataset", "preset", "command", "wall_time_s"} <= set(prov):
            raise SchemaError(f"{source}: 'provenance' must be an object with at least dataset, preset, "
                              f"command and wall_time_s; got {prov!r}")
        if set(prov) - allowed:
            raise SchemaError(f"{source}: provenance has unknown field(s) {sorted(set(prov) - allowed)}")
        for name, (low, high) in _PROVENANCE_RANGES.items():   # they set every threshold: NaN or 91 would not do
            value = prov.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not (low <= value <= high and math.isfinite(value))):
                raise SchemaError(f"{source}: provenance {name} {value!r} must be a finite number in [{low}, {high}]")
        for name, kind in (("validation", dict), ("seeds", list), ("seed", int)):
            if prov.get(name) is not None and not isinstance(prov[name], kind):
                raise SchemaError(f"{source}: provenance {name} must be a {kind.__name__} or null, got {prov[name]!r}")
        rows = data.get("records")
        if not isinstance(rows, list):
            raise SchemaError(f"{source}: 'records' must be a list, got {type(rows).__name__}")
        records, keys = [], set()
        for i, row in enumerate(rows):
            validate_record(row, where=f"{source}: record {i}")
            records.append(record := Record(**row))
            if record.key in keys:   # views that select the first and merges that keep the last would disagree
                raise SchemaError(f"{source}: record {i} repeats the configuration {record.key} of an earlier record")
            keys.add(record.key)
        return cls(provenance=Provenance(**prov), records=records)


def load_table(path: str | Path) -> LookupTable:
    """Load and validate a lookup table saved by :meth:`LookupTable.save`.

    Parameters
    ----------
    path : str or Path
        A JSON file, e.g. one under :func:`coinfer.paths.results_dir`.

    Returns
    -------
    LookupTable
        Every record validated (units as in :class:`Record`).

    Raises
    ------
    SchemaError
        If the file is not valid JSON or breaks the schema; the message names the bad field.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.results import SchemaError, load_table
    >>> bad = Path(tempfile.mkdtemp()) / "bad.json"
    >>> _ = bad.write_text('{"schema": "something else"}')
    >>> try:
    ...     load_table(bad)
    ... except SchemaError as error:
    ...     print(str(error).split(": ", 1)[1])
    'schema' is 'something else', expected 'coinfer.lookup-table'; is this a coinfer lookup table?
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SchemaError(f"{path}: not valid JSON ({error})") from error
    return LookupTable.from_dict(data, source=str(path))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename; returns ``path``.

    A reader (or a crash) never sees a half-written file: the rename is atomic on POSIX.

    Parameters
    ----------
    path : str or Path
        Destination; its folder is created if needed.
    data : Any
        JSON-serializable.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from coinfer.results import write_json_atomic
    >>> path = write_json_atomic(Path(tempfile.mkdtemp()) / "sub" / "x.json", {"bits": 4096})
    >>> json.loads(path.read_text())
    {'bits': 4096}
    """
    path = Path(path)
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"   # first: what cannot be written leaves no file
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    # NamedTemporaryFile creates the file 0600; give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)
    os.replace(tmp.name, path)
    return path


def write_measurement(path: str | Path, schema: str, dataset: str, preset: str, wall_time_s: float,
                      report: dict, **provenance: Any) -> Path:
    """Write a benchmark's measurement with the provenance every committed one carries; returns ``path``.

    Parameters
    ----------
    path : str or Path
        Destination (e.g. under ``data/results/benchmarks/``), written atomically.
    schema : str
        The report's kind; stored as ``coinfer.benchmark.<schema>``.
    dataset, preset : str
        What was measured on, for :meth:`Provenance.collect` (with the command, commit, hardware, date).
    wall_time_s : float
        The benchmark's wall time.
    report : dict
        The measurement (settings, rows, summary figures).
    **provenance
        More provenance fields (e.g. ``gpu``); the torch version and its thread count are always added.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from coinfer.results import write_measurement
    >>> path = write_measurement(Path(tempfile.mkdtemp()) / "m.json", "demo", "random pixels", "quick", 1.5,
    ...                          {"rows": [{"factor": 1.2}]})
    >>> saved = json.loads(path.read_text())
    >>> saved["schema"], saved["rows"], saved["provenance"]["wall_time_s"], "threads" in saved["provenance"]
    ('coinfer.benchmark.demo', [{'factor': 1.2}], 1.5, True)
    """
    import torch

    collected = {**asdict(Provenance.collect(dataset, preset, wall_time_s)), "torch": torch.__version__,
                 "threads": torch.get_num_threads(), **provenance}
    return write_json_atomic(path, {"schema": f"coinfer.benchmark.{schema}", "provenance": collected, **report})


def merge_tables(tables: Iterable[LookupTable]) -> list[Record]:
    """All records of ``tables``, one per configuration: later tables replace earlier records of the same one.

    Parameters
    ----------
    tables : iterable of LookupTable
        In order of precedence: a record of a later table replaces one with the same
        :attr:`Record.key` from an earlier table.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from coinfer.results import LookupTable, Provenance, merge_tables
    >>> from coinfer.results import Record
    >>> r = Record(method="original", split="layer2.1", accuracy=0.91, device_macs=1_347_584,
    ...            device_params=2_852, server_macs=1_080_160, bits_per_image=16_384)
    >>> prov = Provenance("fashion-mnist", "quick", "example", 1.0)
    >>> old, new = LookupTable(prov, [r]), LookupTable(prov, [replace(r, accuracy=0.92)])
    >>> [m.accuracy for m in merge_tables([old, new])]
    [0.92]
    """
    merged: dict[tuple, Record] = {}
    for table in tables:
        for record in table.records:
            merged[record.key] = record
    return list(merged.values())

