"""A ComfyUI UI-format workflow (what the frontend saves) as nodes and links that can be rewired.

The workflow converter replaces nodes and reconnects sockets; this module reads the two link
forms the frontend writes (arrays in schema 0.4, objects in schema 1), and writes the result back
in the form it was read, with every link recorded on both of its nodes and a fresh execution order.
Pure Python: it never imports ComfyUI.
"""

from __future__ import annotations

import copy
import heapq
import math
from dataclasses import dataclass

LINK_FIELDS = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
MAX_ID = 2**31 - 1  # the frontend counts ids up from 1; larger ones (JavaScript loses them past 2**53) are damage


@dataclass(frozen=True)
class Socket:
    """An output socket: node id and output slot."""

    node: int
    slot: int


@dataclass(frozen=True)
class NodeSpec:
    """What the converter needs to know of a node type it writes: its sockets and widget order."""

    inputs: tuple  # ((name, type), ...) sockets, in order
    outputs: tuple  # ((name, type), ...)
    widgets: tuple  # ((name, default), ...) in the order the frontend saves widgets_values
    size: tuple = (315, 100)


class WorkflowError(ValueError):
    """A file that is not a UI-format workflow, or one too damaged to convert."""


class Graph:
    """The nodes of a workflow by id, and each input's source socket (links are rebuilt on output)."""

    def __init__(self, workflow: dict):
        if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
            if isinstance(workflow, dict) and workflow and all(
                    isinstance(v, dict) and "class_type" in v for v in workflow.values()):
                raise WorkflowError("This is an API-format prompt (saved with 'Export (API)'), not a workflow. "
                                    "Convert the workflow file saved with 'Save' / 'Export' instead.")
            raise WorkflowError("This is not a ComfyUI workflow: it has no list of nodes. Use a .json file "
                                "saved from ComfyUI's menu (Workflow > Save or Export).")
        self.original = workflow
        links = workflow.get("links") or []
        if not isinstance(links, list):
            raise WorkflowError("The workflow's links are not a list; the file is damaged.")
        self.object_links = any(isinstance(raw, dict) for raw in links)
        self.nodes: dict[int, dict] = {}
        for node in workflow["nodes"]:
            if not isinstance(node, dict) or "id" not in node or "type" not in node:
                raise WorkflowError(f"A node in this workflow has no id or type ({str(node)[:80]}); "
                                    "the file is damaged.")
            _check_node(node)
            if node["id"] in self.nodes:
                raise WorkflowError(f"Node id {node['id']} is used twice; the file is damaged.")
            self.nodes[node["id"]] = copy.deepcopy(node)
        self.links = {}
        self.link_extras = {}  # schema 1 link fields beyond the six (parentId: the native reroute it passes)
        for raw in links:
            link = ({k: raw.get(k) for k in LINK_FIELDS} if isinstance(raw, dict)
                    else dict(zip(LINK_FIELDS, raw)) if isinstance(raw, list) and len(raw) >= 6 else None)
            if link is None or not all(_is_int(link[k]) for k in ("origin_slot", "target_slot")) or not all(
                    _is_id(link[k]) for k in ("id", "origin_id", "target_id")):
                raise WorkflowError(f"The link {str(raw)[:80]} is not [id, from, slot, to, slot, type]; "
                                    "the file is damaged.")
            if link["id"] in self.links and self.links[link["id"]] != link:
                raise WorkflowError(f"Link id {link['id']} is used twice, by two different links; the file is "
                                    "damaged. Open it in ComfyUI and save it again (the frontend repairs duplicate "
                                    "links when it loads them), then convert that file.")
            self.links[link["id"]] = link
            if isinstance(raw, dict):
                self.link_extras[link["id"]] = {k: copy.deepcopy(v) for k, v in raw.items() if k not in LINK_FIELDS}

    def input_name(self, link: dict) -> str | None:
        """The name of the input a link (as read) ends in."""
        inputs = self.nodes.get(link["target_id"], {}).get("inputs") or []
        slot = link["target_slot"]
        return inputs[slot].get("name") if 0 <= slot < len(inputs) and isinstance(inputs[slot], dict) else None

    # ------------------------------------------------------------ reading

    def source(self, node: dict, input_name: str) -> Socket | None:
        """Where an input of a node (as read) is connected from, or None."""
        for slot in node.get("inputs") or []:
            if slot.get("name") == input_name and slot.get("link") is not None:
                link = self.links.get(slot["link"])
                if link is not None and link["origin_id"] in self.nodes:
                    return Socket(link["origin_id"], link["origin_slot"])
        return None

    def widget(self, node: dict, names: tuple, name: str, default=None):
        """A widget value by name: `names` is the node type's widget order (lists are positional)."""
        values = node.get("widgets_values")
        if isinstance(values, dict):
            return values.get(name, default)
        if isinstance(values, list) and name in names and names.index(name) < len(values):
            return values[names.index(name)]
        return default

    def next_id(self) -> int:
        """One above every node id and the saved counters; a counter that is not a plausible id (NaN, text,
        a number JavaScript cannot hold) is ignored: the nodes themselves are counted."""
        state = self.original.get("state")
        counters = [self.original.get("last_node_id"), state.get("lastNodeId") if isinstance(state, dict) else None]
        return max([0, *self.nodes, *(c for c in counters if _is_id(c))]) + 1


TITLE_H, GAP = 30, 10  # a node's title bar sits above its pos; nodes keep a small gap
MAX_LAYOUT_NODES = 300
LAYOUT_BUDGET = 3_000_000  # overlap checks: well under a second, whatever the graph
_STEP, _REACH = 40, 1600
_NEARBY = sorted(((dx, dy) for dx in range(-_REACH, _REACH + 1, _STEP) for dy in range(-_REACH, _REACH + 1, _STEP)),
                 key=lambda d: (d[0] * d[0] + d[1] * d[1], abs(d[0]), d[1]))


def _box(node: dict):
    """(left, top, right, bottom) on the canvas, title bar included; None without a usable pos/size."""
    pos, size = node.get("pos"), node.get("size")
    if not (isinstance(pos, list) and isinstance(size, list) and len(pos) == 2 and len(size) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in (*pos, *size))):
        return None
    return (pos[0], pos[1] - TITLE_H, pos[0] + size[0], pos[1] + size[1])


def _overlap(a, b) -> bool:
    return a[0] < b[2] + GAP and b[0] < a[2] + GAP and a[1] < b[3] + GAP and b[1] < a[3] + GAP


def _has_non_finite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value) -> bool:
    return _is_int(value) and abs(value) <= MAX_ID  # the frontend numbers nodes and links of the main graph


def _is_point(value) -> bool:
    """[x, y] of finite numbers: a position or size as the frontend saves it."""
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _check_node(node: dict) -> None:
    """The parts of a node the converter reads have the types the frontend writes."""
    problem = None
    if not _is_id(node["id"]) or not isinstance(node["type"], str):
        problem = "a damaged id or type"
    elif not isinstance(node.get("inputs") or [], list) or not isinstance(node.get("outputs") or [], list):
        problem = "damaged inputs or outputs"
    elif not all(isinstance(e, dict) and (e.get("link") is None or _is_id(e.get("link")))
                 and all(isinstance(e.get(k, ""), str) for k in ("name", "type"))
                 for e in (node.get("inputs") or []) + (node.get("outputs") or [])):
        problem = "a damaged input or output"
    elif not isinstance(node.get("pos", []), (list, dict)) or not isinstance(node.get("size", []), (list, dict)):
        problem = "a damaged position or size"
    if problem:
        raise WorkflowError(f"Node {str(node.get('id'))[:40]} ({str(node.get('type'))[:40]}) has {problem}; "
                            "the file is damaged.")


class Builder:
    """The converted workflow: nodes (kept ones copied, new ones from a NodeSpec) and their sources."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes: dict[int, dict] = {}
        self.sources: dict[int, list] = {}  # node id -> [Socket | None] per input slot
        self._next = graph.next_id()

    def new_id(self) -> int:
        self._next += 1
        return self._next - 1

    def keep(self, node: dict, sources: list) -> dict:
        """A node kept as it is (core, ours, or another pack's) with its inputs' new sources."""
        self.nodes[node["id"]] = node
        self.sources[node["id"]] = sources
        return node

    def add(self, node_id: int, kind: str, spec: NodeSpec, like: dict, *, offset=(0, 0), widgets=None,
            sources=None, linked_widgets=()) -> dict:
        """A node of our kind (or core), placed where `like` was (plus offset), in its mode and colours.

        `linked_widgets`: (name, type, Socket) for widgets the old node had fed by a link.
        """
        widgets = dict(widgets or {})
        values = [widgets.get(name, default) for name, default in spec.widgets]
        inputs = [{"name": name, "type": kind_, "link": None} for name, kind_ in spec.inputs]
        inputs += [{"name": name, "type": kind_, "widget": {"name": name}, "link": None}
                   for name, kind_, _ in linked_widgets]
        pos = like.get("pos")
        pos = [pos[0] + offset[0], pos[1] + offset[1]] if _is_point(pos) else [0, 0]
        size = like.get("size") if _is_point(like.get("size")) and node_id == like.get("id") else None
        size = [max(size[0], spec.size[0]), max(size[1], spec.size[1])] if size else list(spec.size)
        node = {"id": node_id, "type": kind, "pos": pos, "size": size, "flags": {}, "order": 0,
                "mode": like.get("mode", 0), "inputs": inputs,
                "outputs": [{"name": name, "type": kind_, "links": []} for name, kind_ in spec.outputs],
                "properties": {"Node name for S&R": kind}, "widgets_values": values}
        for key in ("color", "bgcolor"):
            if isinstance(like.get(key), str):
                node[key] = like[key]
        self.nodes[node_id] = node
        self.sources[node_id] = list(sources or [None] * len(spec.inputs)) + [s for _, _, s in linked_widgets]
        return node

    # ------------------------------------------------------------ writing

    def make_room(self, movable: set[int]) -> None:
        """Move the `movable` nodes (the ones the converter wrote, often larger than what they replace)
        to the nearest place where they cover no other node; every other node keeps its position."""
        if len(self.nodes) > MAX_LAYOUT_NODES:
            return  # a graph this large was not made by hand; leave the layout to the user
        placed = [b for node_id, node in self.nodes.items() if node_id not in movable and (b := _box(node))]
        budget = LAYOUT_BUDGET
        in_place = [n for n in self.graph.nodes if n in movable and n in self.nodes]  # replaced, same id
        in_place.sort(key=lambda n: self._growth(n))  # the ones that kept their size keep their place first
        for node_id in in_place + [n for n in self.nodes if n in movable and n not in self.graph.nodes]:
            node = self.nodes[node_id]
            box = _box(node)
            if box is None:
                continue
            for dx, dy in _NEARBY:
                budget -= len(placed)
                if budget < 0:
                    return  # an unusually crowded graph: the rest stay where they are
                moved = (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
                if not any(_overlap(moved, other) for other in placed):
                    node["pos"] = [node["pos"][0] + dx, node["pos"][1] + dy]
                    box = moved
                    break
            placed.append(box)

    def _growth(self, node_id) -> float:
        before, after = _box(self.graph.nodes[node_id]), _box(self.nodes[node_id])
        if before is None or after is None:
            return 0.0
        return (after[2] - after[0]) * (after[3] - after[1]) - (before[2] - before[0]) * (before[3] - before[1])

    def to_workflow(self) -> dict:
        """The UI-format workflow: the original's other fields, these nodes, links rebuilt from sources."""
        out = {k: copy.deepcopy(v) for k, v in self.graph.original.items() if k not in ("nodes", "links")}
        order = [n for n in self.graph.nodes if n in self.nodes] + [n for n in self.nodes if n not in self.graph.nodes]
        links = []
        for node in self.nodes.values():
            for output in node.get("outputs") or []:
                output["links"] = []
        for node_id in order:
            node = self.nodes[node_id]
            for slot, (entry, source) in enumerate(zip(node.get("inputs") or [], self.sources[node_id])):
                entry["link"] = None
                if source is None or source.node not in self.nodes:
                    continue
                outputs = self.nodes[source.node].get("outputs") or []
                if source.slot >= len(outputs):
                    continue
                link_id = len(links) + 1
                kind = outputs[source.slot].get("type") or entry.get("type")
                links.append([link_id, source.node, source.slot, node_id, slot, kind])
                entry["link"] = link_id
                outputs[source.slot]["links"].append(link_id)
        for number, node_id in enumerate(self._execution_order(links)):
            self.nodes[node_id]["order"] = number
        for node_id in order:
            if _has_non_finite(self.nodes[node_id]):
                raise WorkflowError(f"Node {node_id} ({self.nodes[node_id]['type']}) holds a number that is not "
                                    "finite (NaN or infinity), which no JSON reader accepts; the file is damaged.")
        out["last_node_id"] = max(self.nodes, default=0)
        out["last_link_id"] = len(links)
        if isinstance(out.get("state"), dict):
            out["state"]["lastNodeId"] = out["last_node_id"]
            out["state"]["lastLinkId"] = out["last_link_id"]
        for key, value in out.items():
            if _has_non_finite(value):
                raise WorkflowError(f"The workflow's '{str(key)[:40]}' holds a number that is not finite (NaN or "
                                    "infinity), which no JSON reader accepts; the file is damaged.")
        out["nodes"] = [self.nodes[node_id] for node_id in order]
        renumbered = self._renumbered(links)
        extras = {}  # new id -> the schema 1 fields of the old link it continues (its native reroute, label, ...)
        for old_id, new_id in renumbered.items():
            if old_id in self.graph.link_extras:
                extras.setdefault(new_id, self.graph.link_extras[old_id])
        out["links"] = ([{**dict(zip(LINK_FIELDS, link)), **copy.deepcopy(extras.get(link[0], {}))} for link in links]
                        if self.graph.object_links else links)
        _follow_link_ids(out, renumbered)
        return out

    def _renumbered(self, links: list) -> dict[int, int]:
        """Old link id -> new link id, for every link that is still there: same source and input, or (where
        the converter rewired an input) the link now ending in the same input of the same node."""
        new_exact, new_by_input = {}, {}
        for link_id, origin, origin_slot, target, slot, _ in links:
            entry = (self.nodes[target].get("inputs") or [])[slot]
            new_exact.setdefault((origin, origin_slot, target, entry.get("name")), link_id)
            new_by_input.setdefault((target, entry.get("name")), link_id)
        renumbered = {}
        for old_id, link in self.graph.links.items():
            name = self.graph.input_name(link)
            exact = (link["origin_id"], link["origin_slot"], link["target_id"], name)
            new_id = new_exact.get(exact, new_by_input.get((link["target_id"], name)))
            if new_id is not None:
                renumbered[old_id] = new_id
        return renumbered

    def _execution_order(self, links: list) -> list[int]:
        """The smallest id whose sources are all placed comes next (a heap: linear, not quadratic, in nodes)."""
        needs = {node_id: set() for node_id in self.nodes}
        feeds = {node_id: [] for node_id in self.nodes}
        for _, origin, _, target, _, _ in links:
            if origin not in needs[target]:
                needs[target].add(origin)
                feeds[origin].append(target)
        waiting = {node_id: len(wants) for node_id, wants in needs.items()}
        ready = [node_id for node_id, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        by_id, next_by_id = sorted(self.nodes), 0
        done, order = set(), []
        while len(order) < len(needs):
            if ready:
                node_id = heapq.heappop(ready)
            else:  # a cycle (not runnable anyway): the smallest id not yet placed comes next
                while by_id[next_by_id] in done:
                    next_by_id += 1
                node_id = by_id[next_by_id]
            if node_id in done:
                continue
            done.add(node_id)
            order.append(node_id)
            for target in feeds[node_id]:
                waiting[target] -= 1
                if waiting[target] == 0 and target not in done:
                    heapq.heappush(ready, target)
        return order


def _follow_link_ids(workflow: dict, renumbered: dict[int, int]) -> None:
    """Native reroutes (frontend 1.1x+) name links by id: after renumbering, each names the new id of its
    link, and a link that is gone is dropped from them. Schema 1 keeps the reroutes at the top level and a
    link's reroute on the link (kept by _extras); schema 0.4 keeps both under `extra` (reroutes,
    linkExtensions), and frontend 1.5x adds per-link presentation (linkPresentation, keyed by id)."""
    extra = workflow.get("extra") if isinstance(workflow.get("extra"), dict) else {}
    for reroutes in (workflow.get("reroutes"), extra.get("reroutes")):
        for reroute in reroutes if isinstance(reroutes, list) else []:
            if isinstance(reroute, dict) and isinstance(reroute.get("linkIds"), list):
                ids = [renumbered[i] for i in reroute["linkIds"] if _is_id(i) and i in renumbered]
                reroute["linkIds"] = list(dict.fromkeys(ids))
    extensions = extra.get("linkExtensions")
    if isinstance(extensions, list):
        extra["linkExtensions"] = [{**e, "id": renumbered[e["id"]]} for e in extensions
                                   if isinstance(e, dict) and _is_id(e.get("id")) and e["id"] in renumbered]
    presentation = extra.get("linkPresentation")
    if isinstance(presentation, dict):
        moved = {}
        for key, value in presentation.items():
            old = int(key) if isinstance(key, str) and key.lstrip("-").isdigit() else None
            if old in renumbered:
                moved[str(renumbered[old])] = value
        extra["linkPresentation"] = moved
