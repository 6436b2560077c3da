"""Summarise sweeps: tables, verdicts against the baseline, plots and the paper comparison (recipes.sweeps.summary).

python scripts/summarize.py multirun/<sweep dir> [more dirs] [--baseline augment.name=none] [--paper NAME]
"""

from recipes.sweeps.summary import main

if __name__ == "__main__":
    raise SystemExit(main())
