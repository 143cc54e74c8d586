"""Tests of the experiments registry (coinfer.experiments) and the `run` command."""

import importlib

import pytest

from coinfer.cli import main
from coinfer.experiments import TABLES, experiment, run_table
from coinfer.paths import results_dir, table_path
from coinfer.results import load_table, table_threshold


def test_every_committed_table_is_registered():
    committed = {p.name for p in results_dir().glob("*.json")}
    assert committed == {table_path(name, "quick").name for name in TABLES}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_registry_entry_resolves_to_a_callable(name):
    module, _, function = TABLES[name].target.partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    assert callable(experiment(name))
    assert TABLES[name].description and TABLES[name].chapter[0].isdigit()


def test_run_list_names_every_table_with_its_chapter(capsys):
    assert main(["run", "--list"]) == 0
    out = capsys.readouterr().out
    for name, entry in TABLES.items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert entry.description in line and entry.chapter in line


def test_run_unknown_table_lists_the_valid_ones(capsys):
    assert main(["run", "fig3"]) == 2
    err = capsys.readouterr().err
    assert "unknown table 'fig3'" in err and all(name in err for name in TABLES)


def test_run_regenerates_the_original_table(tmp_path, capsys):
    out = tmp_path / "original.json"
    assert main(["run", "original-float32", "--preset", "quick", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    fresh, committed = load_table(out), load_table(table_path("original-float32", "quick"))
    assert fresh.records == committed.records
    assert table_threshold(fresh) == table_threshold(committed)


def test_run_table_fills_in_the_baseline_of_a_table_that_lacks_it(tmp_path, monkeypatch):
    from dataclasses import replace

    import coinfer.experiments.original as original

    made = original.run("quick")
    bare = replace(made, provenance=replace(made.provenance, baseline_accuracy=None, accuracy_drop=None))
    monkeypatch.setattr(original, "run", lambda preset: bare)
    table = load_table(run_table("original-float32", "quick", tmp_path / "t.json"))
    from coinfer.paths import checkpoint_path
    from coinfer.train import load_checkpoint

    _, meta = load_checkpoint(checkpoint_path("quick"))                        # the committed baseline's
    assert (table.provenance.baseline_accuracy, table.provenance.accuracy_drop) == (meta["test_accuracy"], 2.0)


def test_split_argument_is_validated_once_by_argparse(capsys):
    assert main(["jscc", "--split", "layer9"]) == 2    # argparse's error: main returns 2, as for any bad input
    err = capsys.readouterr().err
    assert "unknown split point 'layer9'" in err and "layer3.1" in err and "s4=layer3.1" in err


def test_run_table_averages_seeds_and_resumes_after_the_finished_ones(tmp_path, monkeypatch):
    """A table that trains runs once per seed; each finished seed is kept, so a run that stopped
    does only the seeds still missing, and the saved table holds means with their spread."""
    from dataclasses import replace

    import coinfer.experiments as experiments
    import coinfer.paths
    from coinfer.experiments import Experiment
    from coinfer.experiments.original import run as original_run

    made = original_run("quick")
    ran = []

    def fake(preset):          # test accuracy 0.80 + seed / 100, as if training depended on the seed
        ran.append(preset.seed)
        if preset.seed == 2 and ran.count(2) == 1:
            raise KeyboardInterrupt                          # the session ends during seed 2
        return replace(made, records=[replace(r, accuracy=0.80 + preset.seed / 100) for r in made.records[:3]])

    monkeypatch.setitem(TABLES, "fake", Experiment("x:y", "a seeded table", "0. Test"))
    monkeypatch.setattr(experiments, "experiment", lambda name: fake)
    monkeypatch.setattr(coinfer.paths, "seed_table_path", lambda t, p, s, d: tmp_path / f"{t}.seed{s}.{d}.json")
    with pytest.raises(KeyboardInterrupt):
        run_table("fake", "quick", tmp_path / "t.json", seeds=(0, 1, 2))
    assert ran == [0, 1, 2] and not (tmp_path / "t.json").exists()
    table = load_table(run_table("fake", "quick", tmp_path / "t.json", seeds=(0, 1, 2)))
    assert ran == [0, 1, 2, 2]                                # seeds 0 and 1 were not run again
    record = table.records[0]
    assert record.seeds == 3 and record.accuracy == pytest.approx(0.81) and record.accuracy_std == pytest.approx(0.01)
    from coinfer.paths import checkpoint_path
    from coinfer.train import load_checkpoint

    _, meta = load_checkpoint(checkpoint_path("quick"))       # the split and accuracy come from the baseline
    assert table.provenance.seeds == [0, 1, 2] and table.provenance.validation == meta.get("validation")
    assert table.provenance.baseline_val_accuracy == meta.get("val_accuracy")
    # the command that regenerates the whole table, whichever command ran each seed
    assert table.provenance.command == "python -m coinfer run fake --preset quick"
    assert load_table(run_table("fake", "quick", tmp_path / "u.json", seeds=(0, 1))).provenance.command == \
        "python -m coinfer run fake --preset quick --seeds 0 1"
    with pytest.raises(ValueError, match="distinct"):
        run_table("fake", "quick", tmp_path / "t.json", seeds=(1, 1))


def test_a_seed_run_from_another_baseline_is_never_reused(tmp_path, monkeypatch):
    """After the baseline is trained again (other weights on a GPU), a finished seed is stale."""
    import shutil
    from dataclasses import replace

    import torch

    import coinfer.experiments as experiments
    import coinfer.paths
    from coinfer.experiments import Experiment
    from coinfer.paths import checkpoint_path
    from coinfer.train import load_model, save_checkpoint

    made, ran = load_table(table_path("original-float32", "quick")), []
    baseline = tmp_path / "home" / "data" / "checkpoints" / "quick" / "baseline.pt"
    baseline.parent.mkdir(parents=True)
    shutil.copy(checkpoint_path("quick"), baseline)
    monkeypatch.setenv("COINFER_HOME", str(tmp_path / "home"))

    def fake(preset):
        ran.append(preset.seed)
        return replace(made, records=made.records[:2])

    monkeypatch.setitem(TABLES, "fake", Experiment("x:y", "a seeded table", "0. Test"))
    monkeypatch.setattr(experiments, "experiment", lambda name: fake)
    monkeypatch.setattr(coinfer.paths, "seed_table_path", lambda t, p, s, d: tmp_path / f"{t}.seed{s}.{d}.json")
    for _ in range(2):
        run_table("fake", "quick", tmp_path / "a.json", seeds=(0,))
    assert ran == [0]                                                           # the second run reused it
    model, meta = load_model(baseline, torch.device("cpu"))
    with torch.no_grad():
        model.fc.bias.add_(1e-3)                                                # retrained: other weights
    save_checkpoint(baseline, model, meta)
    run_table("fake", "quick", tmp_path / "b.json", seeds=(0,))
    assert ran == [0, 0] and len(list(tmp_path.glob("fake.seed0.*.json"))) == 2


def test_a_seed_run_with_other_settings_is_never_reused(tmp_path, monkeypatch):
    from dataclasses import replace

    import coinfer.experiments as experiments
    import coinfer.paths
    from coinfer.config import PRESETS
    from coinfer.experiments import Experiment
    from coinfer.experiments.original import run as original_run

    made, ran = original_run("quick"), []

    def fake(preset):
        ran.append((preset.seed, preset.accuracy_drop))
        return replace(made, records=made.records[:2])

    monkeypatch.setitem(TABLES, "fake", Experiment("x:y", "a seeded table", "0. Test"))
    monkeypatch.setattr(experiments, "experiment", lambda name: fake)
    monkeypatch.setattr(coinfer.paths, "seed_table_path", lambda t, p, s, d: tmp_path / f"{t}.seed{s}.{d}.json")
    run_table("fake", "quick", tmp_path / "a.json", seeds=(0, 1))
    monkeypatch.setitem(PRESETS, "quick", replace(PRESETS["quick"], accuracy_drop=3.0))   # another setting
    run_table("fake", "quick", tmp_path / "b.json", seeds=(0, 1))
    assert ran == [(0, 2.0), (1, 2.0), (0, 3.0), (1, 3.0)]                     # run again, not reused
    assert len(list(tmp_path.glob("fake.seed0.*.json"))) == 2
    # A setting the table declares it ignores keeps its finished seeds; any other does not.
    monkeypatch.setitem(TABLES, "fake", Experiment("x:y", "a seeded table", "0. Test", ignores=("jscc",)))
    run_table("fake", "quick", tmp_path / "c.json", seeds=(0,))
    jscc = replace(PRESETS["quick"].jscc, epochs=PRESETS["quick"].jscc.epochs + 1)
    monkeypatch.setitem(PRESETS, "quick", replace(PRESETS["quick"], jscc=jscc))
    run_table("fake", "quick", tmp_path / "d.json", seeds=(0,))
    assert ran[4:] == [(0, 3.0)]                                                # run once, then reused


def test_run_table_takes_the_drop_of_the_preset_it_ran(tmp_path, monkeypatch):
    """A table whose experiment records no drop gets the drop of the preset it ran with, overrides
    included (it got the named preset's 2 points)."""
    from dataclasses import replace

    import coinfer.experiments as experiments
    import coinfer.paths
    from coinfer.experiments import Experiment
    from coinfer.experiments.original import run as original_run

    made = original_run("quick")
    bare = replace(made, provenance=replace(made.provenance, accuracy_drop=None))
    monkeypatch.setitem(TABLES, "fake", Experiment("x:y", "a seeded table", "0. Test"))
    monkeypatch.setattr(experiments, "experiment", lambda name: lambda preset: bare)
    monkeypatch.setattr(coinfer.paths, "seed_table_path", lambda t, p, s, d: tmp_path / f"{t}.seed{s}.{d}.json")
    table = load_table(run_table("fake", "quick", tmp_path / "t.json", seeds=(0,), overrides={"accuracy_drop": 7.0}))
    assert table.provenance.accuracy_drop == 7.0


def test_a_finished_seed_is_stale_once_the_sweep_computes_cells_differently(monkeypatch):
    """The finished seeds' file names carry SWEEP_VERSION, as the cells do: a bumped version reused them."""
    import coinfer.experiments.cell_files as cell_files
    from coinfer.config import get_preset
    from coinfer.experiments import _seed_file

    before = _seed_file("encoding", get_preset("quick"), 0)
    monkeypatch.setattr(cell_files, "SWEEP_VERSION", cell_files.SWEEP_VERSION + 1)
    assert before is not None and _seed_file("encoding", get_preset("quick"), 0) != before


def test_a_finished_jscc_seed_is_stale_once_the_encoding_table_changes(monkeypatch, tmp_path):
    """The JSCC table takes its learned source code from the encoding table: a finished JSCC seed kept the
    code of an encoding table since regenerated; the encoding table's seeds do not read the JSCC table."""
    import json
    import shutil

    import coinfer.paths
    from coinfer.config import get_preset
    from coinfer.experiments import _seed_file

    shutil.copy(coinfer.paths.table_path("encoding", "quick"), tmp_path / "encoding_quick.json")
    monkeypatch.setattr(coinfer.paths, "table_path", lambda table, preset: tmp_path / f"{table}_{preset}.json")
    preset = get_preset("quick")
    jscc, encoding = _seed_file("jscc", preset, 0), _seed_file("encoding", preset, 0)
    table = json.loads((tmp_path / "encoding_quick.json").read_text())

    def rewrite(change):
        change(table)
        (tmp_path / "encoding_quick.json").write_text(json.dumps(table, indent=1))

    # made again to the same numbers, at another commit, date and speed: still the code it kept
    rewrite(lambda t: t["provenance"].update(git_commit="f" * 40, date="2027-01-01T00:00:00+00:00",
                                             wall_time_s=1.0, hardware="another machine"))
    timed = next(r for r in table["records"] if "train_time_s" in r["extra"])
    rewrite(lambda t: timed["extra"].update(train_time_s=timed["extra"]["train_time_s"] + 1, wall_time_s=0.5))
    assert jscc is not None and _seed_file("jscc", preset, 0) == jscc
    bits = timed["bits_per_image"]
    rewrite(lambda t: timed.update(bits_per_image=bits + 0.01))                       # a number it may read
    assert _seed_file("jscc", preset, 0) != jscc
    rewrite(lambda t: timed.update(bits_per_image=bits))
    assert _seed_file("jscc", preset, 0) == jscc
    rewrite(lambda t: t["provenance"].update(accuracy_drop=3.0))                       # its threshold
    assert _seed_file("jscc", preset, 0) != jscc
    (tmp_path / "jscc_quick.json").write_text("{}")
    assert _seed_file("encoding", preset, 0) == encoding
    (tmp_path / "encoding_quick.json").unlink()           # no encoding table yet: a key of its own
    assert _seed_file("jscc", preset, 0) not in (jscc, None)
