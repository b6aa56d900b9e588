"""What decides a training run, readable without importing TensorFlow (the CLI shows these defaults)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from faceedge.data.split import DEFAULT_SEED
from faceedge.train.architectures import ARCHITECTURES, ArchName


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to every training batch; zeros turn a change off."""

    flip: bool = True
    max_rotation_degrees: float = 12.0
    max_shift: float = 0.08  # fraction of the image side
    max_zoom: float = 0.10  # scale factor in [1 - max_zoom, 1 + max_zoom]
    max_brightness: float = 25.0  # added to 0-255 pixels
    max_contrast: float = 0.25  # contrast factor in [1 - max_contrast, 1 + max_contrast]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Saved as ``config.json``; ``--resume`` reads it back."""

    data: str
    out: str
    arch: str = ArchName.resnet10.value
    img_size: int | None = None  # None: the architecture's default size
    epochs: int = 36
    batch_size: int = 64  # global batch, split across GPUs when there are several
    learning_rate: float = 2e-3  # peak, after one epoch of linear warm-up, then cosine decay to 0
    weight_decay: float = 0.05  # AdamW, decoupled
    label_smoothing: float = 0.05
    patience: int = 10  # epochs without a better val accuracy before stopping early
    seed: int = 0  # weights, shuffling, augmentation and --limit subsets
    split_seed: int = DEFAULT_SEED
    split_file: str | None = None  # None: a new stratified split with split_seed
    limit: int | None = None  # train on a random subset of this many images (quick runs, tests)
    init_from: str | None = None  # start from this trained .keras model's weights (a new schedule)
    teachers: tuple[str, ...] = ()  # trained .keras models whose mirror-averaged predictions are distilled
    distillation: float = 0.5  # with teachers: the training target is (1 - d) * label + d * teachers
    augmentation: Augmentation = field(default_factory=Augmentation)

    @property
    def size(self) -> int:
        return self.img_size or ARCHITECTURES[ArchName(self.arch)].default_size

    def to_dict(self) -> dict:
        out = asdict(self)
        out["img_size"] = self.size
        return out

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        values["augmentation"] = Augmentation(**values.get("augmentation", {}))
        values["teachers"] = tuple(values.get("teachers", ()))
        return cls(**values)
