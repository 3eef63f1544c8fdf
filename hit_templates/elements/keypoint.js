// <crowd-keypoint name src header labels initial-value>: click to place a point with the
// chosen label, drag a point to move it. Answer as Ground Truth's: {"keypoints": [{label,
// x, y}], "inputImageProperties": {height, width}}.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdKeypoint extends Crowd.ImageTool {
    loadInitial(value) {
      var labels = this.labelNames;
      return (Array.isArray(value) ? value : []).filter(function (k) { return labels.indexOf(k.label) >= 0; })
        .map(function (k) { return { label: k.label, x: Number(k.x) || 0, y: Number(k.y) || 0 }; });
    }

    pointerDown(p) {
      this.before = this.saveState();
      var near = 8 * this.pixel;
      this.selected = -1;
      for (var i = this.shapes.length - 1; i >= 0; i -= 1) {
        if (Math.abs(this.shapes[i].x - p.x) <= near && Math.abs(this.shapes[i].y - p.y) <= near) { this.selected = i; break; }
      }
      this.created = this.selected < 0;
      if (this.created) {
        this.shapes.push({ label: this.label, x: p.x, y: p.y });
        this.selected = this.shapes.length - 1;
      }
      this.redraw();
    }

    pointerMove(p) {
      var point = this.shapes[this.selected];
      if (point) { point.x = p.x; point.y = p.y; this.redraw(); }
    }

    pointerUp(p) {
      var point = this.shapes[this.selected];
      var moved = point && (Math.abs(point.x - p.x) > 0 || Math.abs(point.y - p.y) > 0);
      if (moved) this.pointerMove(p);
      var changed = this.saveState() !== this.before;
      if (changed) this.history.push(this.before);
      // Only a plain click on an existing point selects it (label keys then relabel it).
      if (this.created || changed) { this.selected = -1; this.redraw(); }
    }

    relabelSelected(label) {
      var point = this.shapes[this.selected];
      if (!point || point.label === label) return;
      this.snapshot();
      point.label = label;
      this.redraw();
    }

    draw(svg) {
      var self = this;
      this.shapes.forEach(function (point, index) {
        var dot = Crowd.svg('circle', {
          cx: point.x, cy: point.y, r: 5 * self.pixel, fill: self.color(point.label),
          class: 'crowd-annot-point' + (index === self.selected ? ' crowd-annot-selected' : ''),
        });
        dot.append(Object.assign(Crowd.svg('title'), { textContent: point.label }));
        svg.append(dot);
      });
    }

    result() {
      return {
        keypoints: this.shapes.map(function (k) { return { label: k.label, x: Math.round(k.x), y: Math.round(k.y) }; }),
      };
    }
  }
  CrowdKeypoint.hint = 'Click to place a point with the chosen label; drag a point to move it.';

  Crowd.define('crowd-keypoint', CrowdKeypoint);
})();
