"""JanusFlow's network as torch modules: transformers' Llama and SigLIP, diffusers' time embedding, and the
rectified-flow encoder/decoder written here from the paper (arXiv 2411.07975 §3) and DeepSeek's `uvit.py`.

Generation (paper §3.2): a noisy SDXL-VAE latent and its time step go through the generation encoder (a strided
convolution and ConvNeXt blocks conditioned on the time embedding); its feature map, flattened row by row and
projected to the LLM width, follows the prompt and the time-embedding token in the LLM; the LLM's last positions,
normalised and projected back, go with the encoder's features (a skip) through the generation decoder, whose
pixel-shuffle upsampling returns a velocity of the latent's shape. Understanding: SigLIP features projected to the
LLM width take the image-token positions, a learned embedding the begin-of-image position.

Parameter names below the top level follow DeepSeek's modules, so its weights load with a short prefix table
(`janusflow_weights`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from janus_eval.model_adapters.janusflow_config import FlowDecoderSpec, FlowEncoderSpec, JanusFlowArchitecture
from torch import nn

if TYPE_CHECKING:
    from transformers import JanusVisionConfig

GRN_EPS = 1e-6  # ConvNeXt-V2's global response normalisation
FFN_FACTOR = 4  # ConvNeXt blocks widen 4x (uvit.py res_ffn_factor)
DEPTHWISE_KERNEL = 7
UNPATCH = 2  # each decoder upsampling is a 2x pixel shuffle


def _rms_norm(width: int, eps: float) -> nn.Module:
    """Llama's RMSNorm (float32 statistics, weight applied in the input dtype), which DeepSeek's uvit.py imports."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    return LlamaRMSNorm(width, eps=eps)


def _on_channels(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A last-axis norm applied to the channels of an NCHW map."""
    return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2's GRN on NHWC maps: each channel rescaled by its spatial L2 norm over the channels' mean norm."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, 1, width))
        self.bias = nn.Parameter(torch.zeros(1, 1, 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        relative = spatial / (spatial.mean(dim=-1, keepdim=True) + GRN_EPS)
        return torch.addcmul(self.bias, self.weight * relative + 1, x)


class ConditionedConvNeXt(nn.Module):
    """A ConvNeXt-V2 block (depthwise 7x7, RMSNorm, 4x MLP with GRN, residual), then an affine modulation of
    its output by the time embedding: `x * (1 + scale) + shift`."""

    def __init__(self, width: int, cond_width: int, eps: float, bias: bool) -> None:
        super().__init__()
        inner = width * FFN_FACTOR
        self.depthwise = nn.Conv2d(width, width, DEPTHWISE_KERNEL, padding=DEPTHWISE_KERNEL // 2, groups=width, bias=bias)
        self.norm = _rms_norm(width, eps)
        self.channelwise_linear_1 = nn.Linear(width, inner, bias=bias)
        self.channelwise_norm = GlobalResponseNorm(inner)
        self.channelwise_linear_2 = nn.Linear(inner, width, bias=bias)
        self.cond_embeds_mapper = nn.Linear(cond_width, 2 * width, bias=bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        hidden = self.depthwise(x).permute(0, 2, 3, 1)
        hidden = self.channelwise_linear_1(self.norm(hidden))
        hidden = self.channelwise_linear_2(self.channelwise_norm(F.gelu(hidden)))
        x = x + hidden.permute(0, 3, 1, 2)
        scale, shift = self.cond_embeds_mapper(F.silu(cond)).chunk(2, dim=1)
        return torch.addcmul(shift[:, :, None, None], x, (1 + scale)[:, :, None, None])


class ConvNeXtStack(nn.Module):
    """The mid block of the encoder and the decoder: ConvNeXt blocks at one resolution, all time-conditioned."""

    def __init__(self, width: int, depth: int, cond_width: int, eps: float, bias: bool) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(ConditionedConvNeXt(width, cond_width, eps, bias) for _ in range(depth))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        for block in self.res_blocks:
            x = block(x, cond)
        return x


class FlowEncoder(nn.Module):
    """Noisy latent and time step -> feature map (the LLM's image tokens, and the decoder's skip) and the time
    embedding (the LLM's time token, and every ConvNeXt block's condition)."""

    def __init__(self, spec: FlowEncoderSpec) -> None:
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        super().__init__()
        self.time_proj = Timesteps(spec.channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(spec.channels, spec.hidden_size, sample_proj_bias=spec.use_bias)
        self.in_conv = nn.Conv2d(spec.input_channels, spec.channels, spec.kernel_size, spec.stride, spec.padding)
        self.mid_block = (
            ConvNeXtStack(spec.channels, spec.layers_in_middle, spec.hidden_size, spec.norm_eps, spec.use_bias)
            if spec.use_mid_block
            else None
        )

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The sinusoid is computed in float32 from the time step and cast to the latents' dtype (uvit.py).
        t_emb = self.time_embed(self.time_proj(timesteps.flatten()).to(latents.dtype))
        features = self.in_conv(latents)
        if self.mid_block is not None:
            features = self.mid_block(features, t_emb)
        return features, t_emb


class Unpatchify(nn.Module):
    """RMSNorm over channels, a 1x1 convolution to `out * 4` channels, a 2x pixel shuffle."""

    def __init__(self, in_width: int, out_width: int, eps: float, bias: bool) -> None:
        super().__init__()
        self.norm = _rms_norm(in_width, eps)
        self.unpatch_conv = nn.Conv2d(in_width, out_width * UNPATCH * UNPATCH, kernel_size=1, bias=bias)
        self.shuffle = nn.PixelShuffle(UNPATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.unpatch_conv(_on_channels(self.norm, x)))


class FlowDecoder(nn.Module):
    """LLM features and the encoder's skip -> velocity: normalised features concatenated with the skip, a ConvNeXt
    mid block, then `upsamples` unpatchify steps (the last one to the latent's channels)."""

    def __init__(self, spec: FlowDecoderSpec) -> None:
        super().__init__()
        joined = spec.in_channels + spec.channels
        self.input_norm = _rms_norm(spec.in_channels, spec.norm_eps)
        self.mid_block = (
            ConvNeXtStack(joined, spec.layers_in_middle, spec.hidden_size, spec.norm_eps, spec.use_bias)
            if spec.use_mid_block
            else None
        )
        widths = [joined] + [spec.channels] * (spec.upsamples - 1) + [spec.out_channels]
        self.out_convs = nn.ModuleList(
            Unpatchify(widths[rank], widths[rank + 1], spec.norm_eps, spec.use_bias) for rank in range(spec.upsamples)
        )

    def forward(self, features: torch.Tensor, skip: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        x = torch.cat([_on_channels(self.input_norm, features), skip], dim=1)
        if self.mid_block is not None:
            x = self.mid_block(x, t_emb)
        for out_conv in self.out_convs:
            x = out_conv(x)
        return x


def vision_config(arch: JanusFlowArchitecture) -> JanusVisionConfig:
    """transformers' SigLIP-style Janus vision tower for the understanding encoder's sizes."""
    from transformers import JanusVisionConfig

    return JanusVisionConfig(**arch.vision.vision_config_args(), projection_dim=arch.text_hidden)


class JanusFlowModel(nn.Module):
    """The whole JanusFlow: LLM, understanding tower and aligner, and the flow encoder/decoder with their aligners."""

    def __init__(self, arch: JanusFlowArchitecture, attn_implementation: str | None = None) -> None:
        from transformers import JanusVisionModel, LlamaForCausalLM

        super().__init__()
        self.arch = arch
        hidden = arch.text_hidden
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        self.language_model = LlamaForCausalLM._from_config(arch.text_config(), **kwargs)
        self.vision_tower = JanusVisionModel._from_config(vision_config(arch), **kwargs)
        self.und_aligner = nn.Linear(arch.vision.width, hidden)
        self.und_begin_embedding = nn.Parameter(torch.zeros(1, hidden))
        self.gen_encoder = FlowEncoder(arch.encoder)
        self.gen_enc_aligner = nn.Linear(arch.encoder.channels, hidden)
        self.gen_dec_aligner_norm = _rms_norm(hidden, arch.rms_norm_eps)
        self.gen_dec_aligner = nn.Linear(hidden, arch.decoder.in_channels)
        self.gen_decoder = FlowDecoder(arch.decoder)

    @property
    def dtype(self) -> torch.dtype:
        return self.und_begin_embedding.dtype

    # ------------------------------------------------------------------ understanding

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(images, num_image_tokens, hidden): SigLIP's last hidden states through the understanding aligner."""
        return self.und_aligner(self.vision_tower(pixel_values.to(self.dtype)).last_hidden_state)

    def understanding_embeddings(
        self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None, image_token_id: int, begin_token_id: int
    ) -> torch.Tensor:
        """Token embeddings with each image's features at its image-token positions and the learned begin-of-image
        embedding at each begin-of-image position (DeepSeek's `prepare_inputs_embeds`)."""
        embeddings = self.language_model.get_input_embeddings()(input_ids)
        embeddings[input_ids == begin_token_id] = self.und_begin_embedding[0].to(embeddings.dtype)
        if pixel_values is not None and len(pixel_values):
            features = self.image_features(pixel_values)
            embeddings[input_ids == image_token_id] = features.reshape(-1, features.shape[-1]).to(embeddings.dtype)
        return embeddings

    # ------------------------------------------------------------------ generation

    def encode_latents(self, latents: torch.Tensor, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(LLM image tokens (B, grid², hidden), time token (B, hidden), decoder skip) of noisy latents at `timesteps`."""
        features, t_emb = self.gen_encoder(latents, timesteps)
        tokens = self.gen_enc_aligner(features.flatten(2).transpose(1, 2))
        return tokens, t_emb, features

    def decode_velocity(self, hidden: torch.Tensor, skip: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """The velocity (B, C, H, W) from the LLM's hidden states at the image-token positions (B, grid², hidden)."""
        side = skip.shape[-1]
        features = self.gen_dec_aligner(self.gen_dec_aligner_norm(hidden))
        features = features.reshape(features.shape[0], side, side, -1).permute(0, 3, 1, 2)
        return self.gen_decoder(features, skip, t_emb)
