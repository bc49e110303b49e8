"""The layers of docs/architecture.md, kept by a test over the import graph: every module
has a layer and imports nothing above it; no folder or top-level module imports another
that imports it back (counting imports inside functions); ``_private`` modules stay inside
their package; the foundation loads no media library. The same checks on a small made-up
tree show that each one fails when its rule is broken."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import import_graph as graph

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], list[graph.Import]]:
    return graph.modules(ROOT), graph.imports(ROOT)


def test_every_module_has_a_layer(project: tuple) -> None:
    known, _ = project
    assert graph.unplaced(known) == []


def test_no_module_imports_from_a_layer_above_it(project: tuple) -> None:
    known, found = project
    assert graph.upward(found, known) == []


def test_no_import_cycle_between_folders_or_modules(project: tuple) -> None:
    known, found = project
    edges = graph.project_edges(found, known)
    assert graph.cycles((graph.unit(a), graph.unit(b)) for a, b in edges) == []
    # Inside a package too, except the package's lazy re-exports (__init__ -> its modules,
    # each imported on first use) which its own modules never import back.
    within = [(a, b) for a, b in edges if graph.unit(a) == graph.unit(b) != a]
    assert graph.cycles(within) == []


def test_private_modules_stay_inside_their_package(project: tuple) -> None:
    _, found = project
    assert graph.private_crossings(found) == []


def test_the_foundation_imports_no_media_library(project: tuple) -> None:
    _, found = project
    assert graph.heavy_in_foundation(found) == []


def test_importing_the_foundation_loads_no_media_library() -> None:
    names = [m for m in graph.LAYERS[0][1] if m != "rayapp"]
    code = (
        f"import sys\nfor m in {names!r}: __import__(m)\n"
        f"print(sorted(m for m in {graph.HEAVY!r} if m in sys.modules))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert (r.returncode, r.stdout) == (0, "[]\n"), r.stderr


# A made-up tree in which each rule is broken once.
BROKEN = {
    "rayapp/__init__.py": "",
    "rayapp/config.py": "import av\nfrom rayapp.video import probe\n",
    "rayapp/storage.py": "def f():\n    import torch\n",
    "rayapp/video/__init__.py": "from rayapp.video._probe import probe\n",
    "rayapp/video/_probe.py": "def probe():\n    from rayapp.pipeline import run\n",
    "rayapp/pipeline/__init__.py": "from rayapp.pipeline.job import run\n",
    "rayapp/pipeline/job/__init__.py": "from rayapp.pipeline.job._run import run\n",
    "rayapp/pipeline/job/_run.py": (
        "from rayapp.video import probe\nfrom rayapp.pipeline.job._a import a\n"
    ),
    "rayapp/pipeline/job/_a.py": "def a():\n    from rayapp.pipeline.job._run import run\n",
    # Two of the pipeline's subpackages that import each other.
    "rayapp/pipeline/left/__init__.py": "from rayapp.pipeline.right import r\n",
    "rayapp/pipeline/right/__init__.py": "def r():\n    from rayapp.pipeline.left import l\n",
    "rayapp/mystery.py": "",
    "serve/__init__.py": "",
    "serve/app.py": "from rayapp.video._probe import probe\n",
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[graph.Import]]:
    root = tmp_path_factory.mktemp("tree")
    for name, text in BROKEN.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    packages = ("rayapp", "serve")
    return graph.modules(root, packages), graph.imports(root, packages)


def test_a_module_with_no_layer_is_named(broken: tuple) -> None:
    known, _ = broken
    assert graph.unplaced(known) == ["rayapp.mystery"]


def test_an_upward_import_is_named_also_inside_a_function(broken: tuple) -> None:
    known, found = broken
    assert graph.upward(found, known) == [
        "rayapp.config:2 (foundation) imports rayapp.video (media and model)",
        "rayapp.video._probe:2 (media and model) imports rayapp.pipeline (pipeline)",
    ]


def test_a_cycle_is_found_between_folders_and_inside_one(broken: tuple) -> None:
    """Between folders (the pipeline's subpackages are folders too) and inside one."""
    known, found = broken
    edges = graph.project_edges(found, known)
    assert graph.cycles((graph.unit(a), graph.unit(b)) for a, b in edges) == [
        ["rayapp.pipeline", "rayapp.pipeline.job", "rayapp.video"],
        ["rayapp.pipeline.left", "rayapp.pipeline.right"],
    ]
    within = [(a, b) for a, b in edges if graph.unit(a) == graph.unit(b) != a]
    assert graph.cycles(within) == [["rayapp.pipeline.job._a", "rayapp.pipeline.job._run"]]


def test_a_private_import_from_outside_its_package_is_named(broken: tuple) -> None:
    _, found = broken
    assert graph.private_crossings(found) == ["serve.app:1 imports rayapp.video._probe"]


def test_a_media_library_in_the_foundation_is_named_at_import_time_only(broken: tuple) -> None:
    _, found = broken
    assert graph.heavy_in_foundation(found) == ["rayapp.config:1 imports av"]
