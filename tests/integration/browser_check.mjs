// Drives the ComfyUI page in headless Chromium and reports what it saw, as JSON on stdout.
// It only observes and acts; test_web_extension.py decides what is right, so a failure there
// names the exact check. Usage: node browser_check.mjs config.json   (written by the test)
//
// config: { url, chromium, profileDir, timeoutMs, renderer, removeToRecheck, facesOutput, faceClicks, faceKeys }
// renderer: "classic" | "nodes2" (the test has already stored Comfy.VueNodes.Enabled and Comfy.Locale on the server)
// faceClicks: [{ color: [r, g, b], edge: "top" | "bottom", inset }] in click order
// faceKeys: keys pressed, in order, with the face picker focused
import fs from "node:fs";
import { NODES2_SETTING, appFacts, closeDialogs as closeDialogsOf, nodes2Unsupported, openApp, openPage, sleep } from "./browser_session.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const OUR_FILES = "/extensions/comfyui-hyperlora/";
const report = { ourFiles: {}, consoleErrors: [], pageErrors: [], steps: {}, failures: [] };


const closeDialogs = () => closeDialogsOf(page, report);

const { page, finish, step } = await openPage(config, report);
page.on("response", (response) => {
  const url = new URL(response.url());
  if (url.pathname.startsWith(OUR_FILES)) report.ourFiles[url.pathname] = response.status();
});

await step("load", async () => {
  const started = Date.now();
  await openApp(page, config, report);
  const facts = await appFacts(page);
  return { seconds: (Date.now() - started) / 1000, ...facts, ...(await page.evaluate((settingId) => {
    const setting = window.app.extensionManager?.setting;
    return {
      nodes2: Boolean(setting?.get?.(settingId)),
      locale: setting?.get?.("Comfy.Locale") ?? null,
      // what a new Encode Face node is called in the user's language (locales/<lang>/nodeDefs.json)
      encodeFace: (() => {
        const node = window.LiteGraph.createNode("HyperLoRAEncodeFace");
        return { title: node.title, labels: Object.fromEntries(node.widgets.map((w) => [w.name, w.label ?? null])) };
      })(),
    };
  }, NODES2_SETTING)) };
});

report.unsupported = nodes2Unsupported(config, report.steps.load);
if (report.unsupported) await finish(null);

// The loader node's status widget: the files found, then (file removed, "check again") the missing one.
await step("setup", async () => {
  await closeDialogs();
  await page.evaluate(() => {
    window.app.graph.clear();
    const node = window.LiteGraph.createNode("HyperLoRACheckpointLoader");
    node.pos = [200, 100];
    window.app.graph.add(node);
    window.hlLoader = node;
  });
  const statusText = () => page.evaluate(() => {
    const widget = window.hlLoader.widgets?.find((w) => w.name === "setup_status");
    return widget ? widget.element?.textContent ?? null : "(no setup_status widget)";
  });
  const settled = async () => {
    const deadline = Date.now() + 15000;
    let text = await statusText();
    while ((!text || text.includes("Checking model files")) && Date.now() < deadline) {
      await sleep(100);
      text = await statusText();
    }
    return text;
  };
  const widgets = await page.evaluate(() => window.hlLoader.widgets.map((w) => w.name));
  const found = await settled();
  const serialized = await page.evaluate(() => window.hlLoader.serialize().widgets_values);
  if (!found || found.startsWith("(no")) return { widgets, found, serialized };
  fs.rmSync(config.removeToRecheck);
  await page.evaluate(() => window.app.canvas.draw(true, true));
  await closeDialogs();
  const shown = await page.evaluate(() => {
    const element = window.hlLoader.widgets.find((w) => w.name === "setup_status").element;
    const rect = element.getBoundingClientRect();
    return element.isConnected && rect.width > 0 && rect.height > 0;
  });
  // What the browser renders for each piece of text in the status (computed styles, not our constants): font
  // size, colour and the first opaque background behind it; the Python test computes the contrast.
  const rendered = await page.evaluate(() => {
    const element = window.hlLoader.widgets.find((w) => w.name === "setup_status").element;
    const backdrop = (node) => {
      for (let at = node; at && at.nodeType === 1; at = at.parentElement) {
        const colour = getComputedStyle(at).backgroundColor;
        if (colour && !/rgba\(.*,\s*0\)$/.test(colour) && colour !== "transparent") return colour;
      }
      return null;
    };
    return [...element.querySelectorAll("*")].filter((node) => [...node.childNodes]
      .some((child) => child.nodeType === 3 && child.textContent.trim())).map((node) => {
      const style = getComputedStyle(node);
      const rect = node.getBoundingClientRect();
      return { text: node.textContent.slice(0, 60), tag: node.tagName, fontSize: style.fontSize, color: style.color,
        background: backdrop(node), visible: rect.width > 0 && rect.height > 0 && style.visibility !== "hidden"
          && Number(style.opacity) > 0 };
    });
  });
  await page.getByRole("button", { name: "check again" }).click({ timeout: 10000 });
  await sleep(200);
  return { widgets, found, serialized, shown, rendered, afterRecheck: await settled() };
});

// Face picking: the Encode node gets an "executed" message like the server sends; then real mouse
// clicks land just inside or outside the faces as they appear on screen (found by their colour in a
// screenshot, so nothing of our own layout is trusted), then keys are pressed in the picker.
await step("faces", async () => {
  await closeDialogs();
  await page.evaluate(async (output) => {
    const { api } = await import("/scripts/api.js");
    const app = window.app;
    app.graph.clear();
    const node = window.LiteGraph.createNode("HyperLoRAEncodeFace");
    node.pos = [200, 100];
    app.graph.add(node);
    node.setSize([500, 600]);
    app.canvas.ds.offset = [0, 0];
    app.canvas.ds.scale = 1;
    app.canvas.setDirty(true, true);
    window.hlEncode = node;
    api.dispatchCustomEvent("executed", { node: String(node.id), display_node: String(node.id), output });
  }, config.facesOutput);
  await page.waitForFunction(() => {
    const image = window.hlEncode.widgets?.find((w) => w.name === "face_picker")?.element?.querySelector("img");
    return image?.isConnected && image.complete && image.naturalWidth > 0 && image.getBoundingClientRect().width > 0;
  }, null, { timeout: 15000 });
  await sleep(300);
  await closeDialogs();
  const widgetValues = () => page.evaluate(() => Object.fromEntries(window.hlEncode.widgets
    .filter((w) => w.name === "face_selection" || w.name === "face_index").map((w) => [w.name, w.value])));
  const before = await widgetValues();
  const widgets = await page.evaluate(() => window.hlEncode.widgets.map((w) => w.name));
  const serialized = await page.evaluate(() => window.hlEncode.serialize().widgets_values);
  const clicks = [];
  for (const { color, edge, inset } of config.faceClicks) {
    await page.mouse.move(5, 450); // no hover outline on the faces while they are looked for
    const area = await colorArea(color);
    const spot = area.pixels ? clickPoint(area, edge, inset) : null;
    const target = spot ? await page.evaluate(([x, y]) => {
      const element = document.elementFromPoint(x, y);
      const picker = window.hlEncode.widgets.find((w) => w.name === "face_picker").element;
      return { inPicker: picker.contains(element), tag: element?.tagName ?? null, face: element?.dataset?.face ?? null };
    }, [spot.x, spot.y]) : null;
    if (target?.inPicker) {
      await page.mouse.click(spot.x, spot.y);
      await sleep(300);
    }
    clicks.push({ color, edge, inset, pixels: area.pixels, spot, target, after: await widgetValues() });
  }
  const keys = [];
  for (const key of config.faceKeys) {
    await page.evaluate(() => window.hlEncode.widgets.find((w) => w.name === "face_picker").element.focus());
    await page.keyboard.press(key);
    await sleep(200);
    keys.push({ key, after: await widgetValues() });
  }
  return { before, widgets, serialized, clicks, keys };
});

await finish(null);

// A point `inset` page pixels inside (negative: outside) the top or bottom edge of a colour area,
// halfway across it: clicks close to a box's edge show that the clickable box matches the picture.
function clickPoint(area, edge, inset) {
  const x = (area.left + area.right) / 2;
  return { x, y: edge === "top" ? area.top + inset : area.bottom - inset };
}

// The bounds, in page coordinates, of the pixels of one colour in a screenshot of the page: what the
// user sees, whichever renderer drew it (canvas or DOM).
async function colorArea(color) {
  const png = (await page.screenshot({ type: "png" })).toString("base64");
  return page.evaluate(async ([data, wanted]) => {
    const image = new Image();
    image.src = `data:image/png;base64,${data}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    const bounds = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < pixels.length; i += 4) {
      if (wanted.every((value, channel) => Math.abs(pixels[i + channel] - value) < 30)) {
        const x = (i / 4) % canvas.width;
        const y = Math.floor(i / 4 / canvas.width);
        bounds[0] = Math.min(bounds[0], x);
        bounds[1] = Math.min(bounds[1], y);
        bounds[2] = Math.max(bounds[2], x + 1);
        bounds[3] = Math.max(bounds[3], y + 1);
        count += 1;
      }
    }
    if (!count) return { pixels: 0 };
    const scale = window.innerWidth / canvas.width; // screenshot pixels per CSS pixel
    return { pixels: count, left: bounds[0] * scale, top: bounds[1] * scale, right: bounds[2] * scale,
      bottom: bounds[3] * scale };
  }, [png, color]);
}
