"""Evaluate a trained checkpoint: clean and temperature-scaled calibration, occlusion, OOD detection.

    python eval.py ckpt_path=runs/default                    # writes runs/default/eval/
    python eval.py ckpt_path=runs/x/checkpoints/last.pt trainer.device=cpu eval.ood_datasets=[cifar10]
    python eval.py ckpt_path=runs/default overwrite=true     # replace an existing eval

All the work is in recipes.evaluate; this file only composes the config (Hydra), hands over and prints the table
(recipes.report).
Hydra writes no files of its own here (configs/eval.yaml): the outputs go to `out_dir` (default <run dir>/eval).
"""

import hydra
from omegaconf import DictConfig

from recipes import schema
from recipes.evaluate import evaluate_checkpoint
from recipes.report import format_table

schema.register()  # configs/eval.yaml's defaults name eval_schema


@hydra.main(config_path="configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with schema.errors_for_hydra():
        print(format_table(evaluate_checkpoint(cfg)))


if __name__ == "__main__":
    main()
