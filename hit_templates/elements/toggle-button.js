// <crowd-toggle-button name value checked disabled invalid required>: an on/off switch
// answering {"<value>": true|false} under its name (value defaults to "on"), as Ground
// Truth's does. `required` blocks submission until it is switched on.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdToggleButton extends HTMLElement {
    static get observedAttributes() { return ['disabled', 'checked']; }

    build() {
      var self = this;
      this.button = Crowd.h('button', {
        type: 'button', role: 'switch', class: 'crowd-toggle crowd-internal',
        'aria-checked': String(this.hasAttribute('checked')), disabled: this.hasAttribute('disabled'),
        'aria-label': this.getAttribute('value') || this.getAttribute('name') || 'Toggle',
      }, [Crowd.h('span', { class: 'crowd-toggle-knob' })]);
      this.button.addEventListener('click', function () { self.checked = !self.checked; self.dispatchEvent(new Event('change', { bubbles: true })); });
      this.prepend(this.button);
    }

    attributeChangedCallback() {
      if (!this.button) return;
      this.button.disabled = this.hasAttribute('disabled');
      this.button.setAttribute('aria-checked', String(this.hasAttribute('checked')));
      if (this.hasAttribute('checked')) this.classList.remove('crowd-invalid');
    }

    get checked() { return this.hasAttribute('checked'); }

    set checked(value) { this.toggleAttribute('checked', Boolean(value)); }

    get disabled() { return this.hasAttribute('disabled'); }

    set disabled(value) { this.toggleAttribute('disabled', Boolean(value)); }

    crowdValidate() {
      if (!this.hasAttribute('required') || this.checked || this.disabled) return '';
      this.classList.add('crowd-invalid');
      return 'Please switch this on to continue.';
    }

    crowdAnswer() {
      var answer = {};
      answer[this.getAttribute('value') || 'on'] = this.checked;
      return answer;
    }
  }

  Crowd.define('crowd-toggle-button', CrowdToggleButton);
})();
