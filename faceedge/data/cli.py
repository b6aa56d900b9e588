"""`faceedge data …`: look at UTKFace and write the split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from faceedge.data.split import DEFAULT_SEED

app = typer.Typer(help="Inspect UTKFace and write its train / val / test split.", no_args_is_help=True)

DataArgument = Annotated[
    Path,
    typer.Argument(help="The UTKFace archive (UTKFace.tar.gz) or its extracted folder.", show_default=False),
]


@app.command()
def inspect(
    data: DataArgument,
    plot: Annotated[Path, typer.Option(help="Where to draw the distributions (PNG).")] = Path("utkface.png"),
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the counts as JSON here.")
    ] = None,
) -> None:
    """Print and plot the distribution of gender, race and age, the age groups and the imbalance."""
    from faceedge.data.inspect import describe, format_stats, plot_stats
    from faceedge.data.utkface import load_utkface
    from faceedge.errors import require
    from faceedge.paths import check_output_file

    # Refused before the dataset is read: both outputs, and the plotting library the plot needs.
    check_output_file(plot, "distribution plot")
    if json_path is not None:
        check_output_file(json_path, "counts JSON")
    require("matplotlib", "train")
    stats = describe(load_utkface(data))
    typer.echo(format_stats(stats))
    typer.echo(f"plot: {plot_stats(stats, plot)}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)  # as the plot's is
        json_path.write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")
        typer.echo(f"json: {json_path}")


@app.command()
def split(
    data: DataArgument,
    out: Annotated[Path, typer.Option(help="The split CSV to write.")] = Path("split.csv"),
    seed: Annotated[int, typer.Option(help="Seed of the stratified shuffle.")] = DEFAULT_SEED,
) -> None:
    """Write a deterministic 80 / 10 / 10 split, stratified by gender × race × age group."""
    from faceedge.data.split import make_split, write_split
    from faceedge.data.utkface import load_utkface
    from faceedge.paths import check_output_file

    check_output_file(out, "split file")
    result = make_split(load_utkface(data), seed)
    write_split(result, out)
    counts = result.counts()
    typer.echo(f"{out}: " + ", ".join(f"{name} {n}" for name, n in counts.items()) + f" (seed {seed})")
