"""trainer.precision / trainer.channels_last: what 'auto' picks, and that a bf16 step computes the fp32 step."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from models import build_model
from recipes import precision
from recipes.engine import StepConfig, predict, train_one_epoch
from recipes.metrics import classification_metrics
from recipes.run import run_training
from tests.test_train import interrupt_after

CPU = torch.device("cpu")


def _cpu_features(monkeypatch, avx512_bf16: bool, amx: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)


@pytest.mark.bf16
@pytest.mark.parametrize(("avx512_bf16", "amx", "named"), [(True, False, "AVX512-BF16"), (False, True, "AMX")])
def test_auto_picks_bf16_and_channels_last_on_a_cpu_with_native_bf16(monkeypatch, avx512_bf16, amx, named):
    _cpu_features(monkeypatch, avx512_bf16, amx)
    chosen = precision.resolve_precision("auto", "auto", CPU)
    assert chosen.bf16 and chosen.channels_last
    assert named in chosen.describe() and chosen.describe().startswith("bf16 autocast + channels_last")


def test_auto_picks_fp32_nchw_on_a_cpu_without_native_bf16(monkeypatch):
    _cpu_features(monkeypatch, False, False)
    chosen = precision.resolve_precision("auto", "auto", CPU)
    assert not chosen.bf16 and not chosen.channels_last
    assert chosen.describe().startswith("fp32, NCHW") and "no native bf16" in chosen.describe()


@pytest.mark.parametrize("native", [True, False])
def test_explicit_settings_win_over_the_hardware(monkeypatch, native):
    _cpu_features(monkeypatch, native, False)
    assert precision.resolve_precision("fp32", False, CPU) == precision.Precision(
        False, False, "as set by trainer.precision and trainer.channels_last"
    )
    forced = precision.resolve_precision("bf16", "auto", CPU)
    assert forced.bf16 and forced.channels_last == native


def test_the_run_log_says_which_format_was_chosen_and_why(fast_cfg, tmp_path, caplog, monkeypatch):
    _cpu_features(monkeypatch, False, False)
    with caplog.at_level("INFO"):
        run_training(fast_cfg("trainer.precision=auto", "trainer.channels_last=auto"), tmp_path)
    assert any("step format: fp32, NCHW (auto: this CPU has no native bf16" in r.message for r in caplog.records)


def _one_step(model, images, labels, dtype):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    step_cfg = StepConfig(autocast_dtype=dtype, progress=False)
    stats = train_one_epoch(
        model, [(images, labels)], lambda x, y: (x, torch.nn.functional.one_hot(y, 10).float()), opt, sched,
        step_cfg=step_cfg, epoch=1, total_steps=1,
    )  # fmt: skip
    return stats["train_loss"], torch.nn.utils.parameters_to_vector(model.parameters())


@pytest.mark.bf16
def test_a_bf16_cpu_step_matches_the_fp32_step():
    """bf16 autocast keeps ~3 significant digits in each convolution: the loss agrees to 0.5 %, and the weight
    update of one SGD step points the same way (cosine >= 0.9; measured 0.95-0.96 over three seeds: at
    initialisation the gradients are small differences of near-chance predictions, which bf16 rounds most)."""
    torch.manual_seed(0)
    model = build_model("preact_resnet18", num_classes=10, in_chans=1, img_size=16, width=8)
    images, labels = torch.randn(32, 1, 16, 16), torch.randint(0, 10, (32,))
    before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    loss32, after32 = _one_step(copy.deepcopy(model), images, labels, None)
    loss16, after16 = _one_step(copy.deepcopy(model), images, labels, torch.bfloat16)
    assert loss16 == pytest.approx(loss32, rel=0.005)
    update32, update16 = (after32 - before).detach(), (after16 - before).detach()
    assert torch.nn.functional.cosine_similarity(update32, update16, dim=0) >= 0.9
    assert update16.norm().item() == pytest.approx(update32.norm().item(), rel=0.1)


@pytest.mark.bf16
def test_bitwise_resume_holds_in_bf16_too(fast_cfg, tmp_path, monkeypatch):
    """The bitwise resume guarantee (tests/test_train.py, fp32) also holds with bf16 autocast on the CPU."""
    # NCHW on every CPU: with torch 2.14.1 channels_last 1x1 stride-2 convs with 2-7 input channels (width 4's
    # shortcuts) corrupt the heap in backward, and auto would pick channels_last on a native-bf16 CPU
    overrides = [
        "trainer.epochs=2",
        "trainer.precision=bf16",
        "trainer.channels_last=false",
        "trainer.deterministic=true",
        "model.width=4",
    ]
    full = run_training(fast_cfg(*overrides), tmp_path / "full")
    with monkeypatch.context() as m:
        interrupt_after(m, epochs_done=1)
        with pytest.raises(KeyboardInterrupt):
            run_training(fast_cfg(*overrides), tmp_path / "killed")
    resumed = run_training(fast_cfg(*overrides, "resume=true"), tmp_path / "killed")
    assert all(resumed[k] == full[k] for k in ("top1", "nll", "ece", "brier"))
    lines = [json.loads(x) for x in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in lines] == [
        json.loads(x)["train_loss"] for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    ]


@pytest.mark.bf16
def test_auto_on_a_native_bf16_cpu_trains_in_bf16_channels_last(native_bf16_cpu, fast_cfg, tmp_path, caplog):
    """The default format of a native-bf16 CPU, end to end: auto picks it, says so, and the run learns as the fp32
    run of tests/test_train.py does (same data and budget; chance is 0.1)."""
    overrides = ["trainer.precision=auto", "trainer.channels_last=auto", "trainer.epochs=3", "dataset.noise=0.2"]
    with caplog.at_level("INFO"):
        bf16 = run_training(fast_cfg(*overrides, "dataset.train_size=1024"), tmp_path / "bf16")
    message = "step format: bf16 autocast + channels_last (auto: this CPU computes bf16 natively (AVX512-BF16))"
    assert any(message in r.message for r in caplog.records)
    assert bf16["top1"] > 0.5


@pytest.mark.bf16
def test_bf16_evaluation_agrees_with_fp32():
    """Evaluation under bf16 autocast + channels_last (what auto picks on a native-bf16 CPU): the logits keep ~3
    significant digits (bf16's 8-bit mantissa, rounded at each of ~20 layers), so the softmax metrics agree to about
    1e-2 and at most a few of the 256 predictions flip between near-tied classes."""
    torch.manual_seed(0)
    model = build_model("preact_resnet18", num_classes=10, in_chans=1, img_size=16, width=8).eval()
    images, labels = torch.randn(256, 1, 16, 16), torch.randint(0, 10, (256,))
    batches = [(images[i : i + 64], labels[i : i + 64]) for i in range(0, 256, 64)]
    logits32, _ = predict(model, batches)
    logits16, _ = predict(model, batches, autocast_dtype=torch.bfloat16, channels_last=True)
    assert logits16.dtype == torch.float32  # metrics are computed in fp32 whatever the step's format
    torch.testing.assert_close(logits16, logits32, rtol=0.05, atol=0.05)
    m32, m16 = classification_metrics(logits32, labels), classification_metrics(logits16, labels)
    assert (logits16.argmax(1) != logits32.argmax(1)).float().mean() <= 0.03
    assert m16["nll"] == pytest.approx(m32["nll"], rel=0.01)
    assert m16["ece"] == pytest.approx(m32["ece"], abs=0.02)


@pytest.mark.bf16
def test_compiled_model_trains_like_the_eager_one_in_bf16(native_bf16_cpu, fast_cfg, tmp_path):
    """torch.compile under the format auto picks on a native-bf16 CPU. Inductor fuses ops and keeps some
    intermediates in fp32 that eager autocast rounds to bf16 (8-bit mantissa, ~0.4 % per rounding), so the two
    runs agree to about 1 % after 4 SGD steps, not to fp32's 1e-4 (tests/test_train.py)."""
    overrides = ["augment=cutmix", "trainer.deterministic=true", "trainer.precision=auto", "trainer.channels_last=auto"]
    eager = run_training(fast_cfg(*overrides), tmp_path / "eager")
    compiled = run_training(fast_cfg(*overrides, "trainer.compile=true"), tmp_path / "compiled")
    loss = [json.loads((tmp_path / d / "metrics.jsonl").read_text())["train_loss"] for d in ("eager", "compiled")]
    assert loss[1] == pytest.approx(loss[0], rel=0.01)
    assert compiled["nll"] == pytest.approx(eager["nll"], rel=0.01)


def test_timm_attention_runs_unfused_on_a_cpu_and_computes_the_same(monkeypatch):
    """cpu_attention switches timm's attention to its explicit matmul path on a CPU (faster in bf16 there) and
    leaves it fused for a GPU or when TIMM_FUSED_ATTN is set; both paths compute the same logits."""
    monkeypatch.delenv("TIMM_FUSED_ATTN", raising=False)
    torch.manual_seed(0)
    model = build_model("vit_tiny", num_classes=10, in_chans=1, img_size=16, patch_size=4).eval()
    images = torch.randn(4, 1, 16, 16)
    attention = [m for m in model.modules() if hasattr(m, "fused_attn")]
    assert len(attention) == 12 and all(m.fused_attn for m in attention)  # timm's default: fused
    with torch.no_grad():
        fused = model(images)
    assert precision.cpu_attention(model, torch.device("cuda")) == 0 and all(m.fused_attn for m in attention)
    monkeypatch.setenv("TIMM_FUSED_ATTN", "1")
    assert precision.cpu_attention(model, CPU) == 0
    monkeypatch.delenv("TIMM_FUSED_ATTN")
    assert precision.cpu_attention(model, CPU) == 12 and not any(m.fused_attn for m in attention)
    with torch.no_grad():
        unfused = model(images)
    torch.testing.assert_close(unfused, fused, rtol=1e-4, atol=1e-5)
    assert precision.cpu_attention(build_model("preact_resnet18", 10, 1, 16, width=8), CPU) == 0
