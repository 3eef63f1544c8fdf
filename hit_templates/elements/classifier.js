// The four classifiers: crowd-classifier, crowd-classifier-multi-select,
// crowd-image-classifier, crowd-image-classifier-multi-select. Same attributes and
// answer JSON as Ground Truth's: {"label": "..."} (single) or {"labels": [...]} (multi).
// Number keys 1-9 and 0 pick the 1st-10th category.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var classifiers = [];

  class CrowdClassifierBase extends HTMLElement {
    get categories() { return Crowd.parseList(this.getAttribute('categories')); }

    get value() { return this.chosen ? this.chosen.slice() : []; }

    build() {
      var self = this;
      this.chosen = [];
      var regions = {};
      ['short-instructions', 'full-instructions', 'classification-target', 'worker-comment'].forEach(function (tag) {
        regions[tag] = self.querySelector(':scope > ' + tag);
      });
      var header = this.getAttribute('header') || '';
      var tool = Crowd.h('div', { class: 'crowd-tool crowd-internal' }, [
        this.buildSidebar(regions['short-instructions'], regions['full-instructions']),
        Crowd.h('section', { class: 'crowd-main' }, [
          Crowd.h('h1', { class: 'crowd-header', text: header }),
          this.buildTarget(regions['classification-target']),
        ]),
        this.buildChoices(header, regions['worker-comment']),
      ]);
      Object.keys(regions).forEach(function (tag) { if (regions[tag]) regions[tag].remove(); });
      this.prepend(tool);
      classifiers.push(this);
    }

    buildSidebar(short, full) {
      // As in Ground Truth: the full-instructions link near the top, short instructions below.
      var side = Crowd.h('aside', { class: 'crowd-sidebar' }, [Crowd.h('h2', { text: 'Instructions' })]);
      if (full) {
        var modal = Crowd.modal(full.getAttribute('header') || 'Instructions',
          Crowd.moveChildren(full, Crowd.h('div', { class: 'crowd-full-instructions' })));
        side.append(Crowd.h('button', { type: 'button', class: 'crowd-link crowd-full-link', text: 'View full instructions', onclick: modal.open }));
      }
      if (short) side.append(Crowd.moveChildren(short, Crowd.h('div', { class: 'crowd-short-instructions' })));
      side.append(Crowd.h('p', { class: 'crowd-hint', text: 'Tip: press the number keys to choose a category.' }));
      return side;
    }

    buildTarget(target) {
      var box = Crowd.h('div', { class: 'crowd-target' });
      if (target) Crowd.moveChildren(target, box);
      if (target && target.getAttribute('style')) box.setAttribute('style', target.getAttribute('style'));
      return box;
    }

    buildChoices(header, comment) {
      var self = this;
      var multi = this.constructor.multi;
      var list = Crowd.h('div', { class: 'crowd-choices', role: multi ? 'group' : 'radiogroup', 'aria-label': header });
      this.buttons = this.categories.map(function (label, index) {
        return self.choiceButton(label, index, false);
      });
      var exclusion = multi ? Crowd.parseObject(this.getAttribute('exclusion-category')) : null;
      if (exclusion && exclusion.text) {
        this.exclusion = String(exclusion.text);
        this.buttons.push(this.choiceButton(this.exclusion, this.buttons.length, true));
      }
      this.buttons.forEach(function (button) { list.append(button); });
      this.error = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      var panel = Crowd.h('section', { class: 'crowd-panel' }, [
        Crowd.h('h2', { text: multi ? 'Choose all that apply' : 'Choose one' }), list, this.error,
      ]);
      if (comment) panel.append(this.buildComment(comment));
      return panel;
    }

    choiceButton(label, index, exclusive) {
      var self = this;
      var key = index < 9 ? String(index + 1) : index === 9 ? '0' : '';
      var button = Crowd.h('button', {
        type: 'button', class: 'crowd-choice' + (exclusive ? ' crowd-exclusion' : ''),
        role: this.constructor.multi ? 'checkbox' : 'radio', 'aria-checked': 'false', 'data-label': label,
        onclick: function () { self.toggle(label, exclusive); },
      }, [key ? Crowd.h('kbd', { text: key }) : '', Crowd.h('span', { text: label })]);
      return button;
    }

    // Optional <worker-comment>: a link opening a text box; output as workerComment.
    buildComment(region) {
      var self = this;
      var box = Crowd.h('textarea', { rows: '4', placeholder: region.getAttribute('placeholder') || '' });
      var help = Crowd.moveChildren(region, Crowd.h('div', { class: 'crowd-comment-help' }));
      var modal = Crowd.modal(region.getAttribute('header') || 'Add a comment', Crowd.h('div', {}, [help, box]));
      this.commentBox = box;
      return Crowd.h('button', {
        type: 'button', class: 'crowd-link', text: region.getAttribute('link-text') || 'Add a comment',
        onclick: modal.open,
      });
    }

    // Select (single) or toggle (multi) a category by its label.
    toggle(label, exclusive) {
      var multi = this.constructor.multi;
      var at = this.chosen.indexOf(label);
      if (!multi) this.chosen = [label];
      else if (at >= 0) this.chosen.splice(at, 1);
      else if (exclusive) this.chosen = [label];
      else this.chosen = this.chosen.filter(function (l) { return l !== this.exclusion; }, this).concat([label]);
      var chosen = this.chosen;
      this.buttons.forEach(function (button) {
        button.setAttribute('aria-checked', String(chosen.indexOf(button.dataset.label) >= 0));
      });
      this.error.textContent = '';
      this.classList.remove('crowd-invalid');
      this.dispatchEvent(new Event('change', { bubbles: true }));
    }

    pick(index) {
      var button = this.buttons && this.buttons[index];
      if (!button) return;
      button.focus();
      this.toggle(button.dataset.label, button.classList.contains('crowd-exclusion'));
    }

    crowdValidate() {
      if (!this.chosen || this.chosen.length) return '';
      var message = this.constructor.multi ? 'Please choose at least one category.' : 'Please choose a category.';
      this.error.textContent = message;
      this.classList.add('crowd-invalid');
      return message;
    }

    crowdAnswer() {
      if (!this.chosen) return undefined;
      if (this.constructor.multi) {
        var order = this.buttons.map(function (b) { return b.dataset.label; });
        return { labels: this.chosen.slice().sort(function (a, b) { return order.indexOf(a) - order.indexOf(b); }) };
      }
      if (!this.chosen.length) return undefined;
      var answer = { label: this.chosen[0] };
      var comment = this.commentBox ? this.commentBox.value.trim() : '';
      if (comment) answer.workerComment = comment;
      return answer;
    }
  }

  // Image variants show `src` with an optional overlay of boxes ({"boundingBox": ...}).
  class CrowdImageClassifierBase extends CrowdClassifierBase {
    buildTarget() {
      var img = Crowd.h('img', { class: 'crowd-image', alt: this.getAttribute('header') || 'Image to classify', src: this.getAttribute('src') || '' });
      var frame = Crowd.h('div', { class: 'crowd-image-frame' }, [img]);
      var overlay = Crowd.parseObject(this.getAttribute('overlay'));
      img.addEventListener('error', function () {
        frame.append(Crowd.h('p', { class: 'crowd-error', text: 'The image could not be loaded. Please return this HIT.' }));
      });
      img.addEventListener('load', function () {
        if (overlay && overlay.boundingBox) frame.append(drawBoxes(overlay.boundingBox, img));
      });
      return Crowd.h('div', { class: 'crowd-target crowd-image-target' }, [frame]);
    }
  }

  function drawBoxes(spec, img) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'crowd-overlay');
    svg.setAttribute('viewBox', '0 0 ' + img.naturalWidth + ' ' + img.naturalHeight);
    (spec.value || []).forEach(function (box) {
      var rect = document.createElementNS(ns, 'rect');
      ['left', 'top', 'width', 'height'].forEach(function (key) {
        rect.setAttribute({ left: 'x', top: 'y' }[key] || key, Number(box[key]) || 0);
      });
      var title = document.createElementNS(ns, 'title');
      title.textContent = box.label || '';
      rect.append(title);
      svg.append(rect);
    });
    return svg;
  }

  function variant(Base, multi) {
    var cls = class extends Base {};
    cls.multi = multi;
    return cls;
  }

  Crowd.define('crowd-classifier', variant(CrowdClassifierBase, false));
  Crowd.define('crowd-classifier-multi-select', variant(CrowdClassifierBase, true));
  Crowd.define('crowd-image-classifier', variant(CrowdImageClassifierBase, false));
  Crowd.define('crowd-image-classifier-multi-select', variant(CrowdImageClassifierBase, true));

  // In MTurk's frame, take keyboard focus once built so number keys work at once.
  document.addEventListener('all-crowd-elements-ready', function () {
    if (classifiers.length && (!document.activeElement || document.activeElement === document.body)) window.focus();
  });

  // Number keys go to the classifier holding focus, else the first on the page.
  document.addEventListener('keydown', function (event) {
    if (!/^[0-9]$/.test(event.key) || Crowd.isTyping(event) || !classifiers.length) return;
    if (document.querySelector('dialog[open]')) return;
    var active = classifiers.filter(function (c) { return c.contains(document.activeElement); })[0] || classifiers[0];
    active.pick(event.key === '0' ? 9 : Number(event.key) - 1);
    event.preventDefault();
  });
})();
