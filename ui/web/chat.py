"""The Chat tab: streamed answers with their cited sources, stored conversations, prompt flows, feedback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gradio as gr

from assistant.services import ChatRequest, Services, TurnDone, User
from ui.web.common import answer_text, current_user, linked_markers, sources_html, user_errors

DOC_TYPES = ["", "annual_report", "kms_fact", "internal_comms", "marketing", "training", "bid", "itt",
             "case_study", "tone_guide"]
FLOW_BUTTONS = {"add_case_study": "Add case study", "rewrite_tone": "Rewrite in our tone of voice",
                "answer_tender_question": "Answer tender question"}


@dataclass
class ChatTab:
    conversation: gr.State  # the open conversation's id
    message_ids: gr.State  # the stored message id of each chatbot message (None for user turns)
    conversations: gr.Dropdown
    new_chat: gr.Button
    delete_chat: gr.Button
    engine: gr.Dropdown
    use_rag: gr.Checkbox
    doc_type: gr.Dropdown
    sector: gr.Dropdown
    flow_buttons: dict[str, gr.Button]
    chatbot: gr.Chatbot
    message: gr.Textbox
    send: gr.Button
    sources: gr.HTML
    feedback_comment: gr.Textbox
    feedback_status: gr.Markdown


def create_chat_tab(services: Services, blocks: gr.Blocks) -> ChatTab:
    """The tab, wired; on page load it offers the engines, sectors and conversations this user may use."""
    tab = _layout()
    _wire_turns(services, tab)
    _wire_conversations(services, tab)
    _wire_feedback(services, tab)

    @user_errors
    def on_load(request: gr.Request) -> tuple:
        user = current_user(services, request)
        return (gr.update(choices=services.chat.engine_names(user), value="base"),
                gr.update(choices=["", *services.documents.metadata_values(user, "sector")], value=""),
                gr.update(choices=_conversation_choices(services, user), value=None))

    blocks.load(on_load, None, [tab.engine, tab.sector, tab.conversations])
    return tab


def _layout() -> ChatTab:
    with gr.Tab("Chat", id="chat"), gr.Row():
        with gr.Column(scale=1, min_width=240):
            conversations = gr.Dropdown(label="Conversations", choices=[], interactive=True, elem_id="conversations")
            with gr.Row():
                new_chat = gr.Button("New chat", size="sm")
                delete_chat = gr.Button("Delete", size="sm", variant="stop")
            engine = gr.Dropdown(label="Engine", choices=["base"], value="base", interactive=True)
            use_rag = gr.Checkbox(label="Use the documents (RAG)", value=True)
            doc_type = gr.Dropdown(label="Document type", choices=DOC_TYPES, value="", allow_custom_value=True)
            sector = gr.Dropdown(label="Sector", choices=[""], value="", allow_custom_value=True)
            gr.Markdown("**Prompt flows** (use the text in the message box)")
            flow_buttons = {name: gr.Button(label, size="sm") for name, label in FLOW_BUTTONS.items()}
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Assistant", height=460, elem_id="chatbot")
            with gr.Row():
                message = gr.Textbox(placeholder="Ask about the company's documents…", show_label=False, scale=5,
                                     elem_id="message", max_lines=8)
                send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
            sources = gr.HTML(elem_id="sources")
            feedback_comment = gr.Textbox(label="Comment for your next thumbs up or down (optional)", max_lines=2)
            feedback_status = gr.Markdown()
    return ChatTab(gr.State(None), gr.State([]), conversations, new_chat, delete_chat, engine, use_rag, doc_type,
                   sector, flow_buttons, chatbot, message, send, sources, feedback_comment, feedback_status)


def _wire_turns(services: Services, tab: ChatTab) -> None:
    @user_errors
    def on_send(text: str, history: list, conv: int | None, ids: list, engine: str, rag: bool, doc_type: str,
                sector: str, request: gr.Request) -> Iterator[tuple]:
        user = current_user(services, request)
        request_ = ChatRequest(text, engine or "base", rag, where={"doc_type": doc_type, "sector": sector})
        turn = services.chat.turn(user, request_, conv)  # refused here, before the question is shown as sent
        history = [*history, {"role": "user", "content": text}, {"role": "assistant", "content": ""}]
        ids = [*ids, None, None]
        yield history, "", conv, ids, "", gr.update()
        for piece in turn:
            if isinstance(piece, TurnDone):
                cited = piece.answer.sources_json()  # each source with the number the answer cites it by
                history[-1] = {"role": "assistant", "content": answer_text(piece.answer.answer, cited)}
                ids[-1], conv = piece.message_id, piece.conversation_id
                choices = _conversation_choices(services, user)
                yield history, "", conv, ids, sources_html(cited), gr.update(choices=choices, value=conv)
            else:
                history[-1]["content"] += piece
                yield history, "", conv, ids, "", gr.update()

    inputs = [tab.message, tab.chatbot, tab.conversation, tab.message_ids, tab.engine, tab.use_rag, tab.doc_type,
              tab.sector]
    outputs = [tab.chatbot, tab.message, tab.conversation, tab.message_ids, tab.sources, tab.conversations]
    tab.send.click(on_send, inputs, outputs, api_name="chat")
    tab.message.submit(on_send, inputs, outputs, api_name=False)

    def on_flow(name: str) -> Callable[..., tuple]:
        @user_errors
        def run(text: str, history: list, engine: str, request: gr.Request) -> tuple:
            result = services.chat.run_flow(current_user(services, request), name, text, None, engine or "base")
            cited = [s.to_json() for s in result.sources]
            history = [*history, {"role": "user", "content": f"{FLOW_BUTTONS[name]}: {text}"},
                       {"role": "assistant", "content": linked_markers(result.text, cited)}]
            return history, "", sources_html(cited)

        return run

    for name, button in tab.flow_buttons.items():
        button.click(on_flow(name), [tab.message, tab.chatbot, tab.engine], [tab.chatbot, tab.message, tab.sources],
                     api_name=False)


def _wire_conversations(services: Services, tab: ChatTab) -> None:
    cleared = [tab.chatbot, tab.conversation, tab.message_ids, tab.sources, tab.conversations]

    @user_errors
    def on_open(conv: int | None, request: gr.Request) -> tuple:
        user = current_user(services, request)
        if conv is None:
            return [], None, [], ""
        rows = services.chat.messages(user, int(conv))
        history = [{"role": r["role"], "content": answer_text(r["content"], r["sources"] or [])
                    if r["role"] == "assistant" else r["content"]} for r in rows]
        ids = [r["id"] if r["role"] == "assistant" else None for r in rows]
        last = next((r for r in reversed(rows) if r["role"] == "assistant"), None)
        return history, int(conv), ids, sources_html((last or {}).get("sources") or [])

    tab.conversations.input(on_open, [tab.conversations], cleared[:4])
    tab.new_chat.click(lambda: ([], None, [], "", gr.update(value=None)), None, cleared)

    @user_errors
    def on_delete(conv: int | None, request: gr.Request) -> tuple:
        user = current_user(services, request)
        if conv is not None:
            services.chat.delete_conversation(user, int(conv))
        return [], None, [], "", gr.update(choices=_conversation_choices(services, user), value=None)

    tab.delete_chat.click(on_delete, [tab.conversation], cleared)


def _wire_feedback(services: Services, tab: ChatTab) -> None:
    @user_errors
    def on_like(ids: list, comment: str, data: gr.LikeData, request: gr.Request) -> tuple[str, str]:
        user = current_user(services, request)
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        message_id = ids[index] if 0 <= index < len(ids) else None
        if message_id is None:
            return "Feedback is kept for the assistant's answers only.", comment
        rating = 1 if data.liked is True or data.liked == "Like" else -1
        services.chat.feedback(user, int(message_id), rating, comment or "")
        return f"Thanks: your {'👍' if rating > 0 else '👎'} was saved for the evaluators.", ""

    tab.chatbot.like(on_like, [tab.message_ids, tab.feedback_comment], [tab.feedback_status, tab.feedback_comment])


def _conversation_choices(services: Services, user: User) -> list[tuple[str, int]]:
    return [(f"{c['title']} ({str(c['updated'])[:16]})", c["id"]) for c in services.chat.conversations(user)]
