"""A small stand-in of the `comfy_api.latest` subset our nodes use (ComfyUI's V3 node API), for tests without ComfyUI.

It mirrors comfy_api/latest/_io.py of ComfyUI 0.3.64 and 0.14.1 for what we use, and nothing else:

* `io.Schema`: the dataclass fields node_id, display_name, category, inputs, outputs, hidden, description,
  search_aliases (0.14.1 only: `make_comfy_api(search_aliases=False)` builds 0.3.64's Schema without it),
  is_input_list, is_output_node. `validate()` raises ValueError on duplicate input ids, duplicate output ids
  and ids shared by an input and an output; `finalize()` adds the hidden prompt/extra_pnginfo inputs of an
  output node and numbers outputs without an id `_{i}_{TYPE}_`.
* Inputs: `io.<Type>.Input(id, display_name=None, optional=False, tooltip=None, ...)` with the widget
  options of Boolean (default), Int and Float (default, min, max, step), String (multiline, default) and
  Combo (options, default). `as_dict()` drops None values as core's prune_dict does; a Combo's V1 type is
  "COMBO" with the list under "options" (and "multiselect": False), as both releases send it.
* Outputs: `io.<Type>.Output(id=None, display_name=None, tooltip=None, is_output_list=False)`; the V1
  output name is display_name, else the type (0.3.64; 0.14.1 would fall back to the id, which we never
  rely on: every output of ours has a display_name).
* Types: Boolean, Int, Float, String, Combo, Image, Mask, Model, Conditioning, Latent, ClipVision, Hooks,
  HookKeyframes and `io.Custom(name)`.
* `io.Hidden` (unique_id, prompt, extra_pnginfo) and the node's `cls.hidden` (built from a dict keyed by
  Hidden, whose missing entries read as None), set on a class clone per run as PREPARE_CLASS_CLONE does
  (0.14.1's form, PREPARE_CLASS_CLONE(v3_data) with v3_data["hidden_inputs"]; 0.3.64 takes the dict itself).
* `io.ComfyNode`: define_schema / execute / validate_inputs / fingerprint_inputs classmethods; GET_SCHEMA
  (validate + finalize); the V1 view the server and older code read: INPUT_TYPES(include_hidden=True),
  RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS, OUTPUT_IS_LIST, OUTPUT_NODE, CATEGORY, DESCRIPTION,
  GET_NODE_INFO_V1() (the /object_info entry); EXECUTE_NORMALIZED turns a tuple, dict or None from
  execute into a NodeOutput and refuses anything else.
* `io.NodeOutput(*args, ui=None)` with `.args`, `.ui` and `.result` (the args, or None when empty).
* `ComfyExtension` (abstract, `async get_node_list()`).

What ComfyUI's executor does beyond that (caching, lists, lazy inputs) is tested on real ComfyUI
(tests/integration). tests/data/comfy_api/ records what each real release has of all this.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any


def prune_dict(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class _Input:
    io_type = None

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                 lazy: bool | None = None):
        self.id, self.display_name, self.optional, self.tooltip, self.lazy = id, display_name, optional, tooltip, lazy

    def as_dict(self) -> dict:
        return prune_dict({"display_name": self.display_name, "optional": self.optional, "tooltip": self.tooltip,
                           "lazy": self.lazy})

    def get_io_type(self):
        return self.io_type


class _WidgetInput(_Input):
    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                 lazy: bool | None = None, default: Any = None):
        super().__init__(id, display_name, optional, tooltip, lazy)
        self.default = default

    def as_dict(self) -> dict:
        return super().as_dict() | prune_dict({"default": self.default})


class _Output:
    io_type = None

    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None, is_output_list: bool = False):
        self.id, self.display_name, self.tooltip, self.is_output_list = id, display_name, tooltip, is_output_list


def _comfy_type(io_type: str, input_base=_Input, **input_options):
    """A type with .Input and .Output classes, like core's @comfytype(io_type=...) classes."""
    input_cls = type("Input", (input_base,), {"io_type": io_type})
    output_cls = type("Output", (_Output,), {"io_type": io_type})
    return type(io_type.title(), (), {"io_type": io_type, "Input": input_cls, "Output": output_cls})


class _NumberInput(_WidgetInput):
    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                 lazy: bool | None = None, default=None, min=None, max=None, step=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default)
        self.min, self.max, self.step = min, max, step

    def as_dict(self) -> dict:
        return super().as_dict() | prune_dict({"min": self.min, "max": self.max, "step": self.step})


class _StringInput(_WidgetInput):
    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                 lazy: bool | None = None, multiline: bool = False, default: str | None = None):
        super().__init__(id, display_name, optional, tooltip, lazy, default)
        self.multiline = multiline

    def as_dict(self) -> dict:
        return super().as_dict() | prune_dict({"multiline": self.multiline})


class _ComboInput(_WidgetInput):
    def __init__(self, id: str, options: list | None = None, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, default=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default)
        self.options, self.multiselect = options, False

    def as_dict(self) -> dict:
        return super().as_dict() | prune_dict({"multiselect": self.multiselect, "options": self.options})


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"


class HiddenHolder:
    """cls.hidden during a run: built from the executor's {Hidden.unique_id: "5", ...} (keys may be the plain
    values, "UNIQUE_ID"); an entry the node did not get reads as None."""

    def __init__(self, values: dict):
        for hidden in Hidden:
            setattr(self, hidden.name, values.get(hidden))

    def __getattr__(self, key: str):
        return None


@dataclasses.dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    hidden: list = dataclasses.field(default_factory=list)
    description: str = ""
    search_aliases: list = dataclasses.field(default_factory=list)
    is_input_list: bool = False
    is_output_node: bool = False

    def validate(self) -> None:
        input_ids = [i.id for i in self.inputs]
        output_ids = [o.id for o in self.outputs]
        issues = []
        if len(set(input_ids)) != len(input_ids):
            issues.append(f"Input ids must be unique: {input_ids}")
        if len(set(output_ids)) != len(output_ids):
            issues.append(f"Output ids must be unique: {output_ids}")
        if set(input_ids) & set(output_ids):
            issues.append(f"Ids must be unique between inputs and outputs: {set(input_ids) & set(output_ids)}")
        if issues:
            raise ValueError("\n".join(issues))

    def finalize(self) -> None:
        if self.is_output_node:
            self.hidden = list(self.hidden or [])
            for hidden in (Hidden.prompt, Hidden.extra_pnginfo):
                if hidden not in self.hidden:
                    self.hidden.append(hidden)
        for i, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{i}_{output.io_type}_"

    def v1_input(self) -> dict:
        spec: dict = {}
        for i in self.inputs:
            options = i.as_dict()
            options.pop("optional", None)
            spec.setdefault("optional" if i.optional else "required", {})[i.id] = (i.get_io_type(), options)
        for hidden in self.hidden or []:
            spec.setdefault("hidden", {})[hidden.name] = (hidden.value,)
        return spec


def _schema_without_search_aliases():
    """0.3.64's Schema: the same fields but search_aliases."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(Schema) if f.name != "search_aliases"]
    return dataclasses.make_dataclass("Schema", fields, namespace={
        "validate": Schema.validate, "finalize": Schema.finalize, "v1_input": Schema.v1_input})


class NodeOutput:
    def __init__(self, *args: Any, ui: dict | None = None):
        self.args, self.ui = args, ui

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None


class _ClassProperty:
    def __init__(self, getter):
        self.getter = getter

    def __get__(self, instance, owner):
        return self.getter(owner)


class ComfyNode:
    hidden: HiddenHolder = None

    @classmethod
    def define_schema(cls):
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls):
        schema = cls.define_schema()
        schema.finalize()
        schema.validate()
        return schema

    @classmethod
    def INPUT_TYPES(cls, include_hidden: bool = True) -> dict:
        spec = cls.GET_SCHEMA().v1_input()
        if not include_hidden:
            spec.pop("hidden", None)
        return spec

    RETURN_TYPES = _ClassProperty(lambda cls: [o.io_type for o in cls.GET_SCHEMA().outputs])
    RETURN_NAMES = _ClassProperty(lambda cls: [o.display_name or o.io_type for o in cls.GET_SCHEMA().outputs])
    OUTPUT_TOOLTIPS = _ClassProperty(lambda cls: [o.tooltip or None for o in cls.GET_SCHEMA().outputs])
    OUTPUT_IS_LIST = _ClassProperty(lambda cls: [o.is_output_list for o in cls.GET_SCHEMA().outputs])
    OUTPUT_NODE = _ClassProperty(lambda cls: cls.GET_SCHEMA().is_output_node)
    CATEGORY = _ClassProperty(lambda cls: cls.GET_SCHEMA().category)
    DESCRIPTION = _ClassProperty(lambda cls: cls.GET_SCHEMA().description)

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict:
        schema = cls.GET_SCHEMA()
        spec = schema.v1_input()
        return {"input": spec, "input_order": {k: list(v) for k, v in spec.items()}, "output": cls.RETURN_TYPES,
                "output_is_list": cls.OUTPUT_IS_LIST, "output_name": cls.RETURN_NAMES,
                "output_tooltips": cls.OUTPUT_TOOLTIPS, "name": schema.node_id, "display_name": schema.display_name,
                "category": schema.category, "description": schema.description,
                "output_node": schema.is_output_node,
                "search_aliases": getattr(schema, "search_aliases", None) or None}

    @classmethod
    def PREPARE_CLASS_CLONE(cls, v3_data: dict | None):
        """0.14.1's signature (0.3.64 takes the hidden inputs themselves, not v3_data holding them)."""
        clone = type(f"{cls.__name__}Clone", (cls,), {})
        clone.hidden = HiddenHolder((v3_data or {}).get("hidden_inputs", {}))
        return clone

    @classmethod
    def EXECUTE_NORMALIZED(cls, *args, **kwargs) -> NodeOutput:
        out = cls.execute(*args, **kwargs)
        if out is None:
            return NodeOutput()
        if isinstance(out, NodeOutput):
            return out
        if isinstance(out, tuple):
            return NodeOutput(*out)
        if isinstance(out, dict):
            return NodeOutput(*out.get("result", ()), ui=out.get("ui"))
        raise Exception(f"Invalid return type from node: {type(out)}")  # noqa: TRY002  as core raises it


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        pass

    @abstractmethod
    async def get_node_list(self) -> list[type[ComfyNode]]:
        ...


def make_comfy_api(search_aliases: bool = True) -> dict[str, types.ModuleType]:
    """sys.modules entries for comfy_api and comfy_api.latest (0.14.1's Schema; 0.3.64's without aliases)."""
    io = types.ModuleType("comfy_api.latest._io")
    io.Schema = Schema if search_aliases else _schema_without_search_aliases()
    io.ComfyNode, io.NodeOutput, io.Hidden = ComfyNode, NodeOutput, Hidden
    io.Boolean = _comfy_type("BOOLEAN", _WidgetInput)
    io.Int = _comfy_type("INT", _NumberInput)
    io.Float = _comfy_type("FLOAT", _NumberInput)
    io.String = _comfy_type("STRING", _StringInput)
    io.Combo = _comfy_type("COMBO", _ComboInput)
    for name, io_type in (("Image", "IMAGE"), ("Mask", "MASK"), ("Model", "MODEL"), ("Conditioning", "CONDITIONING"),
                          ("ClipVision", "CLIP_VISION"), ("Hooks", "HOOKS"), ("HookKeyframes", "HOOK_KEYFRAMES"),
                          ("Latent", "LATENT")):
        setattr(io, name, _comfy_type(io_type))
    io.Custom = _comfy_type
    latest = types.ModuleType("comfy_api.latest")
    latest.io, latest.ComfyExtension = io, ComfyExtension
    root = types.ModuleType("comfy_api")
    root.latest = latest
    return {"comfy_api": root, "comfy_api.latest": latest}


def install_comfy_api(monkeypatch, search_aliases: bool = True) -> None:
    for name, module in make_comfy_api(search_aliases).items():
        monkeypatch.setitem(sys.modules, name, module)
