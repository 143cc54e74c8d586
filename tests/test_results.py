import json
import math
import os

import pytest

from coinfer.paths import results_dir
from coinfer.results import (LookupTable, Provenance, Record, SchemaError, accuracy_threshold, load_table,
                             merge_tables, table_threshold, validate_record)


def make_record(**overrides):
    fields = dict(method="original", split="layer2.1", accuracy=0.91, device_macs=1000,
                  device_params=50, server_macs=2000, bits_per_image=4096.0)
    fields.update(overrides)
    return Record(**fields)


@pytest.fixture
def table():
    prov = Provenance.collect(dataset="fashion-mnist", preset="quick", wall_time_s=1.34,
                              command="pytest", seed=0)
    t = LookupTable(prov)
    t.add(make_record())
    t.add(make_record(method="framework", sparsity=0.5, code_size="c4-d16-l4", bits_per_image=40.0,
                      bits_entropy=38.2, extra={"levels": 4}))
    return t


def test_round_trip_keeps_every_field(table, tmp_path):
    path = table.save(tmp_path / "t.json")
    loaded = load_table(path)
    assert loaded.records == table.records
    assert loaded.provenance == table.provenance


def test_provenance_is_filled_in(table):
    prov = table.provenance
    assert prov.coinfer_version == "0.1.0"
    assert prov.hardware and "CPU" in prov.hardware
    assert prov.date.startswith("20") and prov.wall_time_s == 1.3
    assert "fashion-mnist" in prov.describe() and "quick" in prov.describe()
    # a figure made from uncommitted changes says so (the caption cut the commit, +dirty with it)
    from dataclasses import replace

    assert "@ 0123456789+dirty," in replace(prov, git_commit="0123456789abcdef+dirty").describe()
    assert "@ 0123456789," in replace(prov, git_commit="0123456789abcdef").describe()


def test_a_regenerated_table_does_not_make_the_commit_dirty(tmp_path):
    # `make results` writes one committed table and checkpoint after another: the later ones must not call
    # themselves made from uncommitted changes because an earlier one was rewritten; a change to the code must.
    import subprocess

    from coinfer.results_origin import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "coinfer").mkdir()
    (tmp_path / "data" / "results").mkdir(parents=True)
    (tmp_path / "coinfer" / "code.py").write_text("x = 1\n")
    (tmp_path / "data" / "results" / "sweep_quick.json").write_text("{}\n")
    (tmp_path / "data" / "checkpoints" / "quick").mkdir(parents=True)
    (tmp_path / "data" / "checkpoints" / "quick" / "codec.pt").write_bytes(b"0")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    package = tmp_path / "coinfer"                    # asked from inside, as the installed package asks
    clean = git_commit(package)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "data" / "results" / "sweep_quick.json").write_text('{"records": []}\n')
    (tmp_path / "data" / "checkpoints" / "quick" / "codec.pt").write_bytes(b"1")    # retrained: its time is new
    assert git_commit(package) == clean
    (tmp_path / "coinfer" / "code.py").write_text("x = 2\n")
    assert git_commit(package) == clean + "+dirty"


def test_add_replaces_the_same_configuration(table):
    table.add(make_record(accuracy=0.5))
    originals = table.select(method="original")
    assert len(originals) == 1 and originals[0].accuracy == 0.5
    assert len(table.records) == 2


@pytest.mark.parametrize("change, message", [
    ({"schema": "something-else"}, "schema"),
    ({"schema_version": 99}, "schema_version 99"),
    ({"records": {}}, "'records' must be a list"),
    ({"provenance": {"dataset": "x"}}, "provenance"),
])
def test_wrong_schema_is_rejected_clearly(table, tmp_path, change, message):
    data = table.to_dict()
    data.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match=message):
        load_table(path)


@pytest.mark.parametrize("field, value, message", [
    ("accuracy", 93.0, "accuracy 93.0 must be a fraction"),
    ("split", "layer9", "split 'layer9' is not a split point"),
    ("sparsity", 1.0, r"sparsity 1.0 must be in \[0, 1\)"),
    ("device_macs", "many", "field 'device_macs' must be int"),
    ("bits_per_image", float("nan"), "bits_per_image nan must be finite"),
    ("bits_entropy", -5.0, "bits_entropy -5.0 must be finite and >= 0"),
    ("colour", "red", "unknown field"),
])
def test_bad_record_names_the_field(table, tmp_path, field, value, message):
    data = table.to_dict()
    data["records"][1][field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match=message) as info:
        load_table(path)
    assert "record 1" in str(info.value)


def test_missing_field_and_non_json(tmp_path):
    with pytest.raises(SchemaError, match="lacks required field"):
        validate_record({"method": "x"})
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_table(path)


def test_record_constructor_validates():
    with pytest.raises(SchemaError, match="accuracy"):
        make_record(accuracy=-0.1)


def test_save_is_atomic_and_leaves_no_temporary_files(table, tmp_path):
    table.save(tmp_path / "t.json")
    table.save(tmp_path / "t.json")
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]
    # the mode a file written with open() gets (0644 under the usual umask 022): the temporary file's 0600 is
    # not kept; compared with this process's umask, which a hardened machine sets to 027 or 077
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "t.json").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "plain").write_text("")
    assert (tmp_path / "plain").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "plain").unlink()


def test_what_cannot_be_written_as_json_leaves_the_file_as_it_was(tmp_path):
    from coinfer.results import write_json_atomic

    write_json_atomic(tmp_path / "t.json", {"bits": 1})
    for bad in ({"bits": object()}, {"bits": float("nan"), 1j: 2}):   # json.dump failed half-way: a .tmp stayed
        with pytest.raises(TypeError):
            write_json_atomic(tmp_path / "t.json", bad)
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"] and json.loads((tmp_path / "t.json").read_text()) == {"bits": 1}


def test_merge_prefers_later_tables(table):
    newer = LookupTable(table.provenance, [make_record(accuracy=0.99)])
    merged = merge_tables([table, newer])
    assert len(merged) == 2
    assert [r for r in merged if r.method == "original"][0].accuracy == 0.99


def test_accuracy_threshold_is_the_baseline_minus_points():
    assert accuracy_threshold(0.95, 2.0) == pytest.approx(0.93)
    assert accuracy_threshold(0.9046, 0.0) == 0.9046


def test_table_threshold_comes_from_the_provenance(table, tmp_path):
    with pytest.raises(ValueError, match="lacks the baseline's test accuracy"):
        table_threshold(table)                                # written without them
    from dataclasses import replace
    table = replace(table, provenance=replace(table.provenance, baseline_accuracy=0.91, accuracy_drop=2.0))
    loaded = load_table(table.save(tmp_path / "t.json"))
    assert loaded.provenance == table.provenance
    assert table_threshold(loaded) == pytest.approx(0.89)
    with pytest.raises(ValueError, match="lacks the baseline's val accuracy"):
        table_threshold(loaded, "val")
    with_val = replace(table, provenance=replace(table.provenance, baseline_val_accuracy=0.93))
    assert table_threshold(with_val, "val") == pytest.approx(0.91)      # the same drop, on the validation split
    with pytest.raises(ValueError, match="'test' or 'val'"):
        table_threshold(with_val, "train")


def test_old_tables_without_baseline_still_load(table, tmp_path):
    data = table.to_dict()
    del data["provenance"]["baseline_accuracy"], data["provenance"]["accuracy_drop"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert load_table(path).provenance.baseline_accuracy is None


@pytest.mark.parametrize("path", sorted(results_dir().glob("*.json")), ids=lambda p: p.name)
def test_committed_tables_carry_the_baseline_checkpoint_accuracy(path):
    from coinfer.config import get_preset
    from coinfer.paths import checkpoint_path
    from coinfer.train import load_checkpoint

    prov = load_table(path).provenance
    _, meta = load_checkpoint(checkpoint_path(prov.preset))
    assert prov.baseline_accuracy == meta["test_accuracy"]
    assert prov.accuracy_drop == get_preset(prov.preset).accuracy_drop


def test_aggregate_seeds_averages_each_configuration_and_keeps_every_seed(table):
    from dataclasses import replace

    from coinfer.stats import aggregate_seeds, margin_in_standard_errors

    runs = [LookupTable(replace(table.provenance, seed=s, wall_time_s=10.0),
                        [replace(r, accuracy=0.80 + 0.01 * s, val_accuracy=0.81 + 0.02 * s) for r in table.records])
            for s in range(3)]
    merged = aggregate_seeds(runs)
    assert merged.provenance.seeds == [0, 1, 2] and merged.provenance.wall_time_s == 30.0
    r = merged.records[0]
    assert r.seeds == 3 and r.accuracy == pytest.approx(0.81) and r.accuracy_std == pytest.approx(0.01)
    assert r.val_accuracy == pytest.approx(0.83) and r.val_accuracy_std == pytest.approx(0.02)
    assert r.extra["per_seed"]["accuracy"] == pytest.approx([0.80, 0.81, 0.82])
    # 0.02 above, each with std 0.01 over 3 seeds: 0.02 / sqrt(2 * 0.01^2 / 3) = 2.45 standard errors
    assert margin_in_standard_errors(replace(r, accuracy=0.83), r) == pytest.approx(2.449, abs=1e-3)
    # with no spread on either side the difference is exact: infinite, or none at all
    exact = replace(r, accuracy_std=0.0)
    assert margin_in_standard_errors(replace(exact, accuracy=0.83), exact) == math.inf
    assert margin_in_standard_errors(exact, replace(exact, accuracy=0.83)) == -math.inf
    assert margin_in_standard_errors(exact, exact) == 0.0
    with pytest.raises(ValueError, match="other configurations"):
        aggregate_seeds([runs[0], LookupTable(runs[1].provenance, runs[1].records[:1])])
    with pytest.raises(ValueError, match="got none"):
        aggregate_seeds([])
    # A mean over seeds is not one more seed (it weighted 3 seeds as 1), nor is a seed run twice.
    with pytest.raises(ValueError, match="run 1 holds records that are already means over seeds"):
        aggregate_seeds([runs[0], merged])
    with pytest.raises(ValueError, match=r"repeat a training seed \(\[0, 1, 0\]\)"):
        aggregate_seeds([runs[0], runs[1], runs[0]])


def test_aggregate_seeds_names_every_commit_and_machine_and_refuses_another_experiment(table):
    from dataclasses import replace

    from coinfer.stats import aggregate_seeds

    prov = replace(table.provenance, git_commit="a" * 40, hardware="x86_64, 2 CPU cores", date="2026-11-01T10:00:00")
    runs = [LookupTable(replace(prov, seed=0), table.records),
            LookupTable(replace(prov, seed=1, git_commit="b" * 40 + "+dirty", date="2026-11-03T09:00:00"),
                        table.records),
            LookupTable(replace(prov, seed=2, hardware="x86_64, 16 CPU cores", date="2026-11-02T08:00:00"),
                        table.records)]
    merged = aggregate_seeds(runs).provenance
    # A seed resumed at a later commit or on another machine is named, not hidden behind seed 0's.
    assert merged.git_commit == "a" * 40 + " + " + "b" * 40 + "+dirty"
    assert merged.hardware == "x86_64, 2 CPU cores + x86_64, 16 CPU cores"
    assert merged.date == "2026-11-03T09:00:00"
    assert "@ aaaaaaaaaa + bbbbbbbbbb+dirty, 2026-11-03" in merged.describe()
    same = aggregate_seeds([LookupTable(replace(prov, seed=s), table.records) for s in (0, 1)]
                           + [LookupTable(replace(prov, seed=2, git_commit=""), table.records)]).provenance
    assert same.git_commit == "a" * 40 and same.hardware == prov.hardware   # an unrecorded commit adds no " + "
    for field, value in [("preset", "paper"), ("dataset", "cifar10"), ("validation", {"images": 1, "seed": 9}),
                         ("baseline_accuracy", 0.5)]:
        other = LookupTable(replace(prov, seed=1, **{field: value}), table.records)
        with pytest.raises(ValueError, match=f"the runs differ in {field}"):
            aggregate_seeds([runs[0], other])


@pytest.mark.parametrize("field, value, message", [
    ("baseline_accuracy", 90.98, "provenance baseline_accuracy 90.98 must be a finite number in [0, 1]"),
    ("baseline_val_accuracy", float("nan"), "provenance baseline_val_accuracy nan must be a finite number in [0, 1]"),
    ("accuracy_drop", -2.0, "provenance accuracy_drop -2.0 must be a finite number in [0, 100]"),
    ("wall_time_s", float("inf"), "provenance wall_time_s inf must be a finite number"),
    ("accuracy_drop", "2", "provenance accuracy_drop '2' must be a finite number"),
    ("validation", "yes", "provenance validation must be a dict or null, got 'yes'"),
    ("seeds", 3, "provenance seeds must be a list or null, got 3"),
])
def test_a_provenance_that_would_move_the_threshold_is_refused(table, tmp_path, field, value, message):
    # Each loaded silently and changed (or broke) every choice made at the table's threshold.
    data = table.to_dict()
    data["provenance"][field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError) as info:
        load_table(path)
    assert message in str(info.value)


def test_a_table_with_one_configuration_twice_is_refused(table, tmp_path):
    # Views that take the first record of a configuration and merges that keep the last disagreed.
    data = table.to_dict()
    data["records"].append({**data["records"][0], "accuracy": 0.1})
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="record 2 repeats the configuration"):
        load_table(path)


def test_a_record_refuses_an_impossible_spread():
    with pytest.raises(SchemaError, match="accuracy_std"):
        make_record(accuracy_std=-0.1)
    with pytest.raises(SchemaError, match="val_accuracy"):
        make_record(val_accuracy=1.5)
    with pytest.raises(SchemaError, match="seeds"):
        make_record(seeds=0)


def test_choices_are_made_on_validation_accuracy_and_old_tables_on_test(table):
    from dataclasses import replace

    from coinfer.stats import meets_threshold, selection_accuracy

    prov = replace(table.provenance, baseline_accuracy=0.90, baseline_val_accuracy=0.93, accuracy_drop=2.0)
    old = LookupTable(prov, table.records)                                 # no validation split recorded
    new = LookupTable(replace(prov, validation={"images": 5000, "seed": 0}), table.records)
    # test 0.89 (above the test threshold 0.88), validation 0.90 (below the validation threshold 0.91)
    r = replace(table.records[0], accuracy=0.89, val_accuracy=0.90)
    assert meets_threshold(r, old) and not meets_threshold(r, new)
    assert selection_accuracy(r, new) == 0.90 and selection_accuracy(r, old) == 0.89
    assert meets_threshold(replace(r, val_accuracy=0.915), new)
    with pytest.raises(ValueError, match="no val_accuracy"):
        meets_threshold(replace(r, val_accuracy=None), new)


@pytest.mark.parametrize("argv", [["benchmarks/plan_check.py", "--set", "sweep.code_sizes=('d16-l4', 'd16-k16')"],
                                  ["x.py", "a b", "it's", "$HOME", "", "x!", 'say "hi"', "back\\slash", "ok=1,2"]])
def test_a_provenance_command_reads_back_as_the_same_words(argv):
    """A recorded command must run again as it ran: a --set value with spaces and quotes included."""
    import shlex

    from coinfer.results_origin import invocation

    command = invocation(argv)
    assert shlex.split(command) == ["python", *argv]
    assert command.startswith("python " + argv[0] + " ")


def test_a_table_that_saves_is_one_that_loads(table, tmp_path):
    """Two records of one configuration were written (LookupTable(prov, records) does not merge them)
    and then refused by load_table; now save refuses them, and writes nothing."""
    twice = LookupTable(table.provenance, table.records + [table.records[0]])
    with pytest.raises(SchemaError, match="repeats the configuration"):
        twice.save(tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_exact_margins_and_runs_without_a_seed(table):
    from dataclasses import replace

    from coinfer.core.latency import Candidates
    from coinfer.experiments.plan import fine_tune_steps
    from coinfer.stats import aggregate_seeds, margin_over_threshold, selection_threshold

    # A run with no seed recorded skipped the duplicate check: the same run twice shrank the spread.
    unseeded = LookupTable(replace(table.provenance, seed=None), table.records)
    with pytest.raises(ValueError, match=r"run 0 records no training seed \(\[None, None\]\)"):
        aggregate_seeds([unseeded, unseeded])
    # Exactly at the threshold with no spread is no margin (it read +inf; its siblings say 0).
    prov = replace(table.provenance, validation={"images": 5000, "seed": 0}, baseline_val_accuracy=0.91,
                   baseline_accuracy=0.90, accuracy_drop=2.0)
    at = LookupTable(prov, table.records)
    r = replace(table.records[0], val_accuracy=selection_threshold(at), val_accuracy_std=0.0, seeds=3)
    assert margin_over_threshold(r, at) == 0.0
    # A table holding out a validation split without its baseline's validation accuracy would be chosen
    # against the test split's threshold.
    with pytest.raises(ValueError, match="not its baseline's validation accuracy"):
        Candidates.from_tables([LookupTable(replace(prov, baseline_val_accuracy=None), table.records)], width=1 / 8)
    # The budget of the sweep's cells is that of their own pruning settings, overrides applied.
    from coinfer.config import get_preset, override
    from coinfer.experiments.sweep import prune_settings

    longer = override(get_preset("quick"), {"sweep.prune": {"epochs": 3}})
    assert fine_tune_steps(longer, prune_settings(longer)) == 3 * fine_tune_steps(longer)


def _records_by_cell(name: str) -> dict:
    table = load_table(results_dir() / f"{name}_quick.json")
    return {r.extra["cell"]: r for r in table.records if "cell" in r.extra}


def test_committed_tables_agree_where_they_share_a_cell():
    """The sweep, the encoding table and the rate table share their cells (one training each, ``extra["cell"]``):
    a cell's numbers differ between two tables only when one table is older than the code or the other."""
    tables = {name: _records_by_cell(name) for name in ("sweep", "encoding", "rate")}
    shared = 0
    for a, b in (("sweep", "encoding"), ("encoding", "rate"), ("sweep", "rate")):
        for cell in sorted(tables[a].keys() & tables[b].keys()):
            ra, rb = tables[a][cell], tables[b][cell]
            assert ((ra.accuracy, ra.val_accuracy, ra.bits_per_image, ra.seeds, ra.device_macs)
                    == (rb.accuracy, rb.val_accuracy, rb.bits_per_image, rb.seeds, rb.device_macs)), f"{cell}: {a} vs {b}"
            shared += 1
    assert shared >= 16, shared      # the encoding table's 16 unpruned framework cells are the sweep's


def test_the_jscc_table_compares_with_the_encoding_table_s_learned_code():
    """Chapter 4's separate coding is the encoding table's cheapest code at the threshold, read when the JSCC
    table was made: a JSCC table older than the encoding table shows a learned code that table no longer holds."""
    from coinfer.experiments.jscc import learned_source_payload

    records = load_table(results_dir() / "jscc_quick.json").select(method="learned-source-coding+capacity")
    assert records
    for r in records:
        payload = learned_source_payload(r.split, None, "quick")
        assert payload is not None, f"the encoding table has no code at {r.split} meeting the threshold"
        assert r.code_size == payload["code_size"]
        assert (r.bits_per_image, r.extra["bits_coded"], r.accuracy, r.val_accuracy) == pytest.approx(
            (payload["bits_per_image"], payload["bits_coded"], payload["accuracy"], payload["val_accuracy"]), rel=1e-12)


@pytest.mark.parametrize("name", ["replay_quick.json", "replay_quick_server_macs.json"])
def test_the_committed_search_replays_replay_the_committed_sweep_table(name):
    """A replay is computed from the sweep table (chapter 8 reads both): one made before the table was
    regenerated replays numbers the book's other chapters no longer show."""
    replay = json.loads((results_dir() / "search" / name).read_text())
    sweep = load_table(results_dir() / "sweep_quick.json")
    assert replay["provenance"]["table_commit"] == sweep.provenance.git_commit
    assert replay["grid"]["trainings"] == len(_records_by_cell("sweep"))


def test_every_committed_result_names_a_commit_without_uncommitted_changes():
    """A committed table, search summary or benchmark report is regenerable from the commit it names: one made
    from uncommitted code says ``+dirty``, and its numbers may come from code nobody can check out."""
    committed = sorted(results_dir().glob("*.json")) + sorted((results_dir() / "search").glob("*.json")) \
        + sorted((results_dir() / "benchmarks").glob("*.json"))
    assert len(committed) >= 10, committed
    dirty = [p.relative_to(results_dir()).as_posix() for p in committed if "+dirty" in p.read_text()]
    assert not dirty, f"made from uncommitted changes: {dirty}; commit the code, then regenerate them"


def test_a_copy_without_its_own_git_metadata_names_its_commit_by_coinfer_commit(monkeypatch):
    """The lent GPU machine's copy of a working tree keeps the session's first commit as git metadata:
    ``COINFER_COMMIT`` names the commit the files are, and a value that is no whole hash is refused."""
    from coinfer.results_origin import git_commit

    monkeypatch.setenv("COINFER_COMMIT", "0dd4e2ec64d007e62fca1240eafcc54618de3af8")
    assert git_commit() == "0dd4e2ec64d007e62fca1240eafcc54618de3af8"
    for bad in ("0dd4e2e", "0DD4E2EC64D007E62FCA1240EAFCC54618DE3AF8", "0dd4e2ec64d007e62fca1240eafcc54618de3af8+dirty"):
        monkeypatch.setenv("COINFER_COMMIT", bad)
        with pytest.raises(ValueError, match=r"COINFER_COMMIT=.*40 lowercase hexadecimal digits"):
            git_commit()
