"""The choices a completion page offers, from a link's outcomes or the awaited type's schema.

- a boolean payload: **Approve** (true) and **Reject** (false);
- an object whose one required field is a boolean: Approve / Reject set that field, the other
  fields are optional inputs;
- no payload type: Approve resolves, Reject rejects;
- outcomes given when the link was made: one button each;
- anything else: a form from the schema (one input per top-level field), or a JSON text box.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wakeful.journal.entries import Failure, Result
from wakeful.links import Outcome

__all__ = ["Choice", "Form", "InputField", "form_for", "payload_for"]

_SCALARS = ("string", "integer", "number", "boolean")


@dataclass(frozen=True, slots=True)
class Choice:
    """One submit button: its label, and the payload it completes with."""

    label: str
    value: Any = None
    reject: str | None = None  # a rejection message instead of a value
    flag: str | None = None  # the boolean field this button sets (object payloads)

    @property
    def past(self) -> str:
        """How the page says this choice was made ("approved", "rejected", …)."""
        return {"Approve": "approved", "Reject": "rejected"}.get(self.label, self.label)


@dataclass(frozen=True, slots=True)
class InputField:
    """An input of the form: a top-level field of an object payload."""

    name: str
    kind: str  # string | integer | number | boolean
    required: bool
    title: str


@dataclass(frozen=True, slots=True)
class Form:
    """What the page shows: buttons, inputs, or a JSON text box."""

    choices: list[Choice]
    inputs: list[InputField] = field(default_factory=list)
    json_box: bool = False


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a top-level `$ref` into `$defs` (msgspec writes named types that way)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            return {**target, "$defs": schema.get("$defs", {})}
    return schema


def _kind(prop: dict[str, Any]) -> str | None:
    kind = prop.get("type")
    if isinstance(kind, str) and kind in _SCALARS:
        return kind
    options = prop.get("anyOf")  # Optional[X]: X or null
    if isinstance(options, list):
        kinds = [o.get("type") for o in options if isinstance(o, dict)]
        real = [k for k in kinds if k != "null"]
        if len(real) == 1 and real[0] in _SCALARS:
            return str(real[0])
    return None


def _inputs(schema: dict[str, Any]) -> list[InputField] | None:
    """One input per top-level field, or None if a field is not a scalar."""
    props = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(props, dict):
        return None
    required = set(schema.get("required", []))
    fields = []
    for name, prop in props.items():
        kind = _kind(prop) if isinstance(prop, dict) else None
        if kind is None:
            return None
        title = prop.get("title") or name.replace("_", " ").capitalize()
        fields.append(InputField(name, kind, name in required, str(title)))
    return fields


def form_for(schema_text: bytes | None, outcomes: tuple[Outcome, ...] | None) -> Form:
    """The page's form for an awaited type's schema and a link's outcomes."""
    if outcomes:
        return Form([Choice(o.label, o.value, o.reject) for o in outcomes])
    if schema_text is None:
        return Form([Choice("Approve", None), Choice("Reject", reject="rejected")])
    schema = _resolve(json.loads(schema_text))
    if schema.get("type") == "boolean":
        return Form([Choice("Approve", True), Choice("Reject", False)])
    inputs = _inputs(schema)
    required = [f for f in inputs or [] if f.required]
    if inputs is not None and len(required) == 1 and required[0].kind == "boolean":
        flag = required[0].name
        others = [f for f in inputs if f.name != flag]
        return Form(
            [Choice("Approve", True, flag=flag), Choice("Reject", False, flag=flag)], others
        )
    if inputs is not None:
        return Form([Choice("Submit")], inputs)
    return Form([Choice("Submit")], json_box=True)


def _convert(item: InputField, text: str) -> Any:
    if item.kind == "integer":
        return int(text)
    if item.kind == "number":
        return float(text)
    if item.kind == "boolean":
        return text in ("true", "on", "1")
    return text


def payload_for(form: Form, index: int, fields: dict[str, str]) -> Result:
    """The completion a submitted form asks for (ValueError naming a bad input)."""
    if not 0 <= index < len(form.choices):
        raise ValueError("unknown choice")
    choice = form.choices[index]
    if choice.reject is not None:
        return Result(failure=Failure(500, choice.reject))
    if form.json_box:
        text = fields.get("json", "").strip()
        try:
            json.loads(text or "null")
        except ValueError as e:
            raise ValueError(f"the JSON is not valid: {e}") from e
        return Result(value=text.encode())
    if not form.inputs and choice.flag is None:
        return Result(value=b"" if choice.value is None else json.dumps(choice.value).encode())
    value: dict[str, Any] = {}
    if choice.flag is not None:
        value[choice.flag] = choice.value
    for item in form.inputs:
        text = fields.get(f"field.{item.name}", "").strip()
        if not text and item.kind != "boolean":
            continue  # left empty: the schema says whether that is allowed
        try:
            value[item.name] = _convert(item, text)
        except ValueError as e:
            raise ValueError(f"{item.title}: expected {item.kind}") from e
    return Result(value=json.dumps(value).encode())
