"""Fine-tuning: any timm architecture by name, pretrained weights from a local file (offline, as timm loads its own),
the record of the starting weights, and the finetune_imagefolder recipe on a fabricated folder."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest
import safetensors.torch
import timm
import torch

from models import build_model, weights_source, without_pretrained
from recipes.config import ConfigError, validate
from recipes.run import run_training
from tests.conftest import compose_cfg, write_class_folder


@pytest.fixture
def offline(monkeypatch):
    """Any network connection (timm's hub, a URL download) fails the test."""

    def no_network(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


@pytest.fixture
def create_calls(monkeypatch):
    """The keyword arguments of every timm.create_model call (the real call still runs)."""
    calls, real = [], timm.create_model

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(timm, "create_model", spy)
    return calls


def saved_weights(tmp_path, arch: str, suffix: str = ".safetensors") -> tuple[dict, str]:
    """A randomly initialised timm `arch` (its 1000 ImageNet classes, 3 channels) saved the way timm ships weights."""
    torch.manual_seed(1)
    state = timm.create_model(arch, pretrained=False).state_dict()
    path = tmp_path / f"{arch}{suffix}"
    if suffix == ".safetensors":
        safetensors.torch.save_file(state, path)
    else:
        torch.save(state, path)
    return state, str(path)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_pretrained_file_loads_every_backbone_tensor_and_a_new_classifier(tmp_path, offline, create_calls, suffix):
    source, path = saved_weights(tmp_path, "test_resnet", suffix)
    model = build_model("timm", num_classes=5, in_chans=3, img_size=32, arch="test_resnet", pretrained_file=path)
    loaded = model.state_dict()
    assert model.pretrained_cfg["classifier"] == "fc"
    backbone = [k for k in source if not k.startswith("fc.")]
    assert len(backbone) > 20 and all(torch.equal(loaded[k], source[k]) for k in backbone)
    assert loaded["fc.weight"].shape == (5, source["fc.weight"].shape[1]) and loaded["fc.bias"].shape == (5,)
    assert create_calls[-1]["pretrained"] is True and create_calls[-1]["pretrained_cfg_overlay"] == {"file": path}


def test_pretrained_file_adapts_the_stem_to_one_channel_as_timm_does(tmp_path, offline):
    """timm's adapt_input_conv for 1 channel sums the RGB filters: a grey image x gives the RGB net's response to
    (x, x, x)."""
    source, path = saved_weights(tmp_path, "test_resnet")
    model = build_model("timm", num_classes=5, in_chans=1, img_size=32, arch="test_resnet", pretrained_file=path)
    stem = model.pretrained_cfg["first_conv"] + ".weight"
    torch.testing.assert_close(model.state_dict()[stem], source[stem].sum(dim=1, keepdim=True))


def test_pretrained_vit_file_resamples_the_position_embedding_to_img_size(tmp_path, offline, create_calls):
    source, path = saved_weights(tmp_path, "test_vit")  # trained at 160 px: 10 x 10 patches of 16
    model = build_model("timm", num_classes=3, in_chans=3, img_size=64, arch="test_vit", pretrained_file=path)
    assert create_calls[-1]["img_size"] == 64 and model.patch_embed.grid_size == (4, 4)
    prefix = model.num_prefix_tokens
    assert model.pos_embed.shape[1] == prefix + 16 and source["pos_embed"].shape[1] == prefix + 100
    same = [k for k in source if not k.startswith("head.") and k != "pos_embed"]
    assert all(torch.equal(model.state_dict()[k], source[k]) for k in same)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)


def test_img_size_is_passed_only_where_the_architecture_fixes_it(create_calls):
    build_model("timm", num_classes=3, in_chans=3, img_size=48, arch="test_resnet")
    build_model("timm", num_classes=3, in_chans=3, img_size=48, arch="test_vit")
    assert "img_size" not in create_calls[0] and create_calls[1]["img_size"] == 48


def test_timm_kwargs_pass_through(create_calls):
    model = build_model("timm", num_classes=3, in_chans=3, img_size=32, arch="test_vit", kwargs={"drop_path_rate": 0.1})
    assert create_calls[-1]["drop_path_rate"] == 0.1
    assert model.blocks[-1].drop_path1.drop_prob == pytest.approx(0.1)  # the last block gets the full rate


def test_pretrained_true_asks_timm_for_its_weights_and_names_them(monkeypatch):
    """Without a file, pretrained=True is timm's own hub download (not run here: the tests stay offline)."""
    calls = []
    monkeypatch.setattr(timm, "create_model", lambda arch, **kwargs: calls.append((arch, kwargs)))
    build_model("timm", num_classes=4, in_chans=3, img_size=32, arch="convnext_atto", pretrained=True)
    assert calls == [("convnext_atto", {"num_classes": 4, "in_chans": 3, "pretrained": True})]
    assert weights_source("timm", arch="convnext_atto", pretrained=True) == "timm:convnext_atto.d2_in1k"
    assert weights_source("timm", arch="resnet18.tv_in1k", pretrained=True) == "timm:resnet18.tv_in1k"


def test_weights_source_names_the_file_by_its_sha256(tmp_path):
    _, path = saved_weights(tmp_path, "test_resnet")
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert weights_source("timm", arch="test_resnet", pretrained_file=path) == f"file:{path} sha256:{digest}"
    assert weights_source("timm", arch="test_resnet") == "random" == weights_source("wrn", depth=10)
    cfg = {"name": "timm", "arch": "test_resnet", "pretrained": True, "pretrained_file": path, "kwargs": {}}
    assert without_pretrained(cfg) == {**cfg, "pretrained": False, "pretrained_file": None}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"arch": "convnxt_atto"}, r"'convnxt_atto' is not a timm architecture; closest timm names: convnext_atto"),
        ({"arch": "resnet18.in9k"}, r"no weights tagged 'in9k' for resnet18; it has: resnet18.a1_in1k"),
        ({"arch": ""}, "arch must be a timm model name"),
        ({"arch": "test_resnet", "kwargs": {"drop_pth_rate": 0.1}}, "test_resnet.*drop_pth_rate"),
        ({"arch": "test_resnet", "kwargs": {"num_classes": 3}}, r"kwargs may not set \['num_classes'\]"),
        ({"arch": "test_resnet", "pretrained_file": "/no/such/weights.pth"}, "'/no/such/weights.pth' does not exist"),
        ({"arch": "test_resnet", "pretrained_file": "weights.ckpt"}, "must end in one of .safetensors"),
        ({"arch": "test_resnet", "pretrained": "yes"}, "pretrained must be true or false, got 'yes'"),
    ],
)
def test_bad_timm_settings_raise_value_error_naming_them(settings, message, offline):
    with pytest.raises(ValueError, match=message):
        build_model("timm", num_classes=3, in_chans=3, img_size=32, **settings)


# ---------------------------------------------------------------------------------------------- the recipe


def test_finetune_recipe_follows_the_fine_tuning_papers():
    cfg = compose_cfg(["experiment=finetune_imagefolder", "dataset.root=/data", "dataset.num_classes=5"])
    assert (cfg.model.name, cfg.model.pretrained, cfg.dataset.img_size) == ("timm", True, 224)
    assert (cfg.optim.name, cfg.optim.weight_decay, cfg.sched.name) == ("adamw", 0.05, "cosine")
    assert 0 < cfg.sched.warmup_epochs < cfg.trainer.epochs
    cutmix = compose_cfg(["experiment=finetune_imagefolder", "augment=cutmix"]).augment
    deit = compose_cfg(["experiment=finetune_imagefolder", "augment=mixup_cutmix"]).augment
    assert (cutmix.alpha, cutmix.prob) == (1.0, 1.0)
    assert (deit.methods.mixup.alpha, deit.methods.cutmix.alpha, list(deit.probs)) == (0.8, 1.0, [0.5, 0.5])
    assert deit.methods.mixup.prob == deit.methods.cutmix.prob == 1.0


def test_finetune_smoke_trains_from_a_weights_file_on_a_jpeg_folder(tmp_path, offline):
    root = write_class_folder(tmp_path / "images", [10, 10, 10, 10], size=40)  # 40 JPEGs, <class>/ layout
    _, path = saved_weights(tmp_path, "test_resnet")
    cfg = compose_cfg(
        [
            "experiment=finetune_imagefolder_smoke",
            f"dataset.root={root}",
            f"model.pretrained_file={path}",
            "augment=cutmix",
            "trainer.device=cpu",
        ]
    )
    summary = run_training(cfg, tmp_path / "run")
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert summary["status"] == "complete" and summary["epochs"] == cfg.trainer.epochs
    assert summary["pretrained"] == f"file:{path} sha256:{digest}"
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["pretrained"] == summary["pretrained"] and written["augment"] == "cutmix"
    assert 0.0 <= summary["top1"] <= 1.0


def test_model_timm_requires_an_arch():
    with pytest.raises(ConfigError, match=r"model.arch is required but not set \(pass model.arch=...\)"):
        validate(compose_cfg(["model=timm"]))


def test_a_run_continuing_from_a_checkpoint_does_not_load_the_pretrained_weights(tmp_path, offline):
    """The checkpoint's weights replace them: the weights file may be gone (or the hub out of reach) by then."""
    root = write_class_folder(tmp_path / "images", [4, 4, 4, 4], size=36)
    _, path = saved_weights(tmp_path, "test_resnet")
    smoke = ["experiment=finetune_imagefolder_smoke", f"dataset.root={root}", "trainer.device=cpu"]
    run_training(
        compose_cfg([*smoke, f"model.pretrained_file={path}", "trainer.epochs=1", "sched.warmup_epochs=0"]),
        tmp_path / "first",
    )
    (tmp_path / "test_resnet.safetensors").unlink()
    ckpt = tmp_path / "first" / "checkpoints" / "last.pt"
    summary = run_training(compose_cfg([*smoke, f"model.pretrained_file={path}", f"ckpt_path={ckpt}"]), tmp_path / "b")
    assert summary["epochs"] == 2 and summary["pretrained"] == f"file:{path} sha256:unavailable (file missing)"


def test_pretrained_weights_out_of_reach_give_one_line_saying_what_to_do(tmp_path, monkeypatch, offline):
    """No network and nothing in the cache: what huggingface_hub raises then, in one ConfigError line."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    def not_cached(*args, **kwargs):
        raise LocalEntryNotFoundError("cannot find the requested files in the local cache; outgoing traffic disabled")

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", not_cached)
    cfg = compose_cfg(["model=timm", "model.arch=resnet18", "model.pretrained=true", "trainer.device=cpu"])
    with pytest.raises(ConfigError) as err:
        run_training(cfg, tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message and "'resnet18'" in message and "LocalEntryNotFoundError" in message
    for fix in ("model.pretrained_file=PATH", "HF_HOME", "HF_HUB_OFFLINE=1", "TORCH_HOME"):
        assert fix in message
