"""Loop guards that look only at the generated tokens.

transformers' `repetition_penalty` and `no_repeat_ngram_size` also count the prompt, so in a
grounded prompt they push the model away from the very words of its sources; these versions start
counting where generation starts.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor


class GeneratedNoRepeatNGram(LogitsProcessor):
    """Forbid repeating any n-gram of the generated text (not of the prompt)."""

    def __init__(self, ngram_size: int, prompt_length: int) -> None:
        self.n = ngram_size
        self.start = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            generated = input_ids[row, self.start :].tolist()
            if len(generated) < self.n:
                continue
            prefix = tuple(generated[-(self.n - 1) :]) if self.n > 1 else ()
            banned = [
                generated[i + self.n - 1]
                for i in range(len(generated) - self.n + 1)
                if tuple(generated[i : i + self.n - 1]) == prefix
            ]
            if banned:
                scores[row, banned] = -float("inf")
        return scores


class GeneratedRepetitionPenalty(LogitsProcessor):
    """The CTRL repetition penalty, applied to tokens already generated (not to the prompt)."""

    def __init__(self, penalty: float, prompt_length: int) -> None:
        self.penalty = penalty
        self.start = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.start :]
        if generated.shape[1] == 0:
            return scores
        picked = torch.gather(scores, 1, generated)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, generated, picked)
