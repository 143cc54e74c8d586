import pytest
import torch

from coinfer.core.network import resnet18
from coinfer.train import evaluate, fit, load_checkpoint, load_model, save_checkpoint, seed_everything


def tiny_batches(n=3, batch=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(n)]


def run(seed):
    seed_everything(seed)
    net = resnet18(width=1 / 16)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    losses = fit(net, tiny_batches(), optimizer=opt, epochs=2)
    return net, losses


def test_training_lowers_the_loss_and_is_deterministic():
    net_a, losses_a = run(3)
    net_b, losses_b = run(3)
    assert losses_a == losses_b
    assert losses_a[-1] < losses_a[0]
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(pa, pb)
    _, losses_c = run(4)
    assert losses_c != losses_a


def plain_loop(net, batches, opt, epochs, scheduler=None, on_step=None):
    """The loop fit replaced (train.train_epochs, pruning's fine-tuning), written out as the oracle."""
    loss_fn, history, step = torch.nn.CrossEntropyLoss(), [], 0
    for _ in range(epochs):
        net.train()
        total = count = 0.0
        for x, y in batches:
            if on_step is not None:
                on_step(step)
            loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * y.numel()
            count += y.numel()
            step += 1
        history.append(total / count)
    return history


def make(seed, lr=0.05):
    seed_everything(seed)
    net = resnet18(width=1 / 16)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    return net, opt, torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


def test_fit_is_bit_identical_to_the_plain_loop_it_replaced():
    seen_a, seen_b = [], []
    net_a, opt_a, sched_a = make(1, lr=1e-3)
    losses_a = plain_loop(net_a, tiny_batches(), opt_a, 2, sched_a, seen_a.append)
    net_b, opt_b, sched_b = make(1, lr=1e-3)
    losses_b = fit(net_b, tiny_batches(), optimizer=opt_b, epochs=2, scheduler=sched_b, on_step=seen_b.append,
                   progress=False)
    assert losses_a == losses_b
    assert seen_a == seen_b == list(range(6))
    for (name, a), (_, b) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
        assert torch.equal(a, b), name


def test_fit_by_steps_and_by_epoch_function():
    batches = tiny_batches(n=3)
    seen, epochs_asked = [], []

    def per_epoch(epoch):
        epochs_asked.append(epoch)
        return batches

    net, opt, _ = make(0)
    losses = fit(net, per_epoch, optimizer=opt, steps=5, on_step=seen.append, progress=False)
    assert seen == list(range(5)) and epochs_asked == [0, 1] and len(losses) == 2
    # Five steps by steps= equal three + two steps of a plain loop over the same batches.
    net_ref, opt_ref, _ = make(0)
    plain_loop(net_ref, batches, opt_ref, 1)
    plain_loop(net_ref, batches[:2], opt_ref, 1)
    for a, b in zip(net.parameters(), net_ref.parameters()):
        assert torch.equal(a, b)


def test_fit_custom_loss_reads_any_output():
    net, opt, _ = make(0)
    calls = []

    def loss_fn(output, labels):
        calls.append(output.shape)
        return torch.nn.functional.cross_entropy(output, labels) + 0.0 * output.pow(2).mean()

    fit(net, tiny_batches(n=2), optimizer=opt, epochs=1, loss_fn=loss_fn, progress=False)
    assert calls == [torch.Size([6, 10])] * 2


def test_fit_rejects_bad_lengths():
    net, opt, _ = make(0)
    with pytest.raises(ValueError, match="exactly one of epochs and steps"):
        fit(net, tiny_batches(), optimizer=opt)
    with pytest.raises(ValueError, match="exactly one of epochs and steps"):
        fit(net, tiny_batches(), optimizer=opt, epochs=1, steps=2)
    with pytest.raises(ValueError, match="non-negative integer"):
        fit(net, tiny_batches(), optimizer=opt, epochs=-1)
    with pytest.raises(ValueError, match="yielded nothing"):
        fit(net, [], optimizer=opt, steps=2)
    assert fit(net, tiny_batches(), optimizer=opt, epochs=0) == []


@pytest.mark.parametrize("autocast", [torch.float16, torch.int8, "bfloat16", torch.float32])
def test_fit_refuses_an_autocast_precision_other_than_bfloat16(autocast):
    """As DataPath does: float16 underflows without loss scaling, which fit does not do; int8 ran in
    float32 unnoticed, a string met torch's own error. Nothing trains before the refusal."""
    net, opt, _ = make(0)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=f"autocast must be None or torch.bfloat16, got {autocast!r}"):
        fit(net, tiny_batches(n=1), optimizer=opt, epochs=1, progress=False, autocast=autocast)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert len(fit(net, tiny_batches(n=1), optimizer=opt, epochs=1, progress=False, autocast=torch.bfloat16)) == 1


def test_fit_by_epochs_refuses_batches_that_yield_nothing():
    """As by steps, and as evaluate: an empty loader gives no losses, which looked like a trained model."""
    net, opt, _ = make(0)
    with pytest.raises(ValueError, match="batches yielded nothing in epoch 1: cannot train on no batches"):
        fit(net, [], optimizer=opt, epochs=1, progress=False)
    with pytest.raises(ValueError, match="batches yielded nothing in epoch 2"):     # a function of the epoch, too
        fit(net, lambda epoch: tiny_batches() if epoch == 0 else [], optimizer=opt, epochs=2, progress=False)


def test_a_baseline_trained_without_the_validation_split_is_refused(tmp_path):
    """A checkpoint whose metadata has no "validation" was trained on every training image, the validation
    images included: choosing on them would choose on images it learnt. The committed one has it and loads."""
    from coinfer.paths import checkpoints_dir
    from coinfer.train import get_baseline

    state, meta = load_checkpoint(checkpoints_dir() / "quick" / "baseline.pt")
    assert meta["validation"] == {"images": 5000, "seed": 0}
    model = resnet18(width=meta["width"])
    model.load_state_dict(state)
    save_checkpoint(tmp_path / "with" / "quick" / "baseline.pt", model, meta)
    assert get_baseline("quick", checkpoints=tmp_path / "with")[1]["validation"] == meta["validation"]
    old = {k: v for k, v in meta.items() if k not in ("validation", "val_accuracy")}
    save_checkpoint(tmp_path / "without" / "quick" / "baseline.pt", model, {**old, "train_images": 60000})
    with pytest.raises(ValueError, match=r"trained with no validation \(all training images\), the preset asks for "
                                         r"validation \{'images': 5000, 'seed': 0\}"):
        get_baseline("quick", checkpoints=tmp_path / "without")


def test_evaluate_counts_correct_predictions():
    net = resnet18(width=1 / 16).eval()
    batches = tiny_batches(n=2)
    predictions = torch.cat([net(x).argmax(1) for x, _ in batches])
    labels = predictions.clone()
    labels[:3] = (labels[:3] + 1) % 10  # three wrong out of 12
    relabelled = [(batches[0][0], labels[:6]), (batches[1][0], labels[6:])]
    assert evaluate(net, relabelled) == pytest.approx(9 / 12)
    with pytest.raises(ValueError, match="evaluate got no images"):   # was ZeroDivisionError
        evaluate(net, [])


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    net, _ = run(0)
    path = save_checkpoint(tmp_path / "net.pt", net, {"width": 1 / 16, "test_accuracy": 0.5})
    loaded, meta = load_model(path, device=torch.device("cpu"))
    assert meta["test_accuracy"] == 0.5
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), net.eval()(x))


def test_checkpoint_loading_refuses_pickled_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "coinfer.checkpoint/1", "meta": Evil(), "state_dict": {}}, path)
    with pytest.raises(ValueError, match=r"evil.pt is not a coinfer checkpoint: it does not load with weights_only=True \(UnpicklingError"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_a_damaged_checkpoint_is_a_value_error_naming_the_file(tmp_path, damage):
    # torch's errors named no file: "[Errno 22] Invalid argument" (OSError) for a truncated one, an EOFError
    # with no message for an empty one, "pop from empty list" (IndexError) for text; the CLI showed a traceback.
    from coinfer.cli import main

    whole = save_checkpoint(tmp_path / "net.pt", run(0)[0], {"width": 1 / 16}).read_bytes()
    path = tmp_path / f"{damage}.pt"
    path.write_bytes({"empty": b"", "truncated": whole[:5000], "text": b"this is not a checkpoint"}[damage])
    with pytest.raises(ValueError, match=f"{damage}.pt is not a coinfer checkpoint"):
        load_checkpoint(path)
    assert main(["device", "--checkpoint", str(path), "--config", "layer2.1:uint8"]) == 2   # one line, not a traceback


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a coinfer checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


# -- knowledge distillation (fit's teacher) ------------------------------------------------------

def _toy_problem():
    """A 3-class linear teacher and labels that contradict it (always class 0)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5, generator=g)
    teacher = torch.nn.Linear(5, 3)
    with torch.no_grad():
        teacher.weight.copy_(torch.randn(3, 5, generator=g))
        teacher.bias.copy_(torch.randn(3, generator=g))
    labels = torch.zeros(256, dtype=torch.long)
    return x, teacher, [(x[i:i + 64], labels[i:i + 64]) for i in range(0, 256, 64)]


def _toy_student(batches, epochs=150, **distill):
    torch.manual_seed(1)
    student = torch.nn.Linear(5, 3)
    fit(student, batches, optimizer=torch.optim.Adam(student.parameters(), lr=0.05), epochs=epochs,
        progress=False, **distill)
    return student


def test_distillation_at_weight_one_matches_the_teachers_soft_labels_and_ignores_the_labels():
    x, teacher, batches = _toy_problem()
    before = [p.detach().clone() for p in teacher.parameters()]
    student = _toy_student(batches, teacher=teacher, distill_weight=1.0, temperature=2.0)
    labels_only = _toy_student(batches)
    with torch.no_grad():
        soft_teacher = torch.softmax(teacher(x) / 2.0, 1)
        soft_student = torch.softmax(student(x) / 2.0, 1)
        labels_only = labels_only(x).argmax(1)
    assert (soft_student - soft_teacher).abs().max() < 0.02
    assert torch.equal(student(x).argmax(1), teacher(x).argmax(1))
    assert (teacher(x).argmax(1) != 0).sum() > 50          # the teacher disagrees with the labels often...
    assert (labels_only == 0).all()                        # ...and a student of the labels alone follows them
    for p, q in zip(teacher.parameters(), before):         # the teacher is never trained
        assert torch.equal(p, q)


def test_distillation_at_weight_zero_is_plain_cross_entropy_and_the_mix_is_the_stated_formula():
    _, teacher, batches = _toy_problem()
    plain = _toy_student(batches, epochs=3)
    zero = _toy_student(batches, epochs=3, teacher=teacher, distill_weight=0.0, temperature=4.0)
    for a, b in zip(plain.parameters(), zero.parameters()):
        assert torch.equal(a, b)
    from coinfer.train import distillation_loss

    z, t, y = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    ce = torch.nn.functional.cross_entropy(z, y)
    p, log_q = torch.softmax(t / 3.0, 1), torch.log_softmax(z / 3.0, 1)
    kl = (p * (p.log() - log_q)).sum(1).mean()
    torch.testing.assert_close(distillation_loss(z, t, y, ce, 0.25, 3.0), 0.75 * ce + 0.25 * 9.0 * kl)


def test_fit_refuses_bad_distillation_settings():
    _, teacher, batches = _toy_problem()
    student = torch.nn.Linear(5, 3)
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="give a teacher"):
        fit(student, batches, optimizer=opt, epochs=1, distill_weight=0.5, temperature=4.0)
    with pytest.raises(ValueError, match="needs both"):
        fit(student, batches, optimizer=opt, epochs=1, teacher=teacher, distill_weight=0.5)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\].*got 1.5"):
        fit(student, batches, optimizer=opt, epochs=1, teacher=teacher, distill_weight=1.5, temperature=4.0)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        fit(student, batches, optimizer=opt, epochs=1, teacher=teacher, distill_weight=0.5, temperature=0)
    with pytest.raises(ValueError, match="frozen copy"):
        fit(student, batches, optimizer=opt, epochs=1, teacher=student, distill_weight=0.5, temperature=4.0)
