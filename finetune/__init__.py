"""finetune: training data from the index (SFT, DPO), TRL training with LoRA, merged export.

The package knows nothing of chat, the UI or the services layer: retrieval and engine generation
come in as callables, chunks as plain records. `assistant.training` wires it to the services.
"""

from finetune.errors import DataError, FinetuneError, RecipeError, TrainingError

__all__ = ["DataError", "FinetuneError", "RecipeError", "TrainingError"]
