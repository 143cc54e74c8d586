"""Tests of coinfer.config: one Preset with every stage's settings, overridable by name."""

from __future__ import annotations

import dataclasses

import pytest

from coinfer.config import (PRESETS, TINY_SWEEP, Preset, PruneSettings, SweepGrid, TrainSettings, get_preset,
                            override, parse_overrides, setting_names, sweep_grid)


def test_every_preset_holds_every_stage():
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert isinstance(preset.baseline, TrainSettings)
        assert isinstance(preset.pruning, PruneSettings)
        assert isinstance(preset.sweep, SweepGrid)
    quick, paper = get_preset("quick"), get_preset("paper")
    assert (quick.dataset, quick.width, quick.baseline.epochs, quick.accuracy_drop) == ("fashion-mnist", 0.125, 3, 2.0)
    assert (paper.dataset, paper.width, paper.baseline.epochs) == ("cifar10", 1.0, 60)
    assert (paper.pruning.lr, paper.pruning.epochs, paper.pruning.schedule.interval) == (1e-4, 100, 150)
    assert quick.pruning.schedule.interval == 10
    # One recipe: the quick sweep trains its codecs exactly as the encoding table does, so the same
    # configuration gives the same number in both.
    assert quick.sweep.encode == {} and set(quick.sweep.code_sizes) == set(quick.encoding.code_sizes)


def test_overrides_by_dotted_name_nested_dict_or_object_leave_the_stored_preset_alone():
    stored = PRESETS["quick"]
    p = get_preset("quick", width=1 / 16, **{"pruning.epochs": 3, "pruning.schedule.kind": "linear"},
                   baseline={"lr": 0.05})
    assert (p.width, p.pruning.epochs, p.pruning.schedule.kind, p.baseline.lr) == (1 / 16, 3, "linear", 0.05)
    assert p.pruning.schedule.interval == stored.pruning.schedule.interval        # untouched siblings
    assert (stored.width, stored.pruning.epochs, stored.baseline.lr) == (0.125, 1, 0.1)
    tiny = get_preset("quick", sweep=TINY_SWEEP, **{"sweep.png": False})          # object, then its field
    assert tiny.sweep.png is False and tiny.sweep.png_images == TINY_SWEEP.png_images
    assert get_preset("quick") is stored                                          # nothing to override
    assert override(stored.pruning, {}) == stored.pruning


def test_unknown_names_get_one_message_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; available: quick, paper"):
        get_preset("huge")
    for bad in ({"epochs": 1}, {"pruning.sparsity": 0.5}, {"width.x": 1}, {"baseline": {"nope": 1}}):
        with pytest.raises(ValueError, match=r"unknown preset field\(s\) \[.*\]; fields are \[.*'pruning.epochs'"):
            get_preset("quick", **bad)
    with pytest.raises(ValueError, match="unknown sweep grid 'huge'; available: quick, paper, tiny"):
        sweep_grid("huge")


def test_overridden_settings_are_validated_again():
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        get_preset("quick", **{"pruning.sparsities": (0.5, 1.0)})
    with pytest.raises(ValueError, match="nothing to prune"):
        get_preset("quick", **{"pruning.splits": ("input",)})
    with pytest.raises(ValueError, match="unknown schedule kind"):
        get_preset("quick", **{"pruning.schedule.kind": "exponential"})
    with pytest.raises(ValueError, match="unknown split point 'layer9'"):
        get_preset("quick", **{"sweep.original_splits": ("layer9",)})
    with pytest.raises(ValueError, match="baseline.epochs must be an integer >= 1"):
        get_preset("quick", **{"baseline.epochs": 0})


@pytest.mark.parametrize("name, bad, allowed", [
    ("encoding.huffman_train_images", -5, "an integer >= 1"),
    ("encoding.huffman_train_images", 0, "an integer >= 1"),
    ("encoding.huffman_train_images", 2.5, "an integer >= 1"),
    ("encoding.eval_batch_size", 0, "an integer >= 1"),
    ("encoding.epochs", -1, "an integer >= 1"),
    ("encoding.epochs", -3, "an integer >= 1"),
    ("encoding.warmup_epochs", -1, "an integer >= 0"),
    ("encoding.lr", float("nan"), "a finite learning rate > 0"),
    ("encoding.test_limit", 0, "an integer >= 1 or None"),
    ("encoding.temperature", 0.0, "a finite number > 0"),
    ("encoding.kernel_size", 2, "an odd integer >= 1"),
    ("encoding.precompute", "yes", "True or False"),
    ("encoding.splits", ("layer9",), "unknown split point"),
    ("encoding.huffman_splits", ("layer9",), "unknown split point"),
    ("encoding.code_sizes", ("bogus",), "bad code size"),
    # channels follow channel_divisor at each split: a written count was replaced without a word
    ("encoding.code_sizes", ("c2-d16-l4",), "written without channels (EncodeSettings.code_size_at derives them)"),
    ("baseline.lr", -1, "a finite learning rate > 0"),
    ("baseline.batch_size", 0, "an integer >= 1"),
    ("baseline.train_limit", 0, "an integer >= 1 or None"),
    ("pruning.epochs", 2.5, "an integer >= 1"),
    ("pruning.batch_size", 0, "an integer >= 1"),
    ("pruning.lr_gamma", float("inf"), "a finite number > 0"),
    ("sweep.png_images", 0, "an integer >= 1 or None"),
    ("sweep.code_sizes", ("bogus",), "bad code size"),
    # the encoding settings refused a written channel count; the sweep's and the rate curve's took it
    ("sweep.code_sizes", ("c2-d16-l4",), "written without channels"),
    ("rate.code_sizes", ("c2-d16-k64",), "written without channels"),
    ("sweep.encode", {"epochs": 0}, "encoding.epochs must be an integer >= 1"),
    ("sweep.prune", {"batch_size": 0}, "pruning.batch_size must be an integer >= 1"),
    ("jscc.batch_size", 0, "an integer >= 1"),
    ("jscc.lr", float("inf"), "a finite learning rate > 0"),
    ("jscc.awgn_code_sizes", (2.5,), "one or more integers >= 1"),
    ("jscc.awgn_code_sizes", 16, "one or more integers >= 1 in a tuple"),        # a bare TypeError before
    ("encoding.splits", "layer2.1", "must be a tuple"),                            # was read letter by letter
    ("sweep.prune", {"lr_schedule": "step"}, "warmup_fraction 0.1 needs lr_schedule"),   # with the preset's warm-up
    # one value twice: trained twice and kept once (encode --code-sizes d16-l4 d16-l4 failed at the save)
    ("encoding.code_sizes", ("d16-l4", "d16-l4"), "lists one value twice: 'd16-l4' and 'd16-l4'"),
    ("pruning.splits", ("layer2.1", "s3"), "lists one value twice: 'layer2.1' and 's3'"),   # an alias of it
    ("pruning.sparsities", (0.5, 0.5), "lists one value twice: 0.5 and 0.5"),
    ("sweep.two_step_step2", (0.25, 0.25), "lists one value twice: 0.25 and 0.25"),
    ("encoding.huffman_splits", ("s4", "s4"), "lists one value twice"),
])
def test_every_overridden_setting_is_refused_naming_itself_its_value_and_what_is_allowed(name, bad, allowed):
    """The path a user takes (``--set NAME=VALUE`` arrives as these overrides): a bad value never
    reaches a stage (``encoding.epochs=-3`` used to drop the codec trainings from the plan silently)."""
    with pytest.raises(ValueError) as error:
        get_preset("quick", **{name: bad})
    message = str(error.value)
    shown = repr(bad[0] if isinstance(bad, tuple) else next(iter(bad.values())) if isinstance(bad, dict) else bad)
    assert name in message and shown in message and allowed in message, message


def test_a_numpy_integer_setting_is_refused_where_it_enters():
    """A setting is recorded as JSON with the table: a NumPy seed would be taken, then fail at the save."""
    import numpy as np

    with pytest.raises(ValueError, match=r"seed np.int64\(1\) must be an integer >= 0"):
        get_preset("quick", seed=np.int64(1))


def test_the_values_the_presets_use_stay_allowed():
    """Zero warm-up epochs, None for every image, no Huffman split points, a sweep without a method:
    allowed by design."""
    p = get_preset("quick", **{"encoding.warmup_epochs": 0, "encoding.train_limit": None, "encoding.huffman_splits": (),
                               "encoding.code_sizes": ("d16-k64-r0.1",), "encoding.splits": ("s4",),
                               "sweep.png_images": None, "jscc.reduced_channels": None, "baseline.weight_decay": 0})
    assert p.encoding.splits == ("layer3.1",) and p.encoding.huffman_splits == ()      # aliases resolved once
    # A method's empty split points leave it out of the sweep (the plan's tests price one method alone).
    from coinfer.experiments.sweep import cells

    p = get_preset("quick", **{"sweep.bottlenet_splits": (), "sweep.two_step_splits": (), "sweep.original_splits": ()})
    assert {c.method for c in cells(p)} == {"png", "on-device", "framework"}
    assert get_preset("quick", **{"sweep.framework_splits": ()}).sweep.framework_splits == ()


def test_setting_names_cover_every_field():
    names = setting_names(get_preset("quick"))
    assert {f.name for f in dataclasses.fields(Preset)} <= set(names)
    assert "pruning.schedule.ramp_fraction" in names and "sweep.encode" in names and "baseline.lr" in names


def test_command_line_overrides_are_read_as_literals():
    assert parse_overrides(["pruning.epochs=2", "seed = 1", "pruning.output_sparsity=None",
                            "pruning.schedule.kind=linear", "sweep.sparsities=(0.0, 0.5)"]) == {
        "pruning.epochs": 2, "seed": 1, "pruning.output_sparsity": None, "pruning.schedule.kind": "linear",
        "sweep.sparsities": (0.0, 0.5)}
    assert parse_overrides(None) == {}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_overrides(["pruning.epochs"])
    p = get_preset("quick", **parse_overrides(["pruning.splits=('layer2.1',)", "sweep.png=False"]))
    assert p.pruning.splits == ("layer2.1",) and p.sweep.png is False


def test_a_preset_name_is_looked_up_once_and_the_object_passed_down():
    """The experiments take a Preset, not a name: an overridden preset reaches the cells unchanged."""
    from coinfer.experiments.sweep import cells, default_paths, prune_settings

    p = get_preset("quick", sweep=sweep_grid("tiny"), **{"pruning.lr": 5e-4})
    assert prune_settings(p).lr == 5e-4 and prune_settings(p).batch_size == 64   # grid's own override on top
    assert {c.depends["prune"]["lr"] for c in cells(p) if c.depends.get("prune")} == {5e-4}
    assert default_paths(p)["table"].name == "sweep_quick-tiny.json"
    assert default_paths(get_preset("quick"))["table"].name == "sweep_quick.json"


@pytest.mark.parametrize("setting, name", [
    ("baseline=1", "baseline"), ("sweep=None", "sweep"), ("validation=None", "validation"),
    ("pruning.schedule=3", "pruning.schedule"), ("jscc=0", "jscc"),
    ("jscc.snrs_db=5", "jscc.snrs_db"), ("rate.weights=5", "rate.weights"), ("rate.code_sizes=5", "rate.code_sizes"),
    ("jscc.flip_rates=('a',)", "jscc.flip_rates"), ("jscc.mismatch_snrs_db=('a',)", "jscc.mismatch_snrs_db"),
    ("pruning.schedule.ramp_fraction='a'", "pruning.schedule.ramp_fraction"),   # a TypeError inside its check
])
def test_a_setting_of_the_wrong_kind_is_refused_naming_it(setting, name, capsys):
    """``--set`` reads any literal: a value of another kind once failed deep inside with a raw
    traceback (AttributeError, TypeError; exit 1), not as a usage error naming the setting."""
    from coinfer.cli import main

    assert main(["plan", "--preset", "quick", "--seeds", "1", "--set", setting]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and name in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_the_preset_name_is_no_setting(capsys):
    """``--set name=x`` got get_preset()'s own argument twice (a TypeError); as an override it would
    rename the preset whose tables and checkpoints are found by its name."""
    from coinfer.cli import main

    with pytest.raises(ValueError, match=r"name='x' cannot be overridden: choose a preset by its name \(quick, paper"):
        get_preset("quick", name="x")
    assert main(["plan", "--preset", "quick", "--set", "name=x"]) == 2
    assert "name='x' cannot be overridden" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["pruning.splits", "pruning.sparsities", "encoding.splits", "encoding.code_sizes",
                                  "rate.splits", "rate.code_sizes", "rate.weights", "sweep.sparsities",
                                  "sweep.code_sizes", "sweep.bottlenet_reductions", "sweep.two_step_step1",
                                  "sweep.two_step_step2", "jscc.snrs_db", "jscc.flip_rates", "jscc.mismatch_snrs_db",
                                  "jscc.mismatch_flip_rates"])
def test_an_empty_grid_is_refused_where_it_would_run_nothing(name):
    """An empty grid ran nothing and said nothing (exit 0), or failed later (jscc.snrs_db: an IndexError)."""
    with pytest.raises(ValueError) as error:
        get_preset("quick", **{name: ()})
    assert name in str(error.value) and "one or more" in str(error.value), str(error.value)


def test_a_named_sweep_grid_is_scaled_down_in_the_smoke_run_as_its_preset(monkeypatch, tmp_path):
    """``sweep --grid paper`` under COINFER_SMOKE=1 listed the paper's whole grid (159 cells), not the smoke run's."""
    from coinfer.experiments.sweep import cells

    monkeypatch.setenv("COINFER_SMOKE", "1")
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    grid = sweep_grid("paper")
    assert grid == get_preset("paper").sweep != PRESETS["paper"].sweep
    assert len(cells(get_preset("quick", sweep=grid))) < len(cells(get_preset("quick", sweep=PRESETS["paper"].sweep)))
    assert sweep_grid("tiny") is TINY_SWEEP


def test_a_code_size_gets_the_derived_channels_and_a_written_other_count_is_refused():
    """``c2-d16-l4`` at a 32-channel feature once became ``c8-d16-l4`` without a word: trained twice beside
    ``c8-d16-l4``, and train-codec saved a c8 codec under the name ``..._c2-d16-l4.pt``."""
    enc = get_preset("quick").encoding                        # channel_divisor 4
    assert str(enc.code_size_at("d16-l4", (32, 16, 16))) == "c8-d16-l4"
    assert str(enc.code_size_at("c8-d16-l4", (32, 16, 16))) == "c8-d16-l4"    # the derived count, written: kept
    assert str(enc.code_size_at("d16-k16", (64,))) == "d16-k16"                # a 1-D feature has no channels
    for code, shape, derived in (("c2-d16-l4", (32, 16, 16), "8"), ("c2-d16-l4", (64,), "none")):
        with pytest.raises(ValueError) as error:
            enc.code_size_at(code, shape)
        assert all(part in str(error.value) for part in (repr(code), f"derived ({derived},", "give 'd16-l4'")), error.value


def test_augmenting_cached_features_is_refused_and_two_fields_set_together_are_checked_together():
    """``encoding.augment=True`` with ``precompute=True`` trained on plain cached features without a
    word; overrides of one settings object are applied at once, so turning both fields at once passes
    whichever is named first."""
    with pytest.raises(ValueError, match="encoding.augment=True needs encoding.precompute=False"):
        get_preset("paper", **{"encoding.precompute": True})
    with pytest.raises(ValueError, match="encoding.augment=True needs encoding.precompute=False"):
        get_preset("quick", **{"encoding.augment": True})
    for order in (("precompute", "augment"), ("augment", "precompute")):
        values = {"precompute": True, "augment": False}
        encoding = get_preset("paper", **{f"encoding.{k}": values[k] for k in order}).encoding
        assert (encoding.precompute, encoding.augment) == (True, False)
    with pytest.raises(ValueError, match=r"encoding must be a settings object for epochs to be set in it, got 3"):
        get_preset("quick", **{"encoding": 3, "encoding.epochs": 2})
