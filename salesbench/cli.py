"""``salesbench`` command line: ``demo``, ``validate``, ``run``, ``list``, ``warm``, ``catalogs``.

Each sub-command lives in the module that does the work; that module exposes
``add_arguments(parser)`` and ``main(args) -> int``. Exit status: 0 success,
1 a report failed, 2 bad input (parameters, data schema).
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "demo": ("salesbench.datasets.demo", "generate the demo company (with its ground truth)"),
    "validate": ("salesbench.io.check", "check a data source against the canonical schema"),
    "run": ("salesbench.report.runner", "execute notebooks with Papermill and render HTML reports"),
    "list": ("salesbench.report.runner", "list the available notebooks and their parameters"),
    "warm": ("salesbench.report.warm", "compile the reports' models once (a fresh machine's first run skips it)"),
    "catalogs": ("salesbench.report.catalogs", "update the translation catalogs from the code (--check: only check)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, import just that sub-command's module (fast start)."""
    parser = argparse.ArgumentParser(prog="salesbench", description="Sales analytics workbench.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        mod = importlib.import_module(module)
        adder = getattr(mod, f"add_{name}_arguments", None) or getattr(mod, "add_arguments")
        adder(p)
        p.set_defaults(_module=module, _command=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    mod = importlib.import_module(args._module)
    runner = getattr(mod, f"main_{args._command}", None) or getattr(mod, "main")
    return int(runner(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
