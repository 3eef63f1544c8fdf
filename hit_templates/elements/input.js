// <crowd-input> and <crowd-text-area>: a labelled text field answering its text under
// its name. An empty crowd-input is left out of the answer, as in Ground Truth.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdTextField extends HTMLElement {
    build() {
      var self = this;
      var attr = function (name) { return self.getAttribute(name); };
      var field = this.makeField();
      [['placeholder', 'placeholder'], ['max-length', 'maxlength'], ['min-length', 'minlength']].forEach(function (pair) {
        if (self.hasAttribute(pair[0])) field.setAttribute(pair[1], attr(pair[0]));
      });
      field.disabled = this.hasAttribute('disabled');
      field.required = this.hasAttribute('required');
      field.value = attr('value') || '';
      var id = 'crowd-field-' + Math.random().toString(36).slice(2);
      field.id = id;
      this.field = field;
      this.message = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      this.counter = this.hasAttribute('char-counter') ? Crowd.h('span', { class: 'crowd-counter' }) : null;
      this.append(Crowd.h('div', { class: 'crowd-field crowd-internal' }, [
        attr('label') ? Crowd.h('label', { for: id, text: attr('label') }) : '', field, this.message, this.counter || '',
      ]));
      field.addEventListener('input', function () { self.onInput(); });
      this.onInput();
      if (this.hasAttribute('auto-focus') && attr('auto-focus') !== 'false') field.focus();
    }

    // auto-validate with allowed-pattern drops characters that do not match as they are typed.
    onInput() {
      var pattern = this.hasAttribute('auto-validate') && this.getAttribute('allowed-pattern');
      if (pattern) {
        var allowed;
        try { allowed = new RegExp(pattern); } catch (ignored) { allowed = null; }
        if (allowed) this.field.value = Array.prototype.filter.call(this.field.value, function (ch) { return allowed.test(ch); }).join('');
      }
      if (this.counter) this.counter.textContent = String(this.field.value.length);
      this.message.textContent = '';
      this.classList.remove('crowd-invalid');
    }

    get value() { return this.field ? this.field.value : this.getAttribute('value') || ''; }

    set value(text) { if (this.field) { this.field.value = text; this.onInput(); } else this.setAttribute('value', text); }

    crowdValidate() {
      if (!this.field || this.field.disabled) return '';
      var problem = '';
      if (this.field.required && !this.field.value.trim()) problem = 'This field is required.';
      else if (!this.field.checkValidity()) problem = this.field.validationMessage;
      if (!problem) return '';
      problem = this.getAttribute('error-message') || problem;
      this.message.textContent = problem;
      this.classList.add('crowd-invalid');
      return (this.getAttribute('label') ? this.getAttribute('label') + ': ' : '') + problem;
    }

    focus() { if (this.field) this.field.focus(); }
  }

  class CrowdInput extends CrowdTextField {
    makeField() { return Crowd.h('input', { type: this.getAttribute('type') || 'text' }); }

    crowdAnswer() { return this.value === '' ? undefined : this.value; }
  }

  class CrowdTextArea extends CrowdTextField {
    makeField() {
      var rows = Number(this.getAttribute('rows')) || 3;
      var area = Crowd.h('textarea', { rows: String(rows) });
      var maxRows = Number(this.getAttribute('max-rows'));
      if (maxRows) area.style.maxHeight = (maxRows * 1.5 + 1) + 'em';
      return area;
    }

    crowdAnswer() { return this.value; }
  }

  Crowd.define('crowd-input', CrowdInput);
  Crowd.define('crowd-text-area', CrowdTextArea);
})();
