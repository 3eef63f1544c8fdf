// <crowd-semantic-segmentation name src header labels initial-value>: paint the image with
// the chosen label (drag), E toggles the eraser, [ and ] change the brush size. Pixels
// hold exactly one label (no anti-aliasing), so the answer PNG has only label colours,
// unlabelled pixels opaque white (#ffffff, Ground Truth's BACKGROUND colour). Answer as Ground Truth's: {"labeledImage":
// {"pngImageData": base64 PNG}, "labelMappings": {label: {color}}, "inputImageProperties"}.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  function rgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  class CrowdSemanticSegmentation extends Crowd.ImageTool {
    build() {
      this.brush = 10;
      this.erasing = false;
      Crowd.ImageTool.prototype.build.call(this);
      this.paint = Crowd.h('canvas', { class: 'crowd-annot-paint' });
      this.frame.insertBefore(this.paint, this.overlay);
    }

    extraTools() {
      var self = this;
      this.eraserButton = Crowd.h('button', {
        type: 'button', class: 'crowd-button', 'aria-pressed': 'false', title: 'Eraser (E)', text: 'Eraser',
        onclick: function () { self.toggleEraser(); },
      });
      this.brushLabel = Crowd.h('span', { class: 'crowd-annot-zoom', text: 'Brush 10px' });
      return [this.eraserButton, this.brushLabel];
    }

    imageLoaded() {
      this.width = this.img.naturalWidth;
      this.height = this.img.naturalHeight;
      this.overlay.setAttribute('viewBox', '0 0 ' + this.width + ' ' + this.height);
      this.paint.width = this.width;
      this.paint.height = this.height;
      this.map = new Uint8Array(this.width * this.height);
      this.labelsChanged();
      this.setZoom(this.fitZoom());
      this.initial = Crowd.parseValue(this.getAttribute('initial-value'));
      this.initialMap = this.map.slice();
      if (this.initial && this.initial.src) this.loadInitialImage(this.initial);
      this.redraw();
    }

    // The colour lookup table: label-map value (label index + 1) -> RGBA; 0 stays transparent.
    labelsChanged() {
      this.colors = new Uint32Array(this.labelNames.length + 1);
      var bytes = new Uint8Array(this.colors.buffer);
      this.labelNames.forEach(function (label, index) {
        bytes.set(rgb(Crowd.PALETTE[index % 10]).concat([255]), (index + 1) * 4);
      });
    }

    // initial-value {"labelMappings": {label: {color}}, "src": url}: colours -> labels.
    loadInitialImage(initial) {
      var self = this;
      var source = new Image();
      source.crossOrigin = 'anonymous';
      source.onload = function () {
        var canvas = Crowd.h('canvas', { width: self.width, height: self.height });
        var context = canvas.getContext('2d');
        context.drawImage(source, 0, 0, self.width, self.height);
        var pixels;
        try { pixels = context.getImageData(0, 0, self.width, self.height).data; } catch (error) {
          self.error.textContent = 'The earlier labels could not be read (the image server does not allow it).';
          return;
        }
        var byColor = self.colorValues(initial);
        for (var i = 0; i < self.map.length; i += 1) {
          var o = i * 4;
          self.map[i] = pixels[o + 3] > 127 ? byColor[pixels[o] + ',' + pixels[o + 1] + ',' + pixels[o + 2]] || 0 : 0;
        }
        self.initialMap = self.map.slice();
        self.redraw();
      };
      source.onerror = function () { self.error.textContent = 'The earlier labels could not be loaded.'; };
      source.src = initial.src;
    }

    // {"r,g,b": label-map value} for the colours of an initial-value image.
    colorValues(initial) {
      var byColor = {};
      var names = this.labelNames;
      Object.keys(initial.labelMappings || {}).forEach(function (label) {
        var index = names.indexOf(label);
        if (index >= 0) byColor[rgb(String(initial.labelMappings[label].color)).join(',')] = index + 1;
      });
      return byColor;
    }

    saveState() { return this.map.slice(); }

    restoreState(state) { this.map = state; }

    modified() {
      for (var i = 0; i < this.map.length; i += 1) if (this.map[i] !== this.initialMap[i]) return true;
      return false;
    }

    toggleEraser() {
      this.erasing = !this.erasing;
      this.eraserButton.setAttribute('aria-pressed', String(this.erasing));
    }

    onKey(key) {
      if (key === 'e' || key === 'E') this.toggleEraser();
      else if (key === '[') this.brush = Math.max(1, this.brush - 2);
      else if (key === ']') this.brush = Math.min(200, this.brush + 2);
      else return false;
      this.brushLabel.textContent = 'Brush ' + this.brush + 'px';
      return true;
    }

    // Paint a filled disc of the brush radius at every step from a to b.
    stroke(a, b) {
      var value = this.erasing ? 0 : this.labelIndex + 1;
      var r = this.brush;
      var steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / Math.max(1, r / 2)));
      for (var s = 0; s <= steps; s += 1) {
        var cx = a.x + (b.x - a.x) * s / steps;
        var cy = a.y + (b.y - a.y) * s / steps;
        var y0 = Math.max(0, Math.floor(cy - r));
        var y1 = Math.min(this.height - 1, Math.ceil(cy + r));
        for (var y = y0; y <= y1; y += 1) {
          var half = Math.sqrt(Math.max(0, r * r - (y + 0.5 - cy) * (y + 0.5 - cy)));
          var x0 = Math.max(0, Math.round(cx - half));
          var x1 = Math.min(this.width, Math.round(cx + half));
          if (x1 > x0) this.map.fill(value, y * this.width + x0, y * this.width + x1);
        }
      }
    }

    pointerDown(p) {
      this.snapshot();
      this.last = p;
      this.stroke(p, p);
      this.redraw();
    }

    pointerMove(p) {
      this.stroke(this.last, p);
      this.last = p;
      this.redraw();
    }

    pointerUp(p) { this.pointerMove(p); }

    removeSelected() {}

    countText() {
      var used = {};
      for (var i = 0; i < this.map.length; i += 1) used[this.map[i]] = true;
      return Object.keys(used).filter(function (k) { return k !== '0'; }).length + ' label(s) painted';
    }

    // Label map -> RGBA pixels through a colour lookup table.
    labelPixels(colors) {
      var image = new ImageData(this.width, this.height);
      var out = new Uint32Array(image.data.buffer);
      for (var i = 0; i < this.map.length; i += 1) out[i] = colors[this.map[i]];
      return image;
    }

    draw(svg) {
      if (this.map) this.paint.getContext('2d').putImageData(this.labelPixels(this.colors), 0, 0);
      this.cursor = Crowd.svg('circle', { class: 'crowd-annot-brush', r: this.brush, cx: -999, cy: -999 });
      svg.append(this.cursor);
      if (this.last) this.hover(this.last);
    }

    // The brush outline under the pointer (null: pointer left the image).
    hover(p) {
      this.cursor.setAttribute('cx', p ? p.x : -999);
      this.cursor.setAttribute('cy', p ? p.y : -999);
      this.cursor.setAttribute('r', this.brush);
    }

    result() {
      var canvas = Crowd.h('canvas', { width: this.width, height: this.height });
      var colors = this.colors.slice();
      colors[0] = 0xffffffff;
      canvas.getContext('2d').putImageData(this.labelPixels(colors), 0, 0);
      var mappings = {};
      this.labelNames.forEach(function (label, index) { mappings[label] = { color: Crowd.PALETTE[index % 10] }; });
      return {
        labeledImage: { pngImageData: canvas.toDataURL('image/png').split(',')[1] },
        labelMappings: mappings,
      };
    }
  }
  CrowdSemanticSegmentation.paints = true; // no shapes to select or delete
  CrowdSemanticSegmentation.maxHistory = 12; // each step is a copy of the label map
  CrowdSemanticSegmentation.hint = 'Drag to paint with the chosen label; E toggles the eraser, [ and ] change the brush size.';

  Crowd.rgb = rgb;
  Crowd.define('crowd-semantic-segmentation', CrowdSemanticSegmentation);
})();
