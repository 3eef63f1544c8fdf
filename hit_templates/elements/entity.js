// <crowd-entity-annotation name header text labels initial-value>: choose a label (click
// or number key), then select words with the mouse or with Shift+arrow keys from the
// caret (click in the text, Enter labels the selection). Click a highlighted span's x
// (or press Delete on it) to remove it; Ctrl+Z undoes. Like Ground Truth's it needs no
// <crowd-form>: outside one it wraps itself in one. Offsets count Unicode code points,
// endOffset exclusive: {"entities": [{label, startOffset, endOffset}]}.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var annotators = [];

  // Labels: [{label, shortDisplayName, fullDisplayName}] (JSON or loose JS) or plain strings.
  function parseLabels(text) {
    var value = Crowd.parseValue(text);
    if (!Array.isArray(value)) value = Crowd.parseList(text);
    return value.map(function (item) {
      if (typeof item !== 'object' || item === null) item = { label: String(item) };
      var label = String(item.label);
      return { label: label, short: String(item.shortDisplayName || label), full: String(item.fullDisplayName || label) };
    });
  }

  class CrowdEntityAnnotation extends HTMLElement {
    build() {
      var self = this;
      if (!this.closest('crowd-form')) {
        var form = document.createElement('crowd-form');
        var parent = this.parentNode;
        var next = this.nextSibling;
        form.append(this);
        parent.insertBefore(form, next);
      }
      this.exposeForm(this.closest('crowd-form'));
      this.text = this.getAttribute('text') || '';
      this.points = Array.from(this.text);
      this.labelList = parseLabels(this.getAttribute('labels'));
      this.labelIndex = 0;
      this.history = [];
      this.entities = this.loadInitial(Crowd.parseValue(this.getAttribute('initial-value')));
      this.initialJson = JSON.stringify(this.entities);
      var short = this.querySelector(':scope > short-instructions');
      var full = this.querySelector(':scope > full-instructions');
      this.textBox = Crowd.h('div', { class: 'crowd-entity-text', tabindex: '0', 'aria-label': 'Text to annotate' });
      this.error = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      var tool = Crowd.h('div', { class: 'crowd-annot crowd-internal' }, [
        this.buildSidebar(short, full),
        Crowd.h('section', { class: 'crowd-annot-main' }, [
          Crowd.h('h1', { class: 'crowd-header', text: this.getAttribute('header') || '' }), this.textBox, this.error,
        ]),
      ]);
      [short, full].forEach(function (region) { if (region) region.remove(); });
      this.prepend(tool);
      this.textBox.addEventListener('mouseup', function () { self.labelSelection(); });
      this.textBox.addEventListener('click', function (event) {
        var remove = event.target.closest('.crowd-entity-x');
        if (remove) self.remove(Number(remove.dataset.index));
      });
      this.textBox.addEventListener('keydown', function (event) { self.onKey(event); });
      annotators.push(this);
      this.redraw();
    }

    // GT's element keeps its form in a shadow root and its guide sample reaches it with
    // el.shadowRoot.querySelector('crowd-form').form. Ours renders in the light DOM: the
    // shadow root only holds a <slot> (so it shows the children as they are) and answers
    // that one query with our form.
    exposeForm(form) {
      if (this.shadowRoot) return;
      var root = this.attachShadow({ mode: 'open' });
      root.append(document.createElement('slot'));
      root.querySelector = function (selector) {
        return selector === 'crowd-form' ? { form: form } : ShadowRoot.prototype.querySelector.call(root, selector);
      };
    }

    buildSidebar(short, full) {
      var names = this.labelList.map(function (l) { return l.label; });
      var captions = this.labelList.map(function (l) { return l.full; });
      return Crowd.annotationSidebar(this, short, full, names, captions, 'Choose a label (keys 1\u20139), then select the words. Keyboard: click in the text, Shift+arrows to select, Enter to label. Delete removes the span at the caret, Ctrl+Z undoes.');
    }

    loadInitial(value) {
      var names = this.labelList.map(function (l) { return l.label; });
      var length = this.points.length;
      return (Array.isArray(value) ? value : []).filter(function (e) {
        return names.indexOf(e.label) >= 0 && e.startOffset >= 0 && e.endOffset <= length && e.startOffset < e.endOffset;
      }).map(function (e) { return { label: e.label, startOffset: Number(e.startOffset), endOffset: Number(e.endOffset) }; })
        .sort(function (a, b) { return a.startOffset - b.startOffset; });
    }

    pickLabel(index) {
      if (index < 0 || index >= this.labelList.length) return;
      this.labelIndex = index;
      this.labelButtons.forEach(function (b, i) { b.setAttribute('aria-checked', String(i === index)); });
      if (this.labelSelection()) return;
      var at = this.entityAtCaret();
      if (at >= 0 && this.entities[at].label !== this.labelList[index].label) {
        this.history.push(JSON.stringify(this.entities));
        this.entities[at].label = this.labelList[index].label;
        this.redraw();
      }
    }

    // Code-point offset of a DOM position inside the text (label tags do not count).
    offsetOf(node, offset) {
      var range = document.createRange();
      range.setStart(this.textBox, 0);
      range.setEnd(node, offset);
      var copy = range.cloneContents();
      copy.querySelectorAll('.crowd-entity-tag').forEach(function (tag) { tag.remove(); });
      return Array.from(copy.textContent).length;
    }

    // The current selection as [start, end) code points, whitespace trimmed; null if none.
    selection() {
      var sel = window.getSelection();
      if (!sel.rangeCount || sel.isCollapsed) return null;
      var range = sel.getRangeAt(0);
      if (!this.textBox.contains(range.startContainer) || !this.textBox.contains(range.endContainer)) return null;
      var start = this.offsetOf(range.startContainer, range.startOffset);
      var end = this.offsetOf(range.endContainer, range.endOffset);
      while (start < end && /\s/.test(this.points[start])) start += 1;
      while (end > start && /\s/.test(this.points[end - 1])) end -= 1;
      return start < end ? [start, end] : null;
    }

    entityAtCaret() {
      var sel = window.getSelection();
      if (!sel.rangeCount || !this.textBox.contains(sel.anchorNode)) return -1;
      var at = this.offsetOf(sel.anchorNode, sel.anchorOffset);
      return this.entities.findIndex(function (e) { return e.startOffset <= at && at <= e.endOffset; });
    }

    // Label the selected words with the chosen label; true when something was labelled.
    labelSelection() {
      var span = this.selection();
      if (!span) return false;
      var overlaps = this.entities.some(function (e) { return e.startOffset < span[1] && span[0] < e.endOffset; });
      window.getSelection().removeAllRanges();
      if (overlaps) {
        this.error.textContent = 'That selection overlaps a labelled span. Remove the span first.';
        return false;
      }
      this.history.push(JSON.stringify(this.entities));
      this.entities.push({ label: this.labelList[this.labelIndex].label, startOffset: span[0], endOffset: span[1] });
      this.entities.sort(function (a, b) { return a.startOffset - b.startOffset; });
      this.redraw();
      return true;
    }

    remove(index) {
      if (!this.entities[index]) return;
      this.history.push(JSON.stringify(this.entities));
      this.entities.splice(index, 1);
      this.redraw();
    }

    undo() {
      if (!this.history.length) return;
      this.entities = JSON.parse(this.history.pop());
      this.redraw();
    }

    // DOM position of a code-point offset (inverse of offsetOf).
    domPosition(at) {
      var walker = document.createTreeWalker(this.textBox, NodeFilter.SHOW_TEXT, {
        acceptNode: function (node) { return node.parentNode.closest('.crowd-entity-tag') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT; },
      });
      var node = null;
      var last = null;
      while ((node = walker.nextNode())) {
        var points = Array.from(node.data);
        if (at <= points.length) return { node: node, offset: points.slice(0, at).join('').length };
        at -= points.length;
        last = node;
      }
      return last ? { node: last, offset: last.data.length } : { node: this.textBox, offset: 0 };
    }

    // The caret keys in static text: arrows (Ctrl: by word), Home/End; Shift extends.
    moveCaret(event) {
      var sel = window.getSelection();
      var inside = sel.rangeCount && this.textBox.contains(sel.anchorNode) && this.textBox.contains(sel.focusNode);
      var anchor = inside ? this.offsetOf(sel.anchorNode, sel.anchorOffset) : 0;
      var focus = inside ? this.offsetOf(sel.focusNode, sel.focusOffset) : 0;
      var points = this.points;
      var step = event.key === 'ArrowRight' ? 1 : -1;
      if (event.key === 'Home') focus = 0;
      else if (event.key === 'End') focus = points.length;
      else if (event.ctrlKey || event.altKey) {
        // By word: skip the spaces, then the word, in the arrow's direction.
        var at = focus;
        var next = function () { return points[step > 0 ? at : at - 1]; };
        while (next() !== undefined && /\s/.test(next())) at += step;
        while (next() !== undefined && !/\s/.test(next())) at += step;
        focus = at;
      } else focus = Math.max(0, Math.min(points.length, focus + step));
      var end = this.domPosition(focus);
      if (event.shiftKey) {
        var start = this.domPosition(anchor);
        sel.setBaseAndExtent(start.node, start.offset, end.node, end.offset);
      } else sel.collapse(end.node, end.offset);
    }

    onKey(event) {
      if (/^(ArrowLeft|ArrowRight|Home|End)$/.test(event.key)) { this.moveCaret(event); event.preventDefault(); return; }
      if (event.key === 'Enter' && this.labelSelection()) event.preventDefault();
      else if (event.key === 'Delete' || event.key === 'Backspace') {
        var at = this.entityAtCaret();
        if (at >= 0) { this.remove(at); event.preventDefault(); }
      }
    }

    redraw() {
      var self = this;
      var box = this.textBox;
      box.textContent = '';
      var at = 0;
      this.entities.forEach(function (entity, index) {
        var item = self.labelList.filter(function (l) { return l.label === entity.label; })[0];
        box.append(self.points.slice(at, entity.startOffset).join(''));
        box.append(Crowd.h('mark', { class: 'crowd-entity', 'data-label': entity.label, style: '--label-color:' + Crowd.PALETTE[self.labelList.indexOf(item) % 10] }, [
          self.points.slice(entity.startOffset, entity.endOffset).join(''),
          Crowd.h('span', { class: 'crowd-entity-tag', contenteditable: 'false' }, [
            item.short,
            Crowd.h('button', { type: 'button', class: 'crowd-entity-x', 'data-index': String(index), 'aria-label': 'Remove ' + entity.label, text: '\u00d7' }),
          ]),
        ]));
        at = entity.endOffset;
      });
      box.append(this.points.slice(at).join(''));
      this.error.textContent = '';
      this.dispatchEvent(new Event('change', { bubbles: true }));
    }

    crowdAnswer() {
      if (!this.entities) return undefined;
      var answer = {
        entities: this.entities.map(function (e) { return { label: e.label, startOffset: e.startOffset, endOffset: e.endOffset }; }),
      };
      if (this.hasAttribute('initial-value')) answer.initialValueModified = JSON.stringify(this.entities) !== this.initialJson;
      return answer;
    }
  }

  Crowd.define('crowd-entity-annotation', CrowdEntityAnnotation);

  document.addEventListener('keydown', function (event) {
    if (!annotators.length || document.querySelector('dialog[open]')) return;
    var tool = annotators.filter(function (t) { return t.contains(document.activeElement); })[0] || annotators[0];
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'z') { tool.undo(); event.preventDefault(); return; }
    if (/^[0-9]$/.test(event.key) && !Crowd.isTyping(event)) {
      tool.pickLabel(event.key === '0' ? 9 : Number(event.key) - 1);
      event.preventDefault();
    }
  });
})();
