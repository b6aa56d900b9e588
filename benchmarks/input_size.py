"""Choose the classifier's input size from measured accuracy against measured latency.

Trains the same architecture with the same recipe at several input sizes, then times each model in
one process on this machine (so the latencies compare as ratios) and writes a table, JSON and a
plot. Runs that already finished are reused, so an interrupted sweep picks up where it stopped.

    python benchmarks/input_size.py --data ../shared/data/utkface/UTKFace.tar.gz \
        --sizes 64 80 96 112 --epochs 8 --runs runs/input-size --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def train_sizes(data: str, sizes: list[int], epochs: int, arch: str, runs: Path) -> None:
    from faceedge.train.config import GENDER_ONLY, TrainConfig
    from faceedge.train.trainer import train

    for size in sizes:
        run = runs / f"{arch}-{size}"
        if (run / "training.json").is_file():
            logging.info("%s is done, reusing it", run)
            continue
        resume = (run / "checkpoints" / "last.keras").is_file()
        # The gender-only recipe these figures were measured with.
        config = TrainConfig(
            data=data, out=str(run), arch=arch, img_size=size, epochs=epochs, patience=epochs, **GENDER_ONLY
        )
        train(config, resume=resume, progress=False)


def latency(model_path: Path, repeats: int) -> dict:
    """Keras inference (a tf.function calling the model with training=False) at batch 1 and 32."""
    import keras
    import tensorflow as tf

    model = keras.models.load_model(model_path, compile=False)
    size = model.input_shape[1]
    call = tf.function(lambda x: model(x, training=False))
    out = {}
    for batch in (1, 32):
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32))
        for _ in range(20):
            call(x)
        times = []
        for _ in range(repeats if batch == 1 else max(10, repeats // 10)):
            start = time.perf_counter_ns()
            np.asarray(call(x))
            times.append(time.perf_counter_ns() - start)
        times.sort()
        out[f"batch{batch}_p50_ms"] = times[len(times) // 2] / 1e6
    out["batch32_images_per_s"] = 32 / (out["batch32_p50_ms"] / 1e3)
    return out


def measure(sizes: list[int], arch: str, runs: Path, repeats: int) -> list[dict]:
    rows = []
    for size in sorted(sizes):
        run = runs / f"{arch}-{size}"
        evaluation = json.loads((run / "evaluation.json").read_text())
        training = json.loads((run / "training.json").read_text())
        rows.append(
            {
                "size": size,
                "accuracy": evaluation["accuracy"],
                "accuracy_ci95": evaluation["accuracy_ci95"],
                "adult_accuracy": evaluation["adult_accuracy"],
                "children_3_9_accuracy": evaluation["per_age_group"]["3-9"],
                "best_val_accuracy": training["best_val_accuracy"],
                "epochs": training["epochs_run"],
                "epoch_seconds_median": training["epoch_seconds_median"],
                "mflops_per_image": training["flops_per_image"] / 1e6,
                **latency(run / "model.keras", repeats),
            }
        )
    return rows


def write_results(rows: list[dict], arch: str, epochs: int, out: Path) -> None:
    from faceedge.plotting import pyplot

    out.mkdir(parents=True, exist_ok=True)
    base = min(rows, key=lambda r: r["size"])
    machine = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()}
    (out / "input_size.json").write_text(
        json.dumps({"arch": arch, "epochs": epochs, "machine": machine, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        f"# Input size: accuracy against latency ({arch}, {epochs} epochs each, same recipe and split)",
        "",
        f"Machine: {machine['platform']}, {machine['cpus']} CPUs. Latency is Keras inference through a"
        " tf.function, measured in one process; the ratio column is against the smallest size.",
        "",
        "| size | test accuracy (95% CI) | adults 18+ | ages 3-9 | MFLOPs | batch-1 p50 ms | ratio |"
        " batch-32 img/s | train s/epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        low, high = r["accuracy_ci95"]
        lines.append(
            f"| {r['size']} | {r['accuracy']:.2%} ({low:.2%}-{high:.2%}) | {r['adult_accuracy']:.2%} |"
            f" {r['children_3_9_accuracy']:.2%} | {r['mflops_per_image']:.0f} | {r['batch1_p50_ms']:.2f} |"
            f" {r['batch1_p50_ms'] / base['batch1_p50_ms']:.2f}x | {r['batch32_images_per_s']:.0f} |"
            f" {r['epoch_seconds_median']:.0f} |"
        )
    (out / "input_size.md").write_text("\n".join(lines) + "\n")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.errorbar(
        [r["batch1_p50_ms"] for r in rows],
        [r["accuracy"] for r in rows],
        yerr=np.array(
            [[r["accuracy"] - r["accuracy_ci95"][0], r["accuracy_ci95"][1] - r["accuracy"]] for r in rows]
        ).T,
        fmt="o-",
        capsize=4,
    )
    for r in rows:
        ax.annotate(
            f"{r['size']} px",
            (r["batch1_p50_ms"], r["accuracy"]),
            textcoords="offset points",
            xytext=(6, -12),
        )
    ax.set(
        xlabel="Keras latency at batch 1, ms (this CPU)",
        ylabel="test accuracy",
        title=f"{arch}: input size trade-off ({epochs} epochs each)",
    )
    fig.tight_layout()
    fig.savefig(out / "input_size.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 80, 96, 112])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--arch", default="resnet10")
    parser.add_argument("--runs", type=Path, default=Path("runs/input-size"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--measure-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.measure_only:
        train_sizes(args.data, args.sizes, args.epochs, args.arch, args.runs)
    write_results(measure(args.sizes, args.arch, args.runs, args.repeats), args.arch, args.epochs, args.out)


if __name__ == "__main__":
    main()
