"""Load the audited causal LM and its tokenizer, and fingerprint them so cached scores stay attributable.

A local path never touches the network. Weights load from safetensors or GGUF; pickled ``.bin`` weights
(arbitrary code on unpickling) only with ``allow_pickle=True``. A GGUF tokenizer gets the word split its file
names (``gguf_pretokenizers``); a model without a tokenizer is refused, not scored as empty texts. The
fingerprint identifies the numbers the model computes: a hash of the weight files (or the hub revision), the
dtype and the tokenizer, not the folder name, so a copied model folder keeps its cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any, NamedTuple

import torch

from llm_audit.errors import AuditError
from llm_audit.paths import local_or_hub
from llm_audit.scoring.gguf_pretokenizers import apply_gguf_pretokenizer

_SAFE_WEIGHTS = ("*.safetensors",)
_PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, ImportError)
# transformers' GGUF reader unpacks raw bytes: a truncated or corrupt file fails inside struct/numpy
_GGUF_LOAD_ERRORS = _LOAD_ERRORS + (struct.error, EOFError, IndexError, TypeError, OverflowError)
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}

_DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
# What a saved tokenizer leaves in a model folder: a fast tokenizer, a SentencePiece or tiktoken model, or the
# vocabulary files of the GPT-2 / BERT kinds. Without any of them transformers builds an empty tokenizer from
# config.json (every text then encodes to nothing) or fails with a message about sentencepiece.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "merges.txt", "*.model",
                    "*.tiktoken")


class LoadedModel(NamedTuple):
    model: Any
    tokenizer: Any
    fingerprint: dict[str, Any]


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device for ``device`` (auto: a GPU when there is one); AuditError for a device this machine's
    torch cannot use, before any model is loaded."""
    if device != "auto":
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise AuditError(f"device: unknown '{device}' (use auto, cpu, cuda, cuda:N or mps)") from None
        if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
            raise AuditError(f"device: '{device}' is not available here ({torch.cuda.device_count()} CUDA device(s) "
                             "visible to this torch; use auto or cpu)")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise AuditError(f"device: '{device}' is not available here (use auto or cpu)")
        return dev
    if torch.cuda.is_available():
        # under `accelerate launch` / torchrun each rank takes its own GPU
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``auto``: fp32 on CPU (bf16 matmuls are slow on most CPUs), bf16 on GPUs that support it, else fp16."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device.type == "mps" else torch.float32
    if dtype not in _DTYPES:
        raise AuditError(f"dtype: unknown '{dtype}' (use auto, float32, bfloat16 or float16)")
    return _DTYPES[dtype]


def _weight_files(folder: Path, gguf_file: str | None, allow_pickle: bool) -> list[Path]:
    """The weight files that will be loaded from ``folder``; refuses a folder without usable weights."""
    if gguf_file is not None:
        path = folder / gguf_file
        if not path.is_file():
            raise AuditError(f"{path}: no such GGUF file")
        return [path]
    safe = sorted(p for pattern in _SAFE_WEIGHTS for p in folder.glob(pattern))
    if safe:
        return safe
    pickled = sorted(p for pattern in _PICKLED_WEIGHTS for p in folder.glob(pattern))
    if pickled and not allow_pickle:
        raise AuditError(f"{folder}: only pickled weights ({pickled[0].name}); pass allow_pickle / --allow-pickle "
                         "if you trust them, or convert them to safetensors")
    if pickled:
        return pickled
    ggufs = sorted(folder.glob("*.gguf"))
    if ggufs:
        raise AuditError(f"{folder}: GGUF weights only; name one with gguf_file / --gguf-file ({ggufs[0].name})")
    raise AuditError(f"{folder}: no model weights (*.safetensors, *.gguf or, with allow_pickle, *.bin)")


def _hash_files(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _hub_commit(name: str, revision: str | None, gguf_file: str | None) -> str | None:
    """The commit a hub model was loaded from: the name of its snapshot folder in the local hub cache
    (a commit hash names the weights exactly, without hashing gigabytes)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, gguf_file or "config.json", revision=revision)
    return Path(found).parent.name if isinstance(found, str) else None


def tokenizer_hash(tokenizer: Any) -> str:
    """Hash of everything that maps text to ids: the fast tokenizer's full JSON, else the vocabulary."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        payload = backend.to_str()
    else:
        payload = json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = json.dumps([getattr(tokenizer, "add_bos_token", None), getattr(tokenizer, "add_eos_token", None)])
    return hashlib.sha256((payload + extra).encode("utf-8")).hexdigest()


def parameters_hash(model: torch.nn.Module) -> str:
    """Hash of an in-memory model's parameters and buffers (for models not loaded from files)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def make_fingerprint(name: str, revision: str | None, weights: str, dtype: torch.dtype, tokenizer: Any) -> dict[str, Any]:
    fp = {"name": name, "revision": revision, "weights_sha256": weights, "dtype": str(dtype).removeprefix("torch."),
          "tokenizer_sha256": tokenizer_hash(tokenizer)}
    # The id leaves out the name: the same weights under another folder name are the same model.
    identity = json.dumps({k: fp[k] for k in ("weights_sha256", "dtype", "tokenizer_sha256")}, sort_keys=True)
    fp["id"] = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return fp


def load_tokenizer(source: str, *, local: bool, gguf_file: str | None = None, revision: str | None = None,
                   trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model folder (``local``) or hub id ``source``, or of its GGUF file ``gguf_file``
    with the word split that file names (``apply_gguf_pretokenizer``). AuditError when the folder has no
    tokenizer files or the tokenizer has no vocabulary: every text would encode to nothing and the fault
    would look like the corpus's."""
    from transformers import AutoTokenizer

    if local and gguf_file is None and not any(any(Path(source).glob(p)) for p in _TOKENIZER_FILES):
        raise AuditError(f"{source}: the model folder has no tokenizer (none of {', '.join(_TOKENIZER_FILES)}); "
                         "save it beside the weights with tokenizer.save_pretrained(folder)")
    kwargs = _pretrained_kwargs(local, gguf_file, revision, trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    if gguf_file is not None:
        path = Path(source) / gguf_file if local else _hub_file(source, gguf_file, revision)
        apply_gguf_pretokenizer(tokenizer, path)
    if len(tokenizer.get_vocab()) <= len(getattr(tokenizer, "added_tokens_decoder", {})):
        raise AuditError(f"{source}: the tokenizer has no vocabulary beyond its special tokens (are its files "
                         f"missing? looked for {', '.join(_TOKENIZER_FILES)})")
    return tokenizer


def _pretrained_kwargs(local: bool, gguf_file: str | None, revision: str | None,
                       trust_remote_code: bool) -> dict[str, Any]:
    """What the tokenizer's and the model's ``from_pretrained`` share: a local folder never touches the network."""
    kwargs: dict[str, Any] = {"local_files_only": local, "trust_remote_code": trust_remote_code}
    if revision is not None and not local:
        kwargs["revision"] = revision
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    return kwargs


def _hub_file(name: str, filename: str, revision: str | None) -> Path:
    """The local copy of a hub file that transformers has just fetched."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, filename, revision=revision)
    if not isinstance(found, str):
        raise AuditError(f"{name}: {filename} is not in the local hub cache")
    return Path(found)


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Padding needs a pad id; a tokenizer without one pads with eos (padded positions are masked anyway)."""
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name_or_path: str | Path,
    *,
    gguf_file: str | None = None,
    revision: str | None = None,
    dtype: str | torch.dtype = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    device_map: str | dict[str, Any] | None = None,
    offload_folder: str | Path | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a local folder / GGUF file or a hub id; fingerprint them.

    ``device_map`` (``auto``, ``balanced``, ``sequential`` or a module -> device dict) spreads a model too large
    for one GPU over every visible GPU, then CPU memory, then ``offload_folder`` on disk (accelerate's
    dispatch); the whole model otherwise goes to ``device``."""
    from transformers import AutoModelForCausalLM

    name = str(name_or_path)
    found, local = local_or_hub(name, missing="{name}: no such model folder or file")
    path = Path(found)
    if path.is_file() and path.suffix.lower() == ".gguf":
        path, gguf_file = path.parent, path.name
    if local and not path.is_dir():
        raise AuditError(f"{name}: not a model folder (expected a folder with config.json and weights, or a .gguf file)")
    if device_map is not None:
        _check_device_map(device_map, device)
    target = resolve_device(device)
    if device_map is not None and target.type == "cpu" and torch.cuda.is_available():
        target = torch.device("cuda")  # the dtype follows the GPUs the model is spread over
    torch_dtype = resolve_dtype(dtype, target)
    source = str(path) if local else name
    weights = _weight_files(path, gguf_file, allow_pickle) if local else None
    model_kwargs = dict(_pretrained_kwargs(local, gguf_file, revision, trust_remote_code), dtype=torch_dtype)
    if gguf_file is None and not allow_pickle:
        model_kwargs["use_safetensors"] = True
    if device_map is not None:
        model_kwargs["device_map"] = device_map
        if offload_folder is not None:
            model_kwargs["offload_folder"] = str(offload_folder)
    load_errors = _LOAD_ERRORS if gguf_file is None else _GGUF_LOAD_ERRORS
    try:
        tokenizer = load_tokenizer(source, local=local, gguf_file=gguf_file, revision=revision,
                                   trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(source, **model_kwargs)
    except load_errors as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AuditError(f"{name}: cannot load the model ({first})") from None
    model = (model if device_map is not None else model.to(target)).eval()
    if local:
        weights_hash = _hash_files(weights, path)
    else:
        weights_hash = f"{name}@{_hub_commit(name, revision, gguf_file) or revision or 'unknown'}"
    from llm_audit.report.model_name import shareable_name  # a local path is cut to its folder name: a shared
    # estimates.json names the model by id and weights, never by where it sat on a disk (README)
    fingerprint = make_fingerprint(shareable_name(name) if local else name, revision, weights_hash, torch_dtype,
                                   tokenizer)
    if gguf_file is not None:
        fingerprint["gguf_file"] = gguf_file
    return LoadedModel(model, prepare_tokenizer(tokenizer), fingerprint)


def _check_device_map(device_map: str | dict[str, Any], device: str) -> None:
    """A spread model and a single ``device``, or a spread model per process, contradict each other."""
    if device != "auto":
        raise AuditError(f"device_map: '{device_map}' spreads the model itself; leave device at auto (got '{device}')")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise AuditError("device_map: under accelerate launch / torchrun each process holds a whole model copy on "
                         "its own GPU; use one process with device_map, or several without it")
    if isinstance(device_map, str) and device_map not in _DEVICE_MAPS:
        raise AuditError(f"device_map: unknown '{device_map}' (use {', '.join(_DEVICE_MAPS)}, or a dict in Python)")


def wrap_model(model: torch.nn.Module, tokenizer: Any, name: str = "in-memory") -> LoadedModel:
    """An already loaded model and tokenizer, fingerprinted by their parameters."""
    dtype = next(model.parameters()).dtype
    return LoadedModel(model.eval(), prepare_tokenizer(tokenizer),
                       make_fingerprint(name, None, parameters_hash(model), dtype, tokenizer))
