// <crowd-question-answer-generation name text min-questions max-questions question-min-words
//   question-max-words answer-min-words answer-max-words question-tags='["What", ...]'
//   allow-custom-question-tags> (Ground Truth's v2 element): the worker writes question and
// answer pairs about the passage, tags each question and may attach passages they select in
// the text as references. Answers at the top of the answer object, as the v2 elements do:
// {"questionAnswerPairs": [{"question", "answer", "questionTags": [...],
//   "textReferences": [{"text", "startOffset", "endOffset"}]}]} (offsets in code points).
(function () {
  'use strict';
  var Crowd = window.Crowd;

  function parseJson(text, fallback) {
    try { var value = JSON.parse(text); return value === null || value === undefined ? fallback : value; } catch (ignored) { return fallback; }
  }

  function words(text) { return text.trim() ? text.trim().split(/\s+/).length : 0; }

  function intAttr(el, name, fallback) {
    var value = parseInt(el.getAttribute(name), 10);
    return isFinite(value) && value >= 0 ? value : fallback;
  }

  class CrowdQuestionAnswerGeneration extends HTMLElement {
    build() {
      var self = this;
      var short = this.querySelector(':scope > short-instructions');
      this.limits = {
        min: intAttr(this, 'min-questions', 1), max: intAttr(this, 'max-questions', Infinity),
        qMin: intAttr(this, 'question-min-words', 1), qMax: intAttr(this, 'question-max-words', Infinity),
        aMin: intAttr(this, 'answer-min-words', 1), aMax: intAttr(this, 'answer-max-words', Infinity),
      };
      this.tags = parseJson(this.getAttribute('question-tags'), []).map(String);
      this.customTags = /^(|true)$/i.test(String(this.getAttribute('allow-custom-question-tags') || 'false').trim()) &&
        this.hasAttribute('allow-custom-question-tags');
      this.passage = this.getAttribute('text') || '';
      this.textBox = Crowd.h('div', { class: 'crowd-v2-text', text: this.passage });
      this.pairsBox = Crowd.h('div', { class: 'crowd-qa-pairs' });
      this.pairs = [];
      this.addButton = Crowd.h('button', { type: 'button', class: 'crowd-button', text: 'Add a question', onclick: function () { self.addPair(); } });
      this.error = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      var panel = Crowd.h('div', { class: 'crowd-v2 crowd-internal' }, [
        short ? Crowd.moveChildren(short, Crowd.h('div', { class: 'crowd-short-instructions' })) : '',
        Crowd.h('h2', { text: 'Text' }), this.textBox,
        Crowd.h('p', { class: 'crowd-hint', text: 'Select words in the text, then "Add selected text" on a question to cite them.' }),
        this.pairsBox, this.addButton, this.error,
      ]);
      if (short) short.remove();
      this.prepend(panel);
      for (var i = 0; i < Math.max(1, this.limits.min); i += 1) this.addPair();
    }

    addPair() {
      var self = this;
      if (this.pairs.length >= this.limits.max) return;
      var n = this.pairs.length + 1;
      var pair = { references: [] };
      pair.question = Crowd.h('textarea', { rows: '2', 'aria-label': 'Question ' + n });
      pair.answer = Crowd.h('textarea', { rows: '2', 'aria-label': 'Answer ' + n });
      pair.tag = Crowd.h('select', { 'aria-label': 'Question tag ' + n },
        [Crowd.h('option', { value: '', text: '(no tag)' })].concat(this.tags.map(function (t) { return Crowd.h('option', { value: t, text: t }); })));
      pair.custom = this.customTags ? Crowd.h('input', { type: 'text', placeholder: 'Custom tag', 'aria-label': 'Custom tag ' + n }) : null;
      pair.refList = Crowd.h('ul', { class: 'crowd-qa-refs' });
      var cite = Crowd.h('button', { type: 'button', class: 'crowd-link', text: 'Add selected text', onclick: function () { self.cite(pair); } });
      var remove = Crowd.h('button', { type: 'button', class: 'crowd-link', text: 'Remove', onclick: function () { self.removePair(pair); } });
      pair.box = Crowd.h('fieldset', { class: 'crowd-qa-pair' }, [
        Crowd.h('legend', { text: 'Question ' + n }),
        Crowd.h('label', { text: 'Question' }), pair.question, Crowd.h('label', { text: 'Answer' }), pair.answer,
        Crowd.h('div', { class: 'crowd-qa-tags' }, [pair.tag, pair.custom || '']), pair.refList, cite, ' ', remove,
      ]);
      this.pairs.push(pair);
      this.pairsBox.append(pair.box);
      this.addButton.disabled = this.pairs.length >= this.limits.max;
    }

    removePair(pair) {
      this.pairs.splice(this.pairs.indexOf(pair), 1);
      pair.box.remove();
      this.addButton.disabled = this.pairs.length >= this.limits.max;
    }

    // The worker's selection inside the passage, as a reference with code-point offsets.
    cite(pair) {
      var selection = window.getSelection();
      if (!selection.rangeCount || !this.textBox.contains(selection.anchorNode)) return;
      var range = selection.getRangeAt(0);
      var before = document.createRange();
      before.setStart(this.textBox, 0);
      before.setEnd(range.startContainer, range.startOffset);
      var start = Array.from(before.toString()).length;
      var text = range.toString();
      if (!text) return;
      pair.references.push({ text: text, startOffset: start, endOffset: start + Array.from(text).length });
      pair.refList.append(Crowd.h('li', { text: '\u201c' + text + '\u201d' }));
    }

    get value() {
      if (!this.pairs) return undefined;
      return {
        questionAnswerPairs: this.pairs.map(function (pair) {
          var tags = [pair.tag.value, pair.custom ? pair.custom.value.trim() : ''].filter(Boolean);
          return {
            question: pair.question.value.trim(), answer: pair.answer.value.trim(),
            questionTags: tags, textReferences: pair.references.slice(),
          };
        }),
      };
    }

    crowdValidate() {
      if (!this.pairs) return '';
      var limits = this.limits;
      var problem = '';
      if (this.pairs.length < limits.min) problem = 'Write at least ' + limits.min + ' question(s).';
      this.pairs.forEach(function (pair, index) {
        if (problem) return;
        var q = words(pair.question.value);
        var a = words(pair.answer.value);
        if (q < limits.qMin || q > limits.qMax) problem = 'Question ' + (index + 1) + ' needs ' + limits.qMin + (isFinite(limits.qMax) ? '\u2013' + limits.qMax : '+') + ' words.';
        else if (a < limits.aMin || a > limits.aMax) problem = 'Answer ' + (index + 1) + ' needs ' + limits.aMin + (isFinite(limits.aMax) ? '\u2013' + limits.aMax : '+') + ' words.';
      });
      this.error.textContent = problem;
      this.classList.toggle('crowd-invalid', Boolean(problem));
      return problem;
    }

    crowdAnswer() { return this.value; }
  }
  CrowdQuestionAnswerGeneration.prototype.crowdTopLevel = true;

  Crowd.define('crowd-question-answer-generation', CrowdQuestionAnswerGeneration);
})();
