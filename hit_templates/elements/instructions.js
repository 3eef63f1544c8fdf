// <crowd-instructions link-text link-type="link|button">: a link or button opening
// tabbed instructions (Summary, Detailed Instructions, Examples) built from the
// <short-summary>, <detailed-instructions>, <positive-example> and
// <negative-example> regions.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdInstructions extends HTMLElement {
    build() {
      var tabs = [
        ['Summary', this.region('short-summary', '')],
        ['Detailed Instructions', this.region('detailed-instructions', '')],
        ['Examples', this.examples()],
      ].filter(function (tab) { return tab[1].childNodes.length; });
      var bar = Crowd.h('div', { class: 'crowd-tabs', role: 'tablist' });
      var body = Crowd.h('div', { class: 'crowd-tab-panels' });
      tabs.forEach(function (tab, index) {
        var panel = Crowd.h('div', { class: 'crowd-tab-panel', role: 'tabpanel', hidden: index > 0 }, [tab[1]]);
        var button = Crowd.h('button', {
          type: 'button', role: 'tab', class: 'crowd-tab', 'aria-selected': String(index === 0), text: tab[0],
          onclick: function () {
            bar.querySelectorAll('[role="tab"]').forEach(function (b) { b.setAttribute('aria-selected', String(b === button)); });
            body.querySelectorAll('[role="tabpanel"]').forEach(function (p) { p.hidden = p !== panel; });
          },
        });
        bar.append(button);
        body.append(panel);
      });
      var modal = Crowd.modal('Instructions', Crowd.h('div', {}, [bar, body]));
      var asButton = this.getAttribute('link-type') === 'button';
      this.replaceChildren(Crowd.h('button', {
        type: 'button', class: (asButton ? 'crowd-button' : 'crowd-link') + ' crowd-internal',
        text: this.getAttribute('link-text') || 'Click for instructions', onclick: modal.open,
      }));
      this.open = modal.open;
      this.dialog = modal.dialog;
    }

    // The children of every region named `tag`, gathered in one container.
    region(tag, cls) {
      var box = Crowd.h('div', { class: cls });
      this.querySelectorAll(':scope > ' + tag).forEach(function (node) { Crowd.moveChildren(node, box); });
      return box;
    }

    examples() {
      var box = Crowd.h('div', { class: 'crowd-examples' });
      var good = this.region('positive-example', 'crowd-example crowd-example-good');
      var bad = this.region('negative-example', 'crowd-example crowd-example-bad');
      if (good.childNodes.length) box.append(Crowd.h('h3', { class: 'crowd-good', text: 'Good examples' }), good);
      if (bad.childNodes.length) box.append(Crowd.h('h3', { class: 'crowd-bad', text: 'Bad examples' }), bad);
      return box;
    }
  }

  Crowd.define('crowd-instructions', CrowdInstructions);
})();
