// <crowd-button variant="primary|normal" form-action="submit" disabled>: a button;
// with form-action="submit" it submits the enclosing crowd-form.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdButton extends HTMLElement {
    static get observedAttributes() { return ['disabled']; }

    build() {
      var variant = this.getAttribute('variant') === 'primary' || this.getAttribute('form-action') === 'submit' ? ' crowd-primary' : '';
      this.button = Crowd.h('button', { type: 'button', class: 'crowd-button crowd-internal' + variant, disabled: this.hasAttribute('disabled') });
      Crowd.moveChildren(this, this.button);
      this.append(this.button);
    }

    attributeChangedCallback() { if (this.button) this.button.disabled = this.hasAttribute('disabled'); }

    get disabled() { return this.hasAttribute('disabled'); }

    set disabled(value) { this.toggleAttribute('disabled', Boolean(value)); }
  }

  Crowd.define('crowd-button', CrowdButton);
})();
