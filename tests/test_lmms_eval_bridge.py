"""`--model janus` in lmms-eval: its evaluator (in this process, batched) and its CLI (two torchrun processes, batch
size 1) run its own MME and POPE task definitions over local parquet through our adapter with the same answers; our harness
renders the same requests; both harnesses score the same outputs alike (lmms-eval's logged samples read by our
`predictions` adapter, ours replayed in lmms-eval).

lmms-eval is installed with `--no-deps` by the README's test command; without it these tests skip, except in CI where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

import pytest

if importlib.util.find_spec("lmms_eval") is None:
    if os.environ.get("CI"):
        raise RuntimeError("lmms-eval is not installed: the README's test command installs it with pip install --no-deps")
    pytest.skip("lmms-eval is not installed (pip install --no-deps 'lmms-eval>=0.7.3,<0.8')", allow_module_level=True)

from janus_eval.model_adapters import lmms_eval_bridge as bridge  # noqa: E402
from PIL import Image  # noqa: E402

from janus_eval.api import ChatMessage  # noqa: E402
from janus_eval.errors import UserError  # noqa: E402
from tests.helpers import read_json, read_jsonl, run_cli  # noqa: E402
from tests.lmms_eval_local import write_local_tasks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# answers that tell the two yes/no rules of each benchmark apart (exact match, prefix rule, "other")
ANSWERS = ("Yes", "no", "Yes.", "No, there is not.", "y", "N", "yes and no", "Not sure", "maybe", " YES ", "nope", "Yes, there is.")
OUR_LMMS_OPTIONS = [
    "--task-option", "mme.prompt=lmms_eval", "--task-option", "mme.extraction=lmms_eval",
    "--task-option", "mme.max_new_tokens=16",
    "--task-option", "pope.prompt=lmms_eval", "--task-option", "pope.extraction=lmms_eval",
    "--task-option", "pope.max_new_tokens=128", "--task-option", "pope.split=all",
]  # fmt: skip
LOCAL_TASKS = ["mme_local", "pope_local"]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Local MME/POPE tasks, one lean TaskManager over them, one torch thread (a tiny model on a shared 2-core
    machine decodes several times faster without thread hand-offs; restored afterwards), and lmms-eval's CLI under
    torchrun started at once in the background, so that its two processes start up while this one evaluates."""
    import torch
    from lmms_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("lmms")
    data, include = write_local_tasks(root)
    cli = start_torchrun_cli(root, include)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # include_defaults=False: only our two YAMLs are indexed (they include lmms-eval's own by path)
        manager = TaskManager("ERROR", include_path=str(include), include_defaults=False)
        yield {"root": root, "data": data, "include": include, "manager": manager, "cli": cli}
    finally:
        torch.set_num_threads(threads)
        if cli["process"].poll() is None:
            cli["process"].terminate()
            cli["process"].wait(timeout=60)


def start_torchrun_cli(root: Path, include: Path) -> dict[str, Any]:
    """`lmms-eval --model janus` at batch size 1 through the simple interface, in two torchrun processes (lmms-eval's
    own multi-process launch: it shards the documents by rank and gathers the answers), on the first 6 documents."""
    output, log = root / "torchrun", root / "torchrun.log"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "lmms_eval",
        "--model", "janus", "--model_args", "pretrained=janus-tiny,chat_template=deepseek", "--batch_size", "1",
        "--force_simple", "--tasks", ",".join(LOCAL_TASKS), "--include_path", str(include), "--limit", "6",
        "--log_samples", "--output_path", str(output), "--verbosity", "WARNING",
    ]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=root, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
    return {"process": process, "output": output, "log": log}


def evaluate_in_process(local: dict[str, Any], name: str, model_args: str, limit: int | None, **options: Any) -> dict[str, Any]:
    """lmms-eval's evaluator (`simple_evaluate`, as its CLI calls it) with `--model janus`; its results and the
    samples it logs, written by lmms-eval's own EvaluationTracker as `--log_samples` writes them."""
    from lmms_eval.__main__ import parse_eval_args
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.loggers import EvaluationTracker

    output = local["root"] / name
    # the CLI's parsed defaults, which the evaluator reads (e.g. --reasoning_tags: the logged filtered_resps is the
    # answer with reasoning blocks and surrounding white space removed)
    with mock.patch.object(sys, "argv", ["lmms-eval", "--model", "janus", "--log_samples"]):
        _, cli_args = parse_eval_args()
    tracker = EvaluationTracker(output_path=str(output))
    results = simple_evaluate(
        model="janus", model_args=model_args, tasks=LOCAL_TASKS, task_manager=local["manager"], limit=limit,
        log_samples=True, evaluation_tracker=tracker, verbosity="ERROR", datetime_str="20261201_000000",
        cli_args=cli_args, **options,
    )  # fmt: skip
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples, datetime_str="20261201_000000")
    for task in LOCAL_TASKS:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return {"results": results["results"], "samples": logged_samples(output), "dir": output}


def logged_samples(output: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """task -> doc_id -> line of the `--log_samples` files under `output`."""
    return {
        task: {line["doc_id"]: line for line in read_jsonl(next(output.glob(f"*/*_samples_{task}_local.jsonl")))}
        for task in ("mme", "pope")
    }


@pytest.fixture(scope="module")
def batched(local: dict[str, Any]) -> dict[str, Any]:
    # `--model janus` resolves to the chat class (lmms-eval's doc_to_messages); 12 documents of each task
    # (MME: six images' question pairs)
    return evaluate_in_process(local, "batched", "pretrained=janus-tiny,batch_size=4,chat_template=deepseek,device=cpu", 12)


def test_lmms_eval_runs_its_mme_and_pope_tasks_with_janus_batched(batched: dict[str, Any]) -> None:
    mme, pope = batched["results"]["mme_local"], batched["results"]["pope_local"]
    assert "mme_perception_score,none" in mme  # the first 12 rows are perception questions
    assert {"pope_accuracy,none", "pope_f1_score,none"} <= set(pope)
    assert len(batched["samples"]["mme"]) == 12 and len(batched["samples"]["pope"]) == 12
    first = batched["samples"]["mme"][0]
    # lmms-eval's own prompt (mme_doc_to_text drops " Please answer yes or no." and appends its suffix)
    assert first["input"] == "Is there a red circle in this image?\nAnswer the question using a single word or phrase."
    assert all(isinstance(line["filtered_resps"], str) for task in ("mme", "pope") for line in batched["samples"][task].values())


def test_batch_size_one_in_two_torchrun_processes_of_the_cli_through_the_simple_interface_gives_the_batched_answers(
    local: dict[str, Any], batched: dict[str, Any]
) -> None:
    cli = local["cli"]
    assert cli["process"].wait(timeout=600) == 0, cli["log"].read_text()[-6000:]
    gathered = logged_samples(cli["output"])
    for task in ("mme", "pope"):
        assert sorted(gathered[task]) == list(range(6))
        for doc_id, line in gathered[task].items():
            assert line["filtered_resps"] == batched["samples"][task][doc_id]["filtered_resps"], (task, doc_id)


def test_our_harness_renders_the_same_requests_under_the_lmms_eval_prompt(
    local: dict[str, Any], batched: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out = local["root"] / "ours"
    args = ["--model", "janus-tiny", "--tasks", "mme,pope", "--data-dir", str(local["data"]), "--output-dir", str(out),
            "--limit", "12"]  # fmt: skip
    code, _, err = run_cli([*args, *OUR_LMMS_OPTIONS], capsys)
    assert code == 0, err
    for task in ("mme", "pope"):
        records = read_jsonl(out / "janus-tiny" / f"{task}.samples.jsonl")
        assert len(records) == len(batched["samples"][task])
        for record in records:
            # lmms-eval strips an answer before it scores or logs it (ConfigurableTask.process_results)
            assert record["output"].strip() == batched["samples"][task][record["row"]]["filtered_resps"], (task, record["row"])


def test_both_harnesses_score_the_same_outputs_alike(local: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    # outputs of "our run", replayed inside lmms-eval by the bridge around our predictions adapter
    predictions = local["root"] / "predictions"
    predictions.mkdir()
    for task, count in (("mme", 28), ("pope", 12)):
        lines = [json.dumps({"row": row, "output": ANSWERS[(row * 7 + len(task)) % len(ANSWERS)]}) for row in range(count)]
        (predictions / f"{task}_local.jsonl").write_text("\n".join(lines) + "\n")
    lmms = evaluate_in_process(local, "replayed", f"adapter=predictions,path={predictions}/{{task}}.jsonl,batch_size=5", None)
    for task in ("mme", "pope"):
        replayed = {row: line["filtered_resps"] for row, line in lmms["samples"][task].items()}
        assert replayed == {entry["row"]: entry["output"].strip() for entry in read_jsonl(predictions / f"{task}_local.jsonl")}

    # lmms-eval's logged samples, scored by our tasks under lmms-eval's prompt and extraction
    out = local["root"] / "scored"
    code, _, err = run_cli(
        [
            "--model", "predictions", "--model-args", f"path={lmms['dir']}/*/*_samples_{{task}}_local.jsonl",
            "--tasks", "mme,pope", "--data-dir", str(local["data"]), "--output-dir", str(out), *OUR_LMMS_OPTIONS,
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    ours_mme = read_json(out / "predictions" / "mme.json")["metrics"]
    ours_pope = read_json(out / "predictions" / "pope.json")["metrics"]
    theirs_mme, theirs_pope = lmms["results"]["mme_local"], lmms["results"]["pope_local"]
    assert 0 < ours_mme["perception"] < 2000 and 0 < ours_pope["overall.f1"] < 100  # the answers exercise the rules
    assert ours_mme["perception"] == pytest.approx(theirs_mme["mme_perception_score,none"])
    assert ours_mme["cognition"] == pytest.approx(theirs_mme["mme_cognition_score,none"])
    for ours, theirs in (("accuracy", "pope_accuracy"), ("precision", "pope_precision"), ("recall", "pope_recall"), ("f1", "pope_f1_score")):
        assert ours_pope[f"overall.{ours}"] == pytest.approx(100 * theirs_pope[f"{theirs},none"]), ours
    # lmms-eval's pope_aggregate_yes_ratio counts ground-truth yes (a bug), ours counts predicted yes
    assert theirs_pope["pope_yes_ratio,none"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- the bridge's pieces


def _image(colour: str) -> Image.Image:
    return Image.new("RGB", (8, 8), colour)


def test_contexts_become_interleaved_or_images_first_turns() -> None:
    red, blue = _image("red"), _image("blue")
    assert bridge.interleave("Compare <image> with <image>.", [red, blue]) == ["Compare ", red, " with ", blue, "."]
    # markers that do not match the images: every image first, the context as it is
    assert bridge.interleave("Look at <image>.", [red, blue]) == [red, blue, "Look at <image>."]
    assert bridge.paper_spacing([red, blue, "Q?"]) == [red, blue, "\nQ?"]
    assert bridge.paper_spacing(["A ", red, " B"]) == ["A ", red, " B"]


def test_chat_messages_keep_roles_order_and_the_system_prompt_argument(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    _image("green").save(path)
    messages = bridge.chat_messages(
        [
            {"role": "system", "content": "task system"},
            {"role": "user", "content": [{"type": "text", "text": "First"}, {"type": "image", "url": _image("red")},
                                         {"type": "image", "url": str(path)}, {"type": "text", "text": "then?"}]},
        ],
        "task doc 0",
    )  # fmt: skip
    assert [m.role for m in messages] == ["system", "user"]
    assert [type(part).__name__ for part in messages[1].content] == ["str", "Image", "Image", "str"]
    replaced = bridge.with_system_prompt(messages, "mine")
    assert replaced[0].content == ["mine"] and replaced[1] is messages[1]
    with pytest.raises(ValueError, match="text and images only"):
        bridge.chat_messages([{"role": "user", "content": [{"type": "video", "url": "a.mp4"}]}], "task doc 1")
    with pytest.raises(ValueError, match="images only"):
        bridge.as_images(["clip.mp4"], "task doc 2")


def test_generation_kwargs_map_to_our_request_settings() -> None:
    assert bridge.generation_settings({"max_new_tokens": 16, "temperature": 0, "top_p": 1.0, "num_beams": 1, "do_sample": False}, 99) == (16, 0.0, [])
    assert bridge.generation_settings({"until": "\n\n", "temperature": 0.7, "do_sample": True}, 99) == (99, 0.7, ["\n\n"])
    assert bridge.generation_settings({"temperature": 0.7, "do_sample": False}, 8)[1] == 0.0
    with pytest.raises(ValueError, match="num_beams"):
        bridge.generation_settings({"num_beams": 4}, 8)
    with pytest.raises(ValueError, match="top_p"):
        bridge.generation_settings({"temperature": 1.0, "top_p": 0.9}, 8)
    assert bridge.truncate_at_stops("Yes\n\nBecause", ["\n\n", "USER:"]) == "Yes"


def test_pretrained_names_map_to_our_model_specs(tmp_path: Path) -> None:
    assert bridge.adapter_spec("deepseek-community/Janus-Pro-7B", "janus_hf", None, "auto", "auto", {}).name == "janus-pro-7b"
    assert bridge.adapter_spec("janus-tiny", "janus_hf", None, "auto", "auto", {"seed": 3}).args == {"seed": "3"}
    local = bridge.adapter_spec(str(tmp_path), "janus_hf", None, "auto", "cpu", {})
    assert (local.name, local.model_path) == ("janus_hf", str(tmp_path))
    other = bridge.adapter_spec("someone/Janus-finetune", "janus_hf", "abc", "bfloat16", "auto", {"flag": True})
    assert (other.name, other.revision, dict(other.args)) == ("janus_hf", "abc", {"model": "someone/Janus-finetune", "flag": "true"})
    # JanusFlow: by its names and hub id, or `adapter=janusflow` for a folder or another hub id
    assert bridge.adapter_spec("deepseek-ai/JanusFlow-1.3B", "janus_hf", None, "auto", "auto", {}).name == "janusflow-1.3b"
    assert bridge.adapter_spec("janusflow-tiny", "janus_hf", None, "auto", "auto", {}).name == "janusflow-tiny"
    flow_local = bridge.adapter_spec(str(tmp_path), "janusflow", None, "auto", "cpu", {})
    assert (flow_local.name, flow_local.model_path) == ("janusflow", str(tmp_path))
    flow_other = bridge.adapter_spec("someone/JanusFlow-finetune", "janusflow", None, "auto", "auto", {})
    assert (flow_other.name, dict(flow_other.args)) == ("janusflow", {"model": "someone/JanusFlow-finetune"})


def test_janusflow_answers_through_the_bridge_with_its_own_template() -> None:
    model = bridge.JanusSimple(pretrained="janusflow-tiny", device="cpu")
    assert type(model.adapter).__name__ == "JanusFlowAdapter" and "chat_template" not in model.adapter.spec.args
    messages = [ChatMessage("user", bridge.interleave("Is there a dog?", [_image("red")]))]
    request, _ = model.text_request(messages, {"max_new_tokens": 3}, 0, "t", "test")
    assert model.run([(request, [])])[0] == model.adapter.generate_text([request])[0].text


def test_lmms_eval_resolves_janus_through_the_entry_point() -> None:
    from lmms_eval.models import get_model

    assert get_model("janus") is bridge.JanusChat
    assert get_model("janus", force_simple=True) is bridge.JanusSimple


def test_batch_size_in_model_args_wins_over_the_cli_default_and_bad_values_are_one_message() -> None:
    model = bridge.JanusSimple.create_from_arg_string("pretrained=janus-tiny,batch_size=16", {"batch_size": 1, "device": "cpu"})
    assert model.batch_size == 16 and model.adapter.spec.device == "cpu"
    assert bridge.JanusSimple.create_from_arg_string("pretrained=janus-tiny", {"batch_size": "3"}).batch_size == 3
    with pytest.raises(UserError, match="auto"):
        bridge.JanusSimple.create_from_arg_string("pretrained=janus-tiny", {"batch_size": "auto"})
    with pytest.raises(UserError, match="chat_template"):
        bridge.JanusSimple(pretrained="janus-tiny", chat_template="vicuna")
    with pytest.raises(NotImplementedError, match="seedbench_ppl"):
        model.loglikelihood([])


# lmms-eval's chat models render with the checkpoint's template; this one writes the converted hub checkpoints' format
HUB_STYLE_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|User|>: {% else %}<|Assistant|>: {% endif %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image_placeholder>{{ '\\n' }}{% else %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{{ '\\n\\n' }}{% endfor %}{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)


def test_the_default_renders_with_the_checkpoints_chat_template_and_needs_one(tmp_path: Path) -> None:
    from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint

    folder = tmp_path / "tiny-with-template"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    (folder / "chat_template.jinja").write_text(HUB_STYLE_TEMPLATE)
    model = bridge.JanusSimple(pretrained=str(folder), device="cpu")
    messages = [ChatMessage("user", bridge.interleave("Is there a dog?", [_image("red")]))]
    request, _ = model.text_request(messages, {"max_new_tokens": 4}, 0, "t", "test")
    assert model.adapter.render_text_prompt(request) == "<|User|>: <image_placeholder>\nIs there a dog?\n\n<|Assistant|>:"
    assert model.run([(request, [])])[0] == model.adapter.generate_text([request])[0].text

    paper = bridge.JanusSimple(pretrained=str(folder), device="cpu", chat_template="deepseek", system_prompt="Be brief.")
    request, _ = paper.text_request(messages, {}, 0, "t", "test")
    assert paper.adapter.render_text_prompt(request) == "Be brief.\n\nUser: <image_placeholder>\nIs there a dog?\n\nAssistant:"

    no_template = bridge.JanusSimple(pretrained="janus-tiny", device="cpu")
    request, _ = no_template.text_request(messages, {}, 0, "t", "test")
    with pytest.raises(UserError, match="no chat template"):
        no_template.adapter.render_text_prompt(request)


def test_batches_hold_one_token_budget_and_keep_the_request_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from janus_eval.api import TextOutput

    model = bridge.JanusSimple(adapter="predictions", path=str(tmp_path / "unused.jsonl"), batch_size=2)
    calls: list[list[int]] = []

    def record(requests: list[Any]) -> list[TextOutput]:
        calls.append([request.max_new_tokens for request in requests])
        return [TextOutput(f"{request.index} STOP tail") for request in requests]

    monkeypatch.setattr(model.adapter, "generate_text", record)
    budgets = [16, 128, 16, 128, 16]
    jobs = [
        model.text_request([ChatMessage("user", [f"q{doc}"])], {"max_new_tokens": budget}, doc, "t", "test")
        for doc, budget in enumerate(budgets)
    ]
    assert model.run([(request, [" STOP"]) for request, _ in jobs]) == ["0", "1", "2", "3", "4"]
    assert sorted(calls) == [[16], [16, 16], [128, 128]]
