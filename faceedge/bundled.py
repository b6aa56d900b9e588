"""The artifacts that ship inside the package, so that a fresh install runs with nothing to download.

They live in ``faceedge/models/``, each beside its manifest, and are made by the export stage from
the repository's trained model (``models/gender``) and the converted face detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceedge.errors import FaceedgeError, ModelError
from faceedge.manifest import SUFFIX, Manifest, load_artifact, read_manifest

BUNDLED_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class BundledArtifact:
    """One shipped model file, its manifest, and whether its bytes still match the manifest."""

    name: str  # the manifest's stem: "gender", "gender_int8", ...
    path: Path  # the model file (the manifest itself where that cannot be read)
    manifest: Manifest | None  # None where the manifest cannot be read
    intact: bool
    problem: str | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "intact": self.intact,
            "problem": self.problem,
            "manifest": self.manifest.to_dict() if self.manifest else None,
        }


def bundled_artifacts(folder: Path = BUNDLED_DIR) -> list[BundledArtifact]:
    """Every artifact shipped in ``folder``, sorted by name, each checked against its manifest."""
    found = []
    for manifest_file in sorted(folder.glob(f"*{SUFFIX}")):
        name = manifest_file.name.removesuffix(SUFFIX)
        try:
            manifest = read_manifest(manifest_file)
        except ModelError as exc:  # listed as broken; the others are still shown
            found.append(BundledArtifact(name, manifest_file, None, False, str(exc)))
            continue
        try:
            load_artifact(manifest_file)
            intact, problem = True, None
        except FaceedgeError as exc:
            intact, problem = False, str(exc)
        path = manifest_file.parent / manifest.model_file
        found.append(BundledArtifact(name, path, manifest, intact, problem))
    return found


def bundled_path(name: str, folder: Path = BUNDLED_DIR) -> Path:
    """The model file of the bundled artifact ``name`` (e.g. "gender"), checked against its manifest.

    Raises:
        ModelError: no such artifact, or its file does not match its manifest.
    """
    return load_bundled(name, folder)[1]


def load_bundled(name: str, folder: Path = BUNDLED_DIR) -> tuple[Manifest, Path]:
    """The manifest and model file of the bundled artifact ``name``, checked against each other.

    Raises:
        ModelError: no such artifact, or its file does not match its manifest.
    """
    manifest_file = folder / f"{name}{SUFFIX}"
    if not manifest_file.is_file():
        names = ", ".join(a.name for a in bundled_artifacts(folder)) or "none"
        raise ModelError(f"no bundled model called {name!r} (bundled: {names})")
    return load_artifact(manifest_file)


def gate_problem(manifest: Manifest) -> str | None:
    """None where the manifest records the export gate its artifact passed (every check measured
    within its limit, as the export stage writes only then); else why it did not, in words."""
    checks = manifest.accuracy.get("gate") or []
    if not checks:
        return "its manifest records no gate"
    for check in checks:
        try:
            if not float(check["measured"]) <= float(check["limit"]):
                return f"its gate failed: {check['check']} {check['measured']:.3g} over {check['limit']:.3g}"
        except (KeyError, TypeError, ValueError):
            return f"its manifest's gate record is malformed: {check!r}"
    return None
