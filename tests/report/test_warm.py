"""``salesbench warm``: the PyTensor models a first run would compile are compiled at set-up (issue #13)."""
from __future__ import annotations

import re
from pathlib import Path

from salesbench import cli
from salesbench.report import warm

PACKAGE = Path(__file__).resolve().parents[2] / "salesbench"


def test_warm_covers_every_analysis_with_a_pytensor_model():
    """An analysis that builds a PyMC/PyTensor model but is not warmed would compile on a fresh machine's first run."""
    compiled = sorted({p.relative_to(PACKAGE / "analyses").parts[0] for p in (PACKAGE / "analyses").rglob("*.py")
                       if re.search(r"^\s*(import|from) (pymc|pytensor|pymc_marketing|nutpie)\b",
                                    p.read_text(encoding="utf-8"), re.M)})
    assert compiled and set(compiled) <= set(warm.STEPS), compiled


def test_warm_bad_data_exits_2_with_one_line(tmp_path, capsys):
    assert cli.main(["warm", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("salesbench warm: error: ") and "nowhere" in err, err
