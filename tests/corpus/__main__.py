"""``python -m tests.corpus [-k PATTERN] [--theme THEME] [-j N] [--keep]``: run the corpus and print a table.

Exit status 0 when every case passed (or was skipped on this machine), else 1.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv=None) -> int:
    from tests.corpus.cases import CASES, by_id, run_one as _one
    from tests.corpus.engine import table

    parser = argparse.ArgumentParser(prog="python -m tests.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="pattern", default=None, help="only case ids matching this regular expression")
    parser.add_argument("--theme", default=None, help="only cases of this theme")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="cases run in parallel (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the sandboxes (printed at the end)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    by_id()  # ids unique
    cases = [c for c in CASES if (not args.pattern or re.search(args.pattern, c.id))
             and (not args.theme or c.theme == args.theme)]
    if args.list:
        for c in cases:
            print(f"{c.id:<40} {c.theme:<16} {c.expect.summary()}")
        print(f"{len(cases)} case(s)")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="sb-corpus-"))
    t0 = time.monotonic()
    jobs = [(c.id, str(workdir)) for c in cases]
    if args.jobs > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(_one, jobs))
    else:
        results = [_one(j) for j in jobs]
    wall = time.monotonic() - t0
    print(table(results))
    failed = [r for r in results if r.passed is False]
    skipped = [r for r in results if r.passed is None]
    if failed:
        print("\nbroken promises:")
        for r in failed:
            print(f"  {r.id}: " + "; ".join(r.problems[:4]))
    print(f"\n{len(results) - len(failed) - len(skipped)} passed, {len(failed)} failed, {len(skipped)} skipped "
          f"of {len(results)} cases in {wall:.1f} s wall (jobs={args.jobs}); "
          f"CPU {sum(r.cpu for r in results):.0f} s; most CPU: "
          + ", ".join(f"{r.id} {r.cpu:.1f} s" for r in sorted(results, key=lambda r: -r.cpu)[:5]))
    if args.keep:
        print(f"sandboxes kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
