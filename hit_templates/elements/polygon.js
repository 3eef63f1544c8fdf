// <crowd-polygon name src header labels initial-value>: click to add vertices, click the
// first vertex (or press Enter) to close the polygon, Escape drops the open one; click
// inside a polygon to select it, then drag its points to reshape it. Answer as Ground Truth's: {"polygons": [{label,
// vertices: [{x, y}]}], "inputImageProperties": {height, width}}.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  function inside(p, vertices) {
    var hit = false;
    for (var i = 0, j = vertices.length - 1; i < vertices.length; j = i, i += 1) {
      var a = vertices[i];
      var b = vertices[j];
      if ((a.y > p.y) !== (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x) hit = !hit;
    }
    return hit;
  }

  class CrowdPolygon extends Crowd.VertexTool {
    loadInitial(value) {
      var labels = this.labelNames;
      return (Array.isArray(value) ? value : []).filter(function (p) {
        return labels.indexOf(p.label) >= 0 && Array.isArray(p.vertices) && p.vertices.length >= 3;
      }).map(function (p) {
        return { label: p.label, vertices: p.vertices.map(function (v) { return { x: Number(v.x) || 0, y: Number(v.y) || 0 }; }) };
      });
    }

    pointerDown(p) {
      var open = this.open;
      if (open) {
        var first = open.vertices[0];
        var near = 8 * this.pixel;
        if (open.vertices.length >= 3 && Math.abs(first.x - p.x) <= near && Math.abs(first.y - p.y) <= near) this.close();
        else { open.vertices.push(p); this.redraw(); }
        return;
      }
      var chosen = this.shapes[this.selected];
      var near8 = 8 * this.pixel;
      var vertex = chosen ? chosen.vertices.findIndex(function (v) { return Math.abs(v.x - p.x) <= near8 && Math.abs(v.y - p.y) <= near8; }) : -1;
      if (vertex >= 0) {
        this.before = this.saveState();
        this.vertex = vertex;
        return;
      }
      for (var i = this.shapes.length - 1; i >= 0; i -= 1) {
        if (inside(p, this.shapes[i].vertices)) { this.selected = i; this.redraw(); return; }
      }
      this.selected = -1;
      this.open = { label: this.label, vertices: [p] };
      this.redraw();
    }

    pointerMove(p) {
      if (this.vertex === undefined) return;
      this.shapes[this.selected].vertices[this.vertex] = p;
      this.redraw();
    }

    // The edge the next click would add, from the last point to the pointer.
    hover(p) {
      if (this.rubber) this.rubber.remove();
      this.rubber = null;
      if (!p || !this.open) return;
      var last = this.open.vertices[this.open.vertices.length - 1];
      this.rubber = Crowd.svg('line', { x1: last.x, y1: last.y, x2: p.x, y2: p.y, stroke: this.color(this.open.label), class: 'crowd-annot-open' });
      this.overlay.append(this.rubber);
    }

    pointerUp(p) {
      if (this.vertex === undefined) return;
      this.pointerMove(p);
      if (this.saveState() !== this.before) this.history.push(this.before);
      this.vertex = undefined;
    }

    close() {
      if (!this.open || this.open.vertices.length < 3) return;
      this.snapshot();
      this.shapes.push(this.open);
      this.selected = -1; // new shapes are not selected: the next label key is for the next shape
      this.open = null;
      this.redraw();
    }

    complete() { this.close(); }

    draw(svg) {
      var self = this;
      function points(vs) { return vs.map(function (v) { return v.x + ',' + v.y; }).join(' '); }
      this.shapes.forEach(function (shape, index) {
        var node = Crowd.svg('polygon', {
          points: points(shape.vertices), stroke: self.color(shape.label),
          class: 'crowd-annot-shape' + (index === self.selected ? ' crowd-annot-selected' : ''),
        });
        node.append(Object.assign(Crowd.svg('title'), { textContent: shape.label }));
        svg.append(node);
        if (index !== self.selected) return;
        shape.vertices.forEach(function (v) {
          svg.append(Crowd.svg('circle', { cx: v.x, cy: v.y, r: 4 * self.pixel, stroke: self.color(shape.label), class: 'crowd-annot-handle' }));
        });
      });
      if (this.open) {
        var colour = this.color(this.open.label);
        svg.append(Crowd.svg('polyline', { points: points(this.open.vertices), stroke: colour, class: 'crowd-annot-open' }));
        this.open.vertices.forEach(function (v) {
          svg.append(Crowd.svg('circle', { cx: v.x, cy: v.y, r: 4 * self.pixel, stroke: colour, class: 'crowd-annot-handle' }));
        });
      }
    }

    crowdValidate() {
      if (this.open) return 'Close the polygon you are drawing (click its first point or press Enter), or press Escape.';
      return Crowd.ImageTool.prototype.crowdValidate.call(this);
    }

    result() {
      return {
        polygons: this.shapes.map(function (s) {
          return { label: s.label, vertices: s.vertices.map(function (v) { return { x: Math.round(v.x), y: Math.round(v.y) }; }) };
        }),
      };
    }
  }
  CrowdPolygon.hint = 'Click to add points; click the first point or press Enter to close the shape, Escape cancels it. Click a shape, then drag its points to reshape it.';

  Crowd.define('crowd-polygon', CrowdPolygon);
})();
