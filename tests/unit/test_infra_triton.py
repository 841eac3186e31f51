"""The TensorRT-LLM model repository under infra/triton/, parsed as Triton ModelConfig protos."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from llmops.trtllm import ENSEMBLE_MODEL, INPUTS, OUTPUTS

pytestmark = pytest.mark.unit

REPOSITORY = Path(__file__).resolve().parents[2] / "infra" / "triton" / "model_repository"
MODELS = ("ensemble", "preprocessing", "tensorrt_llm", "postprocessing")
TRITON_TYPES = {
    "BYTES": "TYPE_STRING",
    "INT32": "TYPE_INT32",
    "UINT64": "TYPE_UINT64",
    "INT64": "TYPE_INT64",
    "FP32": "TYPE_FP32",
    "BOOL": "TYPE_BOOL",
}


def model_config(name: str) -> model_config_pb2.ModelConfig:
    """Parses <repository>/<name>/config.pbtxt; unknown fields or bad syntax raise ParseError."""
    path = REPOSITORY / name / "config.pbtxt"
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def type_name(data_type: int) -> str:
    return model_config_pb2.DataType.Name(data_type)


@pytest.mark.parametrize("name", MODELS)
def test_each_model_config_parses_names_itself_and_has_a_version_directory(name: str) -> None:
    """Triton loads a model only from <name>/config.pbtxt plus a numbered version directory."""
    config = model_config(name)
    assert config.name == name
    assert (REPOSITORY / name / "1").is_dir()
    assert config.max_batch_size == 64


@pytest.mark.parametrize("name", MODELS)
def test_no_template_placeholder_is_left_unfilled(name: str) -> None:
    """fill_template.py leftovers such as ${engine_dir} would fail at load time."""
    text = (REPOSITORY / name / "config.pbtxt").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "${" not in body


def test_the_ensemble_is_the_model_the_client_calls() -> None:
    """The name in llmops.trtllm is a repository model of platform ensemble."""
    assert ENSEMBLE_MODEL in MODELS
    assert model_config(ENSEMBLE_MODEL).platform == "ensemble"


def test_the_ensemble_inputs_have_the_names_and_types_of_llmops_trtllm() -> None:
    """Every declared input, and nothing else, with the same Triton type, dims and optionality."""
    ensemble = model_config(ENSEMBLE_MODEL)
    declared = {i.name: (type_name(i.data_type), tuple(i.dims), i.optional) for i in ensemble.input}
    expected = {s.name: (TRITON_TYPES[s.datatype], s.dims, s.optional) for s in INPUTS}
    assert declared == expected


def test_the_ensemble_outputs_have_the_names_and_types_of_llmops_trtllm() -> None:
    """Every declared output, and nothing else, with the same Triton type and dims."""
    ensemble = model_config(ENSEMBLE_MODEL)
    declared = {o.name: (type_name(o.data_type), tuple(o.dims)) for o in ensemble.output}
    expected = {s.name: (TRITON_TYPES[s.datatype], s.dims) for s in OUTPUTS}
    assert declared == expected


def test_the_ensemble_steps_wire_existing_models_and_tensors() -> None:
    """Each step's model exists and each mapped key is one of that model's inputs or outputs."""
    ensemble = model_config(ENSEMBLE_MODEL)
    assert [step.model_name for step in ensemble.ensemble_scheduling.step] == [
        "preprocessing",
        "tensorrt_llm",
        "postprocessing",
    ]
    for step in ensemble.ensemble_scheduling.step:
        model = model_config(step.model_name)
        assert set(step.input_map) <= {i.name for i in model.input}, step.model_name
        assert set(step.output_map) <= {o.name for o in model.output}, step.model_name


def test_every_ensemble_tensor_is_produced_before_it_is_consumed_with_the_same_type() -> None:
    """Data flows from ensemble inputs through the steps to every ensemble output without type changes."""
    ensemble = model_config(ENSEMBLE_MODEL)
    available = {i.name: type_name(i.data_type) for i in ensemble.input}
    for step in ensemble.ensemble_scheduling.step:
        model = model_config(step.model_name)
        inputs = {i.name: i for i in model.input}
        for key, tensor in step.input_map.items():
            assert tensor in available, f"{step.model_name}.{key} reads {tensor} before it exists"
            assert type_name(inputs[key].data_type) == available[tensor], f"{step.model_name}.{key}"
        required = {i.name for i in model.input if not i.optional}
        assert required <= set(step.input_map), f"{step.model_name} misses {required - set(step.input_map)}"
        outputs = {o.name: type_name(o.data_type) for o in model.output}
        for key, tensor in step.output_map.items():
            available[tensor] = outputs[key]
    for output in ensemble.output:
        assert available.get(output.name) == type_name(output.data_type), output.name


def test_tensorrt_llm_is_decoupled_for_streaming_and_points_at_an_engine_directory() -> None:
    """Tokens stream as they are generated, with in-flight batching over a built engine."""
    config = model_config("tensorrt_llm")
    assert config.backend == "tensorrtllm"
    assert config.model_transaction_policy.decoupled
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert parameters["gpt_model_type"] == "inflight_fused_batching"
    assert parameters["gpt_model_path"].startswith("/models/")
    assert parameters["max_beam_width"] == "1"


def test_the_python_models_declare_what_the_upstream_model_py_reads_at_load_time() -> None:
    """tensorrtllm_backend's model.py looks these up in initialize() and fails if they are missing."""
    pre = model_config("preprocessing")
    post = model_config("postprocessing")
    assert pre.backend == post.backend == "python"
    assert {"EMBEDDING_BIAS_WORDS", "EMBEDDING_BIAS_WEIGHTS"} <= {i.name for i in pre.input}
    assert {
        "INPUT_ID",
        "DECODER_INPUT_ID",
        "REQUEST_INPUT_LEN",
        "REQUEST_DECODER_INPUT_LEN",
        "BAD_WORDS_IDS",
        "STOP_WORDS_IDS",
        "OUT_END_ID",
        "OUT_PAD_ID",
        "OUT_PROMPT_TABLE_EXTRA_IDS",
    } <= {o.name for o in pre.output}
    assert {"tokenizer_dir", "visual_model_path"} <= set(pre.parameters)
    assert {o.name for o in post.output} == {"OUTPUT"}
    assert {i.name for i in post.input} == {"TOKENS_BATCH", "SEQUENCE_LENGTH"}
    assert pre.parameters["tokenizer_dir"].string_value == post.parameters["tokenizer_dir"].string_value


def test_the_fetch_script_pins_the_backend_tag_matching_the_compose_image() -> None:
    """model.py files come from tensorrtllm_backend at the tag of the TensorRT-LLM inside the Triton image."""
    script = (REPOSITORY.parent / "fetch_models.sh").read_text()
    readme = (REPOSITORY.parent / "README.md").read_text()
    compose = (REPOSITORY.parents[2] / "docker-compose.yml").read_text()
    assert 'TAG="${TRTLLM_BACKEND_TAG:-v0.17.0}"' in script
    assert "nvcr.io/nvidia/tritonserver:25.01-trtllm-python-py3" in compose
    assert "25.01-trtllm-python-py3" in readme and "v0.17.0" in readme
