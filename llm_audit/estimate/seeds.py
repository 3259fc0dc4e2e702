"""Every random stream of an estimate, derived from the one user seed by name.

``Seeds(seed)("bootstrap")`` is the first word of ``SeedSequence(seed, spawn_key=(crc32("bootstrap"),))``: a
child stream keyed by its name, so adding a stream (or a score) never shifts another one, and the same name
gives the same stream in every run.
"""

from __future__ import annotations

import zlib

import numpy as np


class Seeds:
    def __init__(self, seed: int):
        self.seed = int(seed)

    def __call__(self, *names: str) -> int:
        key = tuple(zlib.crc32(name.encode("utf-8")) for name in names)
        return int(np.random.SeedSequence(self.seed, spawn_key=key).generate_state(1)[0])
