"""The enterprise assistant: settings, engines, the chat pipeline and the command line.

Importing it makes the process offline for model hubs: every model comes from a local folder or a
package, and an accidental hub call must fail at once instead of hanging.
"""

import os

for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    # OpenMP threads that spin while waiting starve the thread doing the work when cores are shared
    # (a loader thread, a second request): greedy generation ran 5-8x slower on 2 busy cores. Passive
    # waiting cost nothing measurable. Only effective before torch loads; a user's setting wins.
    "OMP_WAIT_POLICY": "PASSIVE",
}.items():
    os.environ.setdefault(_name, _value)
