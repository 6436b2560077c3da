"""docs/paper_tables.md agrees with the `paper:` nodes of the experiment files, row by row."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from recipes.sweeps import paper as sweep_paper
from tests.conftest import CONFIGS, ROOT

RECIPES = sorted(  # the experiment files with published numbers (not every experiment reproduces a paper)
    p.stem for p in (CONFIGS / "experiment").glob("*.yaml") if "paper" in OmegaConf.load(p) and "_smoke" not in p.stem
)
METRICS = ("top1", "top5")


def doc_tables() -> dict[str, dict[str, tuple]]:
    """experiment -> row label -> (top-1, top-5) in percent (None for '—'), from the doc's sections."""
    text = (ROOT / "docs" / "paper_tables.md").read_text()
    tables = {}
    for name, body in re.findall(r"^### `(\w+)`\n(.*?)(?=^#|\Z)", text, flags=re.M | re.S):
        rows = [line.strip("| ").split(" | ") for line in body.splitlines() if line.startswith("| ")][1:]
        tables[name] = {r[0]: tuple(None if v == "—" else float(v) for v in r[1:]) for r in rows}
    return tables


@pytest.mark.parametrize("name", RECIPES)
def test_doc_table_equals_the_experiment_files_paper_node(name):
    paper = sweep_paper.load_paper(name, [])
    expected = {}
    for row in paper["rows"]:
        label = ", ".join(f"{k}={v}" for k, v in row.items() if k not in METRICS)
        expected[label] = tuple(None if m not in row else round(100 * row[m], 2) for m in METRICS)
    assert doc_tables()[name] == expected


def test_every_recipe_has_a_section():
    assert sorted(doc_tables()) == RECIPES
