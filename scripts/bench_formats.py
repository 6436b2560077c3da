"""`scripts/bench_train.py --formats`: a model preset in each numeric format, training and evaluation.

fp32 / bf16 x NCHW / channels_last, interleaved in every repeat; the format precision=auto picks is marked.
The default run's model by default, any preset with `--model` (configs/model/<name>.yaml, e.g. efficientnet_b0:
its depthwise convolutions are a different kernel mix from the ResNets'). The step is SGD's whatever the preset's
recipe: what is timed is the format, not the optimiser. Not a script of its own: bench_train.py's --formats flag
runs it.
"""

from __future__ import annotations

import statistics

import torch
from bench_timing import ROOT, batches, make_mixer, time_steps
from omegaconf import OmegaConf

from models import build_model
from recipes.builders import build_optimizer
from recipes.config import load_option
from recipes.data import InMemoryData
from recipes.engine import StepConfig, predict, train_one_epoch
from recipes.precision import resolve_precision

# The default run's shape (configs/train.yaml): 1x28x28 Fashion-MNIST-shaped images, batch 128.
FORMATS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
EVAL_BATCHES = (1024, 256, 128)


def bench_formats(args, device: torch.device) -> list[str]:
    """Training step and evaluation forward of the `--model` preset in each numeric format, interleaved.

    Training: images/s of train_one_epoch without mixing over `steps` steps; evaluation: images/s of
    recipes.engine.predict (what train.py evaluates with) at each eval batch size. Medians over the repeats.
    """
    batch, steps = args.batch_size or 128, args.steps or 4
    cfg = OmegaConf.load(ROOT / "configs" / "dataset" / "synthetic.yaml")
    cfg.merge_with({"img_size": 28, "in_chans": 1, "mean": [0.5], "std": [0.25], "train_size": batch * steps})
    cfg.merge_with({"test_size": max(EVAL_BATCHES) * 2})
    data = InMemoryData(cfg, device, seed=0)
    gen = torch.Generator(device=device).manual_seed(0)
    mixer = make_mixer("none", 10, device)
    model_args = OmegaConf.to_container(load_option(ROOT / "configs" / "model" / f"{args.model}.yaml"))
    runs = {}
    for precision, channels_last in FORMATS:
        torch.manual_seed(0)
        model = build_model(**model_args, num_classes=10, in_chans=1, img_size=28).to(device)
        model = model.to(memory_format=torch.channels_last) if channels_last else model
        sgd = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
        optimizer = build_optimizer(model, OmegaConf.create(sgd))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        dtype = torch.bfloat16 if precision == "bf16" else None
        step_cfg = StepConfig(autocast_dtype=dtype, channels_last=channels_last, progress=False)
        runs[(precision, channels_last)] = (model, optimizer, scheduler, step_cfg)

    def train(key, n):
        model, optimizer, scheduler, step_cfg = runs[key]
        stats = train_one_epoch(
            model, batches(data, batch, n, gen), mixer, optimizer, scheduler,
            step_cfg=step_cfg, epoch=1, total_steps=n,
        )  # fmt: skip
        return batch * n / stats["train_s"]

    def evaluate(key, eval_batch):
        model, _, _, step_cfg = runs[key]
        fmt = {"autocast_dtype": step_cfg.autocast_dtype, "channels_last": step_cfg.channels_last}
        return cfg.test_size / time_steps(lambda: predict(model, data.eval_batches("test", eval_batch), **fmt), device)

    for key in runs:  # warm-up
        train(key, 1)
    train_rates = {key: [] for key in runs}
    eval_rates = {(key, b): [] for key in runs for b in EVAL_BATCHES}
    for _ in range(args.repeats):
        for key in runs:
            train_rates[key].append(train(key, steps))
            for b in EVAL_BATCHES:
                eval_rates[(key, b)].append(evaluate(key, b))
    auto = resolve_precision("auto", "auto", device)
    header = "| format | train img/s | " + " | ".join(f"eval img/s @ {b}" for b in EVAL_BATCHES)
    lines = [header + " | best eval ÷ train |", "|---" * (len(EVAL_BATCHES) + 3) + "|"]
    for key in runs:
        precision, channels_last = key
        name = f"{precision} + {'channels_last' if channels_last else 'NCHW'}"
        name += " **(auto)**" if (auto.bf16, auto.channels_last) == (precision == "bf16", channels_last) else ""
        train_med = statistics.median(train_rates[key])
        evals = [statistics.median(eval_rates[(key, b)]) for b in EVAL_BATCHES]
        cells = " | ".join(f"{e:,.0f}" for e in evals)
        lines.append(f"| {name} | {train_med:,.0f} | {cells} | {max(evals) / train_med:.1f} |")
    lines.append(f"\nauto: {auto.describe()}")
    return lines
