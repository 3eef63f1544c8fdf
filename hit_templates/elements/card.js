// <crowd-card heading image>: an elevated box around its content.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdCard extends HTMLElement {
    build() {
      var content = Crowd.moveChildren(this, Crowd.h('div', { class: 'crowd-card-content' }));
      var parts = [];
      if (this.getAttribute('image')) parts.push(Crowd.h('img', { class: 'crowd-card-image', src: this.getAttribute('image'), alt: '' }));
      if (this.getAttribute('heading')) parts.push(Crowd.h('h3', { class: 'crowd-card-heading', text: this.getAttribute('heading') }));
      parts.push(content);
      this.append(Crowd.h('div', { class: 'crowd-card' }, parts));
    }
  }

  Crowd.define('crowd-card', CrowdCard);
})();
