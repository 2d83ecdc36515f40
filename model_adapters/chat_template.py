"""Prompt rendering for Janus: the "deepseek" conversation template of DeepSeek's Janus repository.

Reproduces `janus/utils/conversation.py` (sep_style DeepSeek, sep "\\n\\n", sep2 = EOS) as driven by
`VLChatProcessor.apply_sft_template_for_multi_turn_prompts`, which is what VLMEvalKit's Janus
adapter (the public recipe behind the papers' understanding numbers) and DeepSeek's image
generation scripts use.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from janus_eval.api import ChatMessage

PLAIN_ROLES = ("User", "Assistant")
SPECIAL_ROLES = ("<|User|>", "<|Assistant|>")
ROLE_SETS: dict[str, tuple[str, str]] = {"plain": PLAIN_ROLES, "special": SPECIAL_ROLES}
# how an understanding prompt is rendered: DeepSeek's template (below) or the checkpoint's saved chat template
CHAT_TEMPLATES = ("deepseek", "checkpoint")

# The roles of each model's own text-to-image code, by reference key: Janus-1.3B's
# generation_inference.py and JanusFlow's README/demo use "User"/"Assistant"; Janus-Pro's README
# snippet and demo/app_januspro.py use "<|User|>"/"<|Assistant|>" (deepseek-ai/Janus 1daa72f).
GENERATION_ROLES_BY_MODEL: dict[str, str] = {
    "janus-1.3b": "plain",
    "janusflow-1.3b": "plain",
    "janus-pro-1b": "special",
    "janus-pro-7b": "special",
}
# A checkpoint published as none of them: Janus-Pro's roles, which the converted hub templates use.
DEFAULT_GENERATION_ROLES = "special"

IMAGE_TOKEN = "<image_placeholder>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
TURN_SEPARATOR = "\n\n"


def render_content(content: Sequence[str | Image.Image], image_token: str = IMAGE_TOKEN) -> str:
    """One turn's text: pieces concatenated as-is, each image replaced by one image token in place."""
    return "".join(image_token if isinstance(part, Image.Image) else part for part in content)


def render_chat(
    messages: Sequence[ChatMessage],
    roles: tuple[str, str] = PLAIN_ROLES,
    *,
    image_token: str = IMAGE_TOKEN,
    eos_token: str = EOS_TOKEN,
) -> str:
    """Renders a conversation for understanding, ending with the assistant's empty turn.

    An optional leading system message becomes `system + "\\n\\n"` (nothing when empty); each
    turn is `"{role}: {content.strip()}"` followed by "\\n\\n" after a user turn and EOS after an
    earlier assistant turn; the prompt ends with `"{assistant_role}:"`.

    Raises:
        ValueError: a system message not in first position, an image in a system message, or a
            conversation that does not end with a user turn.
    """
    user_role, assistant_role = roles
    system = ""
    turns: list[tuple[str, str]] = []
    for position, message in enumerate(messages):
        if message.role == "system":
            if position != 0:
                raise ValueError("a system message is only allowed as the first message")
            if message.images:
                raise ValueError("a system message cannot contain images")
            system = render_content(message.content)
            continue
        role = user_role if message.role == "user" else assistant_role
        # apply_sft_template_for_multi_turn_prompts strips every message before templating.
        turns.append((role, render_content(message.content, image_token).strip()))
    if not turns or messages[-1].role != "user":
        raise ValueError("a Janus prompt must end with a user message")
    turns.append((assistant_role, ""))

    prompt = system + TURN_SEPARATOR if system else ""
    for role, text in turns:
        if not text:
            # Official behaviour: an empty message renders as "{role}:" with no separator.
            prompt += f"{role}:"
        else:
            prompt += f"{role}: {text}" + (TURN_SEPARATOR if role == user_role else eos_token)
    # apply_sft_template_for_multi_turn_prompts strips the whole rendered prompt as well.
    return prompt.strip()


def default_generation_roles(reference_key: str | None) -> tuple[str, str]:
    """(role set name, why) of the generation prompt for a model published as `reference_key`."""
    if reference_key in GENERATION_ROLES_BY_MODEL:
        return GENERATION_ROLES_BY_MODEL[reference_key], f"the default of {reference_key} (its own generation code)"
    return DEFAULT_GENERATION_ROLES, "the default of a model with no reference key (Janus-Pro's roles)"


def render_generation_prompt(prompt: str, roles: tuple[str, str] = SPECIAL_ROLES) -> str:
    """The text-to-image prompt of DeepSeek's generation scripts, without the begin-of-image tag.

    `generation_inference.py` renders `[{User: prompt}, {Assistant: ""}]` with an empty system
    prompt and then appends `<begin_of_image>`; JanusProcessor's image mode appends that tag.
    """
    user = ChatMessage("user", [prompt])
    return render_chat([user], roles)


def hf_conversation(messages: Sequence[ChatMessage]) -> list[dict[str, object]]:
    """The messages in transformers' chat-template form: typed text and image parts, in order.

    Images become `{"type": "image"}` (the template writes the placeholder; the pixels go to the processor).
    """
    return [
        {
            "role": message.role,
            "content": [
                {"type": "image"} if isinstance(part, Image.Image) else {"type": "text", "text": part}
                for part in message.content
            ],
        }
        for message in messages
    ]
