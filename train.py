"""Train one model with one augmentation and evaluate it on the clean test set every epoch.

    python train.py                                   # Fashion-MNIST, small PreAct-ResNet18, CPU-friendly
    python train.py augment=cutmix augment.alpha=1.0
    python train.py -m augment=mixup,cutmix augment.alpha=0.2,1.0 seed=0,1,2   # a sweep
    python train.py --help                            # config groups and keys

All the work is in recipes.run_training; this file only composes the config (Hydra) and hands over.
"""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from recipes import schema
from recipes.distributed import env_rank
from recipes.recipe_origin import describe_recipe
from recipes.run import run_training
from recipes.run_keys import register_run_name

log = logging.getLogger(__name__)
register_run_name()  # configs/train.yaml names run dirs with it
schema.register()  # the configs' defaults lists name these schemas


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    cfg.model_choice = hydra_cfg.runtime.choices.get("model")  # e.g. preact_resnet18_w16 (summary.json's `model`)
    if env_rank() == 0:  # which optimiser and schedule, and why (the model's recipe, an experiment, the command line)
        for line in describe_recipe(cfg, choices=hydra_cfg.runtime.choices, task_overrides=hydra_cfg.overrides.task):
            log.info(line)
    with schema.errors_for_hydra():
        summary = run_training(cfg, hydra_cfg.runtime.output_dir)
    return summary["top1"]  # the value Hydra sweepers optimise


if __name__ == "__main__":
    if env_rank() > 0:  # torchrun's other processes: rank 0 alone writes .hydra/ and train.log into the run dir
        sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=stdout"]
    main()
