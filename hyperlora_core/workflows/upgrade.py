"""Upgrade workflows saved with earlier versions of this pack's own nodes (run by the workflow converter).

HyperLoRA Apply to Conditioning gained a MODEL input and output (the identity now lives on the model instead
of in core hooks). A saved node without them is given both, and the model is routed through it: the model
that fed the sampler(s) its conditioning reaches now goes into the node, and the node's model output feeds
those samplers. Chained nodes (one per person) are routed one after another, the first one nearest the
checkpoint. Positions, widgets and every other link stay as they were.
"""

from __future__ import annotations

from .graph import Builder, Socket

APPLY_CONDITIONING = "HyperLoRAApplyConditioning"
MODEL_OUTPUT_SLOT = 2  # outputs: positive, negative, model
MAX_WALK = 10_000
NO_SAMPLER = ("given a model input and output; nothing downstream takes a model, so connect the model through it "
              "to your sampler by hand.")  # nodes visited downstream of one node: ample for any hand-made graph


def is_outdated(node: dict) -> bool:
    """An Apply to Conditioning saved before it had a model input."""
    return node.get("type") == APPLY_CONDITIONING and not any(
        isinstance(entry, dict) and entry.get("name") == "model" for entry in node.get("inputs") or [])


def upgrade_nodes(builder: Builder) -> list[tuple[int, str]]:
    """Upgrade every outdated Apply to Conditioning in the builder; (node id, what was done) for the report."""
    outdated = [node_id for node_id, node in builder.nodes.items() if is_outdated(node)]
    for node_id in outdated:
        _add_model_sockets(builder, node_id)
    consumers = _consumers(builder)
    reached = {node_id: _model_consumers(builder, consumers, node_id) for node_id in outdated}
    done = []
    for node_id in _nearest_sampler_first(reached):
        model_input = _model_input_slot(builder.nodes[node_id])
        sources = {builder.sources[r][_model_input_slot(builder.nodes[r])] for r in reached[node_id]} - {None}
        if not reached[node_id]:
            done.append((node_id, NO_SAMPLER))
            continue
        builder.sources[node_id][model_input] = min(sources, key=lambda s: (s.node, s.slot), default=None)
        for target in reached[node_id]:
            builder.sources[target][_model_input_slot(builder.nodes[target])] = Socket(node_id, MODEL_OUTPUT_SLOT)
        note = "the model now goes through it to " + ", ".join(
            f"{builder.nodes[r]['type']} (node {r})" for r in reached[node_id])
        if len(sources) > 1:
            note += "; those nodes had different models, and the first one was kept: check the model wiring."
        elif not sources:
            note += "; no model was connected there: connect one to its model input."
        done.append((node_id, note))
    return done


def _nearest_sampler_first(reached: dict[int, list[int]]) -> list[int]:
    """Outdated nodes ordered so that each comes after every outdated node downstream of it (a chain is routed
    from the sampler backwards, so each node takes over the model its successor had)."""
    order, state = [], {}
    for start, downstream in reached.items():
        stack = [(start, iter(downstream))]
        state[start] = "open"
        while stack:
            node_id, children = stack[-1]
            child = next((c for c in children if c in reached and state.get(c) is None), None)
            if child is None:
                stack.pop()
                state[node_id] = "done"
                order.append(node_id)
            else:
                state[child] = "open"
                stack.append((child, iter(reached[child])))
        # a node already open or done is skipped: cycles (not runnable anyway) cannot loop
    return list(dict.fromkeys(order))


def _add_model_sockets(builder: Builder, node_id: int) -> None:
    node = builder.nodes[node_id]
    node["inputs"] = [{"name": "model", "type": "MODEL", "link": None}, *(node.get("inputs") or [])]
    builder.sources[node_id] = [None, *builder.sources[node_id]]
    outputs = node.setdefault("outputs", [])
    while len(outputs) < MODEL_OUTPUT_SLOT:
        outputs.append({"name": ("positive", "negative")[len(outputs)], "type": "CONDITIONING", "links": []})
    outputs.insert(MODEL_OUTPUT_SLOT, {"name": "model", "type": "MODEL", "links": []})


def _model_input_slot(node: dict) -> int | None:
    for slot, entry in enumerate(node.get("inputs") or []):
        if isinstance(entry, dict) and entry.get("name") == "model" and entry.get("type") in ("MODEL", "*", None):
            return slot
    return None


def _consumers(builder: Builder) -> dict[Socket, list[int]]:
    found: dict[Socket, list[int]] = {}
    for target, sources in builder.sources.items():
        for source in sources:
            if source is not None:
                found.setdefault(source, []).append(target)
    return found


def _model_consumers(builder: Builder, consumers: dict[Socket, list[int]], node_id: int) -> list[int]:
    """The nearest nodes downstream of the node's conditioning outputs that take a model (samplers, guiders,
    the next Apply to Conditioning): the walk stops at each of them."""
    frontier = [Socket(node_id, 0), Socket(node_id, 1)]
    seen, reached = set(), []
    while frontier and len(seen) < MAX_WALK:
        socket = frontier.pop()
        for target in consumers.get(socket, []):
            if target in seen or target == node_id:
                continue
            seen.add(target)
            if _model_input_slot(builder.nodes[target]) is not None:
                reached.append(target)
                continue
            frontier += [Socket(target, slot) for slot in range(len(builder.nodes[target].get("outputs") or []))]
    return sorted(reached)
