"""Sweep analysis: read run directories, group them, compare each group with its baseline, tables and figures.

`runs` loads and groups run dirs, `verdict` compares groups with their baseline, `tables` writes Markdown/CSV,
`paper` lines groups up with published numbers, `figures` draws, `summary` is scripts/summarize.py's command line.
It reads only run-directory files, so it works on sweeps copied from another machine.
"""
