"""Training throughput (images/s) with each mixer, measured on the loop train.py runs.

    .venv/bin/python scripts/bench_train.py                    # CPU: small sizes
    .venv/bin/python scripts/bench_train.py --device cuda      # GPU: bf16 + channels_last (as train.py's 'auto')
    .venv/bin/python scripts/bench_train.py --device cuda --compile --batch-size 1024 --sizes 32
    .venv/bin/python scripts/bench_train.py --formats          # fp32 / bf16 x NCHW / channels_last, train and eval

Two settings: 32 px (CIFAR shape, PreAct-ResNet18, 10 classes) and 224 px (ImageNet shape, ResNet-50, 1000
classes). Both use the project's own pieces: synthetic images held by recipes.data.InMemoryData on the device
(shuffle, crop and flip batched there), the augment mixers built from configs/augment/*, and
recipes.engine.train_one_epoch for the step (forward, soft-target loss, backward, SGD). The 224 px setting keeps
the images on the device too, so JPEG decoding (DataLoader workers in a real ImageNet run) is not measured.

Per method it prints images/s, ms per step, the step time relative to augment=none (the methods take turns
in every repeat, so the ratios compare like with like), and the time the batch production plus mixing take
alone over the same steps, as a share of the step ("data+aug"). Times are medians over --repeats. On a CPU
shared with other work, `--threads 1` is steadier (docs/benchmarks.md). `--formats` runs scripts/bench_formats.py's
table instead; the timing helpers both use are in scripts/bench_timing.py.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
from bench_formats import bench_formats
from bench_timing import ROOT, batches, hardware, make_mixer, profile, time_steps
from omegaconf import OmegaConf

from augment import check_model, needs_model
from models import build_model
from recipes.builders import build_optimizer
from recipes.config import load_option
from recipes.data import InMemoryData
from recipes.engine import StepConfig, train_one_epoch
from recipes.precision import resolve_precision

METHODS = ("none", "cutmix", "mixup", "fmix", "manifold_mixup", "transmix")
DEFAULT_METHODS = ("none", "cutmix", "mixup", "fmix")
CYCLE = 8  # distinct batches held per setting; longer runs go over them again, epoch after epoch


@dataclass(frozen=True)
class Setting:
    """One model at one image size, with its default batch and step counts on each device type."""

    img_size: int
    num_classes: int
    model: dict
    crop_padding: int
    batch: dict
    steps: dict


SETTINGS = {
    32: Setting(
        32,
        10,
        {"name": "preact_resnet18", "width": 64},
        4,
        batch={"cpu": 64, "cuda": 512},
        steps={"cpu": 8, "cuda": 50},
    ),
    224: Setting(224, 1000, {"name": "resnet50"}, 0, batch={"cpu": 4, "cuda": 256}, steps={"cpu": 2, "cuda": 20}),
    # ViT-Tiny with 4 px patches on 32 px images (64 tokens): the setting TransMix needs (a class token).
    "vit32": Setting(
        32,
        10,
        {"name": "vit_tiny", "patch_size": 4},
        4,
        batch={"cpu": 64, "cuda": 512},
        steps={"cpu": 4, "cuda": 50},
    ),
}


def make_data(setting: Setting, batch: int, steps: int, device: torch.device) -> InMemoryData:
    """configs/dataset/synthetic.yaml at this size: uint8 images on the device, as CIFAR is in train.py."""
    cfg = load_option(ROOT / "configs" / "dataset" / "synthetic.yaml")
    cfg.merge_with(
        {
            "img_size": setting.img_size,
            "num_classes": setting.num_classes,
            "test_size": 1,
            "train_size": batch * min(steps, CYCLE),
            "crop_padding": setting.crop_padding,
        }
    )
    return InMemoryData(cfg, device, seed=0)


def fits(mixer, model, method: str, setting: Setting) -> bool:
    """False (and a note) when a model-aware method cannot run on this setting's model (TransMix on a CNN)."""
    try:
        check_model(mixer, model)
    except ValueError as err:
        print(f"skipping {method} on {setting.model['name']}: {err}")
        return False
    return True


def bench_setting(setting: Setting, args, device: torch.device) -> list[dict]:
    """Median step and data+aug times of every method at one setting; the methods alternate in each repeat."""
    batch = args.batch_size or setting.batch[device.type]
    steps = args.steps or setting.steps[device.type]
    model_kwargs = dict(setting.model)
    if "width" in model_kwargs:
        model_kwargs["width"] = args.width or (16 if device.type == "cpu" else 64)
    model = build_model(**model_kwargs, num_classes=setting.num_classes, in_chans=3, img_size=setting.img_size)
    step_cfg = StepConfig(
        autocast_dtype=torch.bfloat16 if args.precision == "bf16" else None,
        channels_last=args.channels_last,
        progress=False,
        log_every=50,
    )
    model = model.to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_model = torch.compile(model) if args.compile else model
    # lr 0.01 keeps the weights finite over many steps on random data; a step costs the same at any lr.
    optimizer = build_optimizer(
        model, OmegaConf.create({"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4})
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    data = make_data(setting, batch, steps, device)
    mixers = {m: make_mixer(m, setting.num_classes, device) for m in args.methods}
    methods = [m for m in args.methods if fits(mixers[m], model, m, setting)]
    gen = torch.Generator(device=device).manual_seed(0)

    def train(method: str, n: int) -> None:
        train_one_epoch(
            train_model,
            batches(data, batch, n, gen),
            mixers[method],
            optimizer,
            scheduler,
            step_cfg=step_cfg,
            epoch=1,
            total_steps=n,
        )

    def produce(method: str) -> None:  # a model-aware mixer mixes inside the forward pass: batches only
        for images, labels in batches(data, batch, steps, gen):
            if not needs_model(mixers[method]):
                mixers[method](images, labels)

    step_s = {m: [] for m in methods}
    data_s = {m: [] for m in methods}
    for method in methods if args.warmup else ():  # warm-up: allocator, cuDNN autotuning, compilation
        train(method, args.warmup)
    for _ in range(args.repeats):
        for method in methods:
            step_s[method].append(time_steps(lambda m=method: train(m, steps), device) / steps)
            data_s[method].append(time_steps(lambda m=method: produce(m), device) / steps)
    if args.profile:
        profile(lambda: train(args.methods[-1], min(steps, 10)), device)
    rows = []
    for method in methods:
        step, prep = statistics.median(step_s[method]), statistics.median(data_s[method])
        rows.append(
            {
                "method": method,
                "img_per_s": batch / step,
                "step_ms": 1e3 * step,
                "data_ms": 1e3 * prep,
                "batch": batch,
                "steps": steps,
                "in_model": needs_model(mixers[method]),
            }
        )
    return rows


def markdown(rows: list[dict]) -> list[str]:
    """The table; `step ÷ none` is measured, `1 + Δdata/step` derives it from the data+aug times alone.

    The methods run the same model on the same shapes, so a step differs from a no-mix step only by its batch
    production and mixing; the derived ratio is that difference over the no-mix step, free of the step's noise.
    """
    none = next((r for r in rows if r["method"] == "none"), None)
    lines = [
        "| method | img/s | ms / step | step ÷ none | 1 + Δdata/step | data+aug ms | data+aug share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        measured = f"{r['step_ms'] / none['step_ms']:.3f}" if none else "—"
        derived = f"{1 + (r['data_ms'] - none['data_ms']) / none['step_ms']:.4f}" if none else "—"
        derived = "— (mixes in the model)" if r["in_model"] else derived
        img_s = f"{r['img_per_s']:,.0f}" if r["img_per_s"] >= 100 else f"{r['img_per_s']:.2f}"
        lines.append(
            f"| {r['method']} | {img_s} | {r['step_ms']:.2f} | {measured} | {derived} | "
            f"{r['data_ms']:.2f} | {r['data_ms'] / r['step_ms']:.1%} |"
        )
    return lines


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--sizes", default="32,224", help="comma-separated: 32 (PreAct-ResNet18), 224 (ResNet-50), vit32 (ViT-Tiny/4)"
    )
    parser.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated, from {', '.join(METHODS)}"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default: per size and device (see SETTINGS)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default: per size/device)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per method (default 1 CPU, 10 GPU)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="auto: bf16 autocast where the device computes bf16 natively, else fp32 (as train.py)",
    )
    parser.add_argument(
        "--channels-last", choices=["auto", "true", "false"], default="auto", help="auto: with bf16 (as train.py)"
    )
    parser.add_argument(
        "--formats",
        action="store_true",
        help="instead: a model preset (--model) at the default run's image size and batch in fp32 / bf16 x NCHW / "
        "channels_last, training and evaluation side by side (the format precision=auto picks is marked)",
    )
    parser.add_argument(
        "--model", default="preact_resnet18_w16", help="--formats: the preset (configs/model/<name>.yaml) to time"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print torch.profiler's top operators for the last method (after the timing)",
    )
    parser.add_argument("--width", type=int, default=None, help="PreAct-ResNet18 width (default 16 CPU, 64 GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    args.sizes = [int(s) if s.isdigit() else s for s in args.sizes.split(",")]
    args.methods = args.methods.split(",")
    for value, known, flag in ((args.sizes, SETTINGS, "--sizes"), (args.methods, METHODS, "--methods")):
        if unknown := [v for v in value if v not in known]:
            parser.error(f"{flag}: unknown {unknown}; choose from {list(known)}")
    if not (ROOT / "configs" / "model" / f"{args.model}.yaml").is_file():
        parser.error(f"--model {args.model!r}: no configs/model/{args.model}.yaml")
    channels_last = args.channels_last if args.channels_last == "auto" else args.channels_last == "true"
    chosen = resolve_precision(args.precision, channels_last, device)  # as train.py resolves 'auto'
    args.precision, args.channels_last = ("bf16" if chosen.bf16 else "fp32"), chosen.channels_last
    args.warmup = args.warmup if args.warmup is not None else (10 if on_cuda else 1)
    args.repeats = args.repeats or 3
    return args, device


def main() -> None:
    args, device = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # as train.py does unless trainer.deterministic=true
    print(
        f"torch {torch.__version__} on {hardware(device)}; precision {args.precision}, channels_last "
        f"{args.channels_last}, compile {args.compile}, warm-up {args.warmup} steps, median of {args.repeats}"
    )
    if args.formats:
        print(f"\n### model={args.model}, 1x28x28, batch {args.batch_size or 128}\n")
        print("\n".join(bench_formats(args, device)))
        return
    for size in args.sizes:
        start = time.perf_counter()
        rows = bench_setting(SETTINGS[size], args, device)
        model = SETTINGS[size].model["name"]
        print(
            f"\n### {SETTINGS[size].img_size} px, {model}, batch {rows[0]['batch']}, {rows[0]['steps']} steps "
            f"({time.perf_counter() - start:.0f} s)\n"
        )
        print("\n".join(markdown(rows)))


if __name__ == "__main__":
    main()
