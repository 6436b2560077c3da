"""The model menu: every model preset trained on one short budget with its own recipe, and the table of results.

    .venv/bin/python scripts/model_menu.py                       # train what is missing, one run at a time
    .venv/bin/python scripts/model_menu.py --models vit_tiny,resnet18 --root runs/model_menu
    .venv/bin/python scripts/model_menu.py --table               # only print the table of what has finished

Each preset (configs/model/*.yaml except `timm`) trains with no override but the budget: the first 5,000
Fashion-MNIST training images, 3 epochs, seed 0, evaluated once at the end on the 10,000 test images, with the
optimiser and schedule its model config brings (README "Models and their recipes") and trainer.precision=auto.
Runs go one at a time (each already uses every core), to <root>/<model>; a finished run is skipped, as train.py
skips it, so an interrupted menu picks up where it stopped. The table (docs/results.md "The model menu") gives
top-1, ECE, training img/s, wall time and the recipe from each run's summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from recipes.recipe_origin import describe_optim, describe_sched

ROOT = Path(__file__).resolve().parents[1]

# Fastest first, so that a menu cut short still covers the most presets.
MODELS = (
    "preact_resnet18_w16",
    "resnet18",
    "efficientnet_b0",
    "vit_tiny",
    "preact_resnet18",
    "vit_small",
    "resnet50",
    "wrn_28_10",
    "pyramidnet",
)
# Robustness off: the menu compares the presets' training, and the robustness pass would add minutes to the big ones.
BUDGET = ("dataset=fashion_mnist", "dataset.subset=5000", "trainer.epochs=3", "trainer.robustness=false", "seed=0")
# Not result-defining (recipes/run_keys.py): quiet logs, and the test set once, after the last epoch.
QUIET = ("trainer.progress=false", "trainer.eval_every=3")


def command(model: str, root: Path, extra: list[str]) -> list[str]:
    """The train.py command line of one menu run."""
    run_dir = (root / model).resolve()
    return [sys.executable, "train.py", f"model={model}", *BUDGET, *QUIET, *extra, f"hydra.run.dir={run_dir}"]


def train(models: list[str], root: Path, extra: list[str]) -> None:
    for model in models:
        if (root / model / "summary.json").is_file():
            print(f"{model}: complete, skipped", flush=True)
            continue
        print(f"{model}: {' '.join(command(model, root, extra)[1:])}", flush=True)
        done = subprocess.run(command(model, root, extra), cwd=ROOT, check=False)
        print(f"{model}: exit code {done.returncode}", flush=True)


def row(model: str, root: Path) -> str:
    """One table row from <root>/<model>/summary.json, or a row saying the run did not finish."""
    summary_file = root / model / "summary.json"
    if not summary_file.is_file():
        state = "failed (failed.json)" if (root / model / "failed.json").is_file() else "not run / not finished"
        return f"| {model} | {state} | | | | | |"
    summary = json.loads(summary_file.read_text())
    cfg = OmegaConf.create(summary["config"])
    return (
        f"| {model} | {summary['params'] / 1e6:.2f}M | {100 * summary['top1']:.1f} | {summary['ece']:.3f} "
        f"| {summary['img_per_s']:.0f} | {summary['wall_s']:.0f} "
        f"| {describe_optim(cfg.optim)}; {describe_sched(cfg.sched)} |"
    )


def table(models: list[str], root: Path) -> str:
    head = [
        "| model | params | top-1 % | ECE | train img/s | wall s | recipe (optim; sched) |",
        "|---|" + "---:|" * 5 + "---|",
    ]
    return "\n".join(head + [row(model, root) for model in models])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated presets, in the order to run")
    parser.add_argument("--root", type=Path, default=Path("runs/model_menu"), help="one run dir per model under it")
    parser.add_argument("--table", action="store_true", help="print the table of finished runs, train nothing")
    parser.add_argument(
        "overrides", nargs="*", help="extra train.py overrides for every run (e.g. trainer.device=cuda)"
    )
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"--models: unknown presets {unknown}; the menu has {', '.join(MODELS)}")
    if not args.table:
        train(models, args.root, args.overrides)
    print(table(models, args.root))


if __name__ == "__main__":
    main()
