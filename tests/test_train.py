import pytest
import torch

from coinfer.core.network import resnet18
from coinfer.train import (evaluate, load_checkpoint, load_model, save_checkpoint, seed_everything,
                           train_epochs)


def tiny_batches(n=3, batch=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(n)]


def run(seed):
    seed_everything(seed)
    net = resnet18(width=1 / 16)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    losses = train_epochs(net, tiny_batches(), opt, epochs=2)
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


def test_evaluate_counts_correct_predictions():
    net = resnet18(width=1 / 16).eval()
    batches = tiny_batches(n=2)
    predictions = torch.cat([net(x).argmax(1) for x, _ in batches])
    labels = predictions.clone()
    labels[:3] = (labels[:3] + 1) % 10  # three wrong out of 12
    relabelled = [(batches[0][0], labels[:6]), (batches[1][0], labels[6:])]
    assert evaluate(net, relabelled) == pytest.approx(9 / 12)


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
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a coinfer checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
