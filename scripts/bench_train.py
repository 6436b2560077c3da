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
shared with other work, `--threads 1` is steadier (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from augment import check_model, needs_model
from models import build_model
from recipes.builders import build_mixer, build_optimizer
from recipes.config import load_option
from recipes.data import InMemoryData
from recipes.engine import StepConfig, predict, train_one_epoch
from recipes.precision import resolve_precision

ROOT = Path(__file__).resolve().parents[1]

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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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


def batches(data: InMemoryData, batch: int, steps: int, generator: torch.Generator):
    """`steps` training batches, reshuffling whenever the held images run out (a new epoch)."""
    epochs = (data.train_batches(batch, generator) for _ in itertools.count())
    return itertools.islice(itertools.chain.from_iterable(epochs), steps)


def make_mixer(method: str, num_classes: int, device: torch.device):
    cfg = load_option(ROOT / "configs" / "augment" / f"{method}.yaml")
    if method == "cutmix":
        cfg.mode = "elem"  # one box per image: the costliest mode
    return build_mixer(cfg, num_classes, torch.Generator(device=device).manual_seed(0))


def fits(mixer, model, method: str, setting: Setting) -> bool:
    """False (and a note) when a model-aware method cannot run on this setting's model (TransMix on a CNN)."""
    try:
        check_model(mixer, model)
    except ValueError as err:
        print(f"skipping {method} on {setting.model['name']}: {err}")
        return False
    return True


def time_steps(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


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


# The default run (configs/train.yaml): width-16 PreAct-ResNet18 on 1x28x28 Fashion-MNIST-shaped images, batch 128.
FORMATS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
EVAL_BATCHES = (1024, 256, 128)


def bench_formats(args, device: torch.device) -> list[str]:
    """Training step and evaluation forward of the default run's model in each numeric format, interleaved.

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
    runs = {}
    for precision, channels_last in FORMATS:
        model = build_model("preact_resnet18", num_classes=10, in_chans=1, img_size=28, width=16).to(device)
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


def profile(fn, device: torch.device) -> None:
    """Where a step's time goes: torch.profiler's operators, most self time (on the device when CUDA) first."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        fn()
        sync(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15))


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


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


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
        help="instead: the default run's model and batch in fp32 / bf16 x NCHW / channels_last, training and "
        "evaluation side by side (the format precision=auto picks is marked)",
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
        print(f"\n### The default run's model, 1x28x28, batch {args.batch_size or 128}\n")
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
