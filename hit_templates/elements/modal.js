// <crowd-modal link-text="..." link-type="link|button">content</crowd-modal>: a link (or
// button) that opens its content in a modal window; open() and close() do the same from script.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdModal extends HTMLElement {
    build() {
      var self = this;
      var text = this.getAttribute('link-text') || 'Click to open modal';
      var content = Crowd.moveChildren(this, Crowd.h('div', { class: 'crowd-modal-content' }));
      this.modal = Crowd.modal(text, content);
      var type = this.getAttribute('link-type') === 'button' ? 'crowd-button' : 'crowd-link';
      this.append(Crowd.h('button', { type: 'button', class: type + ' crowd-internal', text: text, onclick: function () { self.open(); } }));
    }

    open() { if (this.modal) this.modal.open(); }

    close() { if (this.modal) this.modal.dialog.close(); }
  }

  Crowd.define('crowd-modal', CrowdModal);
})();
