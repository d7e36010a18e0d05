"""A CPU LM head for TRL's trainers: only the trained positions go through the head, as one bf16 matmul.

TRL 1.x patches the model with a fused head (`trl.trainer.utils.add_fused_lm_head`) that computes the
per-token log-probabilities in vocabulary tiles. On CUDA a Triton kernel does it for the labelled positions
only. Elsewhere it falls back to torch ops that score *every* position (the prompt too, which assistant-only
loss then throws away) and accumulate the backward GEMMs in fp32. On a CPU that head took 41 % of an SFT
step of SmolLM2-135M on RAG-shaped rows (torch profiler: 0.93 s of 2.3 s a row). Here the same outputs come
from the labelled positions alone: one matmul in the autocast dtype, the softmax statistics in fp32. A CPU
has the memory for those logits; batches whose logits would not fit a budget, and models whose logits are
scaled or soft-capped, keep TRL's head."""

from __future__ import annotations

import functools
import types
from typing import Any

# Elements of the [labelled tokens, vocabulary] fp32 logits above which TRL's tiled head is used (1 GiB)
MAX_LOGIT_ELEMENTS = 2**28
_SCALED_LOGITS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                  "logits_scaling")


def supports_lean_head(model: Any) -> bool:
    """A causal LM whose logits are the plain head projection (no scaling, no soft cap)."""
    config = model.config.get_text_config()
    return model.get_output_embeddings() is not None and all(
        getattr(config, name, None) is None for name in _SCALED_LOGITS
    )


def add_lean_lm_head(model: Any) -> bool:
    """Wrap `model.forward` (already patched by TRL's trainer) so that `fused_lm_head=True` calls on a CPU
    compute TRL's `FusedCausalLMOutput` from the labelled positions only. Returns whether it was added."""
    if not supports_lean_head(model):
        return False
    fused_forward = model.forward

    @functools.wraps(type(model).forward)  # as TRL does: `generate` checks its kwargs against this signature
    def forward(self: Any, *args: Any, fused_lm_head: bool = False, labels: Any = None, shift_labels: Any = None,
                num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        mask = None if labels is None else labels[:, 1:] != -100
        lean = (
            fused_lm_head and shift_labels is None and mask is not None and labels.device.type == "cpu"
            and not kwargs.get("output_router_logits")
            and int(mask.sum()) * self.get_output_embeddings().weight.shape[0] <= MAX_LOGIT_ELEMENTS
        )
        if not lean:
            return fused_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                                 num_items_in_batch=num_items_in_batch, **kwargs)
        kwargs["use_cache"] = False
        if is_right_padding(kwargs.get("attention_mask")):
            # Causal attention never looks right, so a right-padded row's real tokens do not see the padding:
            # without the mask the attention runs as plain causal (half the work of a masked one on a CPU,
            # and the preference trainer's chosen/rejected batches are always right-padded).
            kwargs["attention_mask"] = None
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        return lean_outputs(self.get_output_embeddings(), hidden, labels[:, 1:], mask, num_items_in_batch)

    model.forward = types.MethodType(forward, model)
    return True


def is_right_padding(attention_mask: Any) -> bool:
    """Every row is ones then zeros (or no mask at all)."""
    if attention_mask is None or attention_mask.dim() != 2:
        return attention_mask is None
    import torch

    lengths = attention_mask.sum(dim=1, keepdim=True)
    prefix = torch.arange(attention_mask.shape[1], device=attention_mask.device)[None, :] < lengths
    return bool(torch.equal(attention_mask.bool(), prefix))


def lean_outputs(lm_head: Any, hidden: Any, labels: Any, mask: Any, num_items_in_batch: Any = None) -> Any:
    """TRL's fused-head outputs for next-token `labels` (already shifted) at the positions in `mask`."""
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    targets = labels[mask]
    logits = lm_head(hidden[mask]).float()  # [labelled tokens, vocabulary]
    log_z = torch.logsumexp(logits, dim=-1)
    log_probs = logits.gather(-1, targets[:, None])[:, 0] - log_z
    with torch.no_grad():
        z, lz = logits.detach(), log_z.detach()
        probs = torch.exp(z - lz[:, None])
        entropy = lz - (probs * z).sum(-1)
        log_sum_sq_probs = torch.log((probs * probs).sum(-1))
        mean_logits = z.mean(-1)
        # the target is the first maximum, as argmax counts it
        is_top1 = z.argmax(-1) == targets
    n = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch

    def spread(values: Any) -> Any:
        # masked_scatter keeps an all-ignored micro-batch connected to the graph (a differentiable zero)
        return values.new_zeros(mask.shape).masked_scatter(mask, values)

    spread_log_probs = spread(log_probs)
    return FusedCausalLMOutput(
        loss=-spread_log_probs.sum() / n, log_probs=spread_log_probs, entropy=spread(entropy),
        log_sum_sq_probs=spread(log_sum_sq_probs), mean_logits=spread(mean_logits), is_top1=spread(is_top1),
        label_mask=mask,
    )
