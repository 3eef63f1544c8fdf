// <crowd-bounding-box name src header labels initial-value>: drag on the image to draw
// a box with the chosen label; drag a box to move it, drag a corner to resize it.
// Answer as Ground Truth's: {"boundingBoxes": [{label, left, top, width, height}],
// "inputImageProperties": {height, width}} (+ initialValueModified with initial-value).
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var MIN_SIZE = 2;

  function normalised(a, b) {
    return {
      left: Math.min(a.x, b.x), top: Math.min(a.y, b.y),
      width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y),
    };
  }

  function corners(box) {
    return [
      { x: box.left, y: box.top }, { x: box.left + box.width, y: box.top },
      { x: box.left + box.width, y: box.top + box.height }, { x: box.left, y: box.top + box.height },
    ];
  }

  class CrowdBoundingBox extends Crowd.ImageTool {
    loadInitial(value) {
      var labels = this.labelNames;
      return (Array.isArray(value) ? value : []).filter(function (b) { return labels.indexOf(b.label) >= 0; })
        .map(function (b) {
          return { label: b.label, left: Number(b.left) || 0, top: Number(b.top) || 0, width: Number(b.width) || 0, height: Number(b.height) || 0 };
        });
    }

    // What a press at p grabs: a box corner (the selected box's first, then the topmost
    // box's), else a box's inside (topmost), else nothing.
    grab(p) {
      var tolerance = 8 * this.pixel;
      var order = this.shapes.map(function (_, i) { return i; }).reverse();
      if (this.selected >= 0) order.unshift(this.selected);
      for (var k = 0; k < order.length; k += 1) {
        var hit = corners(this.shapes[order[k]]).findIndex(function (c) {
          return Math.abs(c.x - p.x) <= tolerance && Math.abs(c.y - p.y) <= tolerance;
        });
        if (hit >= 0) return { index: order[k], corner: hit };
      }
      for (var i = this.shapes.length - 1; i >= 0; i -= 1) {
        var b = this.shapes[i];
        if (p.x >= b.left && p.x <= b.left + b.width && p.y >= b.top && p.y <= b.top + b.height) return { index: i, corner: -1 };
      }
      return null;
    }

    pointerDown(p) {
      this.start = p;
      this.before = this.saveState();
      this.grabbed = this.grab(p);
      if (this.grabbed) {
        this.selected = this.grabbed.index;
        var box = this.shapes[this.selected];
        this.origin = Object.assign({}, box);
        if (this.grabbed.corner >= 0) this.anchor = corners(box)[(this.grabbed.corner + 2) % 4];
      } else {
        this.selected = -1;
        this.shapes.push(Object.assign({ label: this.label }, normalised(p, p)));
        this.drawing = this.shapes.length - 1;
      }
      this.redraw();
    }

    pointerMove(p) {
      if (this.drawing !== undefined) {
        Object.assign(this.shapes[this.drawing], normalised(this.start, p));
      } else if (this.grabbed && this.grabbed.corner >= 0) {
        Object.assign(this.shapes[this.selected], normalised(this.anchor, p));
      } else if (this.grabbed) {
        var o = this.origin;
        this.shapes[this.selected].left = Math.max(0, Math.min(this.width - o.width, o.left + p.x - this.start.x));
        this.shapes[this.selected].top = Math.max(0, Math.min(this.height - o.height, o.top + p.y - this.start.y));
      }
      this.redraw();
    }

    pointerUp(p) {
      this.pointerMove(p);
      if (this.drawing !== undefined) {
        var box = this.shapes[this.drawing];
        // A new box is not left selected, so the next label key picks the next box's label;
        // click a box to select it (then a label key relabels it, Delete removes it).
        if (box.width < MIN_SIZE || box.height < MIN_SIZE) this.shapes.pop();
      }
      var changed = this.saveState() !== this.before;
      // A plain click selects a box (label keys then relabel it); after a move or resize
      // the next label key is for the next box again.
      if (this.grabbed && changed) this.selected = -1;
      this.drawing = undefined;
      this.grabbed = null;
      if (changed) this.history.push(this.before);
      this.redraw();
    }

    // Arrow keys nudge the selected box by one image pixel (Shift: ten).
    onKey(key, event) {
      var box = this.shapes[this.selected];
      var step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[key];
      if (!box || !step) return false;
      var size = event && event.shiftKey ? 10 : 1;
      this.snapshot();
      box.left = Math.max(0, Math.min(this.width - box.width, box.left + step[0] * size));
      box.top = Math.max(0, Math.min(this.height - box.height, box.top + step[1] * size));
      this.redraw();
      return true;
    }

    relabelSelected(label) {
      var box = this.shapes[this.selected];
      if (!box || box.label === label) return;
      this.snapshot();
      box.label = label;
      this.redraw();
    }

    draw(svg) {
      var self = this;
      this.shapes.forEach(function (box, index) {
        var colour = self.color(box.label);
        var rect = Crowd.svg('rect', {
          x: box.left, y: box.top, width: box.width, height: box.height, stroke: colour,
          class: 'crowd-annot-shape' + (index === self.selected ? ' crowd-annot-selected' : ''),
        });
        rect.append(Object.assign(Crowd.svg('title'), { textContent: box.label }));
        var tag = Crowd.svg('text', { x: box.left + 3 * self.pixel, y: box.top + 14 * self.pixel, fill: colour, class: 'crowd-annot-tag', 'font-size': 13 * self.pixel });
        tag.textContent = box.label;
        svg.append(rect, tag);
        if (index === self.selected) {
          corners(box).forEach(function (c) {
            svg.append(Crowd.svg('circle', { cx: c.x, cy: c.y, r: 5 * self.pixel, class: 'crowd-annot-handle', stroke: colour }));
          });
        }
      });
    }

    result() {
      return {
        boundingBoxes: this.shapes.map(function (b) {
          var left = Math.round(b.left);
          var top = Math.round(b.top);
          return {
            label: b.label, left: left, top: top,
            width: Math.round(b.left + b.width) - left, height: Math.round(b.top + b.height) - top,
          };
        }),
      };
    }
  }
  CrowdBoundingBox.hint = 'Drag to draw a box; drag a box to move it or its corner to resize it. Click a box to select it: arrow keys nudge it, a label key relabels it.';

  Crowd.define('crowd-bounding-box', CrowdBoundingBox);
})();
