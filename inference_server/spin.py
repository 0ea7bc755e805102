"""SPIN's ResNet-50 feature extractor in plain torch (no torchvision), fast and exact.

GLoT's demo turns every 224x224 person crop into a 2048-d feature with the backbone of SPIN's
HMR network: a ResNet-50 with torchvision-v1.5 Bottlenecks (stride on the 3x3 conv), layers
[3, 4, 6, 3], ``AvgPool2d(7, stride=1)`` and a flatten. The weights come from
``spin_model_checkpoint.pth.tar['model']`` (331 keys: the backbone plus the HMR regressor head).

Two networks are built here from the same weights:

- :func:`build_plain_resnet` / :func:`load_plain_extractor`: the straightforward eval-mode
  module (conv -> BatchNorm -> ReLU), the reference the tests and the benchmark compare with;
- :func:`load_feature_extractor`: the one the server uses. BatchNorm is folded into the
  convolutions at load time (eval statistics, computed in float64, exact to float32 rounding),
  ReLUs run in place, tensors are channels-last and the forward runs under
  ``torch.inference_mode``. An optional half precision (``precision="float16"`` or
  ``"bfloat16"``), off by default, trades exactness for speed on GPUs.

Loading is strict for the backbone (every weight present with its shape) and tolerant, on
purpose, of exactly the HMR head keys (:data:`HEAD_KEYS`), which feature extraction never uses.
Any other key, a missing one or a wrong shape raises a ModelFileError naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from inference_server.errors import ModelFileError
from inference_server.safe_load import load_checkpoint, summarize_mismatch

#: what the SPIN checkpoint is called in messages
WHAT = "SPIN checkpoint"
#: the checkpoint's top-level key holding the HMR state_dict
MODEL_KEY = "model"
#: side of the square crops the network takes, pixels
CROP_SIZE = 224
#: width of the feature vector per crop
FEATURE_DIM = 2048
#: Bottleneck blocks per stage (ResNet-50)
LAYERS = (3, 4, 6, 3)
#: inner width of each stage's blocks; the output width is EXPANSION times this
WIDTHS = (64, 128, 256, 512)
#: Bottleneck output/inner width ratio
EXPANSION = 4
#: BatchNorm epsilon of torchvision's ResNet (PyTorch's default)
BN_EPS = 1e-5
#: the HMR regressor head of SPIN's file: known, not used for features, ignored on purpose
HEAD_KEYS = (
    "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
    "decpose.weight", "decpose.bias", "decshape.weight", "decshape.bias",
    "deccam.weight", "deccam.bias", "init_pose", "init_shape", "init_cam",
)
#: BatchNorm bookkeeping that eval-mode features never read (may be absent in a file)
OPTIONAL_SUFFIX = "num_batches_tracked"
#: precision names accepted by load_feature_extractor
PRECISIONS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


# --------------------------------------------------------------------------- plain network


class Bottleneck(nn.Module):
    """torchvision-v1.5 Bottleneck: 1x1 -> 3x3 (stride here) -> 1x1, each with BatchNorm."""

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * EXPANSION
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _stage(in_ch: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_ch, width, stride)]
    layers += [Bottleneck(width * EXPANSION, width) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet50Backbone(nn.Module):
    """SPIN HMR's backbone, module names as in the checkpoint: crops (B,3,224,224) -> (B,2048)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        for i, (width, blocks) in enumerate(zip(WIDTHS, LAYERS)):
            setattr(self, f"layer{i + 1}", _stage(in_ch, width, blocks, 1 if i == 0 else 2))
            in_ch = width * EXPANSION
        self.avgpool = nn.AvgPool2d(7, stride=1)

    def stages(self) -> tuple[nn.Sequential, ...]:
        return (self.layer1, self.layer2, self.layer3, self.layer4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages():
            x = stage(x)
        return torch.flatten(self.avgpool(x), 1)


def build_plain_resnet() -> ResNet50Backbone:
    """The unfused reference network with PyTorch's default initialisation (train mode)."""
    return ResNet50Backbone()


# --------------------------------------------------------------------------- loading


def backbone_state_dict(checkpoint_path: str | Path) -> dict[str, torch.Tensor]:
    """The backbone weights of a SPIN checkpoint, checked key by key and shape by shape.

    Returns the state_dict restricted to backbone keys (head keys dropped). Raises
    ModelFileError (one sentence, naming the file) for a file of another kind, a missing or
    wrongly shaped backbone weight, or a key that is neither backbone nor HMR head.
    """
    path = Path(checkpoint_path)
    state = load_checkpoint(path, what=WHAT, required_key=MODEL_KEY)[MODEL_KEY]
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"The {WHAT} file {path} has no state_dict of tensors under "
                             f"'{MODEL_KEY}': check that the right file is in place.")
    own = build_plain_resnet().state_dict()
    missing = [k for k in own if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in own and k not in HEAD_KEYS]
    wrong = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ModelFileError(
            f"The {WHAT} file {path} does not fit SPIN's ResNet-50: "
            f"{summarize_mismatch(missing, unexpected, wrong)}; is it the SPIN file "
            "spin_model_checkpoint.pth.tar?")
    bad = [k for k in own if k in state and state[k].is_floating_point()
           and not torch.isfinite(state[k].sum())]  # a sum is non-finite if any value is
    if bad:
        raise ModelFileError(f"The {WHAT} file {path} holds non-finite values in {len(bad)} "
                             f"tensors (e.g. '{bad[0]}'): download it again.")
    return {k: state[k] for k in own if k in state}


def load_plain_extractor(checkpoint_path: str | Path,
                         device: torch.device | str = "cpu") -> ResNet50Backbone:
    """The unfused reference network with the checkpoint's weights, in eval mode."""
    net = build_plain_resnet()
    net.load_state_dict(backbone_state_dict(checkpoint_path), strict=False)
    return net.eval().requires_grad_(False).to(device)


# --------------------------------------------------------------------------- fast network


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (O,I,kh,kw) channels-last and bias (O,) of eval-mode ``bn(conv(x))`` as one conv.

    The per-channel scale and the bias are computed in float64; the weight is rounded once
    (float32 product of the weight and the rounded scale).
    """
    scale64 = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = (bn.bias.double() - bn.running_mean.double() * scale64).float()
    weight = conv.weight.detach() * scale64.float()[:, None, None, None]
    return weight.contiguous(memory_format=torch.channels_last), bias


class FoldedConv(nn.Module):
    """A convolution with bias holding a folded ``bn(conv(x))`` (no re-initialisation cost)."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        weight, bias = fold_batchnorm(conv, bn)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.stride = conv.stride
        self.padding = conv.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


def _fused_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> FoldedConv:
    return FoldedConv(conv, bn)


class FusedBottleneck(nn.Module):
    """A Bottleneck whose BatchNorms live in its convolutions' weights and biases."""

    def __init__(self, block: Bottleneck) -> None:
        super().__init__()
        self.conv1 = _fused_conv(block.conv1, block.bn1)
        self.conv2 = _fused_conv(block.conv2, block.bn2)
        self.conv3 = _fused_conv(block.conv3, block.bn3)
        self.downsample = (None if block.downsample is None
                           else _fused_conv(block.downsample[0], block.downsample[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        out += x if self.downsample is None else self.downsample(x)
        return F.relu_(out)


class FastFeatureExtractor(nn.Module):
    """SPIN features, BatchNorm folded: ImageNet-normalised crops (B,3,224,224) -> (B,2048).

    Accepts float tensors on any device (moved to the module's device); returns float32 on
    the module's device. Inputs of another size are refused (the official AvgPool2d(7) would
    not give 2048 values per crop for them).
    """

    def __init__(self, plain: ResNet50Backbone, precision: str = "float32") -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.conv1 = _fused_conv(plain.conv1, plain.bn1)
        self.blocks = nn.Sequential(*[FusedBottleneck(b) for s in plain.stages() for b in s])
        self.eval()

    @property
    def device(self) -> torch.device:
        return self.conv1.weight.device

    def prepare(self, device: torch.device | str) -> FastFeatureExtractor:
        """Move to ``device`` in the chosen precision with channels-last weights."""
        self.to(device=device, dtype=PRECISIONS[self.precision])
        return self.to(memory_format=torch.channels_last)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, CROP_SIZE, CROP_SIZE):
            raise ValueError(f"crops must have shape (B, 3, {CROP_SIZE}, {CROP_SIZE}), "
                             f"got {tuple(crops.shape)}")
        with torch.inference_mode():
            x = crops.to(self.device, PRECISIONS[self.precision])
            x = x.contiguous(memory_format=torch.channels_last)
            x = F.max_pool2d(F.relu_(self.conv1(x)), 3, stride=2, padding=1)
            x = self.blocks(x)
            return x.mean(dim=(2, 3)).float()


def fuse_resnet(plain: ResNet50Backbone, device: torch.device | str = "cpu",
                precision: str = "float32") -> FastFeatureExtractor:
    """The fast extractor computing what ``plain.eval()`` computes (BatchNorm folded).

    Folding runs where ``plain`` is (float64 arithmetic: keep it on the CPU or a CUDA device);
    ``plain`` itself is left unchanged.
    """
    return FastFeatureExtractor(plain, precision).prepare(device)


def load_feature_extractor(checkpoint_path: str | Path, device: torch.device | str = "cpu",
                           precision: str = "float32") -> FastFeatureExtractor:
    """Load ``spin_model_checkpoint.pth.tar`` as the fast feature extractor on ``device``.

    Backbone keys load strictly, the HMR head keys are ignored on purpose; a wrong, damaged
    or unsafe file raises ModelFileError naming it. ``precision`` "float16"/"bfloat16" (off
    by default) is for GPUs: faster, no longer within 1e-4 of the official features.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    plain = build_plain_resnet()
    plain.load_state_dict(backbone_state_dict(checkpoint_path), strict=False)
    return fuse_resnet(plain.eval(), device, precision)
