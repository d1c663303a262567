"""The layer rules, enforced (see ARCHITECTURE.md).

* ``core`` never imports ``feeds``, ``strategies``, ``tui``, textual or rich;
* ``feeds`` and ``strategies`` import ``core`` only (not each other, not ``tui``, textual, rich);
* ``tickdesk --help`` (and the other quick commands) never import textual.

Each rule is checked twice: statically (every ``.py`` file parsed with ``ast``, so a violation
in a module nobody imports yet is caught) and dynamically (a fresh interpreter imports every
module of the package and then looks at ``sys.modules``, so transitive imports are caught).
The checkers are tested on deliberately broken throwaway packages, so they can fail.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

UI = {"tui", "textual", "rich"}
RULES: dict[str, set[str]] = {
    "core": {"feeds", "strategies"} | UI,
    "feeds": {"strategies"} | UI,
    "strategies": {"feeds"} | UI,
}


# --------------------------------------------------------------------------- checkers


def _imported_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        # Relative imports cannot leave the package; absolute ones name their top level.
        return [node.module] if node.level == 0 and node.module else []
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def static_violations(package_dir: Path, forbidden: set[str]) -> list[str]:
    """``file:line: imports X`` for every forbidden import written in the package's files."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported_names(node):
                if name.split(".")[0] in forbidden:
                    rel = path.relative_to(package_dir.parent)
                    found.append(f"{rel}:{node.lineno}: imports {name}")
    return found


_DYNAMIC_PROBE = r"""
import importlib, json, pkgutil, sys, traceback
package, forbidden = sys.argv[1], set(sys.argv[2].split(","))

def loaded():
    return {m for m in sys.modules if m.split(".")[0] in forbidden}

culprits, failed, seen = {}, {}, loaded()
names = [package]
root = importlib.import_module(package)
names += [info.name for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda n: failed.setdefault(n, "walk error"))]
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    now = loaded()
    for mod in sorted(now - seen):
        culprits.setdefault(mod.split(".")[0], name)
    seen = now
print(json.dumps({"modules": names, "culprits": culprits, "failed": failed, "already": sorted(m for m in loaded())}))
"""


def dynamic_violations(package: str, forbidden: set[str], pythonpath: Path = REPO_ROOT) -> dict:
    """Import every module of ``package`` in a fresh interpreter; report forbidden modules loaded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", _DYNAMIC_PROBE, package, ",".join(sorted(forbidden))],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=pythonpath,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"import probe for {package} crashed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def imported_top_level(args: list[str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the CLI under ``python -X importtime`` and return every top-level module it imported.

    Uses the installed console script when there is one next to the interpreter (what a user
    runs), else ``python -m tui.cli`` (same entry point).
    """
    script = Path(sys.executable).with_name("tickdesk")
    target = [str(script)] if script.is_file() else ["-m", "tui.cli"]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *target, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
    )
    return proc, parse_importtime(proc.stderr)


def parse_importtime(stderr: str) -> set[str]:
    """Top-level module names from ``-X importtime`` lines (``import time: self | cumul | name``)."""
    modules = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "package":  # skip the header line
                modules.add(name.split(".")[0])
    return modules


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("package", sorted(RULES))
def test_static_imports_respect_layers(package):
    violations = static_violations(REPO_ROOT / package, RULES[package])
    assert not violations, f"{package} must not import {sorted(RULES[package])}:\n" + "\n".join(violations)


@pytest.mark.parametrize("package", sorted(RULES))
def test_dynamic_imports_respect_layers(package):
    report = dynamic_violations(package, RULES[package])
    assert not report["failed"], f"{package} modules fail to import: {report['failed']}"
    culprits = report["culprits"]
    assert not culprits and not report["already"], (
        f"importing {package} loads forbidden modules (module -> the first {package} module whose import loaded it): "
        f"{culprits or report['already']}"
    )


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["config", "path"], ["config", "show", "--json"], ["sim", "--help"]],
    ids=lambda a: " ".join(a),
)
def test_quick_commands_do_not_import_textual(args):
    proc, modules = imported_top_level(args)
    assert proc.returncode == 0, f"tickdesk {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    assert proc.stdout.strip(), "no output on stdout"
    assert modules, "-X importtime reported nothing: the check would be blind"
    assert "tui" in modules and "typer" in modules
    assert "textual" not in modules, f"tickdesk {' '.join(args)} imported textual"


def test_help_lists_the_command_groups():
    proc, _ = imported_top_level(["--help"])
    assert proc.returncode == 0
    for group in ("config", "sim", "bench", "journal"):
        assert group in proc.stdout


# --------------------------------------------------------------------------- the checkers can fail


def _make_package(root: Path, name: str, files: dict[str, str]) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    return pkg


def test_static_checker_catches_violations(tmp_path):
    pkg = _make_package(
        tmp_path,
        "core",
        {
            "ok.py": "import json\nfrom . import ok2\nfrom core import numbers\n",
            "a.py": "import textual.app\n",
            "sub/__init__.py": "",
            "sub/b.py": "def f():\n    from tui.cli import app\n    return app\n",
            "c.py": "import importlib\nmod = importlib.import_module('rich.console')\n",
            "d.py": "from feeds import binance\n",
        },
    )
    found = static_violations(pkg, RULES["core"])
    assert any("a.py:1: imports textual.app" in f for f in found)
    assert any("b.py:2: imports tui.cli" in f for f in found)
    assert any("c.py:2: imports rich.console" in f for f in found)
    assert any("d.py:1: imports feeds" in f for f in found)
    assert not any("ok.py" in f for f in found)


def test_dynamic_checker_catches_transitive_violations(tmp_path):
    # core_probe.helper imports a third-party-looking module that pulls in rich.
    _make_package(tmp_path, "core_probe", {"helper.py": "import innocent\n", "clean.py": "import json\n"})
    (tmp_path / "innocent.py").write_text("import rich.text\n")
    report = dynamic_violations("core_probe", RULES["core"], pythonpath=tmp_path)
    assert report["culprits"] == {"rich": "core_probe.helper"}


def test_importtime_parser_sees_textual():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import textual.app"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "textual" in parse_importtime(proc.stderr)
