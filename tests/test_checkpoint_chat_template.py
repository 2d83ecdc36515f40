"""`chat_template=checkpoint`: the Janus adapter renders with the chat template saved beside the checkpoint's processor
(as lmms-eval's chat models do); the default stays DeepSeek's template, with unchanged record keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from janus_eval.model_adapters.chat_template import hf_conversation
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint
from PIL import Image

from janus_eval.api import ChatMessage, ModelSpec, TextRequest
from janus_eval.errors import UserError

# the layout of the converted hub checkpoints' template, written for this test
TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|User|>: {% elif m['role'] == 'system' %}{{ m['content'][0]['text'] }}"
    "{% else %}<|Assistant|>: {% endif %}{% if m['role'] != 'system' %}{% for c in m['content'] %}{% if c['type'] == 'image' %}"
    "<image_placeholder>{{ '\\n' }}{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{ '\\n\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)


def _request(*content: str | Image.Image, system: str = "") -> TextRequest:
    messages = [ChatMessage("system", [system])] if system else []
    return TextRequest("t", "s0", 0, [*messages, ChatMessage("user", list(content))], max_new_tokens=3)


@pytest.fixture(scope="module")
def with_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "janus-tiny-template"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    (folder / "chat_template.jinja").write_text(TEMPLATE)
    return folder


def test_checkpoint_template_renders_the_messages_parts_in_order(with_template: Path) -> None:
    spec = ModelSpec("janus_hf", model_path=str(with_template), device="cpu", args={"chat_template": "checkpoint"})
    adapter = JanusHFAdapter.from_spec(spec)
    image = Image.new("RGB", (20, 12), "red")
    prompt = adapter.render_text_prompt(_request("Compare ", image, "and this.", system="Be brief."))
    assert prompt == "Be brief.\n\n<|User|>: Compare <image_placeholder>\nand this.\n\n<|Assistant|>:"
    (output,) = adapter.generate_text([_request(image, "Is it red?")])
    assert isinstance(output.text, str)
    assert adapter.identity()["chat_template"] == "checkpoint"
    # the protocol card does not claim DeepSeek's template
    assert adapter.prompt_template("text") == {
        "template": None, "chat_template": "checkpoint", "roles_chosen_by": "the checkpoint's chat template"
    }


def test_default_is_deepseeks_template_and_keeps_the_identity(with_template: Path) -> None:
    adapter = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(with_template), device="cpu"))
    image = Image.new("RGB", (8, 8), "blue")
    assert adapter.render_text_prompt(_request(image, "\nQ?")) == "User: <image_placeholder>\nQ?\n\nAssistant:"
    assert "chat_template" not in adapter.identity()
    assert adapter.prompt_template("text")["template"] == "User: {text}\n\nAssistant:"


def test_a_checkpoint_without_a_template_is_one_message() -> None:
    adapter = JanusHFAdapter.from_spec(ModelSpec("janus-tiny", device="cpu", args={"chat_template": "checkpoint"}))
    with pytest.raises(UserError, match="no chat template.*chat_template=deepseek"):
        adapter.render_text_prompt(_request("Q?"))
    with pytest.raises(UserError, match="chat_template='vicuna' is not valid"):
        JanusHFAdapter.from_spec(ModelSpec("janus-tiny", device="cpu", args={"chat_template": "vicuna"}))


def test_hf_conversation_types_every_part() -> None:
    image = Image.new("RGB", (4, 4))
    assert hf_conversation([ChatMessage("user", ["a", image, "b"])]) == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]}
    ]
