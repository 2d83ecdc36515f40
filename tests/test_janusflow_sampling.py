"""JanusFlow's guided velocity and Euler loop on hand-checkable fields (no model)."""

from __future__ import annotations

import pytest
import torch
from janus_eval.model_adapters.janusflow_sampling import euler_sample, guided_velocity, initial_noise, time_steps


def test_guidance_formula_and_its_ends() -> None:
    cond, uncond = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5, 4.0]])
    assert torch.equal(guided_velocity(cond, uncond, 1.0), cond)  # w = 1: the conditional flow, exactly
    assert torch.equal(guided_velocity(cond, uncond, 0.0), uncond)
    assert torch.equal(guided_velocity(cond, uncond, 2.0), torch.tensor([[1.5, -8.0]]))  # 2*cond - 1*uncond
    rows = guided_velocity(torch.ones(3, 2), torch.zeros(3, 2), torch.tensor([1.0, 2.0, 7.5]))  # one w per row
    assert rows[:, 0].tolist() == [1.0, 2.0, 7.5]


def test_guidance_rounds_each_product_like_scalar_ops_in_bf16() -> None:
    cond = torch.randn(64, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(0))
    uncond = torch.randn(64, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(1))
    weight = 1.7
    reference = weight * cond - (weight - 1.0) * uncond  # DeepSeek's expression with a Python float weight
    assert guided_velocity(cond, uncond, weight).dtype == torch.bfloat16
    assert torch.equal(guided_velocity(cond, uncond, weight), reference)
    mixed_in_float32 = (weight * cond.float() - (weight - 1) * uncond.float()).to(torch.bfloat16)
    assert not torch.equal(mixed_in_float32, reference)  # (so the rounding order is what the test checks)


def test_zero_steps_return_the_noise() -> None:
    noise = torch.randn(2, 4, 3, 3)

    def never(z: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise AssertionError("no step, no velocity")

    assert torch.equal(euler_sample(noise, never, 2.0, 0), noise)


def test_constant_field_moves_the_noise_by_the_guided_velocity() -> None:
    noise = torch.zeros(1, 2)
    a, b = torch.tensor([[1.0, 0.25]]), torch.tensor([[0.5, 0.5]])
    result = euler_sample(noise, lambda z, t: (a, b), 2.0, 8)  # 8 steps of 1/8 of (2a - b)
    assert torch.equal(result, torch.tensor([[1.5, 0.0]]))


def test_linear_field_follows_the_euler_recursion() -> None:
    """dz/dt = -z: each Euler step multiplies by (1 - 1/steps); guidance of equal velocities changes nothing."""
    noise = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    steps = 10
    result = euler_sample(noise, lambda z, t: (-z, -z), 5.0, steps)
    assert torch.allclose(result, noise * (1 - 1 / steps) ** steps, rtol=1e-12)


def test_w_one_is_the_conditional_flow_whatever_the_unconditional_says() -> None:
    noise = torch.randn(3, 4)
    conditional = euler_sample(noise, lambda z, t: (torch.sin(z) + t[:, None] / 1000, torch.sin(z) + t[:, None] / 1000), 1.0, 7)
    guided = euler_sample(noise, lambda z, t: (torch.sin(z) + t[:, None] / 1000, 100 * z - 3), 1.0, 7)
    assert torch.equal(guided, conditional)


def test_time_steps_are_deepseeks_in_the_latent_dtype() -> None:
    seen: list[torch.Tensor] = []
    euler_sample(torch.zeros(2, 1), lambda z, t: (seen.append(t) or z, z), 2.0, 3)
    assert torch.allclose(torch.stack(seen), torch.tensor([[0.0] * 2, [1000 / 3] * 2, [2000 / 3] * 2]))
    assert all(t.dtype == torch.float32 for t in seen)
    # bf16 on CUDA: 29/30 * 1000 = 966.67 reaches the model as bf16's 968, as in DeepSeek's code
    assert time_steps(30, torch.bfloat16)[29].item() == 968.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_each_image_has_its_own_noise_whatever_its_batch(dtype: torch.dtype) -> None:
    batch = initial_noise([11, 22, 33], (4, 5, 5), dtype, torch.device("cpu"))
    alone = initial_noise([22], (4, 5, 5), dtype, torch.device("cpu"))
    assert batch.dtype == dtype and batch.shape == (3, 4, 5, 5)
    assert torch.equal(batch[1], alone[0])
    assert not torch.equal(batch[0], batch[1])
