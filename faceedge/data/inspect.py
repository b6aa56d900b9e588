"""What is in a UTKFace copy: gender, race and age distributions, and how unbalanced they are."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faceedge.ages import AGE_GROUPS, LIFE_STAGES
from faceedge.data.labels import GENDERS, RACES
from faceedge.data.utkface import UtkFace


@dataclass(frozen=True)
class DatasetStats:
    """Counts per group; every table is keyed by the group names used in evaluation reports."""

    total: int
    skipped: int
    gender: dict[str, int]
    race: dict[str, int]
    age_group: dict[str, int]
    life_stage: dict[str, int]
    race_by_gender: dict[str, dict[str, int]]
    age_group_by_gender: dict[str, dict[str, int]]
    age_histogram: dict[int, dict[str, int]]

    @property
    def race_imbalance(self) -> float:
        """Largest race group over the smallest one."""
        return max(self.race.values()) / max(1, min(self.race.values()))

    @property
    def age_group_imbalance(self) -> float:
        return max(self.age_group.values()) / max(1, min(self.age_group.values()))

    @property
    def female_share(self) -> float:
        return self.gender["female"] / max(1, self.total)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["age_histogram"] = {str(k): v for k, v in self.age_histogram.items()}
        out.update(
            race_imbalance=self.race_imbalance,
            age_group_imbalance=self.age_group_imbalance,
            female_share=self.female_share,
        )
        return out


def describe(dataset: UtkFace) -> DatasetStats:
    """Count the samples of ``dataset`` by gender, race, age group and their combinations."""
    labels = [s.labels for s in dataset.samples]

    def count(key, names) -> dict[str, int]:
        counter = Counter(key(item) for item in labels)
        return {name: counter.get(name, 0) for name in names}

    groups = [name for name, _, _ in AGE_GROUPS]
    by_gender = {g: [lab for lab in labels if lab.gender_name == g] for g in GENDERS}
    ages = Counter((lab.age, lab.gender_name) for lab in labels)
    return DatasetStats(
        total=len(labels),
        skipped=len(dataset.skipped),
        gender=count(lambda lab: lab.gender_name, GENDERS),
        race=count(lambda lab: lab.race_name, RACES),
        age_group=count(lambda lab: lab.age_group, groups),
        life_stage=count(lambda lab: lab.life_stage, [name for name, _, _ in LIFE_STAGES]),
        race_by_gender={
            r: {g: sum(1 for lab in by_gender[g] if lab.race_name == r) for g in GENDERS} for r in RACES
        },
        age_group_by_gender={
            a: {g: sum(1 for lab in by_gender[g] if lab.age_group == a) for g in GENDERS} for a in groups
        },
        age_histogram={
            age: {g: ages.get((age, g), 0) for g in GENDERS} for age in sorted({lab.age for lab in labels})
        },
    )


def format_stats(stats: DatasetStats) -> str:
    """A plain-text report of ``stats`` for the terminal."""
    lines = [f"{stats.total} faces ({stats.skipped} files skipped)", ""]

    def table(title: str, rows: dict[str, dict[str, int]]) -> None:
        lines.append(f"{title:<12}{'male':>8}{'female':>8}{'total':>8}{'share':>8}{'female %':>10}")
        for name, row in rows.items():
            total = row["male"] + row["female"]
            share = total / max(1, stats.total)
            lines.append(
                f"{name:<12}{row['male']:>8}{row['female']:>8}{total:>8}{share:>8.1%}"
                f"{row['female'] / max(1, total):>10.1%}"
            )
        lines.append("")

    table("race", stats.race_by_gender)
    table("age group", stats.age_group_by_gender)
    lines.append(
        "life stages (the original report's groups): "
        + ", ".join(f"{k} {v}" for k, v in stats.life_stage.items())
    )
    lines.append(
        f"imbalance: female share {stats.female_share:.1%}; largest/smallest race group "
        f"{stats.race_imbalance:.1f}x; largest/smallest age group {stats.age_group_imbalance:.1f}x"
    )
    return "\n".join(lines)


def plot_stats(stats: DatasetStats, path: str | Path) -> Path:
    """Draw the distributions (age histogram, race, age groups, female share) into one PNG."""
    from faceedge.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    colours = {"male": "#4C72B0", "female": "#DD8452"}

    ages = np.array(list(stats.age_histogram))
    bottom = np.zeros(len(ages))
    for g in GENDERS:
        values = np.array([stats.age_histogram[a][g] for a in ages])
        axes[0, 0].bar(ages, values, bottom=bottom, width=1.0, color=colours[g], label=g)
        bottom += values
    axes[0, 0].set(title="Age (years)", xlabel="age", ylabel="faces")
    axes[0, 0].legend()

    def grouped(ax, rows: dict[str, dict[str, int]], title: str) -> None:
        x = np.arange(len(rows))
        for offset, g in zip((-0.2, 0.2), GENDERS):
            ax.bar(x + offset, [r[g] for r in rows.values()], width=0.4, color=colours[g], label=g)
        ax.set_xticks(x, list(rows))
        ax.set(title=title, ylabel="faces")
        ax.legend()

    grouped(axes[0, 1], stats.race_by_gender, "Race")
    grouped(axes[1, 0], stats.age_group_by_gender, "Age group (evaluation groups)")

    ax = axes[1, 1]
    shares = {
        **{f"race {k}": v for k, v in stats.race_by_gender.items()},
        **{f"age {k}": v for k, v in stats.age_group_by_gender.items()},
    }
    names = list(shares)
    values = [row["female"] / max(1, row["male"] + row["female"]) for row in shares.values()]
    ax.barh(names, values, color="#8172B3")
    ax.axvline(0.5, color="black", linewidth=0.8, linestyle="--")
    ax.invert_yaxis()
    ax.set(title="Female share per group", xlim=(0, 1), xlabel="share of female faces")
    fig.suptitle(
        f"UTKFace: {stats.total} faces, {stats.female_share:.1%} female, "
        f"race groups {stats.race_imbalance:.1f}x apart"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
