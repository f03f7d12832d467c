"""The AWS calls each Lambda function of the app can make, read from the source.

    python -m tools.aws_calls     # each function, its IAM actions, the settings it reads

The IAM policies in `.chalice/` are checked against this, not against a list
someone keeps: a new boto3 call makes the check fail until the policy grants
it, and a grant that no code needs fails it too.

How it reads the code: every route view and every authorizer or event handler
in `app.py` starts a Lambda function; from there it follows what the code can
reach — functions, classes and methods of `app.py` and `chalicelib/`, through
imports, constructor calls and the type annotations the code carries anyway
(mypy --strict) — and records each call of a boto3 client operation, named by
botocore's service model. A client is recognised by its boto3-stubs type
(`SNSClient`, `DynamoDBClient`, ...) or by `boto3.client("<service>")`. A call
with an operation's name on something whose type cannot be told is reported
as unresolved rather than guessed, so the check fails instead of passing blind.
"""

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TypeGuard

import botocore.session
from botocore import xform_name
from botocore.model import ServiceModel

REPO = Path(__file__).resolve().parent.parent
API_HANDLER = "api_handler"
# Calls that IAM authorizes as other actions: PublishBatch as Publish, and a PartiQL batch by its
# statements (the service's are INSERTs, UPDATEs and DELETEs).
_AUTHORIZED_AS = {
    "sns:PublishBatch": ("sns:Publish",),
    "dynamodb:BatchExecuteStatement": ("dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"),
}
_CHALICE_EVENT_DECORATORS = frozenset(
    {"authorizer", "lambda_function", "on_s3_event", "on_sns_message", "on_sqs_message", "on_cw_event", "schedule",
     "on_dynamodb_record", "on_kinesis_record", "on_ws_connect", "on_ws_message", "on_ws_disconnect"}
)  # fmt: skip


# What an expression is, as far as this reading needs to know.
@dataclass(frozen=True)
class Module:
    name: str


@dataclass(frozen=True)
class Function:
    qualname: str  # "chalicelib.ingest.handle_event", "chalicelib.keys.KeyStore.find"


@dataclass(frozen=True)
class Class:
    qualname: str


@dataclass(frozen=True)
class Instance:
    qualname: str


@dataclass(frozen=True)
class Client:
    service: str


@dataclass(frozen=True)
class Operation:
    service: str
    name: str  # botocore's operation name: "Publish", "GetItem"


@dataclass(frozen=True)
class Paginator:
    service: str
    operation: str


Kind = Module | Function | Class | Instance | Client | Operation | Paginator | None


@dataclass
class LambdaCalls:
    """What one Lambda function's code can do."""

    actions: set[str] = field(default_factory=set)  # IAM actions: "sns:Publish"
    callers: dict[str, set[str]] = field(default_factory=dict)  # action -> classes (or modules) making it
    strings: set[str] = field(default_factory=set)  # string constants the code uses
    prefixes: set[str] = field(default_factory=set)  # the constant start of its f-strings
    unresolved: set[str] = field(default_factory=set)  # "chalicelib/x.py:12 thing.publish()"

    def add(self, action: str, caller: str) -> None:
        self.actions.add(action)
        self.callers.setdefault(action, set()).add(caller)

    def names(self, variable: str) -> bool:
        """Whether the code names the environment variable `variable`, also as in f"TOPIC_ARN_{...}"."""
        return variable in self.strings or any(variable.startswith(prefix) for prefix in self.prefixes)


@dataclass
class _ClassInfo:
    node: ast.ClassDef
    module: "_ModuleInfo"
    bases: list[ast.expr]
    methods: dict[str, ast.FunctionDef] = field(default_factory=dict)


@dataclass
class _ModuleInfo:
    name: str
    path: Path
    tree: ast.Module
    symbols: dict[str, ast.AST] = field(default_factory=dict)  # top-level functions and classes
    imports: dict[str, str] = field(default_factory=dict)  # local name -> "module" or "module.attribute"


class Program:
    """`app.py` and `chalicelib/`, parsed, with what each name refers to."""

    def __init__(self, root: Path = REPO) -> None:
        self.root = root
        self.modules: dict[str, _ModuleInfo] = {}
        self.classes: dict[str, _ClassInfo] = {}
        self.functions: dict[str, tuple[ast.FunctionDef, _ModuleInfo, str | None]] = {}
        for path in [root / "app.py", *sorted((root / "chalicelib").rglob("*.py"))]:
            self._add_module(path)
        self.services = _services_in_use(self.modules.values())

    def lambdas(self) -> dict[str, list[str]]:
        """Each Lambda function's name (as in `lambda_functions` of the config) and its entry points."""
        entries: dict[str, list[str]] = {}
        for node in self.modules["app"].tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                views = entries.setdefault(API_HANDLER, []) if isinstance(call, ast.Attribute) else []
                if isinstance(call, ast.Attribute) and call.attr == "route" and f"app.{node.name}" not in views:
                    views.append(f"app.{node.name}")
                elif isinstance(call, ast.Attribute) and call.attr in _CHALICE_EVENT_DECORATORS:
                    named = [k.value for k in getattr(decorator, "keywords", []) if k.arg == "name"]
                    name = named[0].value if named and isinstance(named[0], ast.Constant) else node.name
                    entries.setdefault(str(name), []).append(f"app.{node.name}")
        return entries

    def calls(self, entry_points: list[str]) -> LambdaCalls:
        """Everything reachable from `entry_points`, and the module code that loading them runs."""
        found = LambdaCalls()
        pending: list[str] = ["module:app", *entry_points]
        seen: set[str] = set()
        while pending:
            target = pending.pop()
            if target in seen:
                continue
            seen.add(target)
            if target.startswith("module:"):
                module = self.modules.get(target.removeprefix("module:"))
                if module is not None:
                    pending.extend(self._walk(module.tree.body, module, None, {}, found, top_level=True))
                continue
            function, module, class_name = self.functions[target]
            scope = self._scope(function, module, class_name)
            pending.extend(self._walk(function.body, module, class_name, scope, found))
        return found

    def _is_operation_name(self, name: str) -> bool:
        return any(name in _operations(service) for service in self.services)

    # Building the symbol tables.

    def _add_module(self, path: Path) -> None:
        relative = path.relative_to(self.root).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        module = _ModuleInfo(name, path, ast.parse(path.read_text(), str(path)))
        self.modules[name] = module
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports.setdefault(alias.asname or alias.name.split(".")[0], alias.name)
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(node, package)
                for alias in node.names:
                    module.imports.setdefault(alias.asname or alias.name, f"{source}.{alias.name}")
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef):
                module.symbols[node.name] = node
                self.functions[f"{name}.{node.name}"] = (node, module, None)
            elif isinstance(node, ast.ClassDef):
                module.symbols[node.name] = node
                info = _ClassInfo(node, module, node.bases)
                self.classes[f"{name}.{node.name}"] = info
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        info.methods[item.name] = item
                        self.functions[f"{name}.{node.name}.{item.name}"] = (item, module, f"{name}.{node.name}")

    # What names and expressions refer to.

    def _global(self, name: str, module: _ModuleInfo) -> Kind:
        if name in module.symbols:
            qualname = f"{module.name}.{name}"
            return Class(qualname) if qualname in self.classes else Function(qualname)
        if name in module.imports:
            return self._qualified(module.imports[name])
        return None

    def _qualified(self, qualname: str) -> Kind:
        if qualname in self.modules:
            return Module(qualname)
        if qualname in self.classes:
            return Class(qualname)
        if qualname in self.functions:
            return Function(qualname)
        owner, _, attribute = qualname.rpartition(".")
        if owner in self.modules:
            return self._global(attribute, self.modules[owner])
        service = _stubs_service(owner)
        if service is not None:
            return _stubs_kind(service, attribute)
        return None

    def _annotation(self, node: ast.expr | None, module: _ModuleInfo) -> Kind:
        """The instance an annotation declares: `KeyStore`, `"SNSClient"`, `X | None`."""
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self._annotation(ast.parse(node.value, mode="eval").body, module)
        if isinstance(node, ast.BinOp):
            return self._annotation(node.left, module) or self._annotation(node.right, module)
        kind = self._infer(node, module, None, {})
        if isinstance(kind, Class):
            return Instance(kind.qualname)
        return kind if isinstance(kind, Client | Paginator) else None

    def _scope(self, function: ast.FunctionDef, module: _ModuleInfo, class_name: str | None) -> dict[str, Kind]:
        """Local names: parameters by annotation (`self` is the class), then assignments."""
        scope = self._parameter_scope(function, module, class_name)
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom | ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    scope[local] = self._global(local, module)
        for node in ast.walk(function):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                scope[node.target.id] = self._annotation(node.annotation, module)
            elif isinstance(node, ast.Assign):
                kind = self._infer(node.value, module, class_name, scope)
                for target in node.targets:
                    if isinstance(target, ast.Name) and scope.get(target.id) is None:
                        scope[target.id] = kind
        return scope

    def _parameter_scope(
        self, function: ast.FunctionDef, module: _ModuleInfo, class_name: str | None
    ) -> dict[str, Kind]:
        """Parameters by annotation (`self` is the class), nested functions' too: a retried attempt takes the
        client it uses as a parameter."""
        scope: dict[str, Kind] = {}
        for index, argument in enumerate(_parameters(function)):
            if index == 0 and class_name and not _is_static(function):
                scope[argument.arg] = Instance(class_name)
            else:
                scope[argument.arg] = self._annotation(argument.annotation, module)
        nested = [node for node in ast.walk(function) if node is not function and isinstance(node, ast.FunctionDef)]
        for argument in (argument for node in nested for argument in _parameters(node)):
            if scope.get(argument.arg) is None:
                scope[argument.arg] = self._annotation(argument.annotation, module)
        return scope

    def _infer(self, node: ast.expr, module: _ModuleInfo, class_name: str | None, scope: dict[str, Kind]) -> Kind:
        if isinstance(node, ast.Name):
            return scope[node.id] if node.id in scope else self._global(node.id, module)
        if isinstance(node, ast.Attribute):
            return self._member(self._infer(node.value, module, class_name, scope), node.attr)
        if isinstance(node, ast.Call):
            return self._result(node, self._infer(node.func, module, class_name, scope), module, class_name, scope)
        if isinstance(node, ast.Await):
            return self._infer(node.value, module, class_name, scope)
        return None

    def _member(self, owner: Kind, attribute: str) -> Kind:
        if isinstance(owner, Module):
            qualname = f"{owner.name}.{attribute}"
            return self._qualified(qualname)
        if isinstance(owner, Class | Instance):
            method = self._method(owner.qualname, attribute)
            if method is not None:
                function, _, _ = self.functions[method]
                if isinstance(owner, Instance) and _is_property(function):
                    return self._returns(method)
                return Function(method)
            return self._attribute_kind(owner.qualname, attribute)
        if isinstance(owner, Client):
            operation = _operations(owner.service).get(attribute)
            return Operation(owner.service, operation) if operation else None
        return None

    def _result(
        self, call: ast.Call, callee: Kind, module: _ModuleInfo, class_name: str | None, scope: dict[str, Kind]
    ) -> Kind:
        if isinstance(callee, Class):
            return Instance(callee.qualname)
        if isinstance(callee, Function):
            return self._returns(callee.qualname)
        if _is_boto3_client_call(call, module, scope):
            service = call.args[0]
            return Client(str(service.value)) if isinstance(service, ast.Constant) else None
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "get_paginator" and call.args:
            client = self._infer(func.value, module, class_name, scope)
            name = call.args[0]
            if isinstance(client, Client) and isinstance(name, ast.Constant):
                operation = str(name.value)
                return Paginator(client.service, _operations(client.service).get(operation, operation))
        return None

    def _returns(self, qualname: str) -> Kind:
        function, module, _ = self.functions[qualname]
        return self._annotation(function.returns, module)

    def _method(self, class_name: str, name: str) -> str | None:
        for qualname in self._mro(class_name):
            if name in self.classes[qualname].methods:
                return f"{qualname}.{name}"
        return None

    def _mro(self, class_name: str) -> Iterator[str]:
        yield class_name
        info = self.classes[class_name]
        for base in info.bases:
            kind = self._infer(base, info.module, None, {})
            if isinstance(kind, Class):
                yield from self._mro(kind.qualname)

    def _attribute_kind(self, class_name: str, attribute: str) -> Kind:
        """An instance attribute's kind: from a class-level annotation or a `self.<attribute> = ...` in a method."""
        for qualname in self._mro(class_name):
            info = self.classes[qualname]
            for node in info.node.body:
                if (
                    isinstance(node, ast.AnnAssign)
                    and isinstance(node.target, ast.Name)
                    and node.target.id == attribute
                ):
                    return self._annotation(node.annotation, info.module)
            for method in info.methods.values():
                for assignment in ast.walk(method):
                    if isinstance(assignment, ast.Assign | ast.AnnAssign):
                        targets = assignment.targets if isinstance(assignment, ast.Assign) else [assignment.target]
                        if any(_is_self_attribute(target, attribute) for target in targets):
                            if isinstance(assignment, ast.AnnAssign):
                                return self._annotation(assignment.annotation, info.module)
                            scope = self._scope(method, info.module, qualname)
                            return self._infer(assignment.value, info.module, qualname, scope)
        return None

    # Walking what is reachable.

    def _walk(
        self,
        body: list[ast.stmt],
        module: _ModuleInfo,
        class_name: str | None,
        scope: dict[str, Kind],
        found: LambdaCalls,
        *,
        top_level: bool = False,
    ) -> list[str]:
        """Record the AWS calls and strings in `body`; return the functions and modules it reaches."""
        reached: list[str] = []
        for statement in body:
            if top_level and isinstance(statement, ast.FunctionDef | ast.ClassDef):
                nodes = _runs_at_import(statement)
            elif top_level and _is_main_guard(statement):
                continue
            else:
                nodes = [statement]
            for root in nodes:
                # At import, a function named (say, as a decorator's argument) is not run; in
                # a function body it may be (a callback), so there every reference counts.
                called = {id(node.func) for node in ast.walk(root) if isinstance(node, ast.Call)}
                for node in ast.walk(root):
                    if top_level and isinstance(node, ast.Name | ast.Attribute) and id(node) not in called:
                        continue
                    reached.extend(self._visit(node, module, class_name, scope, found))
        return reached

    def _visit(
        self, node: ast.AST, module: _ModuleInfo, class_name: str | None, scope: dict[str, Kind], found: LambdaCalls
    ) -> list[str]:
        """Record what `node` does; return the functions and modules it reaches."""
        if isinstance(node, ast.Import | ast.ImportFrom):
            return [f"module:{name}" for name in _imported(node, module)]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.strings.add(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            found.prefixes.add(str(node.values[0].value))
        elif isinstance(node, ast.Call):
            self._record_call(node, module, class_name, scope, found)
        elif isinstance(node, ast.Name | ast.Attribute):
            return self._referenced(node, module, class_name, scope)
        return []

    def _referenced(
        self, node: ast.Name | ast.Attribute, module: _ModuleInfo, class_name: str | None, scope: dict[str, Kind]
    ) -> list[str]:
        """The functions a name refers to: itself, a class's constructors, a property or method of an instance."""
        kind = self._infer(node, module, class_name, scope)
        if isinstance(kind, Function):
            return [kind.qualname]
        if isinstance(kind, Class):
            constructors = (self._method(kind.qualname, name) for name in ("__init__", "__post_init__"))
            return [method for method in constructors if method is not None]
        if isinstance(node, ast.Attribute):
            owner = self._infer(node.value, module, class_name, scope)
            method = self._method(owner.qualname, node.attr) if isinstance(owner, Instance) else None
            if method is not None:
                return [method]
        return []

    def _record_call(
        self, call: ast.Call, module: _ModuleInfo, class_name: str | None, scope: dict[str, Kind], found: LambdaCalls
    ) -> None:
        func = call.func
        callee = self._infer(func, module, class_name, scope)
        if isinstance(callee, Operation):
            for action in iam_actions(callee.service, callee.name):
                found.add(action, class_name or module.name)
            return
        if not isinstance(func, ast.Attribute):
            return
        owner = self._infer(func.value, module, class_name, scope)
        if isinstance(owner, Paginator) and func.attr == "paginate":
            for action in iam_actions(owner.service, owner.operation):
                found.add(action, class_name or module.name)
        elif owner is None and self._is_operation_name(func.attr) and not _is_boto3_client_call(call, module, scope):
            where = f"{module.path.relative_to(self.root)}:{call.lineno}"
            found.unresolved.add(f"{where} {ast.unparse(func)}()")
        if _is_boto3_client_call(call, module, scope) and not isinstance(call.args[0], ast.Constant):
            found.unresolved.add(f"{module.path.relative_to(self.root)}:{call.lineno} {ast.unparse(call)}")


def iam_actions(service: str, operation: str) -> tuple[str, ...]:
    """The IAM actions that authorize `operation`: usually `<signing name>:<operation>`."""
    model = _service_model(service)
    action = f"{model.signing_name}:{operation}"
    return _AUTHORIZED_AS.get(action, (action,))


@cache
def _service_model(service: str) -> ServiceModel:
    return _botocore().get_service_model(service)


@cache
def _botocore() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _operations(service: str) -> dict[str, str]:
    """boto3's method names for the service's operations: {"get_item": "GetItem"}."""
    return {xform_name(name): name for name in _service_model(service).operation_names}


@cache
def _known_services() -> dict[str, str]:
    """boto3-stubs module suffix -> service name: {"dynamodb": "dynamodb", "sso_admin": "sso-admin"}."""
    return {name.replace("-", "_"): name for name in _botocore().get_available_services()}


def _services_in_use(modules: Iterable[_ModuleInfo]) -> frozenset[str]:
    """The services the code has boto3-stubs types or `boto3.client("<service>")` calls for."""
    services: set[str] = set()
    for module in modules:
        services.update(filter(None, (_stubs_service(source) for source in module.imports.values())))
        for node in ast.walk(module.tree):
            if _is_boto3_client_call(node, module, {}) and isinstance(node.args[0], ast.Constant):
                services.add(str(node.args[0].value))
    return frozenset(services & set(_known_services().values()))


def _parameters(function: ast.FunctionDef) -> list[ast.arg]:
    return [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]


def _stubs_service(module: str) -> str | None:
    """ "sns" for `mypy_boto3_sns` or `mypy_boto3_sns.client`."""
    top = module.split(".", maxsplit=1)[0]
    if not top.startswith("mypy_boto3_"):
        return None
    return _known_services().get(top.removeprefix("mypy_boto3_"))


def _stubs_kind(service: str, name: str) -> Kind:
    """What a boto3-stubs type name declares: `SNSClient`, `ScanPaginator`."""
    if name.endswith("Client"):
        return Client(service)
    if name.endswith("Paginator"):
        return Paginator(service, name.removesuffix("Paginator"))
    return None


def _is_boto3_client_call(call: ast.AST, module: _ModuleInfo, scope: dict[str, Kind]) -> TypeGuard[ast.Call]:
    if not isinstance(call, ast.Call) or not call.args:
        return False
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in {"client", "resource"}
        and isinstance(func.value, ast.Name)
        and module.imports.get(func.value.id) == "boto3"
        and func.value.id not in scope
    )


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported(node: ast.Import | ast.ImportFrom, module: _ModuleInfo) -> list[str]:
    """The modules an import statement loads, packages included."""
    if isinstance(node, ast.Import):
        sources = [alias.name for alias in node.names]
    else:
        package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
        source = _absolute(node, package)
        sources = [source, *(f"{source}.{alias.name}" for alias in node.names)]
    return [name for source in sources for name in _packages(source)]


def _packages(name: str) -> list[str]:
    """`a.b.c` imports `a`, `a.b` and `a.b.c`."""
    parts = name.split(".")
    return [".".join(parts[:index]) for index in range(1, len(parts) + 1)]


def _is_static(function: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def _is_property(function: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id in {"property", "cached_property"} for d in function.decorator_list)


def _is_self_attribute(target: ast.expr, attribute: str) -> bool:
    return (
        isinstance(target, ast.Attribute)
        and target.attr == attribute
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    )


def _runs_at_import(definition: ast.FunctionDef | ast.ClassDef) -> list[ast.AST]:
    """The parts of a definition that run when its module is imported: not function bodies."""
    nodes: list[ast.AST] = [*definition.decorator_list]
    if isinstance(definition, ast.ClassDef):
        nodes.extend(definition.bases)
        for statement in definition.body:
            nodes.extend(_runs_at_import(statement) if isinstance(statement, ast.FunctionDef) else [statement])
    return nodes


def _is_main_guard(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.If) and "__main__" in ast.unparse(statement.test)


def main() -> int:
    program = Program()
    for name, entry_points in sorted(program.lambdas().items()):
        calls = program.calls(entry_points)
        print(f"{name} ({', '.join(entry_points)})")
        print(f"  actions: {', '.join(sorted(calls.actions)) or 'none'}")
        for problem in sorted(calls.unresolved):
            print(f"  unresolved: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
