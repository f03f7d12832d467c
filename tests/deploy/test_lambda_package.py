"""The package Lambda runs: bytecode its runtime reads, on both deployment paths, and only the SDK models it needs.

Lambda unpacks the package into a read-only /var/task: a module whose bytecode
its interpreter would not take is compiled again at every cold start.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from chalice.cli.factory import CLIFactory
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
from chalice.deploy.deployer import create_build_stage
from chalice.deploy.swagger import TemplatedSwaggerGenerator
from chalice.utils import UI, OSUtils

from tools.aws_calls import Program
from tools.deploy import REPO, load_config, stage_settings
from tools.lambda_package import (
    RECORD_COMPILED,
    PackageError,
    check_runtime,
    declared_runtime,
    prepare,
    running_runtime,
    unpack,
)

STAGE = "prod"
# Imports what each function loads on any route and makes every AWS client, recording each module compiled from source.
COLD_START = f"""
{RECORD_COMPILED}
import json, sys
import app, chalicelib.ingest, chalicelib.openapi, chalicelib.segment_enable.views, boto3
for service in sys.argv[1:]:
    boto3.client(service, region_name="us-east-1")
print(json.dumps(compiled))
"""


@pytest.fixture(scope="session")
def package_zip(packaged_paths: dict[str, Path]) -> Path:
    """The zip `make package STAGE=prod` writes beside its template."""
    return packaged_paths[STAGE].parent / "deployment.zip"


@pytest.fixture(scope="session")
def var_task(package_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("var-task")
    unpack(package_zip, directory)
    return directory


def compiled_at_cold_start(directory: Path) -> list[str]:
    """The modules a fresh interpreter compiles from `directory` alone (no site-packages), writing no bytecode."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    environment.update(PYTHONPATH=str(directory), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-S", "-c", COLD_START, *sorted(Program().services)],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    compiled: list[str] = json.loads(result.stdout.splitlines()[-1])
    return [str(Path(path).relative_to(directory)) for path in compiled]


def bytecode_problem(source: Path) -> str | None:
    """Why this interpreter would compile `source` rather than load its bytecode, as importlib decides it."""
    pyc = Path(importlib.util.cache_from_source(str(source)))
    if not pyc.exists():
        return "no bytecode"
    header = pyc.read_bytes()[:16]
    if header[:4] != importlib.util.MAGIC_NUMBER:
        return f"bytecode of another Python (magic {header[:4].hex()})"
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b01:
        # Hash-based: checked only if flagged so, but shipped with a stale hash it would be stale code.
        stale = header[8:16] != importlib.util.source_hash(source.read_bytes())
        return "bytecode of another source" if stale else None
    stat = source.stat()
    stamped = (int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little"))
    return None if stamped == (int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF) else "timestamp mismatch"


def test_both_functions_run_on_the_stages_runtime_which_this_python_is(packaged: dict[str, dict[str, Any]]) -> None:
    runtime = declared_runtime(stage_settings(load_config(), STAGE))
    functions = [r for r in packaged[STAGE]["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert {function["Properties"]["Runtime"] for function in functions} == {runtime}
    # So the checks below, made by this interpreter, are the runtime's own.
    assert check_runtime({"lambda_python_version": runtime}) == runtime


def test_every_source_in_the_package_has_bytecode_the_runtime_loads(var_task: Path) -> None:
    sources = sorted(var_task.rglob("*.py"))
    assert len(sources) > 300
    problems = {str(source.relative_to(var_task)): bytecode_problem(source) for source in sources}
    assert {source: problem for source, problem in problems.items() if problem} == {}


def test_a_cold_start_from_the_unpacked_package_compiles_nothing(var_task: Path) -> None:
    assert compiled_at_cold_start(var_task) == []


def test_a_module_whose_bytecode_does_not_match_is_compiled_and_found(var_task: Path, tmp_path: Path) -> None:
    # GIVEN a copy of the package whose app.py no longer is the source of its bytecode
    copy = tmp_path / "var-task"
    shutil.copytree(var_task, copy)
    source, pyc = copy / "app.py", Path(importlib.util.cache_from_source(str(copy / "app.py")))
    source.chmod(0o644)
    source.write_text(source.read_text() + "\n")
    # THEN the check of the hash finds it, which the import does not make for unchecked-hash bytecode
    assert bytecode_problem(source) == "bytecode of another source"
    assert compiled_at_cold_start(copy) == []
    # AND bytecode of another Python is found by both, and compiled at the cold start
    pyc.chmod(0o644)
    pyc.write_bytes(b"\0\0\r\n" + pyc.read_bytes()[4:])
    assert bytecode_problem(source) == "bytecode of another Python (magic 00000d0a)"
    assert compiled_at_cold_start(copy) == ["app.py"]


def test_chalice_deploy_uploads_the_prepared_package(package_zip: Path) -> None:
    # GIVEN the package prepared for the stage (as `make deploy` does before `chalice deploy`)
    prepared = prepare(REPO, STAGE)
    # WHEN Chalice's deploy builds its resources, as `chalice deploy` does before uploading them
    config = CLIFactory(project_dir=str(REPO)).create_config_obj(chalice_stage_name=STAGE)
    resources = DependencyBuilder().build_dependencies(ApplicationGraphBuilder().build(config, STAGE))
    create_build_stage(OSUtils(), UI(), TemplatedSwaggerGenerator(), config).execute(config, resources)
    # THEN both functions get the prepared zip, the one `make package` ships, with the stage's runtime
    functions = [resource for resource in resources if isinstance(resource, models.LambdaFunction)]
    assert {function.resource_name for function in functions} == {"api_handler", "api_key_authorizer"}
    assert {function.deployment_package.filename for function in functions} == {str(prepared)}
    assert {function.runtime for function in functions} == {config.lambda_python_version}
    assert prepared.read_bytes() == package_zip.read_bytes()


def test_the_package_holds_botocore_models_of_the_services_the_code_calls_only(package_zip: Path) -> None:
    with zipfile.ZipFile(package_zip) as archive:
        names = archive.namelist()
    models = [name.split("/") for name in names if name.startswith("botocore/data/")]
    models_in_package = {path[2] for path in models if len(path) > 3}
    assert models_in_package == Program().services
    assert {"sns", "dynamodb"} <= models_in_package


def test_a_stage_without_this_interpreters_runtime_is_refused() -> None:
    with pytest.raises(PackageError, match=r"runs on python3\.99, but this is Python 3\.\d+.*PYTHON=python3\.99"):
        check_runtime({"lambda_python_version": "python3.99"})
    with pytest.raises(PackageError, match="declares no Lambda runtime"):
        check_runtime({})


def test_bytecode_left_in_the_project_is_not_shipped(tmp_path: Path) -> None:
    # GIVEN a project whose chalicelib/ holds bytecode a laptop wrote: of a module, and of one since deleted
    runtime = running_runtime()
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "laptop", "stages": {"dev": {"lambda_python_version": runtime}}})
    )
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("from chalice import Chalice\n\napp = Chalice(app_name='laptop')\n")
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "__init__.py").write_text("")
    kept = tmp_path / "chalicelib" / "kept.py"
    kept.write_text("ANSWER = 42\n")
    cache = Path(importlib.util.cache_from_source(str(kept))).parent
    cache.mkdir()
    (cache / Path(importlib.util.cache_from_source(str(kept))).name).write_bytes(b"stale bytecode")
    (cache / f"deleted.{sys.implementation.cache_tag}.pyc").write_bytes(b"bytecode of a deleted module")
    # WHEN the package is prepared
    with zipfile.ZipFile(prepare(tmp_path, "dev")) as archive:
        names = archive.namelist()
        ours = archive.read(importlib.util.cache_from_source("chalicelib/kept.py"))
    # THEN each source has one bytecode entry, the one made from it, and the deleted module's is gone
    assert len(names) == len(set(names))
    assert not [name for name in names if "deleted" in name]
    assert ours[16:] and ours[:4] == importlib.util.MAGIC_NUMBER
