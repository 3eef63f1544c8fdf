// <crowd-tabs><crowd-tab header="...">content</crowd-tab>...</crowd-tabs>: a tab bar showing
// one tab's content at a time (arrow keys move between tabs). Fields in hidden tabs still
// answer; a field that blocks submission brings its tab to the front (crowd-reveal event).
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdTabs extends HTMLElement {
    build() {
      var self = this;
      this.tabs = Array.prototype.filter.call(this.children, function (c) { return c.tagName === 'CROWD-TAB'; });
      this.bar = Crowd.h('div', { class: 'crowd-tab-bar crowd-internal', role: 'tablist' });
      this.buttons = this.tabs.map(function (tab, index) {
        var id = 'crowd-tab-' + Math.random().toString(36).slice(2);
        tab.id = tab.id || id;
        tab.setAttribute('role', 'tabpanel');
        return Crowd.h('button', {
          type: 'button', role: 'tab', class: 'crowd-tab-button', 'aria-controls': tab.id,
          text: tab.getAttribute('header') || 'Tab ' + (index + 1), onclick: function () { self.select(index); },
        });
      });
      this.bar.append.apply(this.bar, this.buttons);
      this.bar.addEventListener('keydown', function (event) {
        var step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
        if (!step) return;
        self.select((self.selected + step + self.tabs.length) % self.tabs.length);
        self.buttons[self.selected].focus();
        event.preventDefault();
      });
      this.prepend(this.bar);
      this.addEventListener('crowd-reveal', function (event) {
        var tab = event.target.closest('crowd-tab');
        var index = self.tabs.indexOf(tab);
        if (index >= 0) self.select(index);
      });
      this.select(0);
    }

    select(index) {
      this.selected = index;
      this.tabs.forEach(function (tab, i) { tab.hidden = i !== index; });
      this.buttons.forEach(function (button, i) {
        button.setAttribute('aria-selected', String(i === index));
        button.tabIndex = i === index ? 0 : -1;
      });
    }
  }

  class CrowdTab extends HTMLElement {}

  Crowd.define('crowd-tabs', CrowdTabs);
  Crowd.define('crowd-tab', CrowdTab);
})();
