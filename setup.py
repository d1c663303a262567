"""Build script for tickdesk's optional C extensions (metadata lives in pyproject.toml).

``core._l2native`` (the L2 book stored natively: int64 hash maps and heaps, plus the int64
``Levels`` arrays) and ``feeds._depthfast`` (the one-pass parser of canonical Binance
depthUpdate frames, which builds ``Levels`` through core._l2native's capsule when that is
built) are accelerators only: when they
cannot be compiled (no C compiler, no Python headers) the install still succeeds with a
warning and tickdesk runs its pure-Python path, which gives the same results.
``tickdesk bench feed --json`` reports which one ran (``"implementation"``).
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

EXTENSIONS = [
    Extension("core._l2native", ["core/_l2native.c"], extra_compile_args=["-O3"]),
    Extension("feeds._depthfast", ["feeds/_depthfast.c"], extra_compile_args=["-O3"]),
]


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing: the extensions are optional."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any toolchain failure means "pure path"
            self._skip("all extensions", exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(ext.name, exc)

    def get_outputs(self) -> list[str]:
        # An extension that failed to build is not an output (editable installs copy outputs).
        import os

        return [p for p in super().get_outputs() if os.path.exists(p)]

    @staticmethod
    def _skip(what: str, exc: BaseException) -> None:
        print(
            f"WARNING: tickdesk: could not compile {what} ({type(exc).__name__}: {exc}); "
            "installing without it: the pure-Python feed path will be used (same results, slower).",
            file=sys.stderr,
        )


setup(ext_modules=EXTENSIONS, cmdclass={"build_ext": OptionalBuildExt})
