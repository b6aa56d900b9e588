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
    erase_probability: float = 0.25  # chance that one rectangle of a chip is replaced by noise
    max_erase_area: float = 0.2  # the rectangle's largest share of the chip (the smallest is 2 %)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Saved as ``config.json``; ``--resume`` reads it back."""

    data: str
    out: str
    arch: str = ArchName.resnet10.value
    img_size: int | None = None  # None: the architecture's default size
    epochs: int = 55
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
    age_head: bool = True  # model v2: P(female) and the age in years from one backbone
    age_loss_weight: float = 0.05  # the age head's L1 loss in years is weighted by this
    ema_momentum: float | None = 0.999  # validate and keep an exponential moving average of the weights
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
        # A run saved before model v2 had one head, no weight averaging and no erasing: resumed,
        # it goes on as it started.
        values.setdefault("age_head", False)
        values.setdefault("ema_momentum", None)
        augmentation = {"erase_probability": 0.0, **values.get("augmentation", {})}
        values["augmentation"] = Augmentation(**augmentation)
        values["teachers"] = tuple(values.get("teachers", ()))
        return cls(**values)


# The recipe of the gender-only model of earlier releases (models/gender): one head, no weight
# averaging, no erasing; ``TrainConfig(..., **GENDER_ONLY)``.
GENDER_ONLY: dict = {
    "age_head": False,
    "ema_momentum": None,
    "augmentation": Augmentation(erase_probability=0.0),
}
