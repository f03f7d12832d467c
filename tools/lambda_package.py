"""The deployment package both Lambda functions run, as `make deploy` and `make package` ship it.

Chalice zips the app and its dependencies as Python sources only. Lambda
unpacks the zip into a read-only /var/task, where Python finds no bytecode and
can write none, so every cold start would compile each module it imports: a
quarter of a second of CPU here, 0.9 s at 512 MB. `prepare` takes the zip Chalice builds and
adds the bytecode the stage's runtime reads, and leaves out botocore's models of
the services the code never calls (seven eighths of the zip).

Both deployment paths take the zip from one place: `chalice deploy` and
`chalice package` reuse `.chalice/deployments/<hash>-<runtime>.zip` when it
exists (the hash covers requirements.txt and the app's files), so a zip
prepared there before either command runs is the one that ships.

Bytecode is specific to the interpreter's minor version, and Python ignores
bytecode of another version without a word, so the stage declares its runtime
(`lambda_python_version` in `.chalice/config.json`) and only that version of
Python may build the package. Chalice cannot be told a runtime: it declares the
version of the Python that runs it, and it picks compiled dependencies
(`charset_normalizer`'s extension modules) for that version too.
"""

import calendar
import importlib.util
import json
import marshal
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from chalice import __version__ as chalice_version
from chalice.config import Config
from chalice.deploy.packager import DependencyBuilder, LambdaDeploymentPackager, PipRunner, SubprocessPip
from chalice.utils import UI, OSUtils

from tools.aws_calls import Program

RUNTIME_SETTING = "lambda_python_version"
BOTOCORE_MODELS = "botocore/data/"
# PEP 552: bytecode validated by a hash of its source, which is not checked at import. /var/task
# never changes, so checking would only re-read and hash every source at each cold start (~4 ms
# here), and the times Lambda gives the unpacked files do not matter.
_UNCHECKED_HASH_FLAGS = (0b01).to_bytes(4, "little")
# Python code that lists in `compiled` every module the import compiles from source from then on.
RECORD_COMPILED = """
import importlib._bootstrap_external
compiled = []
def _recording(source_to_code):
    def recorded(loader, data, path, *, _optimize=-1):
        compiled.append(path)
        return source_to_code(loader, data, path, _optimize=_optimize)
    return recorded
importlib._bootstrap_external.SourceLoader.source_to_code = _recording(
    importlib._bootstrap_external.SourceLoader.source_to_code
)
"""


class PackageError(Exception):
    """The package cannot be built as the stage needs it."""


def declared_runtime(settings: dict[str, Any]) -> str:
    """The Lambda runtime a stage's settings declare: "python3.11"."""
    runtime = settings.get(RUNTIME_SETTING)
    if not isinstance(runtime, str):
        raise PackageError(f"the stage declares no Lambda runtime: set {RUNTIME_SETTING} in .chalice/config.json")
    return runtime


def running_runtime() -> str:
    """The Lambda runtime of this interpreter's version, which Chalice declares when it runs on it."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def check_runtime(settings: dict[str, Any]) -> str:
    """The stage's runtime, once it is sure that this interpreter builds a package for it."""
    runtime = declared_runtime(settings)
    if running_runtime() != runtime:
        raise PackageError(
            f"the stage runs on {runtime}, but this is Python {sys.version.split()[0]}: Chalice would declare "
            f"{running_runtime()} and its bytecode would not be read by {runtime}. Build with {runtime}: "
            f"`make clean` then `make <target> PYTHON={runtime}`"
        )
    return runtime


def prepare(project_dir: Path, stage: str) -> Path:
    """The stage's package, where Chalice reuses it: built by Chalice once, then finished here."""
    config_file: dict[str, Any] = json.loads((project_dir / ".chalice" / "config.json").read_text())
    runtime = check_runtime(config_file["stages"][stage])
    config = Config.create(chalice_stage=stage, project_dir=str(project_dir), config_from_disk=config_file)
    if config.lambda_python_version != runtime:
        raise PackageError(f"Chalice {chalice_version} would declare {config.lambda_python_version}, not {runtime}")
    packager = _chalice_packager(config.lambda_architecture)
    path = Path(packager.deployment_package_filename(str(project_dir), runtime))
    services = Program(project_dir).services
    recipe = _recipe(services)
    if path.exists() and _recipe_of(path) != recipe:
        path.unlink()
    if not path.exists():
        packager.create_deployment_package(str(project_dir), runtime)
        _finish(path, services, recipe)
    return path


def _chalice_packager(architecture: str) -> LambdaDeploymentPackager:
    """The packager `chalice deploy` and `chalice package` create (chalice.deploy.deployer.create_build_stage)."""
    osutils = OSUtils()
    pip = PipRunner(pip=SubprocessPip(osutils=osutils), osutils=osutils)
    return LambdaDeploymentPackager(
        osutils=osutils,
        dependency_builder=DependencyBuilder(osutils=osutils, pip_runner=pip, architecture=architecture),
        ui=UI(out=sys.stderr),
        architecture=architecture,
    )


def _recipe(services: frozenset[str]) -> bytes:
    """What `_finish` did to a zip, kept as its archive comment: a zip finished otherwise is built again."""
    tag = f"{sys.implementation.cache_tag} {importlib.util.MAGIC_NUMBER.hex()}"
    return f"bytecode {tag} unchecked-hash; botocore models {' '.join(sorted(services))}".encode()


def _recipe_of(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.comment


def _finish(path: Path, services: frozenset[str], recipe: bytes) -> None:
    """Rewrite Chalice's zip: botocore's models of `services` only, and bytecode beside every source."""
    unfinished = path.with_suffix(".unfinished.zip")
    with zipfile.ZipFile(path) as chalice_zip, zipfile.ZipFile(unfinished, "w", zipfile.ZIP_DEFLATED) as finished:
        entries = [info for info in chalice_zip.infolist() if _needed(info.filename, services)]
        _check_models(entries, services)
        for info in entries:
            content = chalice_zip.read(info)
            finished.writestr(info, content)
            if info.filename.endswith(".py"):
                finished.writestr(_bytecode_entry(info), _bytecode(content, info.filename))
        finished.comment = recipe
    os.replace(unfinished, path)


def _needed(name: str, services: frozenset[str]) -> bool:
    """Everything but bytecode and the models of services the code never calls.

    Chalice zips `chalicelib/` as it finds it, `__pycache__` included: bytecode
    a laptop wrote, checked by timestamps Lambda does not keep, perhaps of a
    module since deleted. The package's bytecode is the one `_finish` writes.
    (botocore loads a service's model when a client of it is made.)
    """
    if name.endswith(".pyc"):
        return False
    if not name.startswith(BOTOCORE_MODELS) or name.count("/") == 2:
        return True
    return name.split("/")[2] in services


def _check_models(entries: list[zipfile.ZipInfo], services: frozenset[str]) -> None:
    kept = {info.filename.split("/")[2] for info in entries if info.filename.startswith(BOTOCORE_MODELS)}
    if missing := services - kept:
        raise PackageError(f"botocore in the package has no model of {', '.join(sorted(missing))}")


def _bytecode_entry(source: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """Where Python looks for a source's bytecode, with the source's time and permissions."""
    entry = zipfile.ZipInfo(importlib.util.cache_from_source(source.filename), date_time=source.date_time)
    entry.external_attr = source.external_attr
    entry.compress_type = zipfile.ZIP_DEFLATED
    return entry


def _bytecode(source: bytes, filename: str) -> bytes:
    """A .pyc as `py_compile` writes it in UNCHECKED_HASH mode (the import fixes up the code's file name)."""
    code = compile(source, filename, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + _UNCHECKED_HASH_FLAGS + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


def unpack(package: Path, directory: Path) -> None:
    """The package as Lambda lays it out in /var/task: the archive's times kept, read as UTC, and nothing writable."""
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, directory))
            moment = calendar.timegm((*info.date_time, 0, 0, 0))
            os.utime(path, (moment, moment))
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
