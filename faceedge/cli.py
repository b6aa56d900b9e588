"""The `faceedge` command: one Typer app per stage, joined here. Every command calls one library function.

Errors a user can cause (:class:`faceedge.errors.FaceedgeError`) become one line on stderr and the
error's exit code, never a traceback.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Annotated

import typer
from typer.core import TyperGroup

from faceedge import __version__
from faceedge.bench.cli import bench
from faceedge.data.cli import app as data_app
from faceedge.errors import FaceedgeError, MissingExtraError
from faceedge.evaluate.cli import evaluate
from faceedge.export.cli import app as export_app
from faceedge.runtime.cli import doctor, run, serve
from faceedge.train.cli import report, train

# The optional packages and the extra that brings each: an import of one of them that fails where
# no `require` stood guard is still told as the extra to install, never as a traceback.
EXTRA_OF = {
    **dict.fromkeys(("tensorflow", "keras", "tf2onnx", "onnx", "tensorboard", "matplotlib"), "train"),
    **dict.fromkeys(("fastapi", "uvicorn", "python_multipart", "prometheus_client"), "serve"),
    "ai_edge_litert": "bench",
}


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


class _Group(TyperGroup):
    """Turns user errors raised anywhere below into one clear line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FaceedgeError as exc:
            typer.echo(f"faceedge: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except ModuleNotFoundError as exc:
            package = (exc.name or "").partition(".")[0]
            # Only a package that is not installed at all is an extra to install; a module missing
            # inside an installed one (a version change), or from faceedge itself, is a bug to show.
            if package not in EXTRA_OF or _installed(package):
                raise
            missing = MissingExtraError(
                f"{package} is not installed; install it with: pip install 'faceedge[{EXTRA_OF[package]}]'"
            )
            typer.echo(f"faceedge: error: {missing}", err=True)
            raise typer.Exit(missing.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("faceedge: interrupted", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    help="Face gender recognition: train on UTKFace, evaluate, export, and run on the edge.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(data_app, name="data")
app.add_typer(export_app, name="export")
app.command()(train)
app.command()(evaluate)
app.command()(report)
app.command()(run)
app.command()(doctor)
app.command()(serve)
app.command()(bench)


@app.command()
def models(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON: paths and full manifests.")
    ] = False,
) -> None:
    """List the models shipped inside faceedge, each checked against its manifest."""
    import json

    from faceedge.bundled import bundled_artifacts

    artifacts = bundled_artifacts()
    if json_output:
        typer.echo(json.dumps([a.to_dict() for a in artifacts], indent=2))
        return
    for a in artifacts:
        if a.manifest is None:
            typer.echo(f"{a.name:<16} UNREADABLE: {a.problem}")
            continue
        accuracy = a.manifest.accuracy.get("accuracy")
        measured = f"test accuracy {100 * accuracy:.2f} %" if accuracy is not None else ""
        state = "ok" if a.intact else f"DAMAGED: {a.problem}"
        typer.echo(f"{a.name:<16} {a.manifest.task:<15} {a.manifest.precision:<5} {measured:<22} {state}")
        typer.echo(f"{'':<16} {a.path}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"faceedge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debugging detail.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    # TensorFlow's C++ start-up chatter (CPU feature notes, oneDNN banners) is not for our users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        force=True,
    )


# Options of `faceedge run` whose value may be left out, and what they then mean. Typer has no
# optional option values, so `faceedge run --json` is read as `--json -` (stdout) before Typer sees
# the arguments; other commands' options of the same name are left alone.
OPTIONAL_VALUES = {"run": {"--json": "-"}}


def with_optional_values(argv: list[str]) -> list[str]:
    """``argv`` with the implied value inserted after each option of :data:`OPTIONAL_VALUES` that
    is given without one (last, or followed by another option), for the command it belongs to."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    implied = OPTIONAL_VALUES.get(command, {})
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg in implied and (following is None or (following.startswith("-") and following != "-")):
            out.append(implied[arg])
    return out


def main() -> None:
    import sys

    app(args=with_optional_values(sys.argv[1:]))
