"""Task losses, prediction and the RCS regulariser on hand-made tensors."""

import math

import pytest
import torch

from lavacut.train.losses import SpikeMaxLoss, SpikeRateLoss, TETLoss, make_task_loss, predict
from lavacut.train.rcs import (
    CS_EPS,
    NORM_EPS,
    RCSRegulariser,
    layer_rcs,
    rcs_loss,
    rcs_mask,
    step_predictions,
    window_length,
)
from lavacut.util import LavacutError

# ----------------------------------------------------------------- helpers


def _outputs_for(labels, K=4, T=10, rate_true=0.6, rate_false=0.1, seed=0):
    """Output spikes where the label neuron fires at rate_true, others at
    rate_false (fixed pattern)."""
    g = torch.Generator().manual_seed(seed)
    N = len(labels)
    out = (torch.rand(N, K, T, generator=g) < rate_false).float()
    true = (torch.rand(N, T, generator=g) < rate_true).float()
    out[torch.arange(N), labels] = true
    return out


def _record(r, threshold=1.0):
    """A (spikes, voltage, threshold) record whose r(t) equals ``r`` (entries
    in [0, 1) become voltage, so r = 0 + v/th)."""
    return (torch.zeros_like(r), r * threshold, threshold)


# ----------------------------------------------------------------- window


def test_window_length_floor_and_zero():
    assert window_length(10, 0.3) == 3
    assert window_length(30, 0.3) == 9
    assert window_length(7, 0.3) == 2  # floor(2.1)
    assert window_length(3, 0.3) == 3  # floor 0 -> all T
    with pytest.raises(LavacutError):
        window_length(10, 1.5)


# ----------------------------------------------------------------- predict


def test_predict_total_count_ties_lowest_and_no_decision():
    out = torch.zeros(3, 3, 4)
    out[0, 2, :3] = 1  # class 2 wins
    out[1, 0, :2] = 1  # tie 0 vs 1 -> 0
    out[1, 1, 2:] = 1
    # sample 2 never spikes
    assert predict(out).tolist() == [2, 0, -1]
    assert predict(out, no_decision=None).tolist() == [2, 0, 0]


def test_step_predictions_running_argmax():
    out = torch.zeros(1, 2, 4)
    out[0, 1, 1] = 1
    out[0, 0, 2] = 1
    out[0, 0, 3] = 1
    # Y: t1 (0,0) none; t2 (0,1) -> 1; t3 (1,1) tie -> 0; t4 (2,1) -> 0
    assert step_predictions(out).tolist() == [[-1, 1, 0, 0]]


# ----------------------------------------------------------------- task losses


@pytest.mark.parametrize(
    "name,params", [("spike_rate", {}), ("tet", {}), ("tet", {"normalise": "rate"}), ("spike_max", {})]
)
def test_losses_lower_for_correct_class(name, params):
    labels = torch.tensor([0, 1, 2, 3])
    loss = make_task_loss(name, **params)
    good = _outputs_for(labels)
    bad = _outputs_for((labels + 1) % 4)
    lg, lb = loss(good, labels), loss(bad, labels)
    assert lg.dim() == 0 and torch.isfinite(lg)
    assert lg < lb


@pytest.mark.parametrize("name", ["spike_rate", "tet"])
def test_gradient_step_raises_true_class(name):
    """One gradient step on a free output tensor moves the true class up
    relative to the others: the loss decreases for the correct class."""
    labels = torch.tensor([1, 3])
    o = torch.full((2, 4, 10), 0.1, requires_grad=True)  # between false and true rate
    loss = make_task_loss(name)
    l0 = loss(o, labels)
    l0.backward()
    with torch.no_grad():
        o2 = o - 0.05 * o.grad / o.grad.abs().max()
        true_grad = o.grad[torch.arange(2), labels]
        assert (true_grad < 0).all()  # increasing the true output lowers the loss
        assert loss(o2, labels) < l0


def test_tet_formula_by_hand():
    K, T = 3, 4
    out = torch.zeros(1, K, T)
    out[0, 0, [0, 2]] = 1
    out[0, 1, 1] = 1
    labels = torch.tensor([0])
    lam = 0.1
    loss = TETLoss(lam=lam, normalise="count", temperature=2.0)
    Y = out.cumsum(-1) / 2.0
    ce = sum(-torch.log_softmax(Y[0, :, t], 0)[0] for t in range(T)) / T
    mse = ((out - 1.0) ** 2).mean()
    assert torch.allclose(loss(out, labels), (1 - lam) * ce + lam * mse)


def test_spike_rate_is_slayer_sum_over_batch():
    from lava.lib.dl import slayer

    labels = torch.tensor([0, 2, 1])
    out = _outputs_for(labels, K=3)
    ref = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="sum")(out, labels)
    assert torch.allclose(SpikeRateLoss()(out, labels), ref / 3)
    assert torch.isfinite(SpikeMaxLoss()(out, labels))


def test_make_task_loss_errors():
    with pytest.raises(LavacutError):
        make_task_loss("nope")
    with pytest.raises(LavacutError):
        make_task_loss("tet", bogus=1)


# ----------------------------------------------------------------- RCS


def test_rcs_identical_over_time_is_one():
    N, n, T = 2, 5, 10
    base = torch.rand(N, n, 1) * 0.9 + 0.05
    r = base.expand(N, n, T).clone()
    R = layer_rcs(*_record(r), window_frac=0.3)
    # exact value with the eps terms: cs = |r|^2 / (|r|^2 + 1e-5) (both norms equal)
    sq = (base[..., 0] ** 2).sum(1)
    cs = sq / (sq + NORM_EPS)
    assert torch.allclose(R, 1.0 / (cs + CS_EPS), rtol=1e-5)
    assert torch.allclose(R, torch.ones(N), atol=1e-4)


def test_rcs_orthogonal_is_large():
    N, n, T = 1, 4, 10
    r = torch.zeros(N, n, T)
    r[0, 0, :7] = 0.9  # early steps on neuron 0
    r[0, 1, 7:] = 0.9  # the last 3 = window on neuron 1
    R = layer_rcs(*_record(r), window_frac=0.3)
    # cs = (1/T) * 3 steps of ~1  -> R ~ 10/3
    assert R.item() == pytest.approx(10 / 3, rel=1e-3)
    r2 = torch.zeros(N, n, T)
    r2[0, 0, :] = 0.9
    r2[0, 1, 7:] = 0.0
    r2[0, 0, 7:] = 0.0
    r2[0, 2, 7:] = 0.9  # window orthogonal to ALL earlier steps
    R2 = layer_rcs(*_record(r2), window_frac=0.3)
    assert R2.item() > 3
    # fully orthogonal with an all-zero window: cs -> 0, R -> 1/1e-5
    r3 = torch.zeros(N, n, T)
    r3[0, 0, :7] = 0.9
    assert layer_rcs(*_record(r3), window_frac=0.3).item() == pytest.approx(1 / CS_EPS, rel=1e-3)


def test_r_uses_spikes_plus_relu_voltage_over_threshold():
    s = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
    v = torch.tensor([[[0.0, 0.5, -0.7, 0.25]]])  # post-reset voltage
    th = 0.5
    # r = [1, 1, 0, 0.5]; window = all (floor(0.3*4)=1 -> last step only)
    R = layer_rcs(s, v, th, window_frac=0.3)
    r = torch.tensor([1.0, 1.0, 0.0, 0.5])
    rd = r[-1:]
    cs = (
        sum(
            float(r[t] * rd[0]) / (math.sqrt(float(r[t] ** 2) + 1e-5) * math.sqrt(float(rd[0] ** 2) + 1e-5))
            for t in range(4)
        )
        / 4
    )
    assert R.item() == pytest.approx(1 / (cs + 1e-5), rel=1e-5)


def test_mask_zeroes_wrong_samples_and_max_over_batch():
    T, K = 10, 3
    out = torch.zeros(3, K, T)
    out[0, 0, 1:] = 1  # predicts 0 throughout
    out[1, 1, 1:] = 1  # predicts 1
    out[2, 2, 1:] = 1  # predicts 2
    labels = torch.tensor([0, 1, 0])  # sample 2 is wrong
    assert rcs_mask(out, labels, 0.3).tolist() == [1.0, 1.0, 0.0]
    # only the window counts: class 1 leads for 7 steps, class 0 takes over
    # (a 4-4 tie at step 8 goes to class 0) for the last 3 = the window
    o2 = torch.zeros(1, 2, 10)
    o2[0, 1, :4] = 1
    o2[0, 0, 4:] = 1
    assert step_predictions(o2).tolist() == [[1, 1, 1, 1, 1, 1, 1, 0, 0, 0]]
    assert rcs_mask(o2, torch.tensor([1]), 0.3).item() == 0.0
    assert rcs_mask(o2, torch.tensor([0]), 0.3).item() == 1.0
    assert rcs_mask(o2, torch.tensor([0]), 0.5).item() == 0.0  # window of 5
    # loss picks the max of m_n R_n: make the wrong sample have the largest R
    n, T = 4, T
    r_good = torch.rand(1, n, 1).expand(1, n, T).clone() * 0.5 + 0.2  # R ~ 1
    r_bad = torch.zeros(1, n, T)
    r_bad[0, 0, :7] = 0.9  # R huge
    r = torch.cat([r_good, r_good * 0.8, r_bad])
    R_all = layer_rcs(*_record(r), window_frac=0.3)
    L = rcs_loss([_record(r)], out, labels, 0.3)
    assert R_all[2] > 1e3
    assert L.item() == pytest.approx(float(R_all[:2].max()), rel=1e-6)
    # nobody correct -> 0
    assert rcs_loss([_record(r)], out, torch.tensor([2, 2, 1]), 0.3).item() == 0.0


def test_rcs_averages_layers():
    T = 10
    out = torch.zeros(2, 2, T)
    out[:, 0, 1:] = 1
    labels = torch.tensor([0, 0])
    r1 = torch.rand(2, 3, 1).expand(2, 3, T).clone() * 0.5 + 0.1
    r2 = torch.zeros(2, 6, T)
    r2[:, 0, :7] = 0.9
    r2[:, 1, 7:] = 0.9
    L = rcs_loss([_record(r1), _record(r2)], out, labels)
    m1 = layer_rcs(*_record(r1)).max()
    m2 = layer_rcs(*_record(r2)).max()
    assert L.item() == pytest.approx(float((m1 + m2) / 2), rel=1e-6)
    reg = RCSRegulariser(alpha=0.002)
    assert reg(([_record(r1), _record(r2)]), out, labels).item() == pytest.approx(L.item())
    assert reg.weighted([_record(r1), _record(r2)], out, labels).item() == pytest.approx(0.002 * L.item())


def test_gradient_flows_into_v_not_through_rd():
    T, n = 10, 3
    torch.manual_seed(0)
    v = (torch.rand(1, n, T) * 0.8 + 0.1).requires_grad_(True)
    s = torch.zeros(1, n, T)
    out = torch.zeros(1, 2, T)
    out[0, 1, 1:] = 1
    labels = torch.tensor([1])
    L = rcs_loss([(s, v, 1.0)], out, labels, 0.3)
    L.backward()
    assert v.grad is not None and v.grad.abs().sum() > 0
    # r_d is detached: the gradient equals that of the same expression with a
    # constant reference, computed by hand
    v2 = v.detach().clone().requires_grad_(True)
    r = torch.relu(v2)
    rd = r[..., -3:].mean(-1).detach()
    cs = ((r * rd[..., None]).sum(1) / (torch.sqrt((r * r).sum(1) + 1e-5) * torch.sqrt((rd * rd).sum(1) + 1e-5))).mean(
        -1
    )
    (1 / (cs + 1e-5)).sum().backward()
    assert torch.allclose(v.grad, v2.grad, atol=1e-7)
    # and NOT equal to the gradient with r_d attached
    v3 = v.detach().clone().requires_grad_(True)
    r = torch.relu(v3)
    rd = r[..., -3:].mean(-1)
    cs = ((r * rd[..., None]).sum(1) / (torch.sqrt((r * r).sum(1) + 1e-5) * torch.sqrt((rd * rd).sum(1) + 1e-5))).mean(
        -1
    )
    (1 / (cs + 1e-5)).sum().backward()
    assert not torch.allclose(v.grad, v3.grad, atol=1e-7)
    # the mask carries no gradient: output spikes get none
    o = out.clone().requires_grad_(True)
    L2 = rcs_loss([(s, v.detach().requires_grad_(True), 1.0)], o, labels, 0.3)
    L2.backward()
    assert o.grad is None or o.grad.abs().sum() == 0


def test_rcs_input_errors():
    out = torch.zeros(2, 3, 10)
    with pytest.raises(LavacutError):
        rcs_loss([], out, torch.tensor([0, 1]))
    with pytest.raises(LavacutError):
        rcs_loss([(torch.zeros(3, 4, 10), torch.zeros(3, 4, 10), 1.0)], out, torch.tensor([0, 1]))
