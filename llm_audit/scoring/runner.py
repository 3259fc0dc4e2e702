"""Score a corpus: choose the attacks, run the passes they read (each once), cache per group, merge ranks.

``score_corpus`` is the step-1 entry point; it returns the scores table of the pipeline contract (``id``,
``member``, ``n_tokens``, ``truncated``, one column per score, higher = more likely member).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import pandas as pd

from llm_audit.corpus import text_hash
from llm_audit.errors import AuditError
from llm_audit.parallel import torch_threads, usable_cores
from llm_audit.schema import Checker
from llm_audit.scoring.attacks import ATTACKS, available, choose, columns
from llm_audit.scoring.cache import ScoreCache
from llm_audit.scoring.engine import Execution, Group, Job
from llm_audit.scoring.frequencies import TokenFrequencies, count_tokens
from llm_audit.scoring.model import LoadedModel, load_model, wrap_model
from llm_audit.scoring.options import ScoringConfig
from llm_audit.scoring.passes import PassRun, build_passes

CACHE_VERSION = 2  # 2: special-token strings in a text are scored as plain text


def _as_loaded(model: Any, tokenizer: Any = None) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model)
    if tokenizer is None:
        raise AuditError("model: an in-memory model needs its tokenizer (tokenizer=)")
    return wrap_model(model, tokenizer)


def cores_per_process() -> int:
    """The cores this process's torch threads may use: the usable cores, shared among the processes
    ``accelerate launch`` started on this machine (``LOCAL_WORLD_SIZE``)."""
    return max(1, usable_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def distributed_state() -> Any:
    """accelerate's process state when launched on several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # Without a GPU, accelerate only builds a (gloo) process group when told it runs on CPU.
    state = PartialState(cpu=not torch.cuda.is_available())
    return state if state.num_processes > 1 else None


def cache_groups(chosen: Sequence[str], supplied: Collection[str], passes: Mapping[str, PassRun],
                 side: Mapping[str, Any], k_grid: tuple[float, ...], max_tokens: int | None) -> list[Group]:
    """The main group, then one group per other set of passes the ``chosen`` attacks read.

    A group holds every attack the side data allows on its passes, chosen or not: they cost no extra pass,
    and the cache then serves a later choice. Its cache key holds the version, the group's attacks, the k
    grid, the truncation, the side data the attacks read and the main pass's model and window, laid out as
    before the registry (so the main group's existing caches stay valid), plus the keys of its other passes
    under ``passes``."""
    usable = available(supplied)
    sets = dict.fromkeys([("main",), *(ATTACKS[name].passes for name in chosen)])
    groups = []
    for pass_set in sets:
        members = [name for name in usable if ATTACKS[name].passes == pass_set]
        key = {"version": CACHE_VERSION, "attacks": sorted(members), "k_grid": k_grid, "max_tokens": max_tokens,
               **passes["main"].key}
        others = {p: passes[p].key for p in pass_set if p != "main"}
        if others:
            key["passes"] = others
        for name in members:
            for need in ATTACKS[name].needs:
                key.update(side[need].key())
        groups.append(Group(pass_set, {c: (name, k) for name in members for c, k in columns(name, k_grid).items()},
                            key))
    return groups


def score_texts(
    texts: dict[str, str],
    groups: Sequence[Group],
    passes: Mapping[str, PassRun],
    side: Mapping[str, Any],
    max_tokens: int | None,
    execution: Execution,
    *,
    cache_dir: str | os.PathLike | None = None,
    desc: str = "scoring",
) -> tuple[pd.DataFrame, int]:
    """Every group's columns for ``texts`` (text hash -> text), indexed by hash, and how many texts were
    computed in this call (the rest came from the caches, one per group). Under ``accelerate launch`` each
    rank computes its share of the missing texts into the shared caches and every rank returns the merged
    table."""
    state = distributed_state()
    if state is not None and cache_dir is None:
        raise AuditError("cache_dir: required when scoring on several processes (the ranks merge through it)")
    caches = [ScoreCache(cache_dir, g.key) for g in groups] if cache_dir is not None else None
    done = [c.load() for c in caches] if caches is not None else [pd.DataFrame() for _ in groups]
    if state is not None:
        state.wait_for_everyone()  # every rank sees the same caches, hence the same split of what is missing
    todo = {h: [g for g, d in enumerate(done) if h not in d.index] for h in texts}
    missing = sorted(h for h, gs in todo.items() if gs)
    mine = missing[state.process_index :: state.num_processes] if state is not None else missing
    fresh = Job({h: todo[h] for h in mine}, texts, groups, passes, side, max_tokens, execution, caches).run(
        desc, show=execution.progress and (state is None or state.is_main_process))
    if caches is not None:
        if state is not None:
            state.wait_for_everyone()
        done = [c.load() for c in caches]
        if state is not None:
            state.wait_for_everyone()  # every rank has read the shards before the main one merges them
        if state is None or state.is_main_process:
            for cache in caches:
                cache.compact()
    else:
        done = fresh
    return pd.concat([d.loc[list(texts)] for d in done], axis=1), len(mine)


def score_corpus(
    corpus: pd.DataFrame,
    model: LoadedModel | str | Path | Any,
    options: ScoringConfig | None = None,
    *,
    tokenizer: Any = None,
    reference: LoadedModel | str | Path | None = None,
    reference_tokenizer: Any = None,
    recall_prefix: str | Sequence[str] | None = None,
    dcpdd_reference: Sequence[str] | TokenFrequencies | None = None,
    cache_dir: str | os.PathLike | None = None,
    padding_side: str = "right",
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    row_chunk: int | None = None,
    vocab_chunk: int | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """The scores table of ``corpus`` (columns ``id``, ``text``, optional ``member``) under ``model``.

    ``model`` is a ``LoadedModel`` (from ``load_model``), a local path / hub id, or an in-memory
    transformers model with its ``tokenizer``; ``reference`` likewise. ``options`` is the scoring section
    (``ScoringConfig``); keyword ``overrides`` change single options (``scores``, ``k`` or ``k_grid``,
    ``max_tokens``, ``stride``, ``context``, ``batch_tokens`` or ``max_batch_tokens``, ``dcpdd_clip``).
    ``scores`` names attacks of ``ATTACKS``; the side data, given loaded (``llm_audit.steps.score`` loads what a
    section names), adds the attacks that read it: ``reference`` the ``ref`` score, ``recall_prefix`` (known
    non-member texts, joined by a blank line) the ReCaLL score, ``dcpdd_reference`` (texts of a local reference
    corpus, or their ``count_tokens``) the DC-PDD score. Texts longer than the context are scored with sliding
    windows (``stride``, default half the context) unless ``max_tokens`` truncates them first. A batch holds at
    most ``batch_tokens`` tokens, padding included; torch runs on the cores this process may use. Scores are cached per text in ``cache_dir`` (or, when ``options`` is
    given, in its cache folder) and only missing texts are computed. ``df.attrs`` records the model fingerprint
    and the scoring parameters.
    """
    o = _options(options, overrides)
    if cache_dir is None and options is not None:
        cache_dir = o.cache_folder()
    for column in ("id", "text"):
        if column not in corpus.columns:
            raise AuditError(f"corpus: no '{column}' column")
    k_grid = tuple(float(k) for k in o.k)
    given = {"reference": reference, "recall_prefix": _prefix_texts(recall_prefix), "dcpdd_reference": dcpdd_reference}
    supplied = [name for name, value in given.items() if value is not None]
    chosen = choose(o.scores, supplied)
    target = _as_loaded(model, tokenizer)
    side = _side_data(given, target, reference_tokenizer, o.dcpdd_clip)
    passes = build_passes({"main", *(p for name in chosen for p in ATTACKS[name].passes)}, target, side,
                          o.context, o.stride)
    groups = cache_groups(chosen, supplied, passes, side, k_grid, o.max_tokens)
    hashes = corpus["text"].map(text_hash)
    execution = Execution(o.batch_tokens, padding_side, row_chunk, vocab_chunk, progress, on_batch)
    with torch_threads(cores_per_process()):
        values, computed = score_texts(dict(zip(hashes, corpus["text"])), groups, passes, side, o.max_tokens,
                                       execution, cache_dir=cache_dir)
    out = _table(corpus, values.loc[hashes], chosen, k_grid)
    out.attrs.update(_provenance(chosen, k_grid, o.max_tokens, passes, side, given))
    out.attrs.update(n_computed=int(computed), n_texts=int(len(out)))
    return out


_ALIASES = {"k_grid": "k", "max_batch_tokens": "batch_tokens"}  # the keywords' names before the scoring section


def _options(options: ScoringConfig | None, overrides: dict[str, Any]) -> ScoringConfig:
    """The section with the keyword overrides applied, its values checked (the side data is checked by
    ``choose``, against what was given loaded)."""
    changes = {_ALIASES.get(key, key): value for key, value in overrides.items()}
    unknown = [key for key in changes if key not in ScoringConfig.keys()]
    if unknown:
        raise TypeError(f"score_corpus() got an unexpected keyword argument {unknown[0]!r}")
    if changes.get("scores", ()) is None:
        del changes["scores"]  # None: the section's
    for key in ("scores", "k"):
        if key in changes:
            changes[key] = list(changes[key])
    o = (options or ScoringConfig()).with_(**changes)
    o.check_values(Checker())
    return o


def _prefix_texts(recall_prefix: str | Sequence[str] | None) -> list[str] | None:
    """The non-empty texts of the ReCaLL prefix (a single string is one text)."""
    if recall_prefix is None:
        return None
    texts = [t for t in ([recall_prefix] if isinstance(recall_prefix, str) else recall_prefix)
             if isinstance(t, str) and t.strip()]
    if not texts:
        raise AuditError("recall_prefix: no non-empty prefix text")
    return texts


def _side_data(given: Mapping[str, Any], target: LoadedModel, reference_tokenizer: Any,
               dcpdd_clip: float) -> dict[str, Any]:
    """The side data as the passes and attacks read it: the reference model loaded, the DC-PDD texts
    counted into token frequencies under the audited model's tokenizer."""
    side = {name: value for name, value in given.items() if value is not None}
    if "reference" in side:
        side["reference"] = _as_loaded(side["reference"], reference_tokenizer)
    frequencies = side.get("dcpdd_reference")
    if frequencies is not None and not isinstance(frequencies, TokenFrequencies):
        side["dcpdd_reference"] = count_tokens(list(frequencies), target.tokenizer, clip=dcpdd_clip)
    return side


def _table(corpus: pd.DataFrame, values: pd.DataFrame, chosen: Sequence[str],
           k_grid: tuple[float, ...]) -> pd.DataFrame:
    """The scores table: ``corpus``'s ids (and labels) with the chosen attacks' columns of ``values`` (rows in
    corpus order)."""
    out = pd.DataFrame({"id": corpus["id"].astype(str).to_numpy()})
    if "member" in corpus.columns:
        out["member"] = corpus["member"].to_numpy()
    out["n_tokens"] = values["n_tokens"].to_numpy()
    out["truncated"] = values["truncated"].to_numpy()
    for name in chosen:
        for column in columns(name, k_grid):
            out[column] = values[column].to_numpy(dtype=float)
    return out


def _provenance(chosen: Sequence[str], k_grid: tuple[float, ...], max_tokens: int | None,
                passes: Mapping[str, PassRun], side: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` of the scores table: the models' fingerprints and what decided the numbers."""
    main = passes["main"]
    scoring = {"k_grid": k_grid, "context": main.room, "stride": main.stride, "max_tokens": max_tokens,
               "scores": list(chosen)}
    attrs: dict[str, Any] = {"model": main.lm.fingerprint, "scoring": scoring}
    if "reference" in passes:
        attrs["reference_model"] = passes["reference"].lm.fingerprint
    if "prefixed" in passes:
        prefixed = passes["prefixed"]
        attrs["recall_prefix"] = {"recall_prefix_sha256": prefixed.key["recall_prefix_sha256"],
                                  "n_texts": len(given["recall_prefix"]), "n_tokens": len(prefixed.prefix)}
    if "dcpdd_reference" in side:
        attrs["dcpdd"] = side["dcpdd_reference"].key()
    return attrs
