"""The networks of the learning log, one class per architecture, and the recipe that trains each one.

`MODELS[name]` is an architecture and `RECIPES[name]` how to train it: one name reproduces one number
(`python train.py --model NAME --seed N`). Each iteration changes one thing against the one before it: the
architecture (baseline → batchnorm → dropout → gap → capacity, then speed) or the recipe (augment, onecycle,
average, final). Why each change, and what it did over seeds, is the notebook's story.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch.nn as nn

DROPOUT = 0.05  # every net's dropout rate: light, as the nets are small and BatchNorm regularises too


@dataclass(frozen=True)
class Recipe:
    """How to train one model. Accuracies are percent; learning rates are the peak for OneCycle."""
    epochs: int = 15
    batch_size: int = 128          # images per step
    optimizer: str = "sgd"         # "sgd" (with momentum) or "adam"
    lr: float = 0.05               # peak LR for "onecycle", constant start LR otherwise
    momentum: float = 0.9          # SGD only; with cycle_momentum, OneCycle moves it between 0.85 and 0.95
    nesterov: bool = True          # SGD with momentum: Nesterov's look-ahead form, else plain (heavy-ball)
    cycle_momentum: bool = True    # OneCycle moves momentum opposite to the LR; False holds it at `momentum`
    weight_decay: float = 0.0
    schedule: str = "none"         # "none", "step" (StepLR every step_size epochs) or "onecycle" (per batch)
    step_size: int = 6             # epochs, for "step"
    gamma: float = 0.1             # LR factor, for "step"
    pct_start: float = 0.25        # fraction of OneCycle spent warming up
    div_factor: float = 25.0       # OneCycle starts at lr / div_factor
    final_div_factor: float = 1e3  # ... and ends at lr / div_factor / final_div_factor
    label_smoothing: float = 0.0
    rotate_deg: float = 0.0        # augmentation: ±degrees of rotation per image
    translate: float = 0.0         # ±fraction of the image size to shift per image
    scale: float = 0.0             # ±fraction of zoom per image
    channels_last: bool = False    # CPU only: NHWC weights and maps (bench.py times both layouts)
    ema_decay: float = 0.0         # > 0: test (and keep) a moving average of the weights, updated every step
    clean_epochs: int = 0          # the last N epochs train on un-augmented images
    pil_augment: bool = False      # the public reference's per-image PIL transforms (utils.pil_loader)

    def __post_init__(self):
        problems = []
        if not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(f"batch size must be a whole number >= 1, got {self.batch_size!r}")
        if not self.lr > 0:
            problems.append(f"learning rate must be > 0, got {self.lr!r}")
        if self.optimizer not in ("sgd", "adam"):
            problems.append(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not isinstance(self.clean_epochs, int) or self.clean_epochs < 0:
            problems.append(f"clean_epochs must be a whole number >= 0, got {self.clean_epochs!r}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.pil_augment and (self.rotate_deg or self.translate or self.scale or self.clean_epochs):
            problems.append("pil_augment brings its own augmentation: leave rotate_deg, translate, scale and "
                            "clean_epochs at 0")
        if self.schedule not in ("none", "step", "onecycle"):
            problems.append(f"schedule must be 'none', 'step' or 'onecycle', got {self.schedule!r}")
        if problems:
            raise ValueError("; ".join(problems))


# ----------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------

def conv(c_in: int, c_out: int, kernel: int = 3, padding: int = 1) -> nn.Sequential:
    """Conv → ReLU: the baseline's only block."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.ReLU())


def conv_bn(c_in: int, c_out: int, kernel: int = 3, padding: int = 1, bias: bool = False) -> nn.Sequential:
    """Conv → BatchNorm → ReLU. BatchNorm's shift makes the conv's bias redundant, so it has none
    (the public reference keeps it: `bias=True`)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=bias), nn.BatchNorm2d(c_out),
                         nn.ReLU())


def separable_bn(c_in: int, c_out: int) -> nn.Sequential:
    """Depthwise-separable conv → BatchNorm → ReLU: a 3×3 filter per input channel, then a 1×1 conv mixing
    them: 9·c_in + c_in·c_out weights instead of 9·c_in·c_out."""
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(2)


# ----------------------------------------------------------------------------------------------------
# The notebook's iterations
# ----------------------------------------------------------------------------------------------------
# Each network is written out whole, repeating the one before it on purpose: every class reads alone.

class BaselineNet(nn.Module):
    """Iteration 1: plain 3×3 convolutions with ReLU, two max-pools, a 7×7 convolution as the classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv(1, 8)           # 28×28, RF 3
        self.pool1 = pool()               # 14×14, RF 4
        self.conv2 = conv(8, 16)          # 14×14, RF 8
        self.conv3 = conv(16, 16)         # 14×14, RF 12
        self.pool2 = pool()               # 7×7,   RF 14
        self.conv4 = conv(16, 16)         # 7×7,   RF 22
        self.head = nn.Conv2d(16, 10, 7)  # 1×1 out: one 7×7 kernel per class looks at the whole map

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.conv4(x)
        x = self.head(x)
        return x.flatten(1)


class BatchNormNet(nn.Module):
    """Iteration 2: the baseline's layers with BatchNorm after every 3×3 convolution (conv → BN → ReLU)."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)        # 28×28, RF 3
        self.pool1 = pool()               # 14×14, RF 4
        self.conv2 = conv_bn(8, 16)       # 14×14, RF 8
        self.conv3 = conv_bn(16, 16)      # 14×14, RF 12
        self.pool2 = pool()               # 7×7,   RF 14
        self.conv4 = conv_bn(16, 16)      # 7×7,   RF 22
        self.head = nn.Conv2d(16, 10, 7)  # 1×1 out: one 7×7 kernel per class looks at the whole map

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.conv4(x)
        x = self.head(x)
        return x.flatten(1)


class DropoutNet(nn.Module):
    """Iteration 3: BatchNormNet's layers with dropout after each max-pool and before the classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)        # 28×28, RF 3
        self.pool1 = pool()               # 14×14, RF 4
        self.drop1 = nn.Dropout(DROPOUT)
        self.conv2 = conv_bn(8, 16)       # 14×14, RF 8
        self.conv3 = conv_bn(16, 16)      # 14×14, RF 12
        self.pool2 = pool()               # 7×7,   RF 14
        self.drop2 = nn.Dropout(DROPOUT)
        self.conv4 = conv_bn(16, 16)      # 7×7,   RF 22
        self.drop3 = nn.Dropout(DROPOUT)
        self.head = nn.Conv2d(16, 10, 7)  # 1×1 out: one 7×7 kernel per class looks at the whole map

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.drop1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.drop2(x)
        x = self.conv4(x)
        x = self.drop3(x)
        x = self.head(x)
        return x.flatten(1)


class GapNet(nn.Module):
    """Iteration 4: DropoutNet with its 7×7 classifier (7,850 parameters) replaced by a 1×1 convolution to the
    10 classes and a global average pool (170): each class's score is the mean of its 7×7 map."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)        # 28×28, RF 3
        self.pool1 = pool()               # 14×14, RF 4
        self.drop1 = nn.Dropout(DROPOUT)
        self.conv2 = conv_bn(8, 16)       # 14×14, RF 8
        self.conv3 = conv_bn(16, 16)      # 14×14, RF 12
        self.pool2 = pool()               # 7×7,   RF 14
        self.drop2 = nn.Dropout(DROPOUT)
        self.conv4 = conv_bn(16, 16)      # 7×7,   RF 22
        self.drop3 = nn.Dropout(DROPOUT)
        self.head = nn.Sequential(nn.Conv2d(16, 10, 1), nn.AdaptiveAvgPool2d(1))  # 10 maps → 10 scores

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.drop1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.drop2(x)
        x = self.conv4(x)
        x = self.drop3(x)
        x = self.head(x)
        return x.flatten(1)


class CapacityNet(nn.Module):
    """Iteration 5, reused by 6 and 7 (they change only the recipe): GapNet with more parameters spent at
    7×7 (more than GAP freed, within 20k): three 24-channel convolutions where it had one 16-channel one,
    which take the receptive field past the whole digit."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)     # 28×28, RF 3
        self.pool1 = pool()            # 14×14, RF 4
        self.drop1 = nn.Dropout(DROPOUT)
        self.conv2 = conv_bn(8, 16)    # 14×14, RF 8
        self.conv3 = conv_bn(16, 16)   # 14×14, RF 12
        self.pool2 = pool()            # 7×7,   RF 14
        self.drop2 = nn.Dropout(DROPOUT)
        self.conv4 = conv_bn(16, 24)   # 7×7,   RF 22
        self.conv5 = conv_bn(24, 24)   # 7×7,   RF 30: more than the 28×28 image
        self.conv6 = conv_bn(24, 24)   # 7×7,   RF 38
        self.drop3 = nn.Dropout(DROPOUT)
        self.head = nn.Conv2d(24, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.drop1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.drop2(x)
        x = self.conv4(x)
        x = self.conv5(x)
        x = self.conv6(x)
        x = self.drop3(x)
        x = self.head(x)
        x = self.gap(x)
        return x.flatten(1)


class SpeedNet(nn.Module):
    """Iteration 8, and the final model (iterations 9, 10 change only the recipe): CapacityNet's parameters in
    fewer operations. The first layer pools before its BatchNorm and ReLU, so those run on 13×13 maps instead
    of 28×28. It has no padding, so no filter is centred on the image's outermost pixel ring, where MNIST's
    digits, centred in a 20×20 box, rarely reach. Maps are 26 → 13 → 6 instead of 28 → 14 → 7. One dropout,
    before the classifier, instead of three, and it drops whole channels (Dropout2d): one random number per
    channel instead of one per activation. The notebook times the four changes together (iteration 8), not one
    by one."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)  # 26×26, RF 3
        self.pool1 = pool()            # 13×13, RF 4
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = conv_bn(8, 16)    # 13×13, RF 8
        self.conv3 = conv_bn(16, 16)   # 13×13, RF 12
        self.pool2 = pool()            # 6×6,   RF 14
        self.conv4 = conv_bn(16, 24)   # 6×6,   RF 22
        self.conv5 = conv_bn(24, 24)   # 6×6,   RF 30
        self.conv6 = conv_bn(24, 24)   # 6×6,   RF 38
        self.drop = nn.Dropout2d(DROPOUT)    # one mask value per channel: 24 draws per image, not 864
        self.head = nn.Conv2d(24, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.bn1(x)
        x = self.relu1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.conv4(x)
        x = self.conv5(x)
        x = self.conv6(x)
        x = self.drop(x)
        x = self.head(x)
        x = self.gap(x)
        return x.flatten(1)


# ----------------------------------------------------------------------------------------------------
# The ablations: the final network with one part taken away (the notebook's "What the final model needs")
# ----------------------------------------------------------------------------------------------------

class MinusBatchNormNet(nn.Module):
    """The final network (SpeedNet) minus BatchNorm: each convolution gets its bias back, as in the
    baseline."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)      # 26×26, RF 3
        self.pool1 = pool()                  # 13×13, RF 4
        self.relu1 = nn.ReLU()
        self.conv2 = conv(8, 16)             # 13×13, RF 8
        self.conv3 = conv(16, 16)            # 13×13, RF 12
        self.pool2 = pool()                  # 6×6,   RF 14
        self.conv4 = conv(16, 24)            # 6×6,   RF 22
        self.conv5 = conv(24, 24)            # 6×6,   RF 30
        self.conv6 = conv(24, 24)            # 6×6,   RF 38
        self.drop = nn.Dropout2d(DROPOUT)
        self.head = nn.Conv2d(24, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.relu1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.conv4(x)
        x = self.conv5(x)
        x = self.conv6(x)
        x = self.drop(x)
        x = self.head(x)
        x = self.gap(x)
        return x.flatten(1)


class MinusDropoutNet(nn.Module):
    """The final network (SpeedNet) minus its Dropout2d. The same layers in the same order, so the same seed
    gives the same initial weights: a paired comparison."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)  # 26×26, RF 3
        self.pool1 = pool()            # 13×13, RF 4
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = conv_bn(8, 16)    # 13×13, RF 8
        self.conv3 = conv_bn(16, 16)   # 13×13, RF 12
        self.pool2 = pool()            # 6×6,   RF 14
        self.conv4 = conv_bn(16, 24)   # 6×6,   RF 22
        self.conv5 = conv_bn(24, 24)   # 6×6,   RF 30
        self.conv6 = conv_bn(24, 24)   # 6×6,   RF 38
        self.head = nn.Conv2d(24, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.bn1(x)
        x = self.relu1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.conv4(x)
        x = self.conv5(x)
        x = self.conv6(x)
        x = self.head(x)
        x = self.gap(x)
        return x.flatten(1)


class MinusCapacityNet(nn.Module):
    """The final network (SpeedNet) minus the capacity GAP freed: one 16-channel convolution at 6×6 where it
    has three 24-channel ones, as the gap iteration had at 7×7."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)  # 26×26, RF 3
        self.pool1 = pool()            # 13×13, RF 4
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = conv_bn(8, 16)    # 13×13, RF 8
        self.conv3 = conv_bn(16, 16)   # 13×13, RF 12
        self.pool2 = pool()            # 6×6,   RF 14
        self.conv4 = conv_bn(16, 16)   # 6×6,   RF 22
        self.drop = nn.Dropout2d(DROPOUT)
        self.head = nn.Conv2d(16, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(x)
        x = self.bn1(x)
        x = self.relu1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.pool2(x)
        x = self.conv4(x)
        x = self.drop(x)
        x = self.head(x)
        x = self.gap(x)
        return x.flatten(1)


# ----------------------------------------------------------------------------------------------------
# Beyond the assignment: the same design, resized
# ----------------------------------------------------------------------------------------------------

class TinyNet(nn.Module):
    """Under 4,000 parameters. Full 3×3 convolutions only at 28×28, where there are few channels; after the
    first pool, depthwise-separable ones (a 3×3 filter per channel, then a 1×1 mix), whose parameters grow
    with the channels, not their square. The head keeps where things are, which GAP throws away: a 1×1 conv
    makes one 7×7 map per class, and one depthwise 7×7 kernel per class weighs its positions (500
    parameters). No dropout: a net this small under-fits."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)          # 28×28, RF 3
        self.conv2 = conv_bn(8, 12)         # 28×28, RF 5
        self.pool1 = pool()                 # 14×14, RF 6
        self.conv3 = separable_bn(12, 16)   # 14×14, RF 10
        self.conv4 = separable_bn(16, 16)   # 14×14, RF 14
        self.pool2 = pool()                 # 7×7,   RF 16
        self.conv5 = separable_bn(16, 24)   # 7×7,   RF 24
        self.conv6 = separable_bn(24, 26)   # 7×7,   RF 32
        self.head = nn.Conv2d(26, 10, 1, bias=False)       # one 7×7 map per class
        self.where = nn.Conv2d(10, 10, 7, groups=10)        # 1×1: each class map weighed by position

    def forward(self, x):
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.pool1(x)
        x = self.conv3(x)
        x = self.conv4(x)
        x = self.pool2(x)
        x = self.conv5(x)
        x = self.conv6(x)
        x = self.head(x)
        x = self.where(x)
        return x.flatten(1)


class AccurateNet(nn.Module):
    """Just under 20,000 parameters, trained for 19 epochs. CapacityNet sees the 28×28 image through one
    8-channel convolution before it pools; this net looks twice (8 then 12 channels, receptive field 5),
    so strokes are described before three pixels in four are pooled away. The extra convolution runs at
    full resolution: each epoch costs more than the final model's."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)     # 28×28, RF 3
        self.conv2 = conv_bn(8, 12)    # 28×28, RF 5
        self.pool1 = pool()            # 14×14, RF 6
        self.drop1 = nn.Dropout(DROPOUT)
        self.conv3 = conv_bn(12, 16)   # 14×14, RF 10
        self.conv4 = conv_bn(16, 16)   # 14×14, RF 14
        self.pool2 = pool()            # 7×7,   RF 16
        self.drop2 = nn.Dropout(DROPOUT)
        self.conv5 = conv_bn(16, 24)   # 7×7,   RF 24
        self.conv6 = conv_bn(24, 24)   # 7×7,   RF 32
        self.conv7 = conv_bn(24, 24)   # 7×7,   RF 40
        self.drop3 = nn.Dropout(DROPOUT)
        self.head = nn.Conv2d(24, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.pool1(x)
        x = self.drop1(x)
        x = self.conv3(x)
        x = self.conv4(x)
        x = self.pool2(x)
        x = self.drop2(x)
        x = self.conv5(x)
        x = self.conv6(x)
        x = self.conv7(x)
        x = self.drop3(x)
        x = self.head(x)
        x = self.gap(x)
        return x.flatten(1)


class ReferenceNet(nn.Module):
    """The typical public solution (19,114 parameters), the yardstick of bench.py."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(conv_bn(1, 8, bias=True), conv_bn(8, 16, bias=True), pool(),
                                    nn.Dropout(DROPOUT))
        self.block2 = nn.Sequential(conv_bn(16, 16, bias=True), conv_bn(16, 32, bias=True), pool(),
                                    nn.Dropout(DROPOUT))
        self.block3 = nn.Sequential(conv_bn(32, 32, bias=True), conv_bn(32, 32, 1, 0, bias=True),
                                    nn.Dropout(DROPOUT))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.gap(x).flatten(1)
        return self.fc(x)


MODELS: dict[str, type[nn.Module]] = {
    "baseline": BaselineNet,
    "batchnorm": BatchNormNet,
    "dropout": DropoutNet,
    "gap": GapNet,
    "capacity": CapacityNet,
    "augment": CapacityNet,
    "onecycle": CapacityNet,
    "speed": SpeedNet,
    "average": SpeedNet,
    "final": SpeedNet,
    "minus_batchnorm": MinusBatchNormNet,
    "minus_dropout": MinusDropoutNet,
    "minus_augment": SpeedNet,
    "minus_onecycle": SpeedNet,
    "minus_weight_decay": SpeedNet,
    "minus_nesterov": SpeedNet,
    "minus_average": SpeedNet,
    "minus_capacity": MinusCapacityNet,
    "onecycle_constant_lr": SpeedNet,
    "onecycle_low_peak": SpeedNet,
    "onecycle_fixed_momentum": SpeedNet,
    "lean": SpeedNet,
    "tiny": TinyNet,
    "tiny_clean3": TinyNet,
    "tiny_long_average": TinyNet,
    "accurate": AccurateNet,
    "sprint": SpeedNet,
    "reference": ReferenceNet,
}
DEFAULT_MODEL = "final"
TARGET = 99.4  # percent test accuracy, the assignment's bar

# Every iteration trains 9 epochs, the final model's budget: each compares with the one before like for like.
_PLAIN = Recipe(epochs=9, batch_size=128, optimizer="sgd", lr=0.02, momentum=0.9, weight_decay=5e-4)
_AUGMENT = dict(rotate_deg=10.0, translate=0.1, scale=0.1)  # ±10°, ±2.8 px, ±10 % zoom
_ONECYCLE = dict(optimizer="sgd", schedule="onecycle", lr=0.1, momentum=0.9, weight_decay=5e-4)
_SPEED = Recipe(epochs=9, batch_size=128, **_ONECYCLE, **_AUGMENT, channels_last=True)
_AVERAGE = replace(_SPEED, ema_decay=0.995)
_FINAL = replace(_AVERAGE, nesterov=False, cycle_momentum=False)
_TINY = Recipe(epochs=15, batch_size=64, **_ONECYCLE, rotate_deg=7.0, translate=0.07, scale=0.07,
               pct_start=0.15, ema_decay=0.995, clean_epochs=2)
RECIPES: dict[str, Recipe] = {
    "baseline": _PLAIN,
    "batchnorm": _PLAIN,
    "dropout": _PLAIN,
    "gap": _PLAIN,
    "capacity": _PLAIN,
    "augment": replace(_PLAIN, **_AUGMENT),
    # OneCycle instead of a constant LR, peaking at 0.1 (not 0.02): where the LR range test's loss still
    # falls.
    "onecycle": replace(_PLAIN, **_AUGMENT, **_ONECYCLE),
    # Channels-last: a layout many CPU convolution kernels prefer. bench.py times it against the default
    # layout on the reference net (throughput_ratio vs throughput_ratio_data_only), not on SpeedNet.
    "speed": _SPEED,
    # What is tested and kept is the average of the weights over the last ~200 steps (1 / (1 - 0.995)).
    "average": _AVERAGE,
    # The rule (report.keep_decision): Nesterov's look-ahead and momentum cycling, each taken away from the
    # average recipe, changed nothing over seeds 0-9, so the simpler recipe wins: plain momentum, held at 0.9.
    "final": _FINAL,
    # Those two parts taken away from the average recipe, one at a time: the evidence that dropped them.
    "minus_nesterov": replace(_AVERAGE, nesterov=False),
    "onecycle_fixed_momentum": replace(_AVERAGE, cycle_momentum=False),
    # The ablations: the final recipe with one part taken away. Recipe-only rows share the final model's
    # initial weights and batch order seed by seed (and minus_dropout, whose net has the same layers).
    "minus_batchnorm": _FINAL,
    "minus_dropout": _FINAL,
    "minus_augment": replace(_FINAL, rotate_deg=0.0, translate=0.0, scale=0.0),
    "minus_onecycle": replace(_FINAL, schedule="none", lr=_PLAIN.lr),  # the earlier iterations' constant LR
    "minus_weight_decay": replace(_FINAL, weight_decay=0.0),
    "minus_average": replace(_FINAL, ema_decay=0.0),
    "minus_capacity": _FINAL,
    # Controls for the onecycle iteration, which changed the LR's shape and its peak at once (and cycled
    # momentum, which the final recipe no longer does): each undoes one of the two in the final recipe.
    "onecycle_constant_lr": replace(_FINAL, schedule="none"),  # OneCycle's peak 0.1, held constant
    "onecycle_low_peak": replace(_FINAL, lr=_PLAIN.lr),        # OneCycle peaking at 0.02
    # The parts that tie when taken away alone (augmentation, weight decay, OneCycle's shape: its peak 0.1
    # held constant), taken away together: the rule's second step (report.TOGETHER, keep_decision).
    "lean": replace(_FINAL, rotate_deg=0.0, translate=0.0, scale=0.0, weight_decay=0.0, schedule="none"),
    # Milder augmentation (a net this small under-fits), twice the steps (batch 64), a longer anneal, weight
    # average, 2 clean last epochs.
    "tiny": _TINY,
    # Candidates for tiny's goal (issue 38: 99.4 % in each of the last 3 epochs), tried on seeds 0-9: its last
    # 3 epochs all clean (the dip was at epoch 13, the last augmented one); and also a longer weight average
    # (~500 steps, half an epoch at batch 64) to smooth the epoch-to-epoch wobble of a net at its limit.
    "tiny_clean3": replace(_TINY, clean_epochs=3),
    "tiny_long_average": replace(_TINY, clean_epochs=3, ema_decay=0.998),
    # A shorter warm-up (15 % of the steps, not 25 %) leaves a longer anneal; the final model's weight average
    # and, as tiny, the last 2 epochs on the clean images the test set is made of.
    "accurate": Recipe(epochs=19, batch_size=128, **_ONECYCLE, **_AUGMENT, pct_start=0.15, ema_decay=0.995,
                       clean_epochs=2),
    # The final model in 3 epochs: twice the steps (batch 64), label smoothing, a clean last epoch.
    "sprint": replace(_SPEED, epochs=3, batch_size=64, pct_start=0.2, ema_decay=0.995, label_smoothing=0.1,
                      clean_epochs=1),
    # As the public reference trains it: Adam 1e-3, StepLR(15, 0.5), its per-image PIL augmentation.
    "reference": Recipe(epochs=15, batch_size=128, optimizer="adam", lr=1e-3, schedule="step", step_size=15,
                        gamma=0.5, pil_augment=True),
}
