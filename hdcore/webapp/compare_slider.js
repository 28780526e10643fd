(function () {
  "use strict";
  var root = document.getElementById("viewer");
  var stages = Array.prototype.slice.call(root.querySelectorAll(".stage"));
  var compare = document.getElementById("compare"); // the slider's stage; absent from a grid
  var handle = document.getElementById("handle");
  var readout = root.querySelector(".readout");
  var buttons = {};
  Array.prototype.forEach.call(root.querySelectorAll(".toolbar button"), function (button) {
    buttons[button.dataset.action] = button;
  });
  var imageWidth = parseFloat(root.dataset.imageWidth) || 1;
  var loupeMagnification = parseFloat(root.dataset.loupe) || 4;
  var WHEEL_OCTAVE = 250; // wheel travel (CSS px) that doubles the zoom: one mouse notch (100) zooms 1.32x
  var MAX_ZOOM = 32; // device pixels per image pixel at most (3200 %)
  var PAN_STEP = 0.1; // an arrow key pans a tenth of the view (Shift: half of it)
  var EPSILON = 1e-3;
  var CENTRE = { x: 0.5, y: 0.5 };
  // k: magnification over the fit (1 = the whole image); (cx, cy): the view's centre, 0-1 of the image.
  var view = { k: 1, cx: 0.5, cy: 0.5 };
  var start = compare ? parseFloat(compare.dataset.position) : 50;
  var position = isNaN(start) ? 50 : start;
  var loupe = { on: false, inside: false, x: 0.5, y: 0.5 }; // x, y: the pointer, 0-1 of its stage
  var pointers = new Map();
  var gesture = null; // { kind: "divider" | "pan" | "pinch", ... } while pointers are down

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }
  function fitZoom() { // device pixels per image pixel when the whole image fills the stage
    var width = stages[0].clientWidth;
    return width > 0 ? width * (window.devicePixelRatio || 1) / imageWidth : 1;
  }
  function zoom() { return view.k * fitZoom(); }
  function maxK() { return Math.max(1, MAX_ZOOM / fitZoom()); }
  function zoomed() { return view.k > 1 + EPSILON; }
  function relative(stage, event) {
    var box = stage.getBoundingClientRect();
    return { x: (event.clientX - box.left) / (box.width || 1), y: (event.clientY - box.top) / (box.height || 1) };
  }

  function setView(k, cx, cy) {
    view.k = clamp(k, 1, maxK());
    var half = 0.5 / view.k; // the view never leaves the image
    view.cx = clamp(cx, half, 1 - half);
    view.cy = clamp(cy, half, 1 - half);
    render();
  }
  function zoomAbout(k, point) { // point: 0-1 of the stage; the image point under it stays under it
    var target = clamp(k, 1, maxK());
    var u = view.cx + (point.x - 0.5) / view.k, v = view.cy + (point.y - 0.5) / view.k;
    setView(target, u - (point.x - 0.5) / target, v - (point.y - 0.5) / target);
  }
  function zoomTo(level, point) { zoomAbout(level / fitZoom(), point || CENTRE); }
  function step(direction) { // to the next power of two: 50 %, 100 %, 200 %, 400 % ...
    var exponent = Math.log2(zoom());
    zoomTo(Math.pow(2, direction > 0 ? Math.floor(exponent + EPSILON) + 1 : Math.ceil(exponent - EPSILON) - 1));
  }
  function fit() { setView(1, 0.5, 0.5); }
  function actual(point) { zoomTo(1, point); } // 1:1: one image pixel per device pixel (never below the fit)
  function toggleActual(point) { // double-click: fit <-> 1:1 (or 2x the fit when 1:1 is no closer than it)
    if (zoomed()) fit();
    else zoomTo(1 > fitZoom() * (1 + EPSILON) ? 1 : 2 * fitZoom(), point);
  }
  function pan(dx, dy) { setView(view.k, view.cx + dx / view.k, view.cy + dy / view.k); } // stage fractions

  function render() {
    var level = zoom();
    root.style.setProperty("--k", String(view.k));
    root.style.setProperty("--tx", (0.5 - view.cx * view.k) * 100 + "%");
    root.style.setProperty("--ty", (0.5 - view.cy * view.k) * 100 + "%");
    root.classList.toggle("zoomed", zoomed());
    root.dataset.zoom = level.toFixed(4);
    root.dataset.center = view.cx.toFixed(4) + "," + view.cy.toFixed(4);
    readout.textContent = Math.round(level * 100) + "%";
    readout.title = magnifiedCopy(level);
    buttons.out.disabled = buttons.fit.disabled = !zoomed();
    buttons["in"].disabled = view.k >= maxK() - EPSILON;
    stages.forEach(function (stage) {
      Array.prototype.forEach.call(stage.querySelectorAll(":scope > .layer"), function (layer) {
        choose(layer, level, zoomed());
      });
    });
    placeLoupe();
  }
  function magnifiedCopy(level) { // past a bounded rendition's own pixels, say so (the download has them all)
    var layer = stages[0].querySelector(".layer");
    var widest = parseFloat(layer.dataset.fullWidth || layer.dataset.displayWidth);
    if (widest >= imageWidth || level * imageWidth / widest <= 1 + EPSILON) return "";
    return "Beyond " + Math.round(widest / imageWidth * 100) + "%, this view enlarges a " + widest +
      " px wide copy; the download has every pixel";
  }
  // A layer shows its full rendition once the display one would be magnified, and its pixels as blocks when
  // zoomed in at 100 % or more (the fit view stays smooth).
  function choose(layer, level, inward) {
    var useFull = !!layer.dataset.full && level * imageWidth / parseFloat(layer.dataset.displayWidth) > 1 + EPSILON;
    if (useFull) decodeFull(layer);
    layer.classList.toggle("use-full", useFull);
    layer.classList.toggle("pixelated", inward && level >= 1 - EPSILON);
  }
  function decodeFull(layer) {
    if (layer.querySelector("img.full")) return;
    var image = document.createElement("img");
    image.className = "full";
    image.alt = "";
    image.decoding = "async";
    image.src = layer.dataset.full;
    layer.appendChild(image);
    image.decode().then(function () { layer.classList.add("ready"); }, function () {
      image.remove(); // undecodable: the display rendition stays
      delete layer.dataset.full;
    });
  }

  function buildLoupes() {
    stages.forEach(function (stage) {
      if (stage.querySelector(".loupe")) return;
      var lens = document.createElement("div");
      lens.className = "loupe";
      lens.setAttribute("aria-hidden", "true");
      var inside = document.createElement("div");
      inside.className = "loupe-view";
      Array.prototype.forEach.call(stage.querySelectorAll(":scope > .layer"), function (layer) {
        var copy = layer.cloneNode(false); // the attributes only: the loupe decodes what it needs itself
        copy.className = layer.className.replace(/\b(use-full|ready|pixelated)\b/g, "");
        copy.appendChild(layer.querySelector("img.display").cloneNode(false));
        inside.appendChild(copy);
      });
      if (stage === compare) {
        var split = document.createElement("div");
        split.className = "loupe-split";
        inside.appendChild(split);
      }
      lens.appendChild(inside);
      stage.appendChild(lens);
    });
  }
  function placeLoupe() {
    var visible = loupe.on && loupe.inside;
    root.classList.toggle("loupe-visible", visible);
    if (!visible) return;
    var width = stages[0].clientWidth, height = stages[0].clientHeight;
    var diameter = clamp(Math.round(Math.min(width, height) * 0.45), 96, 200);
    var ratio = window.devicePixelRatio || 1; // centred on a whole device pixel: crisp, as the view is
    var x = Math.round(loupe.x * width * ratio) / ratio, y = Math.round(loupe.y * height * ratio) / ratio;
    var sizes = { "--ld": diameter, "--lx": x, "--ly": y, "--sw": width, "--sh": height,
                  "--lvx": diameter / 2 - loupeMagnification * x, "--lvy": diameter / 2 - loupeMagnification * y };
    Object.keys(sizes).forEach(function (name) { root.style.setProperty(name, sizes[name] + "px"); });
    root.style.setProperty("--lm", String(loupeMagnification));
    root.dataset.loupeAt = loupe.x.toFixed(4) + "," + loupe.y.toFixed(4);
    Array.prototype.forEach.call(root.querySelectorAll(".loupe-view > .layer"), function (layer) {
      choose(layer, zoom() * loupeMagnification, true);
    });
  }
  function setLoupe(on) {
    loupe.on = on;
    buttons.loupe.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) buildLoupes();
    render();
  }

  function place(percent) {
    if (!compare) return;
    position = clamp(percent, 0, 100);
    var text = position.toFixed(1);
    compare.style.setProperty("--pos", text + "%");
    compare.dataset.position = text;
    handle.setAttribute("aria-valuenow", text);
    handle.setAttribute("aria-valuetext", Math.round(position) + "% before");
  }
  function follow(event) {
    var box = compare.getBoundingClientRect();
    if (box.width > 0) place((event.clientX - box.left) / box.width * 100);
  }
  function pinchOf(stage) { // the distance between the first two pointers and their midpoint on the stage
    var points = Array.from(pointers.values()).slice(0, 2);
    var middle = { clientX: (points[0].x + points[1].x) / 2, clientY: (points[0].y + points[1].y) / 2 };
    var distance = Math.hypot(points[0].x - points[1].x, points[0].y - points[1].y);
    return { distance: distance, middle: relative(stage, middle) };
  }

  function down(stage, event) {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    try { stage.setPointerCapture(event.pointerId); } catch (ignored) { /* a synthetic pointer */ }
    hover(stage, event);
    if (pointers.size >= 2) {
      if (gesture && gesture.kind === "divider") place(gesture.was); // the first finger began a pinch, not a drag
      gesture = { kind: "pinch", stage: stage, from: pinchOf(stage), k: view.k, cx: view.cx, cy: view.cy };
    } else if (stage === compare && (event.target.closest(".handle") || !zoomed())) {
      gesture = { kind: "divider", was: position }; // the handle always drags the divider; anywhere does at the fit
      follow(event);
      handle.focus({ preventScroll: true });
    } else {
      gesture = zoomed() ? { kind: "pan", x: event.clientX, y: event.clientY } : null;
      stage.focus({ preventScroll: true });
    }
    root.classList.toggle("panning", !!gesture && gesture.kind === "pan");
    event.preventDefault();
  }
  function move(stage, event) {
    if (pointers.has(event.pointerId)) pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    hover(stage, event);
    if (!gesture || !pointers.has(event.pointerId)) return;
    if (gesture.kind === "divider") follow(event);
    else if (gesture.kind === "pan") {
      var box = stage.getBoundingClientRect();
      var dx = (event.clientX - gesture.x) / (box.width || 1), dy = (event.clientY - gesture.y) / (box.height || 1);
      gesture.x = event.clientX;
      gesture.y = event.clientY;
      pan(-dx, -dy); // the image follows the pointer
    } else if (pointers.size >= 2) {
      var now = pinchOf(gesture.stage), from = gesture.from;
      var target = clamp(gesture.k * now.distance / Math.max(from.distance, 1), 1, maxK());
      // The image point under the first midpoint follows the midpoint: pinch zooms and pans at once.
      var u = gesture.cx + (from.middle.x - 0.5) / gesture.k, v = gesture.cy + (from.middle.y - 0.5) / gesture.k;
      setView(target, u - (now.middle.x - 0.5) / target, v - (now.middle.y - 0.5) / target);
    }
  }
  function up(event) {
    if (!pointers.delete(event.pointerId)) return;
    if (pointers.size === 1 && gesture && gesture.kind === "pinch") {
      var last = pointers.values().next().value;
      gesture = zoomed() ? { kind: "pan", x: last.x, y: last.y } : null;
    } else if (pointers.size === 0) {
      gesture = null;
      if (event.pointerType !== "mouse") leave(); // a touch loupe shows while the finger is down
    }
    root.classList.toggle("panning", !!gesture && gesture.kind === "pan");
  }
  function hover(stage, event) {
    var point = relative(stage, event);
    loupe.x = clamp(point.x, 0, 1);
    loupe.y = clamp(point.y, 0, 1);
    loupe.inside = true;
    placeLoupe();
  }
  function leave() {
    if (pointers.size) return;
    loupe.inside = false;
    placeLoupe();
  }
  function wheel(stage, event) {
    var unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? stage.clientHeight : 1;
    var delta = event.deltaY * unit;
    var target = clamp(view.k * Math.pow(2, -delta / WHEEL_OCTAVE), 1, maxK());
    if (event.ctrlKey) event.preventDefault(); // a trackpad pinch: never the browser's own page zoom
    if (!delta || Math.abs(target - view.k) < 1e-9) return; // at a limit the page scrolls on
    event.preventDefault();
    zoomAbout(target, relative(stage, event));
  }

  var ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  function keys(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var key = event.key, onHandle = event.target === handle;
    var divider = !!compare && (onHandle || !zoomed());
    if (key === "+" || key === "=") step(1);
    else if (key === "-" || key === "_") step(-1);
    else if (key === "0") fit();
    else if (key === "1") actual();
    else if (key === "l" || key === "L") {
      if (!loupe.inside) loupe.x = loupe.y = 0.5; // from the keyboard: at the centre of the stage
      loupe.inside = true;
      setLoupe(!loupe.on);
    } else if (key in ARROWS && divider) {
      var sideways = ARROWS[key][0], upwards = -ARROWS[key][1]; // Up raises the slider's value, as Right does
      place(position + (sideways || upwards) * (event.shiftKey ? 10 : 2));
    } else if (key in ARROWS && zoomed()) {
      var share = event.shiftKey ? 0.5 : PAN_STEP;
      pan(ARROWS[key][0] * share, ARROWS[key][1] * share);
    } else if (onHandle && key === "PageDown") place(position - 10);
    else if (onHandle && key === "PageUp") place(position + 10);
    else if (onHandle && key === "Home") place(0);
    else if (onHandle && key === "End") place(100);
    else return;
    event.preventDefault();
  }

  stages.forEach(function (stage) {
    stage.addEventListener("pointerdown", function (event) { down(stage, event); });
    stage.addEventListener("pointermove", function (event) { move(stage, event); });
    ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (name) { stage.addEventListener(name, up); });
    stage.addEventListener("pointerleave", leave);
    stage.addEventListener("wheel", function (event) { wheel(stage, event); }, { passive: false });
    stage.addEventListener("dblclick", function (event) {
      toggleActual(relative(stage, event));
      event.preventDefault();
    });
  });
  root.addEventListener("keydown", keys);
  root.querySelector(".toolbar").addEventListener("click", function (event) {
    var button = event.target.closest("button");
    var actions = {
      "in": function () { step(1); }, out: function () { step(-1); }, fit: fit, actual: function () { actual(); },
      loupe: function () { setLoupe(!loupe.on); },
    };
    if (button && actions[button.dataset.action]) actions[button.dataset.action]();
  });
  new ResizeObserver(function () { setView(view.k, view.cx, view.cy); }).observe(stages[0]);
  window.addEventListener("resize", render); // a new devicePixelRatio (the browser's zoom) changes 1:1
  place(position);
  render();
})();
