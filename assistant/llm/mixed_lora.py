"""Rows of one batch on different LoRA engines in one forward pass, every loaded adapter stacked once.

PEFT's mixed batches (`adapter_names`) add a hook to every LoRA layer for each call, and in each layer loop
over the adapters present with an index-select and an index-add each. Here each LoRA layer's adapters are
stacked once: one down-projection A holding every adapter's rows (ranks concatenated) and one
up-projection B holding its columns with the adapter's scaling folded in. A forward pass then adds to the
base layer's output, in every LoRA layer:

  rows on one adapter (every prefill, and a batch on one engine):  (x · A_a^T) · B_a, that adapter's slice;
  rows on several:  ((x · A^T) * mask) · B, where the mask (rows x total rank, built once per pass) keeps
                    each row's own adapter's columns and zeroes the others;
  rows on the base alone:  nothing.

A row's columns give exactly its adapter's delta (x · A_a^T · B_a · scaling) and the zeroed columns add
nothing, so each row gets what PEFT's active adapter gives it alone, up to float rounding. The PEFT model's
own adapter layers are switched off for the pass (they compute the base layer only) and switched back by
whoever needs them (EngineManager.activate sets its adapters every time).

Only plain LoRA on linear layers is stacked: an adapter with DoRA or another variant, a LoRA bias, a
LoRA layer of another kind (embedding, convolution) or merged weights leaves `build` returning None, and
the batch passes PEFT's `adapter_names` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

BASE = "__base__"


class MixedLoRA:
    """The stacked adapters of one PeftModel, and the forward hooks that apply them to a pass's rows."""

    def __init__(self, peft: Any, layers: list[Any], names: list[str], ranks: dict[str, int]) -> None:
        import torch

        self.peft = peft
        starts, total = {}, 0
        for name in names:
            starts[name] = total
            total += ranks[name]
        self.columns = {name: slice(starts[name], starts[name] + ranks[name]) for name in names}
        self.width = total
        self.stacks: list[tuple[Any, Any]] = []
        for layer in layers:
            weight = layer.get_base_layer().weight
            a = torch.zeros((total, layer.in_features), dtype=weight.dtype, device=weight.device)
            b = torch.zeros((total, layer.out_features), dtype=weight.dtype, device=weight.device)
            for name in names:
                if name in layer.lora_A:
                    r = layer.r[name]
                    start = starts[name]
                    a[start : start + r] = layer.lora_A[name].weight.detach()
                    b[start : start + r] = (layer.lora_B[name].weight.detach() * layer.scaling[name]).T
            self.stacks.append((a, b))
        self._layers = layers
        self._table = {name: torch.zeros(total, dtype=torch.bool, device=weight.device) for name in [BASE, *names]}
        for name in names:
            self._table[name][self.columns[name]] = True
        self._rows: Any = None  # during a pass: one adapter's slice, or the rows x width mask
        self._handles = [layer.register_forward_hook(partial(self._add, i)) for i, layer in enumerate(layers)]

    @classmethod
    def build(cls, peft: Any) -> MixedLoRA | None:
        """Stack `peft`'s adapters, or None when one of them is not plain LoRA on linear layers."""
        from peft.tuners.lora import Linear as LoraLinear
        from peft.tuners.tuners_utils import BaseTunerLayer

        names = list(peft.peft_config)
        layers = [m for m in peft.modules() if isinstance(m, BaseTunerLayer)]
        ranks: dict[str, int] = dict.fromkeys(names, 0)
        for layer in layers:
            if type(layer) is not LoraLinear or layer.merged or getattr(layer, "lora_variant", {}):
                return None
            if any(getattr(layer, "lora_bias", {}).values()) or any(layer.use_dora.values()):
                return None
            for name in layer.lora_A:
                if name not in ranks:
                    return None
                ranks[name] = max(ranks[name], int(layer.r[name]))
        return cls(peft, layers, [n for n in names if ranks[n]], ranks)

    def close(self) -> None:
        """Take the hooks off the model (before stacking its adapters anew)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def stacks_of(self, names: list[str]) -> bool:
        """Whether every name is one this stack can apply (an adapter it holds, or the base)."""
        return all(name in self._table for name in names)

    @contextmanager
    def rows(self, names: list[str]) -> Iterator[None]:
        """Run the PeftModel's next forward pass with row i on adapter names[i] ("__base__": none)."""
        if any(not layer.disable_adapters for layer in self._layers[:1]):
            self.peft.base_model.disable_adapter_layers()
        present = set(names) - {BASE}
        if not present:
            rows = None
        elif len(present) == 1 and BASE not in names:
            rows = self.columns[present.pop()]
        else:
            import torch

            rows = torch.stack([self._table[name] for name in names])[:, None, :]
        self._rows = rows
        try:
            yield
        finally:
            self._rows = None

    def _add(self, index: int, layer: Any, args: tuple, output: Any) -> Any:
        rows = self._rows
        if rows is None:
            return None
        a, b = self.stacks[index]
        x = args[0]
        if isinstance(rows, slice):
            down = x @ a[rows].T
            b = b[rows]
        else:
            down = (x @ a.T) * rows
        flat = output.view(-1, output.shape[-1])
        flat.addmm_(down.reshape(-1, down.shape[-1]).to(flat.dtype), b)
        return output


def adapters_key(peft: Any) -> tuple:
    """What identifies the adapters loaded in `peft` now: their names and configs (loading a name anew, or
    combining adapters, makes a new config)."""
    return tuple((name, id(config)) for name, config in peft.peft_config.items())
