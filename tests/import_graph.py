"""The project's import graph, read from the source with ``ast`` (nothing is imported), and
the layer rules of docs/architecture.md checked on it.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``. A
module is named as Python names it (``rayapp.pipeline.video._job``); ``from rayapp import
storage`` is an import of the module ``rayapp.storage``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Lowest first. A module imports only modules of its own layer or below. A name ending in
# ".*" is a package with everything in it; any other name is that one module.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "rayapp",  # the package's __init__: the version and a lazy re-export
            "rayapp.errors",
            "rayapp.config",
            "rayapp.codecs",
            "rayapp.storage",
            "rayapp.image_formats",
            "rayapp.hardware",
            "rayapp.arguments",
            "rayapp.entrypoint",
        ),
    ),
    (
        "media and model",
        (
            "rayapp.video.*",
            "rayapp.models.*",
            "rayapp.upscaler",
            "rayapp.images",
            "rayapp.resize",
            "rayapp.quality",
            "rayapp.flow",
            "rayapp.temporal",
            "rayapp.deflicker",
            "rayapp.interpolate",
            "rayapp.rife",
            "rayapp.faces",
            "rayapp.sample",
            "rayapp._tiling",
            "rayapp._inductor",
            "rayapp.testing.*",
        ),
    ),
    ("pipeline", ("rayapp.pipeline.*", "rayapp.train.*")),
    ("entry points", ("rayapp.cli", "jobs.*", "serve.*", "benchmarks.*")),
)
# What the foundation may not load when it is imported: media libraries, frameworks.
HEAVY = ("av", "cv2", "PIL", "torch", "torchvision", "torchmetrics", "spandrel", "ray", "numpy")
PACKAGES = ("rayapp", "jobs", "serve", "benchmarks")


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    imported: str  # module name (a module of the project, or a third-party top name)
    line: int
    top_level: bool  # at module level, not inside a function or TYPE_CHECKING


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Module name -> file, for every .py file of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(root: Path, packages: Iterable[str] = PACKAGES) -> list[Import]:
    """Every import of every module of ``packages``."""
    known = modules(root, packages)
    found: list[Import] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in _run_at_import(tree.body)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, name, path, known):
                    found.append(Import(name, target, node.lineno, id(node) in top))
    return found


def _run_at_import(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The import statements that run when the module is imported: at module level, also
    inside a module-level ``try`` or ``if``, but not under ``if TYPE_CHECKING``."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from _run_at_import(node.body)
            yield from _run_at_import(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _run_at_import(block)


def _targets(node: ast.stmt, name: str, path: Path, known: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [_project_or_top(alias.name, known) for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:  # relative: from the importer's package
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, *([base] if base else [])])
    out = []
    for alias in node.names:
        full = f"{base}.{alias.name}"
        out.append(full if full in known else _project_or_top(base, known))
    return out


def _project_or_top(module: str, known: dict[str, Path]) -> str:
    """A project module as named, else the longest project module it lies in, else the
    third-party top-level name."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in known:
            return ".".join(parts[:i]) if i == len(parts) else module
    return parts[0]


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the layer that names ``module`` (None: no layer does)."""
    for index, (_, names) in enumerate(LAYERS):
        for listed in names:
            package = listed.removesuffix(".*")
            if module == package or (listed.endswith(".*") and module.startswith(package + ".")):
                return index
    return None


def unplaced(known: Iterable[str]) -> list[str]:
    """Modules no layer names."""
    return sorted(m for m in known if layer_of(m) is None)


def upward(found: Iterable[Import], known: Iterable[str]) -> list[str]:
    """Imports of a module from a higher layer."""
    project = set(known)
    out = []
    for i in found:
        if i.imported not in project:
            continue
        low, high = layer_of(i.importer), layer_of(i.imported)
        if low is not None and high is not None and high > low:
            out.append(
                f"{i.importer}:{i.line} ({LAYERS[low][0]}) imports {i.imported} ({LAYERS[high][0]})"
            )
    return out


def private_crossings(found: Iterable[Import]) -> list[str]:
    """Imports of a ``_private`` module from outside the package that holds it."""
    out = []
    for i in found:
        parts = i.imported.split(".")
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:depth])
                if not (i.importer == owner or i.importer.startswith(owner + ".")):
                    out.append(f"{i.importer}:{i.line} imports {i.imported}")
                break
    return out


def heavy_in_foundation(found: Iterable[Import]) -> list[str]:
    """Module-level imports of a media library or framework by the foundation."""
    return [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in found
        if i.top_level and layer_of(i.importer) == 0 and i.imported.split(".")[0] in HEAVY
    ]


def unit(module: str) -> str:
    """The folder or top-level module ``module`` belongs to: rayapp.video._plan ->
    rayapp.video; rayapp.config -> rayapp.config; serve.jobs -> serve. The pipeline's
    subpackages are folders of their own: rayapp.pipeline.video._job ->
    rayapp.pipeline.video (a job, or a part the jobs share)."""
    parts = module.split(".")
    if parts[0] != "rayapp":
        return parts[0]
    if parts[1:2] == ["pipeline"] and len(parts) > 2:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def project_edges(found: Iterable[Import], known: Iterable[str]) -> list[tuple[str, str]]:
    project = set(known)
    return [(i.importer, i.imported) for i in found if i.imported in project]
