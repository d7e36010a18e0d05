"""Prompt flows: named, versioned prompt chains defined as YAML data in `definitions/`.

    flows = load_flows()
    result = run_flow(get_flow(flows, "rewrite_tone"), text, params=None, retrieve=..., engine=...)

The web UI shows each flow as a button (`Flow.title`) and the CLI runs them by name; both call
`run_flow` with the services' retrieval and engines injected.
"""

from assistant.flows.loader import DEFINITIONS, get_flow, load_flow_file, load_flows
from assistant.flows.model import Flow, FlowError, FlowInput, LLMStep, RetrieveStep, Step
from assistant.flows.runner import FlowResult, StepTrace, run_flow

__all__ = [
    "DEFINITIONS", "Flow", "FlowError", "FlowInput", "FlowResult", "LLMStep", "RetrieveStep", "Step", "StepTrace",
    "get_flow", "load_flow_file", "load_flows", "run_flow",
]
