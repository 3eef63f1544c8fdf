// <crowd-form>: collects every named crowd element and named input into ONE answer
// object keyed by name and posts it to MTurk as `taskAnswers` (a JSON array holding
// that object) with `assignmentId`, to {turkSubmitTo}/mturk/externalSubmit.
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var PREVIEW_ID = 'ASSIGNMENT_ID_NOT_AVAILABLE';
  var SUBMIT_CONTROLS = 'crowd-button[form-action="submit"], button, input[type="submit"]';
  var SKIPPED_TYPES = ['submit', 'button', 'reset', 'image', 'file'];

  // Template content our elements moved into their own UI (instructions, the classified item):
  // its fields are the template's and answer like any other.
  var TEMPLATE_CONTENT = '.crowd-short-instructions, .crowd-full-instructions, .crowd-target';

  // True for the controls our elements build for themselves (never part of the answer).
  Crowd.isInternal = function (el) {
    var internal = el.closest('.crowd-internal');
    if (!internal) return false;
    var content = el.closest(TEMPLATE_CONTENT);
    return !(content && internal.contains(content));
  };

  function isPlainObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  // The value a named native control contributes, or undefined to leave it out.
  function nativeValue(control) {
    if (control.type === 'checkbox' || control.type === 'radio') {
      var state = {};
      state[control.value || 'on'] = control.checked;
      return state;
    }
    if (control.tagName === 'SELECT' && control.multiple) {
      return Array.prototype.filter.call(control.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
    }
    return control.value;
  }

  // MTurk's query parameters, as externalHIT_v1.js reads them.
  function turkParams() {
    var query = new URLSearchParams(window.location.search);
    var assignmentId = query.get('assignmentId') || '';
    return {
      assignmentId: assignmentId,
      hitId: query.get('hitId') || '',
      workerId: query.get('workerId') || '',
      turkSubmitTo: query.get('turkSubmitTo') || '',
      preview: assignmentId === '' || assignmentId === PREVIEW_ID,
    };
  }

  // {turkSubmitTo}/mturk/externalSubmit, or null unless turkSubmitTo is an http(s) URL.
  function submitUrl(turkSubmitTo) {
    try {
      var url = new URL(turkSubmitTo);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
      return turkSubmitTo.replace(/\/+$/, '') + '/mturk/externalSubmit';
    } catch (ignored) {
      return null;
    }
  }

  class CrowdForm extends HTMLElement {
    build() {
      this.turk = turkParams();
      this.buildInstructions();
      this.status = Crowd.h('p', { class: 'crowd-form-status', role: 'status', 'aria-live': 'polite' });
      var footer = Crowd.h('div', { class: 'crowd-form-footer' }, [this.status]);
      if (!this.submitControls().length) {
        footer.append(Crowd.h('button', { type: 'submit', class: 'crowd-submit', text: 'Submit' }));
      }
      this.append(footer);
      this.addEventListener('click', this.onClick.bind(this));
      if (this.turk.preview) {
        this.classList.add('crowd-preview');
        this.submitControls().forEach(function (c) { c.setAttribute('disabled', ''); c.disabled = true; });
        this.say('This is a preview. You must ACCEPT the HIT before you can submit the results.', 'notice');
      }
    }

    // Region children of the form itself (GT custom templates) become a top panel.
    buildInstructions() {
      var short = this.querySelector(':scope > short-instructions');
      var full = this.querySelector(':scope > full-instructions');
      if (!short && !full) return;
      var panel = Crowd.h('section', { class: 'crowd-form-instructions' });
      if (short) panel.append(Crowd.moveChildren(short, Crowd.h('div', { class: 'crowd-short-instructions' })));
      if (full) {
        var modal = Crowd.modal(full.getAttribute('header') || 'Instructions',
          Crowd.moveChildren(full, Crowd.h('div', { class: 'crowd-full-instructions' })));
        panel.append(Crowd.h('button', { type: 'button', class: 'crowd-link', text: 'View full instructions', onclick: modal.open }));
      }
      [short, full].forEach(function (region) { if (region) region.remove(); });
      this.prepend(panel);
    }

    submitControls() {
      return Array.prototype.filter.call(this.querySelectorAll(SUBMIT_CONTROLS), function (c) {
        return c.tagName !== 'BUTTON' || c.type === 'submit';
      });
    }

    onClick(event) {
      var control = event.target.closest('crowd-button[form-action="submit"]') ||
        event.target.closest('button, input[type="submit"]');
      if (!control || !this.contains(control) || this.submitControls().indexOf(control) < 0) return;
      event.preventDefault();
      this.requestSubmit();
    }

    say(message, kind) {
      this.status.textContent = message;
      this.status.className = 'crowd-form-status' + (kind ? ' crowd-form-' + kind : '');
    }

    // First problem that blocks submission, reported to the worker; true when none.
    validate() {
      var elements = this.querySelectorAll('*');
      for (var i = 0; i < elements.length; i += 1) {
        var el = elements[i];
        if (typeof el.crowdValidate === 'function') {
          var problem = el.crowdValidate();
          if (problem) {
            this.say(problem, 'error');
            el.dispatchEvent(new CustomEvent('crowd-reveal', { bubbles: true }));
            el.scrollIntoView({ block: 'center' });
            if (el.focus) el.focus();
            return false;
          }
        } else if (el.willValidate && el.name && !el.checkValidity()) {
          this.say('Please complete the highlighted field.', 'error');
          el.dispatchEvent(new CustomEvent('crowd-reveal', { bubbles: true }));
          el.reportValidity();
          return false;
        }
      }
      return true;
    }

    // The answer object: {name: value} over every named crowd element and input.
    serialize() {
      var answer = {};
      function put(name, value) {
        if (!name || value === undefined) return;
        if (isPlainObject(answer[name]) && isPlainObject(value)) Object.assign(answer[name], value);
        else answer[name] = value;
      }
      this.querySelectorAll('*').forEach(function (el) {
        if (typeof el.crowdAnswer === 'function' && el.crowdTopLevel) {
          Object.assign(answer, el.crowdAnswer()); // Ground Truth's v2 elements answer at the top
        } else if (typeof el.crowdAnswer === 'function') {
          put(el.getAttribute('name'), el.crowdAnswer());
        } else if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) && el.name && !el.disabled &&
                   SKIPPED_TYPES.indexOf(el.type) < 0 && !Crowd.isInternal(el)) {
          put(el.name, nativeValue(el));
        }
      });
      return answer;
    }

    // Validate, let the template's submit handlers run (they may cancel), then post.
    requestSubmit() {
      if (this.turk.preview) {
        this.say('You must ACCEPT the HIT before you can submit the results.', 'error');
        return;
      }
      if (this.submitting || !this.validate()) return;
      var event = new Event('submit', { bubbles: true, cancelable: true });
      if (!this.dispatchEvent(event)) return;
      this.submit();
    }

    // Post the answer now (no validation), like HTMLFormElement.submit().
    submit() {
      var action = submitUrl(this.turk.turkSubmitTo);
      if (this.turk.preview) {
        this.say('You must ACCEPT the HIT before you can submit the results.', 'error');
        return;
      }
      if (!action) {
        this.say('This page cannot submit: turkSubmitTo is missing from its address.', 'error');
        return;
      }
      this.submitting = true;
      this.submitControls().forEach(function (c) { c.disabled = true; });
      this.say('Submitting\u2026', 'notice');
      var post = Crowd.h('form', { method: 'post', action: action, class: 'crowd-internal', hidden: true }, [
        Crowd.h('input', { type: 'hidden', name: 'assignmentId', value: this.turk.assignmentId }),
        Crowd.h('input', { type: 'hidden', name: 'taskAnswers', value: JSON.stringify([this.serialize()]) }),
      ]);
      document.body.appendChild(post);
      post.submit();
    }
  }

  Crowd.define('crowd-form', CrowdForm);
})();
