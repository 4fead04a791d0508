"""``instrument()`` on real litellm, openai and LangChain objects: calls go to the loopback
fake LLM (tests/support/fake_llm.py), traces to the real CT server through the module-level
session; tasks are named after the prompt's source and created on first use."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import kaizen_sdk as kaizen
from kaizen_sdk import CTClient
from kaizen_sdk.prompt_source import detect_prompt_source, make_task_name
from tests.sdk import prompts_for_detection
from tests.sdk.prompts_for_detection import TRIAGE_PROMPT
from tests.sdk.test_instrument import MESSAGES, FakeCompletions, fake_openai, stored_trace
from tests.support.ct_server import CTServerProcess
from tests.support.fake_llm import FakeLLM, running_fake_llm

pytestmark = pytest.mark.anyio

SUMMARIZE_PROMPT = "Summarize the support ticket in one short sentence."
CLASSIFY_TEMPLATE = "Classify the intent of this customer message: {message}"
THIS_FILE_TASK = "test_instrument_libraries"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with running_fake_llm() as llm:
        yield llm


@pytest.fixture
def session(ct_server: CTServerProcess) -> Iterator[CTServerProcess]:
    kaizen.close_sync()
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    yield ct_server
    kaizen.close_sync()


@pytest.fixture
def litellm() -> Iterator[Any]:
    module = pytest.importorskip("litellm")
    kaizen.instrument(module)
    yield module
    kaizen.uninstrument(module)


def stored_task(server: CTServerProcess, name: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"/api/v1/tasks/{name}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
    return body


def metadata_of(trace: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = trace.get("metadata") or trace.get("metadata_") or {}
    return found


def messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def test_litellm_calls_are_traced_under_the_prompts_task_and_scored(
    session: CTServerProcess, fake_llm: FakeLLM, litellm: Any
) -> None:
    result = litellm.completion(
        model="openai/fake",
        api_base=fake_llm.api_base,
        api_key="sk-fake",
        messages=messages(SUMMARIZE_PROMPT, "My invoice is wrong."),
    )
    assert result.ct_trace_id
    result.ct_score(0.7, scored_by="user")
    kaizen.flush_sync()

    trace = stored_trace(session, result.ct_trace_id)
    expected_task = f"{THIS_FILE_TASK}_summarize_prompt"
    assert stored_task(session, expected_task)["id"] == trace["task_id"]
    assert trace["response_text"] == result.choices[0].message.content
    assert trace["prompt_text"] == f"system: {SUMMARIZE_PROMPT}\nuser: My invoice is wrong."
    assert (trace["score"], trace["scored_by"]) == (0.7, "user")
    assert trace["tokens"] == result.usage.total_tokens
    assert trace["source_variable"] == "SUMMARIZE_PROMPT"
    assert trace["source_file"].endswith("tests/sdk/test_instrument_libraries.py")
    assert isinstance(metadata_of(trace)["source_line"], int)
    assert fake_llm.total_calls == 1


async def test_async_litellm_with_a_template_prompt_and_ct_score(
    session: CTServerProcess, fake_llm: FakeLLM, litellm: Any
) -> None:
    result = await litellm.acompletion(
        model="openai/fake",
        api_base=fake_llm.api_base,
        api_key="sk-fake",
        messages=[{"role": "user", "content": CLASSIFY_TEMPLATE.format(message="refund me")}],
    )
    kaizen.ct_score(result, 0.2)
    await kaizen.flush()
    trace = stored_trace(session, result.ct_trace_id)
    assert trace["source_variable"] == "CLASSIFY_TEMPLATE"
    assert trace["score"] == 0.2
    stored_task(session, f"{THIS_FILE_TASK}_classify_template")


def test_task_map_renames_and_ignore_unmapped_skips(
    session: CTServerProcess, fake_llm: FakeLLM
) -> None:
    litellm = pytest.importorskip("litellm")
    task = f"summaries_{uuid.uuid4().hex[:6]}"
    kaizen.instrument(litellm, task_map={"SUMMARIZE_PROMPT": task}, ignore_unmapped=True)
    try:
        call = {"model": "openai/fake", "api_base": fake_llm.api_base, "api_key": "sk-fake"}
        mapped = litellm.completion(messages=messages(SUMMARIZE_PROMPT, "Hi"), **call)
        unmapped = litellm.completion(messages=messages("Say hi.", "Hi"), **call)
    finally:
        kaizen.uninstrument(litellm)
    kaizen.flush_sync()
    assert stored_trace(session, mapped.ct_trace_id)["task_id"] == stored_task(session, task)["id"]
    assert not hasattr(unmapped, "ct_trace_id")


def test_calls_inside_trace_belong_to_its_task(
    session: CTServerProcess, fake_llm: FakeLLM, litellm: Any
) -> None:
    task = f"support_reply_{uuid.uuid4().hex[:6]}"
    with kaizen.trace(task, inputs={"ticket": "Broken login"}) as span:
        span.output = litellm.completion(
            model="openai/fake",
            api_base=fake_llm.api_base,
            api_key="sk-fake",
            messages=messages(SUMMARIZE_PROMPT, "Broken login"),
        )
    [entry] = kaizen.flush_sync(score=1.0)
    trace = stored_trace(session, span.output.ct_trace_id)
    assert trace["task_id"] == stored_task(session, task)["id"]
    assert entry == {"task": task, "status": "ok", "id": entry["id"]}


def test_the_openai_module_instruments_every_client(
    session: CTServerProcess, fake_llm: FakeLLM
) -> None:
    openai = pytest.importorskip("openai")
    kaizen.instrument(openai)
    try:
        with openai.OpenAI(api_key="sk-fake", base_url=fake_llm.api_base) as llm:
            result = llm.chat.completions.create(
                model="fake", messages=messages(TRIAGE_PROMPT, "Printer on fire")
            )
    finally:
        kaizen.uninstrument(openai)
    kaizen.flush_sync()
    trace = stored_trace(session, result.ct_trace_id)
    # imported from another module: the source is the module assigning it
    assert trace["source_file"].endswith("tests/sdk/prompts_for_detection.py")
    assert stored_task(session, "prompts_for_detection_triage_prompt")["id"] == trace["task_id"]
    assert "ct_score" not in result.model_dump_json()  # still serializes


@pytest.fixture
def langchain_core() -> Iterator[Any]:
    module = pytest.importorskip("langchain_core")
    kaizen.instrument(module)
    yield module
    kaizen.uninstrument(module)


def chat_model(fake_llm: FakeLLM) -> Any:
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    return chat_openai(model="fake", api_key="sk-fake", base_url=fake_llm.api_base, max_retries=0)


def test_langchain_chat_models_and_chains_are_traced(
    session: CTServerProcess, fake_llm: FakeLLM, langchain_core: Any
) -> None:
    from langchain_core.prompts import ChatPromptTemplate

    model = chat_model(fake_llm)
    direct = model.invoke([("system", SUMMARIZE_PROMPT), ("user", "Refund please")])
    chain = ChatPromptTemplate.from_messages([("system", TRIAGE_PROMPT), ("user", "{ticket}")])
    chained = (chain | model).invoke({"ticket": "The app crashes"})
    kaizen.ct_score(chained, 0.9)
    kaizen.flush_sync()

    first = stored_trace(session, direct.ct_trace_id)
    assert first["task_id"] == stored_task(session, f"{THIS_FILE_TASK}_summarize_prompt")["id"]
    assert first["response_text"] == direct.content
    assert first["prompt_text"] == f"system: {SUMMARIZE_PROMPT}\nuser: Refund please"
    assert first["model"] == "fake"
    second = stored_trace(session, chained.ct_trace_id)
    assert second["source_variable"] == "TRIAGE_PROMPT"
    assert second["score"] == 0.9
    assert "ct_score" not in chained.model_dump_json()


async def test_langchain_ainvoke_is_traced(
    session: CTServerProcess, fake_llm: FakeLLM, langchain_core: Any
) -> None:
    result = await chat_model(fake_llm).ainvoke(
        [("system", SUMMARIZE_PROMPT), ("user", "Where is my parcel?")]
    )
    await kaizen.flush()
    trace = stored_trace(session, result.ct_trace_id)
    assert trace["inputs"] == {
        "messages": [
            {"role": "system", "content": SUMMARIZE_PROMPT},
            {"role": "user", "content": "Where is my parcel?"},
        ]
    }


def test_llm_errors_propagate_and_nothing_is_recorded(
    session: CTServerProcess, litellm: Any
) -> None:
    bad_request = litellm.exceptions.BadRequestError
    with running_fake_llm(fail_with_status=400) as failing, pytest.raises(bad_request) as raised:
        litellm.completion(
            model="openai/fake",
            api_base=failing.api_base,
            api_key="sk-fake",
            messages=messages(SUMMARIZE_PROMPT, "x"),
            num_retries=0,
        )
    assert "fake LLM failure" in str(raised.value)
    kaizen.flush_sync()  # nothing failed, nothing queued


def test_direct_recording_creates_the_auto_named_task(
    ct_server: CTServerProcess, fake_llm: FakeLLM
) -> None:
    openai = pytest.importorskip("openai")
    with (
        CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as ct,
        openai.OpenAI(api_key="sk-fake", base_url=fake_llm.api_base) as llm,
    ):
        kaizen.instrument(llm, ct_client=ct)
        result = llm.chat.completions.create(
            model="fake", messages=messages(CLASSIFY_TEMPLATE.format(message="hello"), "hi")
        )
        assert result.ct_score(0.5).score == 0.5
    trace = stored_trace(ct_server, result.ct_trace_id)
    assert trace["task_id"] == stored_task(ct_server, f"{THIS_FILE_TASK}_classify_template")["id"]


def test_unrecorded_results_refuse_a_score() -> None:
    with pytest.raises(kaizen.CTError, match="instrumented"):
        kaizen.ct_score(object(), 0.5)


def test_module_targets_refuse_a_ct_client_and_unknown_targets_are_refused() -> None:
    litellm = pytest.importorskip("litellm")
    with CTClient(api_key="kz-test") as ct, pytest.raises(TypeError, match=r"init\("):
        kaizen.instrument(litellm, ct_client=ct)
    with pytest.raises(TypeError, match="openai, litellm"):
        kaizen.instrument(uuid)


def test_detection_of_locals_templates_imports_and_the_unknown() -> None:
    local_prompt = "Write a haiku about the ticket below."
    assert detect_prompt_source(local_prompt).variable == "local_prompt"
    assert detect_prompt_source(TRIAGE_PROMPT).file.endswith("prompts_for_detection.py")
    assert detect_prompt_source(prompts_for_detection.TRIAGE_PROMPT).variable == "TRIAGE_PROMPT"
    unmatched = detect_prompt_source("Nothing in this file says this.")
    assert (unmatched.variable, unmatched.task_name) == (None, f"{THIS_FILE_TASK}_prompt")
    # a template with too little fixed text never matches everything
    short_template = "{x}"
    assert short_template
    assert detect_prompt_source("anything at all").variable is None
    assert make_task_name("My Prompts.py", "Hello-World") == "my_prompts_hello_world"


def test_without_any_setup_the_call_returns_and_a_warning_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kaizen.close_sync()
    monkeypatch.delenv("KAIZEN_API_KEY", raising=False)
    llm = kaizen.instrument(fake_openai(FakeCompletions()), task_id="t")
    with caplog.at_level(logging.WARNING, logger="kaizen_sdk.instrument"):
        result = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "A login issue."
    assert result.ct_trace_id is None
    assert "not recorded" in caplog.text
    assert "init" in caplog.text
    with pytest.raises(kaizen.CTError, match="not recorded"):
        result.ct_score(1.0)
