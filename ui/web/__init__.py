"""The Gradio app: chat for everyone, documents, engines and users for admins, reports for evaluators and
admins, a jobs panel for all. One module per tab (`ui.web.<tab>`), composed in `ui.web.interface`."""

from ui.web.common import CSS
from ui.web.interface import build_blocks

__all__ = ["CSS", "build_blocks"]
