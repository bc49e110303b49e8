"""The project's own map: README links docs/architecture.md, every path that page names
exists, and no file of the project points outside the repository for its documentation."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture.md"


def test_readme_links_the_architecture_page() -> None:
    assert "](docs/architecture.md)" in (ROOT / "README.md").read_text()


def test_every_path_the_architecture_page_names_exists() -> None:
    named = set(
        re.findall(r"`((?:rayapp|jobs|serve|benchmarks|tests|docs)/[\w/.]*)`", MAP.read_text())
    )
    named |= {
        f"rayapp/{p}"
        for p in re.findall(
            r"`((?:pipeline|video|models|train|testing)/[\w.]+\.py)", MAP.read_text()
        )
    }
    assert len(named) > 30
    assert sorted(p for p in named if not (ROOT / p.split(" ")[0]).exists()) == []


def test_no_file_points_outside_the_repository() -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    outside = re.compile(r"\.\./shared|DESIGN\.md|STYLE\.md")
    hits = [
        name
        for name in files
        if (ROOT / name).is_file()
        and name != "tests/unit/test_docs.py"
        and outside.search((ROOT / name).read_text(errors="replace"))
    ]
    assert hits == []
