"""The workflow upgrade inside subgraphs (the frontend's `definitions.subgraphs`), where the top level's
rebuild cannot go: a subgraph's links also start at its input node and end at its output node (ids -10 and
-20), which are not nodes of its list.

Each subgraph holding an old Apply to Conditioning is upgraded in place by the same rules (upgrade.py): the
links that stay keep their ids, the rewired and new ones get ids above every link id of the file (the
frontend numbers links of all graphs from one counter), and the subgraph's inputs, outputs and native
reroutes name the new ids.
"""

from __future__ import annotations

from .graph import Socket, WorkflowError, _is_id, _is_int
from .upgrade import is_outdated, upgrade_nodes


class SubgraphLinks:
    """A subgraph's nodes and each input's source, in the form upgrade_nodes works on."""

    def __init__(self, subgraph: dict, name: str):
        nodes = subgraph.get("nodes")
        links = subgraph.get("links")
        if not isinstance(nodes, list) or not isinstance(links, list):
            raise WorkflowError(f"The subgraph '{name}' has no list of nodes or links; the file is damaged.")
        self.nodes: dict[int, dict] = {}
        for node in nodes:
            if not isinstance(node, dict) or not _is_id(node.get("id")) or node["id"] in self.nodes or not all(
                    isinstance(entry, dict) for entry in (node.get("inputs") or []) + (node.get("outputs") or [])):
                raise WorkflowError(f"The subgraph '{name}' has a node with a damaged or repeated id "
                                    f"({str(node)[:80]}); the file is damaged.")
            self.nodes[node["id"]] = node
        self.links: dict[int, dict] = {}
        for link in links:
            fields = ("id", "origin_id", "origin_slot", "target_id", "target_slot")
            if not isinstance(link, dict) or not all(_is_int(link.get(k)) for k in fields) or not all(
                    _is_id(link[k]) for k in ("id", "origin_id", "target_id")):
                raise WorkflowError(f"The subgraph '{name}' has a damaged link ({str(link)[:80]}); the file is "
                                    "damaged.")
            if link["id"] in self.links:
                raise WorkflowError(f"The subgraph '{name}' uses link id {link['id']} twice; the file is damaged. "
                                    "Open it in ComfyUI and save it again, then convert that file.")
            self.links[link["id"]] = link
        self.sources = {node_id: [None] * len(node.get("inputs") or []) for node_id, node in self.nodes.items()}
        self.before: dict[tuple, dict] = {}  # (target node, input name) -> the link that fed it
        for node_id, node in self.nodes.items():  # an input's own link id, as the top level's converter reads it
            for slot, entry in enumerate(node.get("inputs") or []):
                link = self.links.get(entry.get("link"))
                if link is not None and link["target_id"] == node_id:
                    self.sources[node_id][slot] = Socket(link["origin_id"], link["origin_slot"])
                    self.before[(node_id, entry.get("name"))] = link


def upgrade_subgraphs(workflow: dict) -> list[tuple[int, str]]:
    """Upgrade old Apply to Conditioning nodes in every subgraph of `workflow` (changed in place); the report's
    (node id, text) entries. The workflow's link counters are raised past every new link id."""
    definitions = workflow.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    if not isinstance(subgraphs, list):
        return []
    outdated = [s for s in subgraphs if isinstance(s, dict) and isinstance(s.get("nodes"), list)
                and any(isinstance(n, dict) and is_outdated(n) for n in s["nodes"])]
    next_id = 1 + max([0, *_link_ids(workflow.get("links")), *(i for s in subgraphs if isinstance(s, dict)
                                                                  for i in _link_ids(s.get("links")))])
    done = []
    for subgraph in outdated:
        name = str(subgraph.get("name", subgraph.get("id")))[:80]
        graph = SubgraphLinks(subgraph, name)
        notes = upgrade_nodes(graph)
        next_id = _write_back(subgraph, graph, next_id)
        done += [(node_id, f"(in the subgraph '{name}') {text}") for node_id, text in notes]
    last = next_id - 1  # the counters pass every link id of the file, also when the top level was renumbered
    if _is_int(workflow.get("last_link_id")):
        workflow["last_link_id"] = max(workflow["last_link_id"], last)
    if isinstance(workflow.get("state"), dict):
        workflow["state"]["lastLinkId"] = max(last, workflow["state"].get("lastLinkId") or 0)
    return done


def _link_ids(links) -> list[int]:
    ids = [link.get("id") if isinstance(link, dict) else link[0] if isinstance(link, list) and link else None
           for link in links or []]
    return [i for i in ids if _is_id(i)]


def _write_back(subgraph: dict, graph: SubgraphLinks, next_id: int) -> int:
    """The subgraph's links from the upgraded sources; returns the next free link id."""
    links, replaced = [], {}
    for node_id, node in graph.nodes.items():
        for slot, entry in enumerate(node.get("inputs") or []):
            source = graph.sources[node_id][slot]
            old = graph.before.get((node_id, entry.get("name")))
            if source is None:
                entry["link"] = None
                continue
            if old is not None and (old["origin_id"], old["origin_slot"]) == (source.node, source.slot):
                link = {**old, "target_slot": slot}
            else:
                link = {"id": next_id, "origin_id": source.node, "origin_slot": source.slot, "target_id": node_id,
                        "target_slot": slot, "type": entry.get("type") or "*"}
                if old is not None:  # the rewired link keeps the reroute it passed
                    replaced[old["id"]] = next_id
                    if old.get("parentId") is not None:
                        link["parentId"] = old["parentId"]
                next_id += 1
            entry["link"] = link["id"]
            links.append(link)
    links += [link for link in graph.links.values() if link["target_id"] not in graph.nodes]  # to the outputs
    subgraph["links"] = links
    for node in graph.nodes.values():
        for output in node.get("outputs") or []:
            output["links"] = []
    for link in links:
        origin = graph.nodes.get(link["origin_id"])
        if origin is not None and 0 <= link["origin_slot"] < len(origin.get("outputs") or []):
            origin["outputs"][link["origin_slot"]]["links"].append(link["id"])
    present = {link["id"] for link in links}
    input_node = (subgraph.get("inputNode") or {}).get("id", -10)
    for slot, entry in enumerate(subgraph.get("inputs") or []):
        if isinstance(entry, dict):
            entry["linkIds"] = [link["id"] for link in links
                                if link["origin_id"] == input_node and link["origin_slot"] == slot]
    for reroute in subgraph.get("reroutes") or []:
        if isinstance(reroute, dict) and isinstance(reroute.get("linkIds"), list):
            ids = [replaced.get(i, i) for i in reroute["linkIds"]]
            reroute["linkIds"] = list(dict.fromkeys(i for i in ids if i in present))
    return next_id
