"""The per-call logic of scheduled and regional identities, without ComfyUI.

Engine: stacking identities along the rank and per-row scales against a plain per-row LoRA written here;
the fade read from a sigma. Nodes (stand-in): what the two wrappers make of a step's conds and of one UNet
call's batch, checked against the model patched by hand, row by row, whatever the batching.
"""

import pytest
import torch

from hyperlora_core.engine.activation_lora import low_rank_delta, row_channel_scale, stack_factors
from hyperlora_core.engine.lora import LoraFactors
from hyperlora_core.engine.schedule import fade_keyframes, strength_at_sigma
from tests.comfy_standin import ModelPatcher, TinyUNet, comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401

KEYS = ["diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight",
        "diffusion_model.output_blocks.0.1.transformer_blocks.0.attn2.to_k.weight"]


def factors(seed, rank=3, alpha=2.0, sizes=((6, 5), (4, 7))):
    gen = torch.Generator().manual_seed(seed)
    up = {k: torch.randn(out, rank, generator=gen) for k, (out, _) in zip(KEYS, sizes)}
    down = {k: torch.randn(rank, inp, generator=gen) for k, (_, inp) in zip(KEYS, sizes)}
    return LoraFactors(up, down, alpha, {k: k for k in KEYS})


# ------------------------------------------------------------------------------ engine


def test_stacked_rows_equal_each_rows_own_patched_weight():
    ids = [factors(1), factors(2, rank=2, alpha=1.0), factors(3)]
    stacked = stack_factors(ids)
    strengths = torch.tensor([[0.8, 0.0, 0.0, 0.5], [0.0, -1.2, 0.0, 0.0], [0.0, 0.0, 0.3, 0.0]])  # (ids, rows)
    scale = row_channel_scale(stacked, strengths)
    x = torch.randn(4, 9, 5)
    weight = torch.randn(6, 5)
    out = x @ weight.t() + low_rank_delta(x, stacked.down[KEYS[0]], stacked.up[KEYS[0]], scale)
    for row in range(4):
        patched = weight.clone()
        for i, f in enumerate(ids):  # delta_W = s * alpha / r * up @ down, as ComfyUI's LoRA patch
            patched += strengths[i, row] * f.alpha / f.down[KEYS[0]].shape[0] * (f.up[KEYS[0]] @ f.down[KEYS[0]])
        torch.testing.assert_close(out[row], x[row] @ patched.t(), rtol=1e-5, atol=1e-5)


def test_identities_of_different_checkpoints_cannot_be_stacked():
    with pytest.raises(ValueError, match="different layers"):
        stack_factors([factors(1), factors(2, sizes=((6, 5), (4, 8)))])


def test_a_layer_called_with_another_batch_is_a_clear_error():
    stacked = stack_factors([factors(1)])
    scale = row_channel_scale(stacked, torch.ones(1, 4))
    with pytest.raises(RuntimeError, match="called with 2 rows, but the sampler's batch has 4"):
        low_rank_delta(torch.randn(2, 3, 5), stacked.down[KEYS[0]], stacked.up[KEYS[0]], scale)


def test_the_fade_at_a_sigma_is_the_last_keyframe_reached():
    keyframes = [(10.0, 0.25), (8.0, 0.75), (5.0, 1.0), (2.0, 0.5)]  # (start sigma, multiplier), in step order
    assert [strength_at_sigma(s, keyframes) for s in (12.0, 10.0, 9.0, 8.0, 6.0, 5.0, 3.0, 2.0, 0.1)] == \
        [0.0, 0.25, 0.25, 0.75, 0.75, 1.0, 1.0, 0.5, 0.5]
    assert strength_at_sigma(3.0, []) == 1.0


# ------------------------------------------------------------------------------ the wrappers (stand-in)


class Sampling:
    """model_sampling: sigma falls linearly from 10 (percent 0) to 0 (percent 1)."""

    @staticmethod
    def percent_to_sigma(percent):
        return 10.0 * (1.0 - percent)


def module_tree(lora):
    """A model whose attention projections sit at the factor keys, as ComfyUI's BaseModel has them."""
    root = torch.nn.Module()
    gen = torch.Generator().manual_seed(7)
    for key in lora.up:
        *path, leaf = key[: -len(".weight")].split(".")
        parent = root
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, torch.nn.Module())
            parent = getattr(parent, part)
        linear = torch.nn.Linear(lora.down[key].shape[1], lora.up[key].shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=gen))
        parent.add_module(leaf, linear)
    root.model_sampling = Sampling()
    return root


class Executor:
    """Core's WrapperExecutor as our wrappers see it: class_obj, and calling it runs the wrapped function."""

    def __init__(self, class_obj, function):
        self.class_obj, self.function = class_obj, function

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)


def layer(tree, key):
    return tree.get_submodule(key[: -len(".weight")])


def run_layers(tree, keys):
    """A 'UNet' that sends the rows through every projection layer (each reads the first in_features channels)
    and returns their outputs."""
    def apply_model(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        return {key: layer(tree, key)(x[..., :layer(tree, key).in_features]) for key in keys}

    return apply_model


@pytest.fixture
def placed_model(comfy):  # noqa: F811
    runtime = comfy.pack.nodes.identity_runtime
    a, b = factors(1), factors(2)
    first = runtime.PlacedIdentity(a, 0.8, [], label="A")
    second = runtime.PlacedIdentity(b, 0.6, fade_keyframes(0.0, 1.0, 0.5, 0.0), label="B")
    model = ModelPatcher(TinyUNet(a))
    for placed in (first, second):
        model = runtime.place_identity(model, placed)
    return runtime, model, first, second


def step_strengths(runtime, model, conds, sigma, batch=1):
    """What CALC_COND_BATCH passes on for one step: the model_options it hands to core's batching."""
    (wrapper,) = model.get_wrappers("calc_cond_batch", runtime.WRAPPER_KEY)
    seen = {}

    def executor(model_, conds_, x_in, timestep, model_options):
        seen.update(model_options.get("transformer_options", {}).get(runtime.STRENGTHS, {}))
        return "done"

    tree = module_tree(factors(1))
    assert wrapper(executor, tree, conds, torch.zeros(batch, 4, 2, 2), torch.full((batch,), sigma), {}) == "done"
    return seen


def test_each_tagged_cond_gets_its_identity_and_its_strength_at_the_steps_sigma(placed_model):
    runtime, model, first, second = placed_model
    conds = [[{"uuid": "scene", "default": True}, {"uuid": "a+", runtime.TAG: first},
              {"uuid": "b+", runtime.TAG: second}], [{"uuid": "a-", runtime.TAG: first}]]
    ramp = fade_keyframes(0.0, 1.0, 0.5, 0.0)
    for sigma in (10.0, 7.37, 5.0, 2.0):
        sigma32 = float(torch.tensor(sigma))  # the sampler's sigmas are float32
        expected = [v for p, v in ramp if Sampling.percent_to_sigma(p) >= sigma32][-1]
        assert step_strengths(runtime, model, conds, sigma) == {
            "a+": (0, 0.8), "a-": (0, 0.8), "b+": (1, pytest.approx(0.6 * expected))}
    assert step_strengths(runtime, model, [[{"uuid": "scene"}], None], 5.0) == {}


def test_an_identity_the_model_does_not_carry_is_a_clear_error(placed_model):
    runtime, model, _, _ = placed_model
    stranger = runtime.PlacedIdentity(factors(3), 1.0, [], label="C")
    with pytest.raises(ValueError, match="identity 'C', but the model given to the sampler does not"):
        step_strengths(runtime, model, [[{"uuid": "c", runtime.TAG: stranger}]], 5.0)


def test_a_mask_batch_that_fits_no_latent_batch_names_the_identity(placed_model):
    runtime, model, first, _ = placed_model
    cond = {"uuid": "a", runtime.TAG: first, "mask": torch.ones(3, 2, 2)}
    with pytest.raises(ValueError, match="mask of the HyperLoRA identity 'A' holds 3 masks, but the latent batch "
                                         "has 2 images"):
        step_strengths(runtime, model, [[cond]], 5.0, batch=2)
    with pytest.raises(ValueError, match="holds 3 masks, but the latent batch has 1 images"):
        step_strengths(runtime, model, [[cond]], 5.0, batch=1)  # core would silently take the first
    step_strengths(runtime, model, [[cond]], 5.0, batch=3)
    one = {**cond, "mask": torch.ones(1, 2, 2)}
    for batch in (1, 2, 5):  # one mask serves every image
        step_strengths(runtime, model, [[one]], 5.0, batch=batch)


def call_rows(runtime, model, tree, x, uuids, strengths):
    """One UNet call through APPLY_MODEL with the given cond order (uuids) and per-cond strengths."""
    (wrapper,) = model.get_wrappers("apply_model", runtime.WRAPPER_KEY)
    options = {"uuids": uuids, runtime.STRENGTHS: strengths}
    return wrapper(Executor(tree, run_layers(tree, KEYS)), x, None, None, None, None, options)


def test_each_row_equals_its_own_patched_layer_however_the_batch_is_split(placed_model):
    runtime, model, first, second = placed_model
    tree = module_tree(first.factors)
    strengths = {"a+": (0, 0.8), "b+": (1, 0.45), "a-": (0, 0.8)}
    order = ["scene", "a+", "b+", "a-"]
    x = torch.randn(len(order) * 2, 3, 7, generator=torch.Generator().manual_seed(3))
    whole = call_rows(runtime, model, tree, x, order, strengths)  # latent batch 2: two rows per cond
    for key in KEYS:
        projection = layer(tree, key)
        inputs = x[..., :projection.in_features]
        for j, name in enumerate(order):
            weight = projection.weight.detach().clone()
            if name in strengths:
                index, s = strengths[name]
                f = (first, second)[index].factors
                weight += s * f.alpha / f.down[key].shape[0] * f.up[key] @ f.down[key]
            rows = slice(2 * j, 2 * j + 2)
            torch.testing.assert_close(whole[key][rows], inputs[rows] @ weight.t() + projection.bias, rtol=1e-5,
                                       atol=1e-5)
    halves = [call_rows(runtime, model, tree, x[4 * h:4 * h + 4], order[2 * h:2 * h + 2], strengths) for h in (0, 1)]
    for key in KEYS:  # core may split the batch when memory is short: the same rows come out
        torch.testing.assert_close(torch.cat([h[key] for h in halves]), whole[key], rtol=1e-6, atol=1e-6)
    assert all(not layer(tree, key)._forward_hooks for key in KEYS)  # nothing stays on the model after the call


def test_a_call_without_identity_rows_runs_the_plain_model_untouched(placed_model):
    runtime, model, first, _ = placed_model
    tree = module_tree(first.factors)
    registered = []
    original = torch.nn.Module.register_forward_hook

    def spy(self, *args, **kwargs):
        registered.append(self)
        return original(self, *args, **kwargs)

    x = torch.randn(2, 3, 7)
    torch.nn.Module.register_forward_hook = spy
    try:
        plain = call_rows(runtime, model, tree, x, ["scene", "other"], {"a+": (0, 0.8)})
    finally:
        torch.nn.Module.register_forward_hook = original
    assert registered == []
    for key in KEYS:
        torch.testing.assert_close(plain[key], layer(tree, key)(x[..., :layer(tree, key).in_features]))


def test_the_low_rank_paths_are_removed_when_the_call_fails(placed_model):
    runtime, model, first, _ = placed_model
    tree = module_tree(first.factors)
    (wrapper,) = model.get_wrappers("apply_model", runtime.WRAPPER_KEY)

    def failing(*args, **kwargs):
        raise KeyboardInterrupt  # ComfyUI's interrupt, or any error inside the UNet

    with pytest.raises(KeyboardInterrupt):
        wrapper(Executor(tree, failing), torch.zeros(1, 3, 7), None, None, None, None,
                {"uuids": ["a"], runtime.STRENGTHS: {"a": (0, 1.0)}})
    assert all(not layer(tree, key)._forward_hooks for key in KEYS)


def test_cached_conditionings_report_the_identitys_factors(placed_model):
    from tests.comfy_standin import cache_ram_usage

    runtime, _, first, _ = placed_model
    cond = [[torch.zeros(1, 2, 4), {runtime.TAG: first}]]
    factor_bytes = sum(t.numel() * t.element_size() for d in (first.factors.up, first.factors.down)
                       for t in d.values())
    assert cache_ram_usage([cond]) == factor_bytes + 2 * 4 * 4


def test_an_identity_on_the_device_takes_22_mib_in_fp16_with_the_released_shapes():
    """The README's figure: the ID-LoRA factors of the released SDXL checkpoints (140 modules, rank 8)."""
    from tests.synthetic_checkpoint import sdxl_modules

    up, down = {}, {}
    for name, hidden, cross in sdxl_modules():
        for projection in ("to_q", "to_k", "to_v", "to_out"):
            width = cross if projection in ("to_k", "to_v") and cross else hidden
            up[f"{name}.{projection}"] = torch.zeros(hidden, 8, dtype=torch.float16)
            down[f"{name}.{projection}"] = torch.zeros(8, width, dtype=torch.float16)
    stacked = stack_factors([LoraFactors(up, down, 4.0, {k: k for k in up})])
    assert len(up) == 560 and stacked.nbytes() / 2 ** 20 == pytest.approx(22.15, abs=0.01)
    assert stack_factors([LoraFactors(up, down, 4.0, {k: k for k in up})] * 2).nbytes() == 2 * stacked.nbytes()


# ------------------------------------------------------------------------------ dtypes, devices, threads

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
CLOSE = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 8e-2}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_rows_follow_the_models_dtype(placed_model, dtype):
    """Issue 29: on an fp16/bf16 model (every GPU run) the stacked factors must be in the layer's dtype, or the
    first attention layer stops with a dtype mismatch. Checked against the float64 patched layer."""
    runtime, model, first, second = placed_model
    tree = module_tree(first.factors).to(dtype)
    strengths = {"a": (0, 0.8), "b": (1, -0.6)}
    x = torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(4)).to(dtype)
    out = call_rows(runtime, model, tree, x, ["a", "b", "scene"], strengths)
    stacked = identity_set(model).stacked_on(x.device, dtype)
    assert all(t.dtype == dtype for t in list(stacked.down.values()) + list(stacked.up.values()))
    for key in KEYS:
        projection = layer(tree, key)
        inputs = x[..., :projection.in_features].double()
        for row, name in enumerate(["a", "b", "scene"]):
            weight = projection.weight.double().detach().clone()
            if name in strengths:
                index, s = strengths[name]
                f = (first, second)[index].factors
                weight += s * f.alpha / f.down[key].shape[0] * (f.up[key].double() @ f.down[key].double())
            expected = inputs[row] @ weight.t() + projection.bias.double()
            assert out[key].dtype == dtype
            torch.testing.assert_close(out[key][row].double(), expected, rtol=CLOSE[dtype], atol=CLOSE[dtype] * 10)


def identity_set(model):
    (wrapper,) = model.get_wrappers("apply_model", "hyperlora_identities")
    return wrapper.identities


def test_factors_follow_a_model_cast_or_moved_between_calls(placed_model):
    """Core casts and moves weights (lowvram, partial loading, fp8 weights computed in a cast dtype): the factors
    are taken for each call's activations, so a model cast between calls gets factors in its new dtype."""
    runtime, model, first, _ = placed_model
    tree = module_tree(first.factors)
    x = torch.randn(1, 2, 7)
    f = first.factors
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float32):
        tree.to(dtype)
        out = call_rows(runtime, model, tree, x.to(dtype), ["a"], {"a": (0, 1.0)})
        for key in KEYS:
            projection = layer(tree, key)
            weight = projection.weight.double() + f.alpha / f.down[key].shape[0] * (f.up[key] @ f.down[key]).double()
            expected = x[..., :projection.in_features].to(dtype).double() @ weight.t() + projection.bias.double()
            assert out[key].dtype == dtype
            torch.testing.assert_close(out[key].double(), expected, rtol=CLOSE[dtype], atol=CLOSE[dtype] * 10)


def test_two_devices_at_once_each_get_their_own_factors_built_once(placed_model, monkeypatch):
    """Issue 24: core's multi-GPU sampling calls one model copy per device from its own thread, at the same time,
    and the copies share one IdentitySet. Two threads on two copies in two dtypes (CPU stand-ins for two devices):
    each result equals the single-threaded one, and each device's factors are built once, never evicted."""
    import threading

    runtime, model, first, _ = placed_model
    builds = []
    original = runtime.stack_factors

    def counting(factors_):
        builds.append(factors_[0].up[KEYS[0]].dtype)
        return original(factors_)

    trees = {dtype: module_tree(first.factors).to(dtype) for dtype in (torch.float32, torch.bfloat16)}
    xs = {dtype: torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(5)).to(dtype) for dtype in trees}
    strengths = {"a": (0, 0.8), "b": (1, 0.5)}
    third = runtime.PlacedIdentity(factors(9), 0.3, [], label="C")
    reference, model = (runtime.place_identity(model, third) for _ in range(2))  # two fresh sets, equal content
    single = {dtype: call_rows(runtime, reference, trees[dtype], xs[dtype], ["a", "b"], strengths) for dtype in trees}
    monkeypatch.setattr(runtime, "stack_factors", counting)
    start = threading.Barrier(2)
    outcomes = {dtype: [] for dtype in trees}

    def sample(dtype):
        start.wait()
        for _ in range(40):
            outcomes[dtype].append(call_rows(runtime, model, trees[dtype], xs[dtype], ["a", "b"], strengths))

    threads = [threading.Thread(target=sample, args=(dtype,)) for dtype in trees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(builds, key=str) == sorted(trees, key=str)  # once per device and dtype, never rebuilt
    for dtype, results in outcomes.items():
        assert len(results) == 40
        for result in results:
            for key in KEYS:
                torch.testing.assert_close(result[key], single[dtype][key], rtol=0, atol=0)


def test_factors_are_built_once_when_two_threads_ask_for_the_same_device_at_once(placed_model, monkeypatch):
    import threading
    import time

    runtime, model, _, _ = placed_model
    identities = identity_set(model)
    builds = []
    original = runtime.stack_factors

    def slow(factors_):
        builds.append(1)
        time.sleep(0.2)  # the other thread arrives while this one builds
        return original(factors_)

    monkeypatch.setattr(runtime, "stack_factors", slow)
    start = threading.Barrier(2)
    got = []

    def ask():
        start.wait()
        got.append(identities.stacked_on(torch.device("cpu"), torch.float16))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and got[0] is got[1]


def test_a_compiled_model_is_refused_by_name(placed_model):
    """Core's TorchCompileModel reuses the graph it traced without the identity's per-call paths (issue 25)."""
    runtime, model, first, _ = placed_model
    (wrapper,) = model.get_wrappers("calc_cond_batch", runtime.WRAPPER_KEY)
    tree = module_tree(first.factors)
    conds = [[{"uuid": "a", runtime.TAG: first}]]
    for options in ({"torch_compile_kwargs": {"backend": "inductor"}},
                    {"transformer_options": {"wrappers": {"apply_model": {"torch.compile": [object()]}}}}):
        with pytest.raises(ValueError, match="goes through TorchCompileModel, whose compiled graph skips the "
                                             "HyperLoRA identity 'A'"):
            wrapper(lambda *a: "done", tree, conds, torch.zeros(1, 4, 2, 2), torch.full((1,), 5.0), options)
    assert wrapper(lambda *a: "done", tree, conds, torch.zeros(1, 4, 2, 2), torch.full((1,), 5.0), {}) == "done"


def test_a_mask_batch_follows_cores_repeat_rule(placed_model):
    """Core repeats a mask batch when the latent batch is a multiple of it (mask i on images i, i + count, ...)."""
    runtime, model, first, _ = placed_model
    cond = {"uuid": "a", runtime.TAG: first, "mask": torch.ones(3, 2, 2)}
    for batch in (3, 6, 9):
        step_strengths(runtime, model, [[cond]], 5.0, batch=batch)
    with pytest.raises(ValueError, match=r"holds 3 masks, but the latent batch has 4 images\. 3 masks fit a latent "
                                         r"batch of 3, 6, 9"):
        step_strengths(runtime, model, [[cond]], 5.0, batch=4)


# ------------------------------------------------------------------------------ per-image strengths (issue 27)


def swept_model(comfy, image_strengths, strength=1.0, keyframes=()):  # noqa: F811
    runtime = comfy.pack.nodes.identity_runtime
    placed = runtime.PlacedIdentity(factors(1), strength, list(keyframes), label="Sweep",
                                    image_strengths=tuple(image_strengths))
    return runtime, runtime.place_identity(ModelPatcher(TinyUNet(placed.factors)), placed), placed


def run_step(runtime, model, tree, x, sigma):
    """One step through both wrappers: the scene cond (no identity) and the identity's cond, both over the latent
    batch x, batched into one call the way core does (cond after cond, each the whole latent batch)."""
    conds = [[{"uuid": "scene", "default": True}, {"uuid": "id", runtime.TAG: placed_of(model, runtime)}]]
    strengths = step_strengths(runtime, model, conds, sigma, batch=x.shape[0])
    return call_rows(runtime, model, tree, torch.cat([x, x]), ["scene", "id"], strengths)


def placed_of(model, runtime):
    (wrapper,) = model.get_wrappers("apply_model", runtime.WRAPPER_KEY)
    return wrapper.identities.identities[0]


def test_a_batch_swept_over_strengths_equals_one_run_per_strength_image_for_image(comfy):  # noqa: F811
    sweep = (0.6, 0.8, 1.0)
    fade = fade_keyframes(0.0, 1.0, 0.5, 0.0)
    runtime, model, placed = swept_model(comfy, sweep, keyframes=fade)
    tree = module_tree(placed.factors)
    x = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(11))
    for sigma in (9.0, 4.0):  # inside the fade and after it: per-image strengths times the fade
        batch = run_step(runtime, model, tree, x, sigma)
        for image, s in enumerate(sweep):
            _, single, _ = swept_model(comfy, (), strength=s, keyframes=fade)
            alone = run_step(runtime, single, tree, x[image:image + 1], sigma)
            for key in KEYS:
                torch.testing.assert_close(batch[key][3 + image], alone[key][1], rtol=1e-6, atol=1e-6)
                torch.testing.assert_close(batch[key][image], alone[key][0], rtol=1e-6, atol=1e-6)  # the scene
        assert not torch.allclose(batch[KEYS[0]][3], batch[KEYS[0]][5])  # the strengths really differ per image


def test_per_image_strengths_are_independent_of_the_patched_weight(comfy):  # noqa: F811
    sweep = (0.6, -0.3, 1.2)
    runtime, model, placed = swept_model(comfy, sweep)
    tree = module_tree(placed.factors)
    x = torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(12))
    out = run_step(runtime, model, tree, x, 5.0)
    f = placed.factors
    for key in KEYS:
        projection = layer(tree, key)
        inputs = x[..., :projection.in_features]
        for image, s in enumerate(sweep):
            weight = projection.weight.detach() + s * f.alpha / f.down[key].shape[0] * f.up[key] @ f.down[key]
            torch.testing.assert_close(out[key][3 + image], inputs[image] @ weight.t() + projection.bias,
                                       rtol=1e-5, atol=1e-5)


def test_a_strength_list_that_fits_no_latent_batch_names_both_numbers(comfy):  # noqa: F811
    runtime, model, _ = swept_model(comfy, (0.6, 0.8, 1.0))
    conds = [[{"uuid": "id", runtime.TAG: placed_of(model, runtime)}]]
    for batch in (2, 4, 1):
        with pytest.raises(ValueError, match=f"identity 'Sweep' holds 3 strengths, but the latent batch has {batch} "
                                             "images"):
            step_strengths(runtime, model, conds, 5.0, batch=batch)
    assert step_strengths(runtime, model, conds, 5.0, batch=3) == {"id": (0, (0.6, 0.8, 1.0))}
    runtime, model, _ = swept_model(comfy, (0.7,), strength=1.0)
    conds = [[{"uuid": "id", runtime.TAG: placed_of(model, runtime)}]]
    assert step_strengths(runtime, model, conds, 5.0, batch=4) == {"id": (0, pytest.approx(0.7))}


# ------------------------------------------------------------------------------ one pass regions (issue 27)


def one_pass_model(comfy, regions, strengths=(0.8, 0.5)):  # noqa: F811
    runtime = comfy.pack.nodes.identity_runtime
    placed = [runtime.PlacedIdentity(factors(seed), s, [], label=label, region=region)
              for seed, s, label, region in zip((1, 2), strengths, "AB", regions)]
    model = ModelPatcher(TinyUNet(placed[0].factors))
    for p in placed:
        model = runtime.place_identity(model, p)
    return runtime, model, placed


def unet_at_two_levels(tree, hidden):
    """A 'UNet' whose self-attention projection sees the latent's 4x4 positions and whose cross-attention key
    projection sees 3 prompt tokens, as SDXL's layers do (tokens = h * w of their level)."""
    def apply_model(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        return {KEYS[0]: layer(tree, KEYS[0])(hidden[0]), KEYS[1]: layer(tree, KEYS[1])(hidden[1])}

    return apply_model


def test_one_pass_adds_each_identity_masked_per_position_on_the_scenes_own_rows(comfy):  # noqa: F811
    left, right = torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)
    left[..., :4], right[..., 6:] = 1.0, 1.0  # at the 4x4 latent: columns 0-1, and column 3 (bilinear, by hand)
    runtime, model, (a, b) = one_pass_model(comfy, (left, right))
    tree = module_tree(a.factors)
    conds = [[{"uuid": "scene", runtime.REGIONS: (a, b)}], [{"uuid": "neg", runtime.REGIONS: (a, b)}]]
    options = step_strengths(runtime, model, conds, 5.0)
    assert options == {}  # no identity copies: nothing in the per-cond strengths
    (calc,) = model.get_wrappers("calc_cond_batch", runtime.WRAPPER_KEY)
    seen = {}
    calc(lambda m, c, x, t, o: seen.update(o["transformer_options"]), tree, conds, torch.zeros(1, 4, 4, 4),
         torch.full((1,), 5.0), {})
    regions = seen[runtime.REGION_STRENGTHS]
    assert regions == {"scene": ((0, 0.8), (1, 0.5)), "neg": ((0, 0.8), (1, 0.5))}
    gen = torch.Generator().manual_seed(5)
    hidden = (torch.randn(2, 16, 5, generator=gen), torch.randn(2, 4, 7, generator=gen))  # 4 tokens, as at 2x2
    (wrapper,) = model.get_wrappers("apply_model", runtime.WRAPPER_KEY)
    options = {"uuids": ["scene", "neg"], runtime.STRENGTHS: {}, runtime.REGION_STRENGTHS: regions}
    out = wrapper(Executor(tree, unet_at_two_levels(tree, hidden)), torch.zeros(2, 4, 4, 4), None, None, None, None,
                  options)
    key = KEYS[0]
    projection = layer(tree, key)
    column = torch.arange(16) % 4  # position p of the 4x4 grid is in column p % 4
    for row in range(2):
        for p in range(16):
            weight = projection.weight.detach().clone()  # the bypass: W x + mask_i(p) * s_i * dW_i x
            for placed, inside in ((a, column[p] < 2), (b, column[p] == 3)):
                f = placed.factors
                if inside:
                    weight += placed.strength * f.alpha / f.down[key].shape[0] * f.up[key] @ f.down[key]
            torch.testing.assert_close(out[key][row, p], hidden[0][row, p] @ weight.t() + projection.bias,
                                       rtol=1e-5, atol=1e-5)
    plain = layer(tree, KEYS[1])(hidden[1])  # the prompt-side key projection has no position: left plain
    torch.testing.assert_close(out[KEYS[1]], plain)


def test_one_pass_identities_covering_their_whole_image_also_change_the_prompt_side(comfy):  # noqa: F811
    """Row 0 carries A (no mask) at 0.8, row 1 B at 0.5 with a mask white everywhere: each row is the model
    patched with its identity on every projection (the prompt-side key included), as Apply computes it. A per-image
    strength list of 0 leaves the other identity out of that row."""
    runtime, model, (a, b) = one_pass_model(comfy, (None, torch.ones(1, 8, 8)))
    tree = module_tree(a.factors)
    gen = torch.Generator().manual_seed(7)
    hidden = (torch.randn(2, 16, 5, generator=gen), torch.randn(2, 3, 7, generator=gen))
    (wrapper,) = model.get_wrappers("apply_model", runtime.WRAPPER_KEY)
    regions = {"scene": ((0, (0.8, 0.0)), (1, (0.0, 0.5)))}
    options = {"uuids": ["scene"], runtime.STRENGTHS: {}, runtime.REGION_STRENGTHS: regions}
    out = wrapper(Executor(tree, unet_at_two_levels(tree, hidden)), torch.zeros(2, 4, 4, 4), None, None, None, None,
                  options)
    for key, x in zip(KEYS, hidden):
        projection = layer(tree, key)
        for row, (placed, strength) in enumerate(((a, 0.8), (b, 0.5))):
            f = placed.factors
            weight = projection.weight.detach() + strength * f.alpha / f.down[key].shape[0] * f.up[key] @ f.down[key]
            torch.testing.assert_close(out[key][row], x[row] @ weight.t() + projection.bias, rtol=1e-5, atol=1e-5)


def test_one_pass_warns_naming_the_identity_when_its_mask_vanishes_at_a_resolution(comfy, caplog):  # noqa: F811
    speck = torch.zeros(1, 16, 16)
    speck[0, 0, 0] = 1.0  # bilinear to the 4x4 latent samples rows/columns 1-2 and 5-6, ...: the speck is lost
    runtime, model, (a, _) = one_pass_model(comfy, (speck, None))
    tree = module_tree(a.factors)
    gen = torch.Generator().manual_seed(6)
    hidden = (torch.randn(1, 16, 5, generator=gen), torch.randn(1, 3, 7, generator=gen))
    (wrapper,) = model.get_wrappers("apply_model", runtime.WRAPPER_KEY)
    options = {"uuids": ["scene"], runtime.STRENGTHS: {}, runtime.REGION_STRENGTHS: {"scene": ((0, 0.8),)}}
    with caplog.at_level("WARNING"):
        out = wrapper(Executor(tree, unet_at_two_levels(tree, hidden)), torch.zeros(1, 4, 4, 4), None, None, None,
                      None, options)
    assert "identity 'A' is empty at the attention resolution 4x4" in caplog.text
    torch.testing.assert_close(out[KEYS[0]], layer(tree, KEYS[0])(hidden[0]))
