// <crowd-toast text="..." duration="ms" opened>: a short notification at the bottom of the
// page that closes itself after `duration` (3 s by default); show()/open()/close() from script.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdToast extends HTMLElement {
    build() {
      this.setAttribute('role', 'status');
      if (this.getAttribute('text') && !this.textContent.trim()) this.append(document.createTextNode(this.getAttribute('text')));
      if (this.hasAttribute('opened')) this.open();
    }

    get opened() { return this.classList.contains('crowd-toast-open'); }

    set opened(value) { if (value) this.open(); else this.close(); }

    open() {
      var self = this;
      // Only one toast shows at a time, as in Ground Truth.
      document.querySelectorAll('crowd-toast.crowd-toast-open').forEach(function (t) { if (t !== self) t.close(); });
      this.classList.add('crowd-toast-open');
      clearTimeout(this.timer);
      var duration = parseFloat(this.getAttribute('duration'));
      this.timer = setTimeout(function () { self.close(); }, isFinite(duration) && duration > 0 ? duration : 3000);
    }

    show() { this.open(); }

    close() {
      clearTimeout(this.timer);
      this.classList.remove('crowd-toast-open');
    }
  }

  Crowd.define('crowd-toast', CrowdToast);
})();
