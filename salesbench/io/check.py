"""``salesbench validate``: open a data source and print its schema errors and quality problems.

The checks are :func:`salesbench.core.validate.validate`'s; this module opens the
source (:func:`salesbench.io.sources.open_data`) and is the command line.
Exit status 2 on schema errors (or quality problems with ``--strict``), 0 otherwise.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys

from salesbench.core.errors import DataError
from salesbench.core.secrets import redact
from salesbench.core.validate import validate
from salesbench.io.sources import open_data


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="demo", help="data source: demo, folder, .duckdb, spec .yaml or postgres:// URL")
    parser.add_argument("--strict", action="store_true", help="treat quality problems as fatal (exit 2)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--as-of", default=None, help="date after which order dates count as future (default: today)")


def main_validate(args) -> int:
    """``salesbench validate``: print the findings; exit 2 on schema errors (or quality problems with --strict)."""
    try:
        as_of = _dt.date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        print(f"salesbench validate: --as-of {args.as_of!r} is not a date YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        report = validate(open_data(args.data), strict=args.strict, as_of=as_of)
    except DataError as exc:
        print(f"salesbench validate: {redact(str(exc))}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    return report.exit_code
