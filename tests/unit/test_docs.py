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


# Backticked words of the map that are not names of this project's code: Ray's own class,
# and the word for a module whose name starts with an underscore.
NOT_OURS = {"TorchTrainer", "_private"}


def test_every_name_the_architecture_page_gives_is_in_the_code() -> None:
    """Each module, class, function, constant or field the page names in backticks (a
    dotted name, a path with a name after it, or a bare name with an underscore or a capital)
    is defined where it says: a misnamed or renamed symbol fails here."""
    code = _definitions()
    names = [token for token in re.findall(r"`([^`\s]+)`", MAP.read_text()) if _is_name(token)]
    assert len(names) > 60
    assert sorted({n for n in names if not _resolves(n, code)}) == []


def _is_name(token: str) -> bool:
    token = token.removesuffix("()")
    if token in NOT_OURS or token.endswith((".py", "/")) or not re.fullmatch(r"[\w./]+", token):
        return False
    return "." in token or "_" in token or token != token.lower()


def _definitions() -> dict[str, set[str]]:
    """Module name -> the names it defines or imports at its top level; and "Class" ->
    the names a class of that name defines (its methods, fields and attributes)."""
    import ast

    found: dict[str, set[str]] = {}
    for package in ("rayapp", "jobs", "serve", "benchmarks", "tests"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            tree = ast.parse(path.read_text())
            found[module] = _top_names(tree.body)
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    found.setdefault(node.name, set()).update(_top_names(node.body))
    return found


def _top_names(body: list) -> set[str]:  # noqa: ANN001 - ast statements
    import ast

    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
            names |= targets
            if "_MODULES" in targets and isinstance(node.value, ast.Dict):  # lazy exports
                names |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If | ast.Try):
            names |= _top_names(node.body)
    return names


def _resolves(token: str, code: dict[str, set[str]]) -> bool:
    """``token`` (``a.b.c``, ``video/_chunks.cut_chunks``, ``Class.member``, ``name``) is
    a module, or a module's name (then a member of that class), or a class's member."""
    parts = token.removesuffix("()").replace("/", ".").split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        modules = [m for m in code if m == prefix or m.endswith("." + prefix)]
        if modules:
            return any(_members(code, code[m], parts[cut:]) for m in modules)
    if len(parts) == 1:
        return any(parts[0] in names for names in code.values())
    return parts[0] in code and _members(code, code[parts[0]], parts[1:])


def _members(code: dict[str, set[str]], names: set[str], rest: list[str]) -> bool:
    if not rest:
        return True
    if rest[0] not in names:
        return False
    return len(rest) == 1 or _members(code, code.get(rest[0], set()), rest[1:])
