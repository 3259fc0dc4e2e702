"""What the model-training benchmarks (ground_truth, model_pair) share: a run folder whose steps are cached
and timed, and saving a trained model so that a killed run never leaves half of one."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from llm_audit.tables import atomic_write_text, read_table, write_table


class RunFolder:
    """Mixin for a benchmark context with ``folder`` (the run folder) and ``log`` (a print function)."""

    folder: Path
    log: Callable[[str], None]

    def cached(self, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The table ``name`` from the run folder, computed (and timed) only when it is not there yet."""
        path = self.folder / f"{name}.parquet"
        if path.exists():
            return read_table(path)
        with self.timed(name):
            table = compute()
        write_table(table, path)
        return table

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time a step and keep the figure in ``timings.json`` of the run folder, so a resumed run still
        reports what every step cost when it was computed."""
        path = self.folder / "timings.json"
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        timings = json.loads(path.read_text()) if path.exists() else {}
        timings[name] = round(elapsed, 1)
        atomic_write_text(path, json.dumps(timings, indent=1) + "\n")
        self.log(f"  {name}: {elapsed:.1f} s")

    def timings(self) -> dict[str, float]:
        path = self.folder / "timings.json"
        return json.loads(path.read_text()) if path.exists() else {}


def save_model(model: Any, tokenizer: Any, folder: Path) -> None:
    """``save_pretrained`` both into a temporary sibling, then rename it to ``folder``."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
