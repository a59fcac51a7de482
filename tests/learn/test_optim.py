"""Adam and its cosine schedule against torch.optim's, step for step (the fits depend on it)."""
import pytest
import torch

from tonemorph.errors import ParameterError
from tonemorph.learn.optim import Adam, CosineLR


def _pair(seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    ours = [torch.randn(5, dtype=torch.float64, generator=gen).requires_grad_(True),
            torch.randn(3, dtype=torch.float64, generator=gen).requires_grad_(True)]
    return ours, [t.detach().clone().requires_grad_(True) for t in ours]


@pytest.mark.parametrize("t_max", [1, 40, 100])
def test_adam_and_cosine_match_torch_bit_for_bit(t_max):
    ours, theirs = _pair(t_max)
    opt, ref = Adam(ours, lr=0.03), torch.optim.Adam(theirs, lr=0.03)
    sched = CosineLR(opt, t_max, eta_min=0.003)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, t_max, eta_min=0.003)
    gen = torch.Generator().manual_seed(1)
    for i in range(2 * t_max + 30):  # past t_max: torch's schedule turns back up
        grads = [torch.randn(t.shape, dtype=t.dtype, generator=gen) for t in ours]
        opt.zero_grad()
        ref.zero_grad()
        for k, (a, b, g) in enumerate(zip(ours, theirs, grads)):
            if k == 1 and i % 7 == 3:
                continue  # no gradient: the tensor is skipped, its step count too
            a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
        sched.step()
        ref_sched.step()
        assert opt.lr == ref.param_groups[0]["lr"]
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), f"step {i}"


def test_adam_moves_against_the_gradient_by_lr_at_first():
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.grad = torch.tensor([2.0, -0.5], dtype=torch.float64)
    opt.step()
    # the first Adam step is lr * sign(grad) (up to eps)
    assert torch.allclose(p.detach(), torch.tensor([-0.1, 0.1], dtype=torch.float64), atol=1e-8)


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError):
        Adam([], lr=0.1)
    with pytest.raises(ParameterError):
        CosineLR(Adam([torch.zeros(1, requires_grad=True)], lr=0.1), 0)
