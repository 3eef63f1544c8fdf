// <crowd-fab icon label title disabled> (a round floating button) and <crowd-icon-button icon
// title disabled> (a flat icon button). Clicks reach listeners on the element itself; a
// disabled one lets no click through. Icons: a few common iron-icons names, or an image URL.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var GLYPHS = {
    'report-problem': '\u26a0', warning: '\u26a0', error: '\u2757', info: '\u2139', help: '?', star: '\u2605',
    check: '\u2713', 'check-circle': '\u2713', close: '\u2715', add: '+', remove: '\u2212', delete: '\ud83d\uddd1',
    search: '\ud83d\udd0d', flag: '\u2691', send: '\u27a4', done: '\u2713', favorite: '\u2665', 'thumb-up': '\ud83d\udc4d',
    'thumb-down': '\ud83d\udc4e', refresh: '\u21bb', undo: '\u21b6', redo: '\u21b7', 'arrow-back': '\u2190',
    'arrow-forward': '\u2192', 'zoom-in': '+', 'zoom-out': '\u2212', visibility: '\ud83d\udc41', settings: '\u2699',
  };

  // An icon node: <img> for a URL, a glyph for a known iron-icons name, else the label text.
  Crowd.icon = function (icon, label) {
    if (icon && /^(https?:|data:|\/)/.test(icon)) return Crowd.h('img', { class: 'crowd-icon', src: icon, alt: label || '' });
    var text = (icon && GLYPHS[icon.replace(/^icons:/, '')]) || label || (icon ? icon.charAt(0).toUpperCase() : '');
    return Crowd.h('span', { class: 'crowd-icon', 'aria-hidden': 'true', text: text });
  };

  class CrowdIconButton extends HTMLElement {
    static get observedAttributes() { return ['disabled']; }

    build() {
      var title = this.getAttribute('title') || this.getAttribute('label') || this.getAttribute('icon') || '';
      this.button = Crowd.h('button', {
        type: 'button', class: this.constructor.buttonClass + ' crowd-internal', title: title, 'aria-label': title,
        disabled: this.hasAttribute('disabled'),
      }, [Crowd.icon(this.getAttribute('icon'), (this.getAttribute('label') || '').slice(0, 1))]);
      this.prepend(this.button);
    }

    attributeChangedCallback() { if (this.button) this.button.disabled = this.hasAttribute('disabled'); }

    get disabled() { return this.hasAttribute('disabled'); }

    set disabled(value) { this.toggleAttribute('disabled', Boolean(value)); }
  }

  class CrowdFab extends CrowdIconButton {}
  CrowdFab.buttonClass = 'crowd-fab-button';
  class CrowdPlainIconButton extends CrowdIconButton {}
  CrowdPlainIconButton.buttonClass = 'crowd-icon-button-button';

  Crowd.define('crowd-fab', CrowdFab);
  Crowd.define('crowd-icon-button', CrowdPlainIconButton);
})();
