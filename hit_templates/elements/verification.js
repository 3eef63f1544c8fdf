// <crowd-label-verification name header label>: a batch of objects that share one label
// (bulk QA), each a <verification-item item-id src> (an image) or <verification-item
// item-id> holding text. Every item starts checked ("the label fits"); workers uncheck
// the ones that do not fit, by click or Space on the focused item (arrow keys move).
// Answer: {"label": "<label>", "items": [{"id": "<item-id>", "correct": true|false}]}.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdLabelVerification extends HTMLElement {
    build() {
      var self = this;
      var short = this.querySelector(':scope > short-instructions');
      var full = this.querySelector(':scope > full-instructions');
      var label = this.getAttribute('label') || '';
      this.items = Array.prototype.map.call(this.querySelectorAll(':scope > verification-item'), function (item, index) {
        return self.buildItem(item, index, label);
      });
      var grid = Crowd.h('div', { class: 'crowd-verify-grid', role: 'group', 'aria-label': 'Objects labelled ' + label },
        this.items.map(function (i) { return i.card; }));
      var side = Crowd.h('aside', { class: 'crowd-annot-side' }, [Crowd.h('h2', { text: 'Instructions' })]);
      if (full) {
        var modal = Crowd.modal(full.getAttribute('header') || 'Instructions',
          Crowd.moveChildren(full, Crowd.h('div', { class: 'crowd-full-instructions' })));
        side.append(Crowd.h('button', { type: 'button', class: 'crowd-link', text: 'View full instructions', onclick: modal.open }));
      }
      if (short) side.append(Crowd.moveChildren(short, Crowd.h('div', { class: 'crowd-short-instructions' })));
      this.counter = Crowd.h('p', { class: 'crowd-hint' });
      side.append(this.counter, Crowd.h('p', { class: 'crowd-hint', text: 'Every item starts checked. Uncheck each one the label does NOT fit. Keys: arrows move, Space toggles.' }));
      this.prepend(Crowd.h('div', { class: 'crowd-annot crowd-internal' }, [side,
        Crowd.h('section', { class: 'crowd-annot-main' }, [
          Crowd.h('h1', { class: 'crowd-header', text: this.getAttribute('header') || '' }),
          Crowd.h('p', { class: 'crowd-verify-label' }, ['Label: ', Crowd.h('strong', { text: label })]), grid,
        ]),
      ]));
      [short, full].forEach(function (region) { if (region) region.remove(); });
      grid.addEventListener('keydown', function (event) { self.onKey(event); });
      this.count();
    }

    buildItem(item, index, label) {
      var self = this;
      var id = item.getAttribute('item-id') || String(index);
      var box = Crowd.h('input', { type: 'checkbox', checked: true, 'aria-label': 'Item ' + (index + 1) + ' is ' + label, onchange: function () { self.count(); } });
      var content = item.hasAttribute('src')
        ? Crowd.h('img', { src: item.getAttribute('src'), alt: 'Item ' + (index + 1), loading: 'lazy' })
        : Crowd.moveChildren(item, Crowd.h('div', { class: 'crowd-verify-text' }));
      var verdict = Crowd.h('span', { text: 'fits' });
      var card = Crowd.h('label', { class: 'crowd-verify-item', 'data-item-id': id }, [content,
        Crowd.h('span', { class: 'crowd-verify-check' }, [box, ' ' + (index + 1) + '. ', verdict]),
      ]);
      item.remove();
      return { id: id, box: box, card: card, verdict: verdict };
    }

    onKey(event) {
      var at = this.items.findIndex(function (i) { return i.box === document.activeElement; });
      var step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      if (at < 0 || !step) return;
      var next = this.items[Math.max(0, Math.min(this.items.length - 1, at + step))];
      next.box.focus();
      event.preventDefault();
    }

    count() {
      var rejected = this.items.filter(function (i) { return !i.box.checked; }).length;
      this.items.forEach(function (i) {
        i.card.classList.toggle('crowd-verify-rejected', !i.box.checked);
        i.verdict.textContent = i.box.checked ? 'fits' : 'does not fit';
      });
      this.counter.textContent = (this.items.length - rejected) + ' of ' + this.items.length + ' marked as fitting.';
    }

    crowdAnswer() {
      if (!this.items) return undefined;
      return {
        label: this.getAttribute('label') || '',
        items: this.items.map(function (i) { return { id: i.id, correct: i.box.checked }; }),
      };
    }
  }

  Crowd.define('crowd-label-verification', CrowdLabelVerification);
})();
