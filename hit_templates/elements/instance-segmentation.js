// <crowd-instance-segmentation name src header labels initial-value>: paint each object
// instance in its own colour. Choosing a label paints a new instance of it; "New instance"
// (N) starts another of the same label; E toggles the eraser, [ and ] resize the brush.
// Answer as Ground Truth's: {"labeledImage": {"pngImageData"}, "instances": [{color, label}],
// "inputImageProperties"}; unpainted pixels are opaque white, each instance one exact colour.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var MAX_INSTANCES = 255; // one byte per pixel in the label map

  function rgba(hex) {
    var n = parseInt(hex.slice(1), 16);
    return new Uint32Array(new Uint8Array([(n >> 16) & 255, (n >> 8) & 255, n & 255, 255]).buffer)[0];
  }

  // Instance colours: Ground Truth's category10 first, then distinct generated hues.
  function instanceColor(index) {
    if (index < Crowd.PALETTE.length) return Crowd.PALETTE[index];
    var hue = (index * 137.508) % 360;
    var light = 0.35 + 0.1 * ((index >> 3) % 3);
    var a = 0.75 * Math.min(light, 1 - light);
    function channel(n) {
      var k = (n + hue / 30) % 12;
      var value = light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
      return ('0' + Math.round(value * 255).toString(16)).slice(-2);
    }
    return '#' + channel(0) + channel(8) + channel(4);
  }

  class CrowdInstanceSegmentation extends customElements.get('crowd-semantic-segmentation') {
    extraTools() {
      var self = this;
      return [Crowd.h('button', {
        type: 'button', class: 'crowd-button', title: 'New instance of the label (N)', text: 'New instance',
        onclick: function () { self.newInstance(); },
      })].concat(super.extraTools());
    }

    imageLoaded() {
      this.instances = [];
      this.current = -1;
      this.colors = new Uint32Array(MAX_INSTANCES + 1);
      super.imageLoaded();
      var initial = this.initial;
      if (initial && Array.isArray(initial.instances)) {
        var self = this;
        initial.instances.forEach(function (instance) {
          if (self.labelNames.indexOf(instance.label) >= 0) self.addInstance(instance.label, String(instance.color));
        });
      }
      this.redraw();
    }

    // initial-value {"instances": [{color, label}], "src": url}: each colour is one instance.
    colorValues() {
      var byColor = {};
      this.instances.forEach(function (instance, index) { byColor[Crowd.rgb(instance.color).join(',')] = index + 1; });
      return byColor;
    }

    // Instances keep their colours whatever happens to the label list.
    labelsChanged() {}

    addInstance(label, color) {
      if (this.instances.length >= MAX_INSTANCES) return -1;
      var value = color || instanceColor(this.instances.length);
      this.instances.push({ label: label, color: value.toLowerCase() });
      this.colors[this.instances.length] = rgba(value);
      return this.instances.length - 1;
    }

    newInstance() {
      if (this.label === undefined) return;
      this.current = this.addInstance(this.label);
      this.redraw();
    }

    pickLabel(index) {
      super.pickLabel(index);
      this.current = -1; // the next stroke starts a new instance of this label
    }

    onKey(key) {
      if (key === 'n' || key === 'N') { this.newInstance(); return true; }
      return super.onKey(key);
    }

    stroke(a, b) {
      if (!this.erasing && (this.current < 0 || !this.instances[this.current] ||
          this.instances[this.current].label !== this.label)) {
        if (this.label === undefined) return;
        this.current = this.addInstance(this.label);
      }
      var label = this.labelIndex;
      this.labelIndex = this.current; // the parent paints labelIndex + 1
      super.stroke(a, b);
      this.labelIndex = label;
    }

    countText() {
      var used = this.usedInstances();
      return used.length + ' instance(s) painted';
    }

    usedInstances() {
      var used = new Uint8Array(MAX_INSTANCES + 1);
      for (var i = 0; i < this.map.length; i += 1) used[this.map[i]] = 1;
      return this.instances.filter(function (_, index) { return used[index + 1]; });
    }

    result() {
      var canvas = Crowd.h('canvas', { width: this.width, height: this.height });
      var colors = this.colors.slice();
      colors[0] = 0xffffffff;
      canvas.getContext('2d').putImageData(this.labelPixels(colors), 0, 0);
      return {
        labeledImage: { pngImageData: canvas.toDataURL('image/png').split(',')[1] },
        instances: this.usedInstances().map(function (i) { return { color: i.color, label: i.label }; }),
      };
    }
  }
  CrowdInstanceSegmentation.hint = 'Choose a label and drag to paint one object; "New instance" (N) starts the next object of that label. E toggles the eraser, [ and ] change the brush size.';

  Crowd.define('crowd-instance-segmentation', CrowdInstanceSegmentation);
})();
