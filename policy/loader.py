"""Load policy YAML, keeping line numbers so every error names file, line and field.

PyYAML's composer gives each node its start mark; we walk the node tree once to record the
line of every key path, build plain Python data from the same nodes, and validate with the
pydantic models. Errors come back as data (``PolicyError``), never as a half-loaded set:
callers decide whether a broken file blocks an apply.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from novacron.policy.schema import Policy
from pydantic import BaseModel, ValidationError

__all__ = [
    "LoadResult",
    "LoadedPolicy",
    "PolicyError",
    "PolicyLoadError",
    "load_dir",
    "load_file",
    "load_paths",
    "load_text",
]

Path_ = tuple[str | int, ...]

# libyaml's parser is ~10x faster and gives the same node marks; fall back when it is absent.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class PolicyError:
    """One problem in a policy file: where it is and what to do about it."""

    file: str
    line: int
    field: str  # dotted path like ``rules.antiAffinity.mode``; "" for the whole document
    message: str
    code: str  # a stable slug, e.g. ``unknown-key``

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.line}:{where} {self.message} [{self.code}]"


class PolicyLoadError(Exception):
    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class LoadedPolicy:
    """A valid policy and where it came from."""

    policy: Policy
    file: str
    line: int  # first line of the document
    lines: Mapping[Path_, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.policy.name

    def line_of(self, dotted: str) -> int:
        """Line of a dotted field path, or of its nearest written ancestor."""
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split(".") if p]
        while parts:
            line = self.lines.get(tuple(parts))
            if line is not None:
                return line
            parts.pop()
        return self.line


@dataclass
class LoadResult:
    policies: list[LoadedPolicy] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> list[LoadedPolicy]:
        if self.errors:
            raise PolicyLoadError(self.errors)
        return self.policies

    def extend(self, other: LoadResult) -> None:
        self.policies.extend(other.policies)
        self.errors.extend(other.errors)


def _dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in loc)


class _Walker:
    """Node tree → (plain data, line map), reporting duplicate keys PyYAML would hide."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.errors: list[PolicyError] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, path)
                if not isinstance(key, str | int | float | bool):
                    self.errors.append(
                        PolicyError(
                            self.file,
                            key_node.start_mark.line + 1,
                            _dotted(path),
                            "mapping keys must be plain scalars; quote the key",
                            "invalid-key",
                        )
                    )
                    continue
                child = (*path, str(key))
                line = key_node.start_mark.line + 1
                if key in out:
                    self.errors.append(
                        PolicyError(
                            self.file,
                            line,
                            _dotted(child),
                            f"key '{key}' is written twice in this mapping (first at line "
                            f"{self.lines.get(child, '?')}); keep one, YAML would silently "
                            "drop the other",
                            "duplicate-yaml-key",
                        )
                    )
                    continue
                self.lines[child] = line
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, i)))
            return items
        return self._constructor.construct_object(node, deep=True)


_HINTS = {
    "missing": "add it",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "string_type": "write a string (quote it if YAML reads it as something else)",
    "dict_type": "write a mapping (key: value lines)",
    "model_type": "write a mapping (key: value lines)",
    "tuple_type": "write a list",
    "list_type": "write a list",
}


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose keys live at ``loc`` (for 'did you mean' suggestions)."""
    model: type[BaseModel] | None = Policy
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        found = None
        for name, info in model.model_fields.items():
            if (info.alias or name) == part:
                found = info.annotation
                break
        model = None
        for candidate in getattr(found, "__args__", ()) or (found,):
            inner = getattr(candidate, "__args__", None)
            for c in inner or (candidate,):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    model = c
    return model


def _message(err: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(err["type"])
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        model = _model_at(loc[:-1])
        allowed = sorted((i.alias or n) for n, i in model.model_fields.items()) if model else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (
            f"unknown key '{key}'; {hint}allowed here: {', '.join(allowed)}",
            "unknown-key",
        )
    if kind == "missing":
        return f"required field '{loc[-1]}' is missing; add it", "missing-field"
    if kind in ("enum", "literal_error"):
        expected = err.get("ctx", {}).get("expected", "")
        got = err.get("input")
        field_name = str(loc[-1]) if loc else ""
        code = "invalid-autonomy-mode" if loc and loc[0] == "autonomy" else "invalid-value"
        return f"{got!r} is not allowed for '{field_name}'; use one of {expected}", code
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return (
            f"invalid policy name {err.get('input')!r}; use lower-case letters, digits and "
            "'-', starting and ending with a letter or digit (at most 63 characters)",
            "invalid-name",
        )
    if kind == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        return msg, "invalid-value"
    text = str(err["msg"])
    tip = _HINTS.get(kind)
    if tip is None and kind.startswith(("greater", "less")):
        tip = "change the value to fit the bound"
    return (f"{text}; {tip}" if tip else text), "invalid-value"


def load_text(text: str, file: str = "<string>") -> LoadResult:
    """Parse and validate every document of one YAML text."""
    result = LoadResult()
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        result.errors.append(_reader_error(exc, text, file))
        return result
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
            except yaml.reader.ReaderError as exc:
                result.errors.append(_reader_error(exc, text, file))
                break
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark else 1
                result.errors.append(
                    PolicyError(
                        file,
                        line,
                        "",
                        f"YAML syntax error: {exc.problem or exc}; fix the indentation or "
                        "quoting at this line",
                        "yaml-syntax",
                    )
                )
                break
            if node is None:
                continue
            result.extend(_load_node(node, file))
    finally:
        loader.dispose()
    return result


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> PolicyError:
    """YAML refuses control characters before parsing; say where the first one is."""
    line = text.count("\n", 0, exc.position) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return PolicyError(
        file,
        line,
        "",
        f"YAML cannot contain the control character U+{code:04X}; remove it from this line",
        "yaml-syntax",
    )


def _load_node(node: yaml.Node, file: str) -> LoadResult:
    result = LoadResult()
    doc_line = node.start_mark.line + 1
    walker = _Walker(file)
    try:
        data = walker.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        result.errors.append(
            PolicyError(
                file, mark.line + 1 if mark else doc_line, "", f"{exc.problem}", "yaml-syntax"
            )
        )
        return result
    result.errors.extend(walker.errors)
    if data is None:
        return result
    if not isinstance(data, dict):
        result.errors.append(
            PolicyError(
                file,
                doc_line,
                "",
                "a policy document must be a mapping with at least 'name'; "
                f"this one is a {type(data).__name__}",
                "not-a-mapping",
            )
        )
        return result
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            message, code = _message(err)
            line = doc_line
            parts = list(loc)
            while parts:
                found = walker.lines.get(tuple(parts))
                if found is not None:
                    line = found
                    break
                parts.pop()
            result.errors.append(PolicyError(file, line, _dotted(loc), message, code))
        return result
    if not walker.errors:
        result.policies.append(LoadedPolicy(policy, file, doc_line, walker.lines))
    return result


def load_file(path: str | Path) -> LoadResult:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(errors=[PolicyError(str(p), 1, "", f"cannot read: {exc}", "unreadable")])
    return load_text(text, str(p))


def load_dir(path: str | Path, patterns: tuple[str, ...] = ("*.yaml", "*.yml")) -> LoadResult:
    """Every policy file under a directory, recursively, in sorted path order."""
    root = Path(path)
    files = sorted({f for pattern in patterns for f in root.rglob(pattern) if f.is_file()})
    return load_paths(files)


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Files and directories in the given order; duplicate names are the linter's job."""
    result = LoadResult()
    for p in paths:
        result.extend(load_dir(p) if Path(p).is_dir() else load_file(p))
    return result
