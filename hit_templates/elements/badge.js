// <crowd-badge for="id" icon="name|url" label="text">: a small round badge floating over the
// top-right corner of the element with that id (or of its parent when `for` is absent).
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdBadge extends HTMLElement {
    build() {
      var target = (this.getAttribute('for') && document.getElementById(this.getAttribute('for'))) || this.parentElement;
      this.setAttribute('role', 'img');
      this.setAttribute('aria-label', this.getAttribute('label') || this.getAttribute('icon') || 'badge');
      this.prepend(Crowd.icon(this.getAttribute('icon'), this.getAttribute('label')));
      if (!target || target === document.body) return;
      if (getComputedStyle(target).position === 'static') target.style.position = 'relative';
      if (this.parentElement !== target) target.append(this);
    }
  }

  Crowd.define('crowd-badge', CrowdBadge);
})();
