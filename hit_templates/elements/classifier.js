// The four classifiers: crowd-classifier, crowd-classifier-multi-select,
// crowd-image-classifier, crowd-image-classifier-multi-select. Same attributes and
// answer JSON as Ground Truth's: {"label": "..."} (single) or {"labels": [...]} (multi).
// Number keys 1-9 and 0 pick the 1st-10th category.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var classifiers = [];
  var SHADOW_CSS = ':host { display: block; }' +
    '.crowd-tool { display: grid; grid-template-columns: auto minmax(300px, 2.4fr) minmax(200px, 1fr); gap: 20px; align-items: start; }' +
    '.awsui-app-layout__navigation { width: 240px; max-width: 40vw; }' +
    '@media (max-width: 820px) { .crowd-tool { grid-template-columns: 1fr; } .awsui-app-layout__navigation { width: auto !important; } }';

  class CrowdClassifierBase extends HTMLElement {
    get categories() { return Crowd.parseList(this.getAttribute('categories')); }

    // Settable, as in Ground Truth: templates fill the categories from their own script.
    set categories(list) {
      var names = (Array.isArray(list) ? list : Crowd.parseList(String(list || ''))).map(String);
      this.setAttribute('categories', JSON.stringify(names));
      if (!this.list) return;
      this.chosen = this.chosen.filter(function (label) { return names.indexOf(label) >= 0 || label === this.exclusion; }, this);
      this.fillChoices();
    }

    // The chosen category (single) or categories (multi), as the change event's target shows it.
    get value() {
      if (!this.chosen) return this.constructor.multi ? [] : '';
      return this.constructor.multi ? this.chosen.slice() : this.chosen[0] || '';
    }

    build() {
      var self = this;
      this.chosen = [];
      var regions = {};
      ['short-instructions', 'full-instructions', 'classification-target', 'worker-comment'].forEach(function (tag) {
        regions[tag] = self.querySelector(':scope > ' + tag);
      });
      var header = this.getAttribute('header') || '';
      // Instructions | item | categories, laid out in the shadow root as Ground Truth's are, so
      // templates that reach into it (two-tier questions after '.category-picker-wrapper', the
      // instructions pane's width) work; the three parts stay in the light DOM, slotted.
      this.sidebar = this.buildSidebar(regions['short-instructions'], regions['full-instructions']);
      var main = Crowd.h('section', { class: 'crowd-main' }, [
        Crowd.h('h1', { class: 'crowd-header', text: header }),
        this.buildTarget(regions['classification-target']),
      ]);
      var panel = this.buildChoices(header, regions['worker-comment']);
      [[this.sidebar, 'side'], [main, 'main'], [panel, 'choices']].forEach(function (part) {
        part[0].classList.add('crowd-internal');
        part[0].setAttribute('slot', part[1]);
      });
      Object.keys(regions).forEach(function (tag) { if (regions[tag]) regions[tag].remove(); });
      this.prepend(this.sidebar, main, panel);
      classifiers.push(this);
      var slot = function (name) { return Crowd.h('slot', { name: name }); };
      this.picker = Crowd.h('div', { class: 'category-picker-wrapper' }, [slot('choices')]);
      this.navigation = Crowd.h('div', { class: 'awsui-app-layout__navigation' }, [slot('side')]);
      Crowd.exposeShadow(this, {
        '.awsui-modal-dialog': function () { return self.fullDialog || null; },
      }, [
        Crowd.h('style', { text: SHADOW_CSS }),
        Crowd.h('div', { class: 'crowd-tool awsui-app-layout' }, [
          this.navigation,
          Crowd.h('div', { class: 'crowd-shadow-main' }, [slot('main')]),
          Crowd.h('div', { class: 'annotation-area' }, [this.picker]),
        ]),
        Crowd.h('slot'),
      ]);
    }

    buildSidebar(short, full) {
      // As in Ground Truth: the full-instructions link near the top, short instructions below.
      var side = Crowd.h('aside', { class: 'crowd-sidebar' }, [Crowd.h('h2', { text: 'Instructions' })]);
      if (full) {
        var modal = Crowd.modal(full.getAttribute('header') || 'Instructions',
          Crowd.moveChildren(full, Crowd.h('div', { class: 'crowd-full-instructions' })));
        side.append(Crowd.h('button', { type: 'button', class: 'crowd-link crowd-full-link', text: 'View full instructions', onclick: modal.open }));
        this.fullDialog = modal.dialog;
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
      var exclusion = multi ? Crowd.parseObject(this.getAttribute('exclusion-category')) : null;
      if (exclusion && exclusion.text) this.exclusion = String(exclusion.text);
      this.list = list;
      this.fillChoices();
      this.error = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      var panel = Crowd.h('section', { class: 'crowd-panel' }, [
        Crowd.h('h2', { text: multi ? 'Choose all that apply' : 'Choose one' }), list, this.error,
      ]);
      if (comment) panel.append(this.buildComment(comment));
      return panel;
    }

    // One button per category (and the exclusion category last), in this.list.
    fillChoices() {
      var self = this;
      var chosen = this.chosen;
      this.buttons = this.categories.map(function (label, index) { return self.choiceButton(label, index, false); });
      if (this.exclusion) this.buttons.push(this.choiceButton(this.exclusion, this.buttons.length, true));
      this.buttons.forEach(function (button) { button.setAttribute('aria-checked', String(chosen.indexOf(button.dataset.label) >= 0)); });
      this.list.replaceChildren.apply(this.list, this.buttons);
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
