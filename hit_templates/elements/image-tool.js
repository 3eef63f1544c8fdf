// Shared base of the image annotation tools (crowd-bounding-box, crowd-polygon,
// crowd-keypoint, crowd-semantic-segmentation): sidebar with instructions and labels,
// an image stage with an SVG overlay in image pixels, zoom, undo and shortcuts.
// A tool subclass keeps its shapes in this.shapes (plain JSON) and implements
// loadInitial(value), pointerDown/Move/Up(point), draw(svg) and result(); before a
// change it calls snapshot() (or pushes its saved state), which is what undo restores.
// Images open scaled to fit the stage (never above 100%); zoom steps through ZOOMS.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var ZOOMS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4];
  var tools = [];

  class CrowdImageTool extends HTMLElement {
    get labels() { return Crowd.parseList(this.getAttribute('labels')); }

    // Settable, as in Ground Truth: templates add and remove labels the worker types.
    set labels(list) {
      var names = (Array.isArray(list) ? list : Crowd.parseList(String(list || ''))).map(String);
      this.setAttribute('labels', JSON.stringify(names));
      if (!this.labelBox) return;
      this.labelNames = names;
      this.labelIndex = Math.max(0, Math.min(this.labelIndex, names.length - 1));
      if (this.labelsChanged) this.labelsChanged();
      Crowd.labelButtons(this, names, names);
      if (this.width) this.redraw();
    }

    // The answer so far (what Ground Truth's element exposes as .value), or undefined before
    // the image has loaded.
    get value() { return this.crowdAnswer(); }

    build() {
      var self = this;
      this.labelNames = this.labels;
      this.labelIndex = 0;
      this.shapes = [];
      this.history = [];
      this.zoom = 1;
      this.selected = -1;
      var short = this.querySelector(':scope > short-instructions');
      var full = this.querySelector(':scope > full-instructions');
      this.img = Crowd.h('img', { class: 'crowd-annot-image', alt: this.getAttribute('header') || 'Image to annotate', draggable: 'false' });
      this.overlay = Crowd.svg('svg', { class: 'crowd-annot-overlay' });
      this.frame = Crowd.h('div', { class: 'crowd-annot-frame' }, [this.img, this.overlay]);
      this.stage = Crowd.h('div', { class: 'crowd-annot-stage', tabindex: '0', 'aria-label': 'Image: ' + this.constructor.hint }, [this.frame]);
      this.error = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      this.counter = Crowd.h('span', { class: 'crowd-annot-count' });
      var tool = Crowd.h('div', { class: 'crowd-annot crowd-internal' }, [
        this.buildSidebar(short, full),
        Crowd.h('section', { class: 'crowd-annot-main' }, [
          Crowd.h('h1', { class: 'crowd-header', text: this.getAttribute('header') || '' }),
          this.buildToolbar(), this.stage, this.error,
        ]),
      ]);
      [short, full].forEach(function (region) { if (region) region.remove(); });
      this.prepend(tool);
      this.img.addEventListener('load', function () { self.imageLoaded(); });
      this.img.addEventListener('error', function () {
        self.error.textContent = 'The image could not be loaded. Please return this HIT.';
      });
      this.overlay.addEventListener('pointerdown', function (event) { self.onPointer(event, 'pointerDown'); });
      this.overlay.addEventListener('pointermove', function (event) { self.onPointer(event, 'pointerMove'); });
      this.overlay.addEventListener('pointerup', function (event) { self.onPointer(event, 'pointerUp'); });
      this.overlay.addEventListener('pointercancel', function (event) { self.onPointer(event, 'pointerUp'); });
      this.overlay.addEventListener('pointerleave', function () { if (self.hover && !self.dragging) self.hover(null); });
      this.img.src = this.getAttribute('src') || '';
      tools.push(this);
      Crowd.exposeShadow(this, {
        'canvas.upper-canvas': function () { return self.overlay; },
        'canvas.lower-canvas': function () { return self.img; },
      });
    }

    buildSidebar(short, full) {
      return Crowd.annotationSidebar(this, short, full, this.labelNames, this.labelNames, this.constructor.hint +
        ' Keys: 1\u20139 label, Ctrl+Z undo, + / \u2212 zoom' + (this.constructor.paints ? '.' : ', Delete removes the selected shape.'));
    }

    buildToolbar() {
      var self = this;
      function button(text, title, action) {
        return Crowd.h('button', { type: 'button', class: 'crowd-button', title: title, 'aria-label': title, text: text, onclick: action });
      }
      this.undoButton = button('Undo', 'Undo (Ctrl+Z)', function () { self.undo(); });
      this.zoomLabel = Crowd.h('span', { class: 'crowd-annot-zoom', text: '100%' });
      return Crowd.h('div', { class: 'crowd-annot-toolbar' }, [
        button('\u2212', 'Zoom out (\u2212)', function () { self.zoomBy(-1); }), this.zoomLabel,
        button('+', 'Zoom in (+)', function () { self.zoomBy(1); }),
        this.undoButton,
        this.constructor.paints ? '' : button('Delete', 'Delete selected (Delete)', function () { self.removeSelected(); }),
        this.counter,
      ].concat(this.extraTools ? this.extraTools() : []));
    }

    imageLoaded() {
      this.width = this.img.naturalWidth;
      this.height = this.img.naturalHeight;
      this.overlay.setAttribute('viewBox', '0 0 ' + this.width + ' ' + this.height);
      this.setZoom(this.fitZoom());
      this.initial = Crowd.parseValue(this.getAttribute('initial-value'));
      if (this.initial) this.shapes = this.loadInitial(this.initial) || [];
      this.initialJson = JSON.stringify(this.shapes);
      this.redraw();
    }

    // The largest zoom (at most 100%) showing the whole image width in the stage.
    fitZoom() {
      var room = this.stage.clientWidth - 16;
      return room > 0 && this.width > room ? room / this.width : 1;
    }

    // The next zoom level up (step 1) or down (step -1) from the current one.
    zoomBy(step) {
      var zoom = this.zoom;
      var next = step > 0 ? ZOOMS.filter(function (z) { return z > zoom + 1e-9; })[0]
        : ZOOMS.filter(function (z) { return z < zoom - 1e-9; }).pop();
      if (next) this.setZoom(next);
    }

    setZoom(zoom) {
      this.zoom = zoom;
      this.frame.style.width = Math.round(this.width * zoom) + 'px';
      this.frame.style.height = Math.round(this.height * zoom) + 'px';
      this.zoomLabel.textContent = Math.round(zoom * 100) + '%';
    }

    pickLabel(index) {
      if (index < 0 || index >= this.labelNames.length) return;
      this.labelIndex = index;
      this.labelButtons.forEach(function (b, i) { b.setAttribute('aria-checked', String(i === index)); });
      if (this.relabelSelected) this.relabelSelected(this.labelNames[index]);
    }

    get label() { return this.labelNames[this.labelIndex]; }

    color(label) { return Crowd.PALETTE[Math.max(0, this.labelNames.indexOf(label)) % 10]; }

    // Pointer position in image pixels (clamped to the image).
    point(event) {
      var rect = this.overlay.getBoundingClientRect();
      return {
        x: Math.max(0, Math.min(this.width, (event.clientX - rect.left) / rect.width * this.width)),
        y: Math.max(0, Math.min(this.height, (event.clientY - rect.top) / rect.height * this.height)),
      };
    }

    // Screen pixels expressed in image pixels (for hit tolerances).
    get pixel() { return this.width / this.overlay.getBoundingClientRect().width; }

    // Route a pointer event (in image pixels) to the tool; moves without a pressed button
    // go to hover(point) when the tool shows a preview (brush outline, next polygon edge).
    onPointer(event, kind) {
      if (!this.width) return;
      if (kind === 'pointerMove' && !this.dragging) {
        if (this.hover) this.hover(this.point(event));
        return;
      }
      if (kind === 'pointerDown') {
        if (event.button !== 0) return;
        if (!this.labelNames.length) {
          this.error.textContent = 'There is no label to draw with yet.';
          return;
        }
        this.dragging = true;
        this.overlay.setPointerCapture(event.pointerId);
        this.stage.focus({ preventScroll: true });
      }
      if (kind === 'pointerUp') {
        if (!this.dragging) return;
        this.dragging = false;
      }
      event.preventDefault();
      this[kind](this.point(event));
    }

    // Record the state before a change; call after mutating this.shapes.
    snapshot() {
      this.history.push(this.saveState());
      if (this.history.length > (this.constructor.maxHistory || 50)) this.history.shift();
    }

    saveState() { return JSON.stringify(this.shapes); }

    modified() { return this.saveState() !== this.initialJson; }

    restoreState(state) { this.shapes = JSON.parse(state); }

    undo() {
      if (!this.history.length) return;
      this.restoreState(this.history.pop());
      this.selected = -1;
      this.redraw();
    }

    removeSelected() {
      if (this.selected < 0 || this.selected >= this.shapes.length) return;
      this.snapshot();
      this.shapes.splice(this.selected, 1);
      this.selected = -1;
      this.redraw();
    }

    redraw() {
      while (this.overlay.firstChild) this.overlay.firstChild.remove();
      this.draw(this.overlay);
      this.counter.textContent = this.countText ? this.countText() : this.shapes.length + ' drawn';
      this.error.textContent = '';
      this.classList.remove('crowd-invalid');
      this.dispatchEvent(new Event('change', { bubbles: true }));
    }

    crowdValidate() {
      if (!this.width) return 'Please wait for the image to load.';
      return '';
    }

    crowdAnswer() {
      if (!this.width) return undefined;
      var answer = this.result();
      answer.inputImageProperties = { height: this.height, width: this.width };
      if (this.initial) answer.initialValueModified = this.modified();
      return answer;
    }
  }

  Crowd.ImageTool = CrowdImageTool;

  // A tool whose shapes are drawn vertex by vertex (polygons, lines): `this.open` is the shape
  // being drawn; Enter ends it (`complete`, by the subclass), Escape drops it, undo removes its
  // last vertex first, and a label key relabels it.
  class CrowdVertexTool extends CrowdImageTool {
    complete() {}

    onKey(key) {
      if (key === 'Enter') { this.complete(); return true; }
      if (key === 'Escape' && this.open) { this.open = null; this.redraw(); return true; }
      return false;
    }

    undo() {
      if (this.open) { this.open.vertices.pop(); if (!this.open.vertices.length) this.open = null; this.redraw(); return; }
      CrowdImageTool.prototype.undo.call(this);
    }

    relabelSelected(label) {
      if (this.open) this.open.label = label;
      var shape = this.shapes[this.selected];
      if (!shape || shape.label === label) return;
      this.snapshot();
      shape.label = label;
      this.redraw();
    }
  }

  Crowd.VertexTool = CrowdVertexTool;
  Crowd.round = function (value) { return Math.round(value); };

  // In MTurk's frame, take keyboard focus once built so the shortcuts work at once.
  document.addEventListener('all-crowd-elements-ready', function () {
    if (tools.length && (!document.activeElement || document.activeElement === document.body)) window.focus();
  });

  // Shortcuts go to the tool holding focus, else the first on the page.
  document.addEventListener('keydown', function (event) {
    if (!tools.length || document.querySelector('dialog[open]')) return;
    var typing = Crowd.isTyping(event);
    var tool = tools.filter(function (t) { return t.contains(document.activeElement); })[0] || tools[0];
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === 'z') {
      if (event.target.closest && event.target.closest('input, textarea')) return;
      tool.undo();
    } else if (typing) {
      return;
    } else if (/^[0-9]$/.test(key)) {
      tool.pickLabel(key === '0' ? 9 : Number(key) - 1);
    } else if (key === 'Delete' || key === 'Backspace') {
      tool.removeSelected();
    } else if (key === '+' || key === '=') {
      tool.zoomBy(1);
    } else if (key === '-') {
      tool.zoomBy(-1);
    } else if (!(tool.onKey && tool.onKey(key, event))) {
      return;
    }
    event.preventDefault();
  });
})();
