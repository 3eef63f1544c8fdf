// <crowd-slider name min max step value pin editable disabled required secondary-progress>:
// a range slider answering its number under its name, as Ground Truth's does. Optional
// <crowd-slider-label position="N">text</crowd-slider-label> children label positions on the
// track. `required` blocks submission until the worker has moved (or typed) a value.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  function number(text, fallback) {
    var value = parseFloat(text);
    return isFinite(value) ? value : fallback;
  }

  class CrowdSlider extends HTMLElement {
    static get observedAttributes() { return ['disabled']; }

    build() {
      var self = this;
      this.min = number(this.getAttribute('min'), 0);
      this.max = number(this.getAttribute('max'), 100);
      var step = number(this.getAttribute('step'), 1);
      var start = Math.min(this.max, Math.max(this.min, number(this.getAttribute('value'), this.min)));
      this.range = Crowd.h('input', {
        type: 'range', min: this.min, max: this.max, step: step > 0 ? step : 1, value: start,
        disabled: this.hasAttribute('disabled'), 'aria-label': this.getAttribute('name') || 'Slider',
      });
      this.touched = false;
      this.pin = this.hasAttribute('pin') && this.getAttribute('pin') !== 'false'
        ? Crowd.h('output', { class: 'crowd-slider-pin', text: String(start) }) : null;
      this.editor = this.hasAttribute('editable') && this.getAttribute('editable') !== 'false'
        ? Crowd.h('input', { type: 'number', class: 'crowd-slider-edit', min: this.min, max: this.max, step: step, value: start, 'aria-label': 'Value' })
        : null;
      var track = Crowd.h('div', { class: 'crowd-slider-track' }, [this.range, this.pin || '']);
      var labels = Array.prototype.slice.call(this.querySelectorAll(':scope > crowd-slider-label'));
      if (labels.length) {
        var ticks = Crowd.h('div', { class: 'crowd-slider-labels' });
        var span = this.max - this.min || 1;
        labels.forEach(function (label) {
          var at = (number(label.getAttribute('position'), self.min) - self.min) / span * 100;
          label.style.left = Math.min(100, Math.max(0, at)) + '%';
          ticks.append(label);
        });
        track.append(ticks);
      }
      this.message = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      this.prepend(Crowd.h('div', { class: 'crowd-slider crowd-internal' }, [track, this.editor || '', this.message]));
      this.range.addEventListener('input', function () { self.show(); });
      this.range.addEventListener('change', function () { self.show(); });
      if (this.editor) {
        this.editor.addEventListener('change', function () {
          self.range.value = self.editor.value;
          self.show();
          self.dispatchEvent(new Event('change', { bubbles: true }));
        });
      }
      this.show(true);
    }

    attributeChangedCallback() { if (this.range) this.range.disabled = this.hasAttribute('disabled'); }

    show(quiet) {
      if (!quiet) this.touched = true;
      var value = this.value;
      if (this.pin) {
        this.pin.textContent = String(value);
        this.pin.style.left = ((value - this.min) / ((this.max - this.min) || 1) * 100) + '%';
      }
      if (this.editor && Number(this.editor.value) !== value) this.editor.value = value;
      this.message.textContent = '';
      this.classList.remove('crowd-invalid');
    }

    get value() { return this.range ? Number(this.range.value) : number(this.getAttribute('value'), 0); }

    set value(value) {
      if (!this.range) { this.setAttribute('value', value); return; }
      this.range.value = value;
      this.show();
    }

    get disabled() { return this.hasAttribute('disabled'); }

    set disabled(value) { this.toggleAttribute('disabled', Boolean(value)); }

    crowdValidate() {
      if (!this.range || !this.hasAttribute('required') || this.disabled || this.touched) return '';
      this.message.textContent = 'Please move the slider to your answer.';
      this.classList.add('crowd-invalid');
      return this.message.textContent;
    }

    crowdAnswer() { return this.range ? this.value : undefined; }
  }

  class CrowdSliderLabel extends HTMLElement {}

  Crowd.define('crowd-slider', CrowdSlider);
  Crowd.define('crowd-slider-label', CrowdSliderLabel);
})();
