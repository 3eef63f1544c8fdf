// <crowd-checkbox name value checked disabled required>: answers {"<value>": true|false}
// under its name (value defaults to "on"); boxes sharing a name share one object.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdCheckbox extends HTMLElement {
    static get observedAttributes() { return ['disabled']; }

    build() {
      this.box = Crowd.h('input', { type: 'checkbox', checked: this.hasAttribute('checked'), disabled: this.hasAttribute('disabled') });
      var text = Crowd.moveChildren(this, Crowd.h('span'));
      this.append(Crowd.h('label', { class: 'crowd-check crowd-internal' }, [this.box, text]));
      var self = this;
      this.box.addEventListener('change', function () { self.classList.remove('crowd-invalid'); });
    }

    attributeChangedCallback() { if (this.box) this.box.disabled = this.hasAttribute('disabled'); }

    // Both ways, as in Ground Truth: templates enable boxes from script (el.disabled = false).
    get disabled() { return this.hasAttribute('disabled'); }

    set disabled(value) { this.toggleAttribute('disabled', Boolean(value)); }

    get value() { return this.getAttribute('value') || 'on'; }

        get checked() { return this.box ? this.box.checked : this.hasAttribute('checked'); }

    set checked(value) { if (this.box) this.box.checked = Boolean(value); else this.toggleAttribute('checked', Boolean(value)); }

    crowdAnswer() {
      var answer = {};
      answer[this.getAttribute('value') || 'on'] = this.checked;
      return answer;
    }

    crowdValidate() {
      if (!this.hasAttribute('required') || this.checked) return '';
      this.classList.add('crowd-invalid');
      return 'Please check "' + this.textContent.trim() + '".';
    }
  }

  Crowd.define('crowd-checkbox', CrowdCheckbox);
})();
