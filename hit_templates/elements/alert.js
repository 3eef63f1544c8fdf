// <crowd-alert type="info|success|error|warning" dismissible>: a message box. Styled by its
// tag (widgets.css), so an alert a template writes with innerHTML looks right at once;
// `dismissible` adds a close button.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdAlert extends HTMLElement {
    build() {
      var self = this;
      var type = this.getAttribute('type');
      this.setAttribute('role', type === 'error' || type === 'warning' ? 'alert' : 'status');
      if (this.hasAttribute('dismissible') && this.getAttribute('dismissible') !== 'false') {
        this.append(Crowd.h('button', {
          type: 'button', class: 'crowd-alert-close crowd-internal', 'aria-label': 'Dismiss', text: '\u00d7',
          onclick: function () { self.remove(); },
        }));
      }
    }
  }

  Crowd.define('crowd-alert', CrowdAlert);
})();
