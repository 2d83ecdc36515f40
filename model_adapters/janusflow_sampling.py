"""Rectified-flow sampling pieces of the JanusFlow adapter: the guided velocity, the Euler loop, time steps, noise.

JanusFlow (arXiv 2411.07975 §3.2, §4.4) integrates dz/dt = v(z, t) from Gaussian noise at t = 0 to the latent at
t = 1 with Euler steps of 1/steps, under classifier-free guidance `v = w·v_cond − (w−1)·v_uncond`. DeepSeek's
sampling code (the README's and demo/app_janusflow.py's `generate`) passes the model the time step `step / steps *
1000` in the latents' dtype and keeps the latents, the step size and the update in that dtype too; so does this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

TIME_SCALE = 1000.0  # the encoder's time embedding takes t in [0, 1000)

# (latents, time step per row) -> (conditional velocity, unconditional velocity)
VelocityField = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def time_steps(steps: int, dtype: torch.dtype) -> list[torch.Tensor]:
    """The model time of each Euler step: `step / steps * 1000`, rounded to `dtype` as DeepSeek's code does."""
    return [torch.tensor(step / steps * TIME_SCALE).to(dtype) for step in range(steps)]


def guided_velocity(v_cond: torch.Tensor, v_uncond: torch.Tensor, cfg_weight: torch.Tensor | float) -> torch.Tensor:
    """`w·v_cond − (w−1)·v_uncond` (JanusFlow's CFG), per row when `cfg_weight` holds one weight per row.

    Each product is formed in float32 and rounded to the velocities' dtype before the subtraction, which is what
    torch does for DeepSeek's Python-float weights; in float32 it is the plain formula (w = 1 gives v_cond exactly).
    """
    # w and w - 1 in double precision, as Python forms them, each then rounded to float32 as torch's opmath does
    weight = torch.as_tensor(cfg_weight, dtype=torch.float64, device=v_cond.device)
    if weight.dim() == 1:
        weight = weight.view(-1, *([1] * (v_cond.dim() - 1)))
    conditional = (weight.float() * v_cond.float()).to(v_cond.dtype)
    unconditional = ((weight - 1).float() * v_uncond.float()).to(v_uncond.dtype)
    return conditional - unconditional


def euler_sample(
    noise: torch.Tensor, field: VelocityField, cfg_weight: torch.Tensor | float, steps: int
) -> torch.Tensor:
    """Integrates the guided field from `noise` (t = 0) in `steps` Euler steps of size 1/steps; zero steps return
    the noise. The latents, the step size and the update stay in the noise's dtype (bf16 on CUDA), as DeepSeek's."""
    z = noise
    if steps <= 0:
        return z
    step_size = torch.tensor(1.0 / steps).to(z.dtype)
    for t in time_steps(steps, z.dtype):
        v_cond, v_uncond = field(z, t.expand(z.shape[0]).to(z.device))
        z = z + step_size * guided_velocity(v_cond, v_uncond, cfg_weight)
    return z


def initial_noise(seeds: Sequence[int], shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """One standard-normal latent per seed, each from its own CPU generator (float32, then cast), so an image's noise
    never depends on the batch it is generated in, nor on the device."""
    latents = [torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed)) for seed in seeds]
    return torch.stack(latents).to(device=device, dtype=dtype)
