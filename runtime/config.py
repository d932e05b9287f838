"""YAML configuration (profiles, targets) parsed into validated objects. Every error is one
line naming the file, the line and the field, because these files are written by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgeasr.runtime.errors import EdgeASRError


@dataclass(frozen=True)
class Field:
    """One allowed key: its type(s), whether it is required, allowed values, nested fields."""

    types: type | tuple[type, ...]
    required: bool = False
    choices: tuple[Any, ...] | None = None
    fields: dict[str, Field] | None = None  # for mappings with known keys
    values: Field | None = None  # for mappings with free keys (graph name -> settings)
    items: Field | None = None  # for lists


@dataclass
class Document:
    """A parsed YAML file with the line of every key, for error messages."""

    path: Path
    data: Any
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    def where(self, keys: tuple[str, ...]) -> str:
        while keys and keys not in self.lines:
            keys = keys[:-1]
        return f"{self.path}:{self.lines.get(keys, 1)}"


def read_yaml(path: str | Path) -> Document:
    """Parse YAML, remembering the line of each key; syntax errors give file:line."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgeASRError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise EdgeASRError(f"{p}:{line}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    doc = Document(p, data)

    def walk(n: Any, keys: tuple[str, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                sub = (*keys, str(k.value))
                doc.lines[sub] = k.start_mark.line + 1
                walk(v, sub)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                doc.lines[(*keys, str(i))] = v.start_mark.line + 1
                walk(v, (*keys, str(i)))

    if node is not None:
        walk(node, ())
    return doc


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "integer", float: "number", str: "string", dict: "mapping", list: "list"}
    ts = t if isinstance(t, tuple) else (t,)
    return " or ".join(names.get(x, x.__name__) for x in ts)


def validate(doc: Document, spec: dict[str, Field], data: Any = None, keys: tuple[str, ...] = ()) -> None:
    """Check `data` (default: the whole document) against `spec`; unknown keys are errors."""
    data = doc.data if data is None and not keys else data
    label = ".".join(keys) or "the file"
    if not isinstance(data, dict):
        raise EdgeASRError(f"{doc.where(keys)}: {label} must be a mapping of fields")
    for name, f in spec.items():
        if f.required and name not in data:
            raise EdgeASRError(f"{doc.where(keys)}: missing required field '{'.'.join((*keys, name))}'")
    for name, value in data.items():
        sub = (*keys, str(name))
        if name not in spec:
            known = ", ".join(spec)
            raise EdgeASRError(f"{doc.where(sub)}: unknown field '{'.'.join(sub)}' (known: {known})")
        check_value(doc, spec[name], value, sub)


def check_value(doc: Document, f: Field, value: Any, keys: tuple[str, ...]) -> None:
    """Type, choices and nested structure of one value."""
    name = ".".join(keys)
    types = f.types if isinstance(f.types, tuple) else (f.types,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if value is None and type(None) in types:
        return
    if not ok:
        got = "nothing" if value is None else type(value).__name__
        raise EdgeASRError(f"{doc.where(keys)}: field '{name}' must be a {_type_name(f.types)}, got {got}")
    if f.choices is not None and value not in f.choices:
        allowed = ", ".join(str(c) for c in f.choices)
        raise EdgeASRError(f"{doc.where(keys)}: field '{name}' is {value!r}; allowed: {allowed}")
    if f.fields is not None:
        validate(doc, f.fields, value, keys)
    if f.values is not None:
        for k, v in value.items():
            check_value(doc, f.values, v, (*keys, str(k)))
    if f.items is not None:
        for i, v in enumerate(value):
            check_value(doc, f.items, v, (*keys, str(i)))


# -- targets ------------------------------------------------------------------------------

TARGET_SPEC = {
    "name": Field(str, required=True),
    "description": Field(str),
    "cpu": Field(str, required=True),
    "arch": Field(str, required=True, choices=("x86_64", "aarch64")),
    "cores": Field(int, required=True),
    "threads": Field(int, required=True),
    "memory_gb": Field((int, float)),
    "memory_bandwidth_gbs": Field((int, float)),
    "backends": Field(list, items=Field(str, choices=("onnxruntime", "openvino"))),
    "openvino_precision": Field(str, choices=("f32", "bf16", "f16")),
    "notes": Field(str),
}


@dataclass
class Target:
    """A machine class a report is written for: threads, backend hints, what to expect."""

    name: str
    cpu: str
    arch: str
    cores: int
    threads: int
    description: str = ""
    memory_gb: float | None = None
    memory_bandwidth_gbs: float | None = None
    backends: list[str] = field(default_factory=lambda: ["onnxruntime", "openvino"])
    openvino_precision: str | None = None
    notes: str = ""


def _data_dir() -> Path:
    return Path(str(resources.files("edgeasr.profiles")))


def target_names() -> list[str]:
    return sorted(p.stem for p in (_data_dir() / "targets").glob("*.yaml"))


def load_target(name_or_path: str | Path) -> Target:
    """A target by name (profiles/targets/NAME.yaml) or by path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = _data_dir() / "targets" / f"{name_or_path}.yaml"
        if not p.is_file():
            raise EdgeASRError(f"unknown target {name_or_path!r}; known: {', '.join(target_names())}")
    doc = read_yaml(p)
    validate(doc, TARGET_SPEC)
    return Target(**doc.data)
