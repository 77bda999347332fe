"""One pass against exact, on real models: how far the decoded images differ, and each person's likeness.

    python benchmarks/region_difference.py --server http://127.0.0.1:8188 --photos person_a.jpg person_b.jpg
        [--checkpoint RealVisXL_V4.0.safetensors] [--hyperlora sdxl_hyper_id_lora_v1_fidelity]
        [--clip-vision clip_vit_large_14.safetensors] [--face-model antelopev2] [--steps 30] [--size 1024]
        [--seed 42] [--strength 0.8] [--json]

Drives a running ComfyUI (this pack and the models installed as the README says; the photos in ComfyUI's
input folder) through its HTTP API. The graph is that of example_workflows/hyperlora_two_people.json: person
A's identity in the left half, B's in the right half, the scene prompt everywhere else; it runs three times
with the same seed: region_mode exact, region_mode one pass, and the plain model (no identity, for scale).
Then each image's halves are cropped here, uploaded, and scored by HyperLoRA Likeness against that half's
person (ArcFace cosine of the best face in the half).

Prints the mean and max difference of one pass from exact over every pixel and channel (0-255), the same for
exact from plain (how much the identities change the picture at all), and the six likeness scores. The
development machines have no model weights: the integration test runs this on the tiny stand-in models, which
checks the plumbing, not the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import numpy as np

MODES = ("exact", "one pass", "plain")  # plain: the same graph without the identities
SCENE = ("photo of two people standing side by side in a park, looking at the camera, natural light, detailed "
         "skin, sharp focus")
NEGATIVE = ("blurry, lowres, low quality, worst quality, jpeg artifacts, deformed face, bad anatomy, extra fingers, "
            "cartoon, watermark, text")
SCORE_LINE = re.compile(r"^image 1: (-?\d+\.\d+)")  # HyperLoRA Likeness's ui text, one line per image


class Server:
    """The few calls of ComfyUI's HTTP API this needs."""

    def __init__(self, url: str, timeout_s: float):
        self.url, self.timeout_s = url.rstrip("/"), timeout_s

    def get(self, path: str) -> bytes:
        return self._open(self.url + path)

    def _open(self, request) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as e:
            sys.exit(f"Cannot reach ComfyUI at {self.url} ({e}). Start ComfyUI, or give its address with --server.")

    def run(self, prompt: dict) -> dict:
        """Queue a prompt and wait for it: its history entry; a refused or failed prompt stops with the server's
        own message."""
        request = urllib.request.Request(self.url + "/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            prompt_id = json.loads(self._open(request))["prompt_id"]
        except urllib.error.HTTPError as e:
            sys.exit(f"ComfyUI refused the prompt (a model or photo name it does not list?):\n{e.read().decode()}")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            history = json.loads(self.get(f"/history/{prompt_id}"))
            if prompt_id in history:
                entry = history[prompt_id]
                if entry.get("status", {}).get("status_str") == "error":
                    sys.exit(f"The prompt failed in ComfyUI:\n{json.dumps(entry['status'], indent=1)[:4000]}")
                return entry
            time.sleep(0.5)
        sys.exit(f"No result from ComfyUI after {self.timeout_s:.0f} s; raise --timeout.")

    def image(self, ref: dict) -> np.ndarray:
        from PIL import Image

        data = self.get("/view?" + urllib.parse.urlencode({k: ref[k] for k in ("filename", "subfolder", "type")}))
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def upload(self, pixels: np.ndarray, name: str) -> str:
        """A PNG into ComfyUI's input folder (POST /upload/image); the name LoadImage knows it by."""
        from PIL import Image

        png = io.BytesIO()
        Image.fromarray(pixels).save(png, format="PNG")
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode() + png.getvalue() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.url + "/upload/image", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer = json.loads(self._open(request))
        return f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]


class Graph:
    """An API prompt under construction: nodes by class with their inputs by name; every input left out gets
    its default from /object_info (so this follows the schemas of the ComfyUI it talks to)."""

    def __init__(self, object_info: dict):
        self.object_info, self.nodes = object_info, {}

    def add(self, class_type: str, **inputs) -> str:
        if class_type not in self.object_info:
            sys.exit(f"This ComfyUI has no node {class_type}: install the pack (and restart ComfyUI).")
        spec = self.object_info[class_type]["input"]
        values = {name: options[1]["default"] for section in ("required", "optional")
                  for name, options in spec.get(section, {}).items()
                  if len(options) > 1 and isinstance(options[1], dict) and "default" in options[1]}
        node_id = str(len(self.nodes) + 1)
        self.nodes[node_id] = {"class_type": class_type, "inputs": {**values, **inputs}}
        return node_id


def out(node_id: str, slot: int = 0) -> list:
    return [node_id, slot]


def faces(graph: Graph, options) -> tuple[str, list[str]]:
    """(face analyzer node, [Encode Face node of A, of B])."""
    clip_vision = graph.add("CLIPVisionLoader", clip_name=options.clip_vision)
    analyzer = graph.add("HyperLoRAFaceAnalyzerLoader", face_model=options.face_model)
    encoded = [graph.add("HyperLoRAEncodeFace", images=out(graph.add("LoadImage", image=photo)),
                         clip_vision=out(clip_vision), face_analyzer=out(analyzer))
               for photo in options.photos]
    return analyzer, encoded


def two_people(object_info: dict, options, mode: str) -> dict:
    """The shipped two-people graph, with `mode` as both identities' region_mode (plain: no identity)."""
    graph = Graph(object_info)
    checkpoint = graph.add("CheckpointLoaderSimple", ckpt_name=options.checkpoint)
    clip = graph.add("CLIPSetLastLayer", clip=out(checkpoint, 1), stop_at_clip_layer=-2)
    hyperlora = graph.add("HyperLoRACheckpointLoader", checkpoint=options.hyperlora)
    scene = graph.add("HyperLoRATriggerWords", prompt=SCENE)
    model = out(checkpoint)
    positive = out(graph.add("CLIPTextEncode", clip=out(clip), text=out(scene)))
    negative = out(graph.add("CLIPTextEncode", clip=out(clip), text=NEGATIVE))
    if mode != "plain":
        _, encoded = faces(graph, options)
        half = options.size // 2
        empty = graph.add("SolidMask", value=0.0, width=options.size, height=options.size)
        white = graph.add("SolidMask", value=1.0, width=half, height=options.size)
        for x, face in zip((0, half), encoded):
            mask = graph.add("MaskComposite", destination=out(empty), source=out(white), x=x, y=0, operation="add")
            coefficients = graph.add("HyperLoRAPredictCoefficients", hyperlora=out(hyperlora), face=out(face))
            placed = graph.add("HyperLoRAApplyConditioning", model=model, positive=positive, negative=negative,
                               coefficients=out(coefficients), strength=options.strength, start_at=0.0, end_at=1.0,
                               mask=out(mask), region_mode=mode)
            positive, negative, model = out(placed, 0), out(placed, 1), out(placed, 2)
    latent = graph.add("EmptyLatentImage", width=options.size, height=options.size, batch_size=1)
    sampled = graph.add("KSampler", model=model, positive=positive, negative=negative, latent_image=out(latent),
                        seed=options.seed, steps=options.steps, cfg=6.0, sampler_name="dpmpp_2m", scheduler="karras",
                        denoise=1.0)
    graph.add("PreviewImage", images=out(graph.add("VAEDecode", samples=out(sampled), vae=out(checkpoint, 2))))
    return graph.nodes


def likeness_of_halves(object_info: dict, options, crops: list[list[str]]) -> tuple[dict, list[list[str]]]:
    """A prompt scoring every uploaded half (crops[person] = that person's half of each image) against its
    person; the Likeness node ids in the same order."""
    graph = Graph(object_info)
    analyzer, encoded = faces(graph, options)
    scorers = [[graph.add("HyperLoRALikeness", images=out(graph.add("LoadImage", image=name)),
                          face_analyzer=out(analyzer), face=out(face)) for name in names]
               for face, names in zip(encoded, crops)]
    return graph.nodes, scorers


def preview_of(entry: dict) -> dict:
    return next(o["images"][0] for o in entry["outputs"].values() if o.get("images"))


def score(entry: dict, node_id: str) -> float:
    lines = entry["outputs"][node_id]["text"]
    found = [SCORE_LINE.match(line) for line in lines]
    return next(float(m.group(1)) for m in found if m)


def measure(server: Server, options) -> dict:
    object_info = json.loads(server.get("/object_info"))
    images = {mode: server.image(preview_of(server.run(two_people(object_info, options, mode)))) for mode in MODES}
    half = images["exact"].shape[1] // 2
    tag = uuid.uuid4().hex[:8]
    crops = [[server.upload(np.ascontiguousarray(images[mode][:, side * half:(side + 1) * half]),
                            f"hyperlora_region_{tag}_{mode.replace(' ', '_')}_{side}.png") for mode in MODES]
             for side in (0, 1)]
    prompt, scorers = likeness_of_halves(object_info, options, crops)
    entry = server.run(prompt)
    exact = images["exact"].astype(np.float64)
    one_pass_diff, effect = np.abs(images["one pass"] - exact), np.abs(exact - images["plain"])
    return {"one_pass_vs_exact": {"mean": float(one_pass_diff.mean()), "max": float(one_pass_diff.max())},
            "exact_vs_plain": {"mean": float(effect.mean()), "max": float(effect.max())},
            "likeness": {person: {mode: score(entry, node) for mode, node in zip(MODES, scorers[side])}
                         for side, person in enumerate(("A (left half)", "B (right half)"))},
            "size": list(images["exact"].shape[:2])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="the running ComfyUI's address")
    parser.add_argument("--photos", nargs=2, required=True, metavar=("A", "B"),
                        help="a photo of each person, as LoadImage lists them (ComfyUI's input folder)")
    parser.add_argument("--checkpoint", default="RealVisXL_V4.0.safetensors", help="an SDXL checkpoint")
    parser.add_argument("--hyperlora", default="sdxl_hyper_id_lora_v1_fidelity")
    parser.add_argument("--clip-vision", default="clip_vit_large_14.safetensors")
    parser.add_argument("--face-model", default="antelopev2")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=1024, help="image width and height in pixels")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strength", type=float, default=0.8)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for one prompt")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    options = parser.parse_args()
    figures = measure(Server(options.server, options.timeout), options)
    if options.json:
        print(json.dumps(figures))
        return
    d, e = figures["one_pass_vs_exact"], figures["exact_vs_plain"]
    print(f"{options.checkpoint}, {options.hyperlora}, {options.size} px, {options.steps} steps, seed "
          f"{options.seed}, strength {options.strength}")
    print(f"pixel difference (0-255, every pixel and channel): one pass vs exact mean {d['mean']:.2f}, max "
          f"{d['max']:.0f}; exact vs plain mean {e['mean']:.2f}, max {e['max']:.0f}")
    print(f"  {'likeness in their half':24s} {'exact':>7s} {'one pass':>9s} {'plain':>7s}")
    for person, scores in figures["likeness"].items():
        print(f"  {person:24s} {scores['exact']:7.3f} {scores['one pass']:9.3f} {scores['plain']:7.3f}")


if __name__ == "__main__":
    main()
