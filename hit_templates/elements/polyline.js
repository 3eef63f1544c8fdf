// <crowd-polyline> and <crowd-line> (name src header labels label-colors initial-value):
// open shapes on the image. Polyline: click to add points, Enter, a double click or a click
// on the last point finishes it (2+ points), Escape drops it. Line: drag from start to end,
// or click the two ends. Click near a shape to select it, then drag its points. Answers as
// Ground Truth's: {"polylines" | "lines": [{label, vertices: [{x, y}]}], "inputImageProperties"}.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  // Distance from p to the segment a-b.
  function segmentDistance(p, a, b) {
    var dx = b.x - a.x;
    var dy = b.y - a.y;
    var t = dx || dy ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy))) : 0;
    return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
  }

  class CrowdPolyline extends Crowd.VertexTool {
    get key() { return 'polylines'; }

    color(label) {
      var custom = Crowd.parseList(this.getAttribute('label-colors'));
      var index = Math.max(0, this.labelNames.indexOf(label));
      return custom[index] || Crowd.PALETTE[index % 10];
    }

    loadInitial(value) {
      var labels = this.labelNames;
      var list = Array.isArray(value) ? value : (value && value[this.key]) || [];
      var min = this.constructor.maxPoints || 2;
      return list.filter(function (s) {
        return s && labels.indexOf(s.label) >= 0 && Array.isArray(s.vertices) && s.vertices.length >= 2;
      }).map(function (s) {
        var vertices = s.vertices.map(function (v) { return { x: Number(v.x) || 0, y: Number(v.y) || 0 }; });
        return { label: s.label, vertices: min === 2 ? vertices.slice(0, 2) : vertices };
      });
    }

    near() { return 8 * this.pixel; }

    pointerDown(p) {
      var near = this.near();
      var open = this.open;
      if (open) {
        var last = open.vertices[open.vertices.length - 1];
        if (open.vertices.length >= 2 && Math.hypot(last.x - p.x, last.y - p.y) <= near) { this.finish(); return; }
        open.vertices.push(p);
        if (this.constructor.maxPoints && open.vertices.length >= this.constructor.maxPoints) this.finish();
        else this.redraw();
        return;
      }
      var chosen = this.shapes[this.selected];
      var vertex = chosen ? chosen.vertices.findIndex(function (v) { return Math.hypot(v.x - p.x, v.y - p.y) <= near; }) : -1;
      if (vertex >= 0) {
        this.before = this.saveState();
        this.vertex = vertex;
        return;
      }
      for (var i = this.shapes.length - 1; i >= 0; i -= 1) {
        var vs = this.shapes[i].vertices;
        for (var j = 1; j < vs.length; j += 1) {
          if (segmentDistance(p, vs[j - 1], vs[j]) <= near) { this.selected = i; this.redraw(); return; }
        }
      }
      this.selected = -1;
      this.open = { label: this.label, vertices: [p] };
      this.downAt = p;
      this.redraw();
    }

    pointerMove(p) {
      if (this.vertex !== undefined) {
        this.shapes[this.selected].vertices[this.vertex] = p;
        this.redraw();
      } else if (this.open && this.downAt && this.constructor.maxPoints === 2) {
        this.hover(p); // a line being dragged out
      }
    }

    pointerUp(p) {
      if (this.vertex !== undefined) {
        this.pointerMove(p);
        if (this.saveState() !== this.before) this.history.push(this.before);
        this.vertex = undefined;
        return;
      }
      // A line dragged from its start to its end is finished on release.
      var start = this.downAt;
      this.downAt = null;
      if (start && this.open && this.constructor.maxPoints === 2 && this.open.vertices.length === 1 &&
          Math.hypot(start.x - p.x, start.y - p.y) > this.near()) {
        this.open.vertices.push(p);
        this.finish();
      }
    }

    hover(p) {
      if (this.rubber) this.rubber.remove();
      this.rubber = null;
      if (!p || !this.open) return;
      var last = this.open.vertices[this.open.vertices.length - 1];
      this.rubber = Crowd.svg('line', { x1: last.x, y1: last.y, x2: p.x, y2: p.y, stroke: this.color(this.open.label), class: 'crowd-annot-open' });
      this.overlay.append(this.rubber);
    }

    finish() {
      if (!this.open || this.open.vertices.length < 2) return;
      this.snapshot();
      this.shapes.push(this.open);
      this.selected = -1;
      this.open = null;
      this.redraw();
    }

    complete() { this.finish(); }

    draw(svg) {
      var self = this;
      function points(vs) { return vs.map(function (v) { return v.x + ',' + v.y; }).join(' '); }
      this.shapes.concat(this.open ? [this.open] : []).forEach(function (shape, index) {
        var isOpen = shape === self.open;
        var node = Crowd.svg('polyline', {
          points: points(shape.vertices), stroke: self.color(shape.label),
          class: isOpen ? 'crowd-annot-open' : 'crowd-annot-line' + (index === self.selected ? ' crowd-annot-selected' : ''),
        });
        node.append(Object.assign(Crowd.svg('title'), { textContent: shape.label }));
        svg.append(node);
        if (!isOpen && index !== self.selected) return;
        shape.vertices.forEach(function (v) {
          svg.append(Crowd.svg('circle', { cx: v.x, cy: v.y, r: 4 * self.pixel, stroke: self.color(shape.label), class: 'crowd-annot-handle' }));
        });
      });
    }

    crowdValidate() {
      if (this.open) return 'Finish the line you are drawing (press Enter), or press Escape.';
      return Crowd.ImageTool.prototype.crowdValidate.call(this);
    }

    result() {
      var answer = {};
      answer[this.key] = this.shapes.map(function (s) {
        return { label: s.label, vertices: s.vertices.map(function (v) { return { x: Math.round(v.x), y: Math.round(v.y) }; }) };
      });
      return answer;
    }
  }
  CrowdPolyline.hint = 'Click to add points; press Enter, double-click or click the last point to finish the line, Escape cancels it. Click a line, then drag its points.';

  class CrowdLine extends CrowdPolyline {
    get key() { return 'lines'; }
  }
  CrowdLine.maxPoints = 2;
  CrowdLine.hint = 'Drag from one end of the line to the other (or click both ends). Click a line, then drag its ends.';

  Crowd.define('crowd-polyline', CrowdPolyline);
  Crowd.define('crowd-line', CrowdLine);
})();
