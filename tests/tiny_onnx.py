"""Tiny stand-ins for the AntelopeV2 ONNX models, so tests run the real insightface + onnxruntime code.

They have AntelopeV2's input/output signatures (insightface routes them to SCRFD, Landmark and
ArcFaceONNX) but detect *markers* instead of faces, so a test knows exactly what must be found:

* A marker is a rectangle of pure colour (R >= 128, G free, B == 0) at least two detector cells
  (2 x 8 pixels at detector scale) wide and high; only cells it covers entirely count. The red level
  sets the detection score (score = R / 255), the green level the box size (see `marker_colour`).
* Detector (SCRFD layout: strides 8/16/32, two anchors per cell, scores/boxes/keypoints = 9 outputs):
  only stride 8 fires, and per marker only its top-left fully covered cell (exactly one face per
  marker, no dependence on NMS). Box half-size = `box_half_pixels(G)` detector pixels, box centred
  one cell right of and below the anchor point. If any cell of the top row or left column of the
  detector input is marker-coloured, every score is zeroed: a marker filling the frame is not found,
  like SCRFD missing a face that fills the frame, until the pipeline adds a neutral border.
* Landmarks (2d106 layout, 192x192 input, 212 outputs): a constant, plausible face layout in
  insightface's normalised crop space (`LANDMARKS_106`).
* Recognition (ArcFace layout, 112x112 input, 512 outputs): a fixed random linear map of the 7x7
  average-pooled aligned crop, so different faces give different embeddings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
STRIDES = (8, 16, 32)
FIRE_STRIDE = 8
ANCHORS = 2
DETECTOR_FILE = "scrfd_10g_bnkps.onnx"
LANDMARK_FILE = "2d106det.onnx"
RECOGNITION_FILE = "glintr100.onnx"
UNUSED_FILES = ("genderage.onnx", "1k3d68.onnx")

# The outline polygon of section 7 (jaw from landmark 1 over the chin 0 to 17, then the brows).
JAW_ORDER = (1, 9, 10, 11, 12, 13, 14, 15, 16, 2, 3, 4, 5, 6, 7, 8, 0,
             24, 23, 22, 21, 20, 19, 18, 32, 31, 30, 29, 28, 27, 26, 25, 17)
BROW_ORDER = (101, 105, 104, 103, 102, 50, 51, 49, 48, 43)

# Keypoints (eyes, nose, mouth corners) in box half-size units about the box centre.
KPS_PATTERN = np.array([[-0.35, -0.2], [0.35, -0.2], [0.0, 0.1], [-0.3, 0.45], [0.3, 0.45]], np.float32)


def box_half_pixels(green: float) -> float:
    """Box half-size in detector pixels for a marker's green level (0..255): 32 to 256."""
    return 32.0 * (1.0 + 7.0 * green / 255.0)


def marker_colour(score: float = 1.0, size: float = 0.5) -> tuple[int, int, int]:
    """RGB of a marker detected with `score` (0.5..1) and box size `size` (0..1)."""
    return round(255.0 * score), round(255.0 * size), 0


def _landmarks_106() -> np.ndarray:
    """A plausible 106-point face in Landmark.get's [-1, 1] space (box edges at +-2/3)."""
    points = np.zeros((106, 2), np.float32)
    # jaw: lower half of an ellipse, from the left temple over the chin to the right temple
    angles = np.linspace(np.pi, 0.0, len(JAW_ORDER))
    for index, angle in zip(JAW_ORDER, angles):
        points[index] = (-0.55 * np.cos(angle), 0.05 + 0.6 * np.sin(angle))
    # brows (right brow outer->inner, then left brow inner->outer), above the eyes
    brow_x = np.concatenate([np.linspace(0.5, 0.1, 5), np.linspace(-0.1, -0.5, 5)])
    for index, x in zip(BROW_ORDER, brow_x):
        points[index] = (x, -0.35 - 0.04 * np.cos(3.0 * x))
    # everything else (eyes, nose, mouth) inside the face, on a deterministic spiral
    others = [i for i in range(106) if i not in JAW_ORDER and i not in BROW_ORDER]
    for k, index in enumerate(others):
        radius = 0.05 + 0.3 * k / len(others)
        points[index] = (radius * np.cos(2.4 * k), 0.1 + 0.8 * radius * np.sin(2.4 * k))
    return points


LANDMARKS_106 = _landmarks_106()


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=f"c_{name}",
                            value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def _int_const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=f"c_{name}",
                            value=numpy_helper.from_array(np.asarray(value, np.int64), name))


def _model(nodes, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _flatten_per_anchor(nodes, source: str, name: str, width: int) -> None:
    """(1, ANCHORS*width, h, w) -> (h*w*ANCHORS, width): insightface's candidate order."""
    nodes.append(helper.make_node("Transpose", [source], [f"{name}_t"], name=f"t_{name}", perm=[0, 2, 3, 1]))
    nodes.append(_int_const(f"{name}_shape", [-1, width]))
    nodes.append(helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"], [name], name=f"r_{name}"))


def build_detector() -> onnx.ModelProto:
    n = []
    x = "input.1"
    k = FIRE_STRIDE
    n.append(helper.make_node("AveragePool", [x], ["cells"], name="pool_fire", kernel_shape=[k, k], strides=[k, k]))
    n.append(helper.make_node("Split", ["cells"], ["r", "g", "b"], name="split", axis=1))
    # the input is (v - 127.5) / 128: red >= 128 <=> r > 0; a cell counts only if its mean blue is
    # below ~1.3, i.e. the marker covers it entirely
    n += [_const("k50", 50.0), _const("k1000", 1000.0), _const("zero", 0.0), _const("one", 1.0),
          _const("bcut", -0.99)]
    n.append(helper.make_node("Mul", ["r", "k50"], ["r_gain"], name="rgain"))
    n.append(helper.make_node("Clip", ["r_gain", "zero", "one"], ["red_gate"], name="rgate"))
    n.append(helper.make_node("Sub", ["bcut", "b"], ["bneg"], name="bdiff"))
    n.append(helper.make_node("Mul", ["bneg", "k1000"], ["b_gain"], name="bgain"))
    n.append(helper.make_node("Clip", ["b_gain", "zero", "one"], ["blue_gate"], name="bgate"))
    n.append(helper.make_node("Mul", ["red_gate", "blue_gate"], ["marker"], name="marker"))
    # keep only the top-left marker cell: no marker cell to its left, none above it
    n.append(_int_const("pad_left", [0, 0, 0, 1, 0, 0, 0, 0]))
    n.append(_int_const("pad_top", [0, 0, 1, 0, 0, 0, 0, 0]))
    n += [_int_const("s0", [0]), _int_const("sm1", [-1]), _int_const("s1", [1]),
          _int_const("ax2", [2]), _int_const("ax3", [3])]
    n.append(helper.make_node("Pad", ["marker", "pad_left"], ["marker_pl"], name="padl"))
    n.append(helper.make_node("Slice", ["marker_pl", "s0", "sm1", "ax3"], ["left"], name="slicel"))
    n.append(helper.make_node("Pad", ["marker", "pad_top"], ["marker_pt"], name="padt"))
    n.append(helper.make_node("Slice", ["marker_pt", "s0", "sm1", "ax2"], ["above"], name="slicet"))
    n.append(helper.make_node("Sub", ["one", "left"], ["no_left"], name="noleft"))
    n.append(helper.make_node("Sub", ["one", "above"], ["no_above"], name="noabove"))
    n.append(helper.make_node("Mul", ["marker", "no_left"], ["fire1"], name="fire1"))
    n.append(helper.make_node("Mul", ["fire1", "no_above"], ["fire"], name="fire"))
    # a marker touching the top row or left column of cells suppresses every detection
    n.append(helper.make_node("Slice", ["marker", "s0", "s1", "ax2"], ["top_row"], name="toprow"))
    n.append(helper.make_node("Slice", ["marker", "s0", "s1", "ax3"], ["left_col"], name="leftcol"))
    n.append(helper.make_node("ReduceMax", ["top_row"], ["top_max"], name="topmax", keepdims=0))
    n.append(helper.make_node("ReduceMax", ["left_col"], ["left_max"], name="leftmax", keepdims=0))
    n.append(helper.make_node("Max", ["top_max", "left_max"], ["border"], name="border"))
    n.append(helper.make_node("Sub", ["one", "border"], ["keep"], name="keep"))
    # score = red level / 255 (anchor 0 only; anchor 1 never fires)
    n += [_const("k128", 128.0), _const("k127", 127.5), _const("k255", 255.0)]
    n.append(helper.make_node("Mul", ["r", "k128"], ["r128"], name="rscale"))
    n.append(helper.make_node("Add", ["r128", "k127"], ["r_level"], name="rlevel"))
    n.append(helper.make_node("Div", ["r_level", "k255"], ["r_unit"], name="runit"))
    n.append(helper.make_node("Mul", ["fire", "keep"], ["fire_kept"], name="firekept"))
    n.append(helper.make_node("Mul", ["fire_kept", "r_unit"], ["score"], name="score"))
    n.append(helper.make_node("Mul", ["score", "zero"], ["no_score"], name="noscore"))
    n.append(helper.make_node("Concat", ["score", "no_score"], ["scores_fire"], name="cat_scores", axis=1))
    # box half-size from the green level, in cells (the decoder multiplies by the stride)
    n.append(helper.make_node("Mul", ["g", "k128"], ["g128"], name="gscale"))
    n.append(helper.make_node("Add", ["g128", "k127"], ["g_level"], name="glevel"))
    n.append(helper.make_node("Div", ["g_level", "k255"], ["g_unit"], name="gunit"))
    n += [_const("k7", 7.0), _const("cells_per_32", 32.0 / k)]
    n.append(helper.make_node("Mul", ["g_unit", "k7"], ["g7"], name="g7"))
    n.append(helper.make_node("Add", ["g7", "one"], ["half32"], name="half32"))
    n.append(helper.make_node("Mul", ["half32", "cells_per_32"], ["half"], name="half"))
    n.append(helper.make_node("Sub", ["half", "one"], ["near"], name="near"))
    n.append(helper.make_node("Add", ["half", "one"], ["far"], name="far"))
    n.append(helper.make_node("Concat", ["near", "near", "far", "far"] * ANCHORS, ["boxes_fire"],
                              name="cat_boxes", axis=1))
    # keypoints about the box centre (one cell right of and below the anchor point)
    n.append(_const("kps_scale", np.tile(KPS_PATTERN.reshape(-1), ANCHORS).reshape(1, -1, 1, 1)))
    n.append(helper.make_node("Mul", ["half", "kps_scale"], ["kps_rel"], name="kpsrel"))
    n.append(helper.make_node("Add", ["kps_rel", "one"], ["kps_fire"], name="kps_fire"))
    # the other strides: zero outputs of the right shapes
    maps = {}
    for stride in STRIDES:
        if stride == k:
            maps.update({("scores", stride): "scores_fire", ("boxes", stride): "boxes_fire",
                         ("kps", stride): "kps_fire"})
            continue
        n.append(helper.make_node("AveragePool", [x], [f"cells{stride}"], name=f"pool{stride}",
                                  kernel_shape=[stride, stride], strides=[stride, stride]))
        n.append(helper.make_node("ReduceMean", [f"cells{stride}"], [f"mean{stride}"], name=f"mean{stride}",
                                  axes=[1], keepdims=1))
        n.append(helper.make_node("Mul", [f"mean{stride}", "zero"], [f"z{stride}"], name=f"z{stride}"))
        for kind, width in (("scores", 1), ("boxes", 4), ("kps", 10)):
            n.append(helper.make_node("Concat", [f"z{stride}"] * (ANCHORS * width), [f"{kind}{stride}"],
                                      name=f"cat_{kind}{stride}", axis=1))
            maps[(kind, stride)] = f"{kind}{stride}"
    outputs = {}
    for kind, width in (("scores", 1), ("boxes", 4), ("kps", 10)):  # insightface's output order
        for stride in STRIDES:
            name = f"{kind}_{stride}"
            _flatten_per_anchor(n, maps[(kind, stride)], name, width)
            outputs[name] = width
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, "height", "width"])]
    outs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"n_{name}", width])
            for name, width in outputs.items()]
    return _model(n, inputs, outs)


def build_landmarks() -> onnx.ModelProto:
    n = [helper.make_node("ReduceMean", ["data"], ["avg"], name="avg", keepdims=0),
         _const("zero", 0.0), _const("layout", LANDMARKS_106.reshape(1, 212))]
    n.append(helper.make_node("Mul", ["avg", "zero"], ["nothing"], name="nothing"))
    n.append(helper.make_node("Add", ["layout", "nothing"], ["fc1"], name="layout_out"))
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])]
    outputs = [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 212])]
    return _model(n, inputs, outputs)


def build_recognition(seed: int = 0, size: int = 112, features: int = 512) -> onnx.ModelProto:
    """size, features: another input size or embedding length than AntelopeV2's, for the tests that a wrong
    recognition model is named."""
    flat = 3 * (size // 16) ** 2
    weights = np.random.default_rng(seed).standard_normal((flat, features)).astype(np.float32)
    n = [helper.make_node("AveragePool", ["data"], ["pooled"], name="pool16",
                          kernel_shape=[16, 16], strides=[16, 16]),
         _int_const("flat_shape", [-1, flat]), _const("proj", weights)]
    n.append(helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"], name="flatten"))
    n.append(helper.make_node("MatMul", ["flat", "proj"], ["fc1"], name="project"))
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["batch", 3, size, size])]
    outputs = [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["batch", features])]
    return _model(n, inputs, outputs)


def write_antelopev2(folder: Path | str, *, with_unused: bool = True) -> Path:
    """Write the tiny models under AntelopeV2's file names into `folder` (created); return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(build_detector(), folder / DETECTOR_FILE)
    onnx.save(build_landmarks(), folder / LANDMARK_FILE)
    onnx.save(build_recognition(), folder / RECOGNITION_FILE)
    if with_unused:  # present in a real download, never opened by the pipeline
        for name in UNUSED_FILES:
            (folder / name).write_bytes(b"not an onnx model: must never be opened")
    return folder
