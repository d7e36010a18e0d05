"""The running batch's KV cache: one preallocated buffer per layer that rows join and leave in place.

Row i of the batch owns slot i of every layer's buffer, (slots, kv heads, columns, head dim), and its
tokens fill that slot's first `lengths[i]` columns. A decode step writes each row's new keys and values
at its own column, and attention reads the first `width` columns of the first `rows` slots, with a
mask that hides each row's columns past its own length.

transformers' DynamicCache concatenates the new column onto the whole cache at every step, so a decode
step copies every row's keys and values once per layer: with 16 grounded rows that copy was two thirds
of the step (`bench/batching.py` prints the step's cost). Here a step writes one column per row, a row
joins by copying its own prefill into a free slot, and a row that leaves is replaced by the last slot,
so only growth (amortised: buffers grow by half again) copies the whole cache.

Columns a row does not use keep finite values (zeros, or an older row's keys), which the mask gives a
weight of exactly zero.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

_GROW = 1.5  # buffers grow by half again, so growth copies the cache O(log n) times
_ALIGN = 64  # columns are allocated in whole blocks


class SlotLayer(CacheLayerMixin):
    """One layer's keys and values for every slot; its cache says where this step writes."""

    def __init__(self, owner: SlotCache) -> None:
        super().__init__()
        self.owner = owner

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        raise RuntimeError("a SlotLayer is filled through SlotCache.add, not by a prefill")

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        o = self.owner
        if key_states.shape[2] != 1 or key_states.shape[0] != o.rows:
            raise RuntimeError("a SlotCache takes one new token per row and step")
        slots = o.slot_index[: o.rows]
        self.keys[slots, :, o.lengths] = key_states[:, :, 0]
        self.values[slots, :, o.lengths] = value_states[:, :, 0]
        return self.keys[: o.rows, :, : o.width], self.values[: o.rows, :, : o.width]

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.owner.width, 0

    def get_seq_length(self) -> int:
        return self.owner.width - 1

    def get_max_length(self) -> int:
        return -1


class SlotCache(Cache):
    """The KV cache of the rows decoding together (see the module's docstring)."""

    def __init__(self, layers: int) -> None:
        self.slot_layers = [SlotLayer(self) for _ in range(layers)]
        super().__init__(layers=self.slot_layers)
        self.rows = 0
        self.lengths = torch.zeros(0, dtype=torch.long)  # tokens each row has in the cache
        self.slot_index = torch.zeros(0, dtype=torch.long)
        self.width = 0  # columns attention reads this step: the longest row's, plus its new token

    # -- the batch's side ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def add(self, prefill: Cache) -> None:
        """A new row, last: the keys and values of its prompt, read alone (a cache of one row)."""
        theirs = list(prefill.layers)
        if len(theirs) != len(self.slot_layers):
            raise RuntimeError(f"a prefill of {len(theirs)} layers cannot join a cache of {len(self.slot_layers)}")
        length = int(theirs[0].keys.shape[2])
        self._reserve(theirs[0].keys, self.rows + 1, length)
        for mine, layer in zip(self.slot_layers, theirs, strict=True):
            mine.keys[self.rows, :, :length] = layer.keys[0]
            mine.values[self.rows, :, :length] = layer.values[0]
        device = self.slot_layers[0].keys.device
        self.lengths = torch.cat([self.lengths.to(device), torch.tensor([length], device=device)])
        self.rows += 1

    @torch.inference_mode()
    def begin_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Make room for one more token per row; return its position ids (rows, 1) and the attention mask
        (rows, 1, 1, width) of this step: True where a row has a token, its new one included."""
        self.width = int(self.lengths.max()) + 1
        self._reserve(self.slot_layers[0].keys, self.rows, self.width)
        columns = torch.arange(self.width, device=self.lengths.device)
        mask = columns[None, :] <= self.lengths[:, None]
        return self.lengths[:, None].clone(), mask[:, None, None, :]

    def end_step(self) -> None:
        self.lengths = self.lengths + 1

    @torch.inference_mode()
    def keep(self, kept: list[int]) -> list[int]:
        """Keep only the rows at `kept` (ascending): a kept row in a slot past the new row count moves into a
        freed slot below it. Returns the old index of the row now in each slot, in slot order."""
        rows, staying = len(kept), set(kept)
        order = list(range(rows))
        holes = [slot for slot in range(rows) if slot not in staying]
        movers = [old for old in kept if old >= rows]
        for hole, mover in zip(holes, movers, strict=True):
            self._move(mover, hole)
            order[hole] = mover
        self.lengths = self.lengths[torch.tensor(order, dtype=torch.long, device=self.lengths.device)]
        self.rows = rows
        return order

    # -- storage --------------------------------------------------------------------------------------------
    def _move(self, source: int, target: int) -> None:
        length = int(self.lengths[source])
        for layer in self.slot_layers:
            layer.keys[target, :, :length] = layer.keys[source, :, :length]
            layer.values[target, :, :length] = layer.values[source, :, :length]

    def _reserve(self, like: torch.Tensor, rows: int, columns: int) -> None:
        """Buffers of at least `rows` slots and `columns` columns (grown, contents kept)."""
        first = self.slot_layers[0]
        if first.keys is not None and first.keys.shape[0] >= rows and first.keys.shape[2] >= columns:
            return
        have_rows, have_columns = (0, 0) if first.keys is None else (first.keys.shape[0], first.keys.shape[2])
        new_rows = have_rows if rows <= have_rows else max(rows, 2 * have_rows)
        new_columns = have_columns if columns <= have_columns else max(columns, int(have_columns * _GROW))
        new_columns = -(-new_columns // _ALIGN) * _ALIGN
        for layer in self.slot_layers:
            shape = (new_rows, like.shape[1], new_columns, like.shape[3])
            keys = like.new_zeros(shape)
            values = like.new_zeros(shape)
            if layer.keys is not None:
                keys[:have_rows, :, :have_columns] = layer.keys
                values[:have_rows, :, :have_columns] = layer.values
            layer.keys, layer.values = keys, values
            layer.is_initialized = True
        self.slot_index = torch.arange(new_rows, device=like.device)
