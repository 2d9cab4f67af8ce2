"""The layout rules of docs/CONVENTIONS.md, checked on the source so that they stay true."""

import ast
import subprocess
import sys
from pathlib import Path

import restoration

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"io", "store", "motion", "detect", "inpaint", "check", "models", "core", "pipeline", "simulate", "train", "evaluate"}
TOP_LEVEL = {"__init__.py", "errors.py", "commands.py"}
INFERENCE = ("core", "detect", "inpaint", "models", "motion", "check")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import statement in ``path`` (names empty for ``import x``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def _sources(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def test_every_module_lives_in_a_stage_package():
    assert {p.name for p in (ROOT / "restoration").glob("*.py")} == TOP_LEVEL
    packages = {p.name for p in (ROOT / "restoration").iterdir() if (p / "__init__.py").is_file()}
    assert packages == STAGES


def test_no_module_imports_another_modules_private_name():
    offenders = [
        f"{p.relative_to(ROOT)}: from {module} import {name}"
        for p in _sources("restoration", "flows")
        for module, names in _imports(p)
        if module.startswith(("restoration", "flows"))
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []


def test_inference_never_imports_training():
    offenders = [
        f"{p.relative_to(ROOT)}: {module}"
        for p in _sources(*(f"restoration/{pkg}" for pkg in INFERENCE))
        for module, _ in _imports(p)
        if module.startswith("restoration.train")
    ]
    assert offenders == []


def test_core_imports_neither_the_store_nor_prefect():
    """The benchmark and the speed scripts run the core on a bare machine (no zarr, no Prefect)."""
    code = (
        "import sys, restoration.core.restore\n"
        "print(sorted(m for m in ('zarr', 'prefect', 'restoration.store.provenance') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_public_api_resolves_lazily():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, restoration; print('torch' in sys.modules, 'zarr' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert out.stdout.strip() == "False False"
    for name in restoration.__all__:
        assert getattr(restoration, name) is not None, name
    from restoration.core.restore import restore_frames

    assert restoration.restore_frames is restore_frames
