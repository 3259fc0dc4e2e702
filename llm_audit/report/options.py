"""The options of step 4 (``report:`` in a config): declared, defaulted and checked here only."""

from __future__ import annotations

from dataclasses import dataclass

from llm_audit.schema import Checker, Section, option

FORMATS = ("md", "html")


@dataclass
class ReportConfig(Section):
    formats: list[str] = option("report files to write: md, html", default_factory=lambda: list(FORMATS))

    def check(self, c: Checker) -> None:
        c.require(len(self.formats) > 0, "formats", f"must name at least one format ({', '.join(FORMATS)})")
        for i, fmt in enumerate(self.formats):
            c.require(fmt in FORMATS, f"formats[{i}]", f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
