"""The repository documents itself: no file names a path outside it, and every pointer into the method
documentation (docs/method.md) names a section that exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHOD = REPO / "docs" / "method.md"
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "runs", ".cache"}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".json", ""}


def repository_text_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in path.relative_to(REPO).parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            files.append(path)
    return files


def test_no_file_names_a_path_outside_the_repository():
    # Built from pieces so that this file does not match itself.
    outside = re.compile("|".join([r"\.\./" + "shared", "/" + "shared/", "shared" + "/data", "/" + "work/"]))
    hits = [f"{path.relative_to(REPO)}:{n}: {line.strip()}" for path in repository_text_files()
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if outside.search(line)]
    assert not hits, "\n".join(hits)


def _sections() -> tuple[set[str], set[str]]:
    """Section numbers ('4', '4.1') and GitHub anchors of the headings of docs/method.md."""
    numbers, anchors = set(), set()
    for line in METHOD.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#{2,3} (.+)", line)
        if heading:
            title = heading.group(1)
            number = re.match(r"(\d+(?:\.\d+)?)\.? ", title)
            if number:
                numbers.add(number.group(1))
            anchors.add(re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-"))
    return numbers, anchors


def test_every_pointer_into_the_method_documentation_names_an_existing_section():
    numbers, anchors = _sections()
    assert {"2", "3", "4", "4.1", "5.4", "6.5", "7", "8"} <= numbers
    pointers = 0
    for path in repository_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for ref in re.findall(r"docs/method\.md ((?:§[\d.]+(?:-§[\d.]+)?(?:, )?)+)", text):
            for number in re.findall(r"§(\d+(?:\.\d+)?)", ref):
                pointers += 1
                assert number in numbers, f"{path.relative_to(REPO)}: docs/method.md §{number} does not exist"
        for anchor in re.findall(r"docs/method\.md#([\w\-]+)", text):
            pointers += 1
            assert anchor in anchors, f"{path.relative_to(REPO)}: docs/method.md#{anchor} does not exist"
    assert pointers >= 10  # the code, the configs and the README point into it


def test_the_readme_config_reference_is_the_one_the_code_generates():
    from llm_audit.config import config_reference

    assert config_reference() in (REPO / "README.md").read_text(encoding="utf-8")
