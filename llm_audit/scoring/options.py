"""The options of step 1 (``model:`` and ``scoring:`` in a config): declared, defaulted and checked here only.

No torch here: the config and the command line import this module to check options before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llm_audit.paths import user_cache_dir
from llm_audit.schema import Checker, Section, option
from llm_audit.scoring.attacks import ATTACKS, DEFAULT_K, DEFAULT_SCORES, SIDE_DATA, requirements, unknown_message
from llm_audit.scoring.frequencies import DEFAULT_CLIP


@dataclass
class ModelConfig(Section):
    name: str | None = option("audited model: a local folder or a hub id (required)", flag="--model", path="model",
                              default=None)
    gguf_file: str | None = option("a .gguf file inside `name` to load instead of safetensors", default=None)
    revision: str | None = option("hub revision (branch, tag or commit), e.g. Pythia's `step143000`", default=None)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = option("`auto`: fp32 on CPU, bf16 on GPU",
                                                                      default="auto")
    device: str = option("`auto` (cuda, then mps, then cpu), `cpu`, `cuda`, `cuda:1`, `mps`", default="auto")
    device_map: Literal["auto", "balanced", "balanced_low_0", "sequential"] | None = option(
        "spread a model too large for one GPU over all GPUs, then CPU, then `offload_folder` (null: whole model on "
        "`device`; one process only)", default=None)
    offload_folder: str | None = option("folder for the weights `device_map` offloads to disk", path="folder",
                                        default=None)
    trust_remote_code: bool = option("run the model repository's own code (only for repositories you trust)",
                                     default=False)
    allow_pickle: bool = option("allow loading .bin/pickle weights (can execute code); default: safetensors only",
                                default=False)

    def check(self, c: Checker) -> None:
        c.require(bool(self.name), "name", "required (a local model folder or a hub id)")
        c.require(self.device_map is None or self.device == "auto", "device",
                  f"leave at auto with device_map (the map places the model), got {self.device!r}")
        c.require(self.offload_folder is None or self.device_map is not None, "offload_folder",
                  f"only with {c.ref('device_map')}")


@dataclass
class ScoringConfig(Section):
    scores: list[str] = option(
        "attacks (score columns), by their names in the attack registry: loss, zlib, mink, minkpp, lowercase (a "
        "second pass), ref (needs `reference_model`), recall (needs `recall_prefix`), dcpdd (needs "
        "`dcpdd_reference`); given side data adds the attacks that read it",
        default_factory=lambda: list(DEFAULT_SCORES))
    k: list[float] = option("k grid of Min-K% and Min-K%++ (columns `mink_0.2`, ...)",
                            default_factory=lambda: list(DEFAULT_K))
    max_tokens: int | None = option("truncate texts to this many tokens (null: score all with a sliding window)",
                                    default=None)
    stride: int | None = option("sliding-window stride for texts longer than the context (null: half the context)",
                                default=None)
    context: int | None = option("window length in tokens (null: the model's context)", default=None)
    batch_tokens: int = option("token budget of one batch (padded length x texts)", default=8192)
    reference_model: str | None = option("a second model (local folder or hub id) for the `ref` score",
                                         flag="--ref-model", path="model", default=None)
    recall_prefix: str | None = option("corpus file of known non-member texts, concatenated into the ReCaLL prefix "
                                       "(adds `recall`, a second pass)", path="file", default=None)
    dcpdd_reference: str | None = option("local reference corpus file for DC-PDD's token frequencies (adds `dcpdd`)",
                                         path="file", default=None)
    dcpdd_clip: float = option("DC-PDD's clip `a` of each token's p * log(1/f)", default=DEFAULT_CLIP)
    cache: bool = option("keep every text's scores in the score cache: a re-run, or a run interrupted, scores only "
                         "what is missing", default=True)
    cache_dir: str | None = option("score cache folder (null: `scores` in the llm-audit cache, `$LLM_AUDIT_CACHE` or "
                                   "`~/.cache/llm-audit`)", path="folder", default=None)

    def check(self, c: Checker) -> None:
        self.check_values(c)
        for name in self.scores:
            for need in requirements(name):
                key = SIDE_DATA[need].config_key
                c.require(bool(getattr(self, key)), key, f"required by the `{name}` score ({SIDE_DATA[need].what})")

    def check_values(self, c: Checker) -> None:
        """The checks of every value but the side data's paths (``score_corpus`` is given the side data loaded,
        and ``attacks.choose`` checks it there)."""
        c.require(len(self.scores) > 0, "scores", f"must name at least one score (known: {', '.join(ATTACKS)})")
        for i, name in enumerate(self.scores):
            c.require(name in ATTACKS, f"scores[{i}]", unknown_message(name))
        c.require(self.dcpdd_clip > 0, "dcpdd_clip", f"must be positive, got {self.dcpdd_clip}")
        c.require(len(self.k) > 0, "k", "must hold at least one k")
        for i, k in enumerate(self.k):
            c.require(0 < k <= 1, f"k[{i}]", f"must be in (0, 1], got {k}")
        for key in ("stride", "context", "batch_tokens"):
            value = getattr(self, key)
            c.require(value is None or value > 0, key, f"must be a positive integer, got {value}")
        c.require(self.max_tokens is None or self.max_tokens >= 2, "max_tokens",
                  f"must be at least 2 (one token to condition on, one to score), got {self.max_tokens}")
        c.require(self.cache or self.cache_dir is None, "cache_dir", f"not with {c.ref('cache')} off")

    def cache_folder(self) -> Path | None:
        """Where the scores are cached (None: no cache)."""
        if not self.cache:
            return None
        return Path(self.cache_dir).expanduser() if self.cache_dir else user_cache_dir() / "scores"

