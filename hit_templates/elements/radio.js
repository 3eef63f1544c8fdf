// <crowd-radio-group> and <crowd-radio-button name value checked disabled>: exactly one
// button of a group is checked; each button answers {"<value>": true|false} under its
// name. A group with `required` blocks submission until one button is checked.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  class CrowdRadioButton extends HTMLElement {
    build() {
      var self = this;
      this.radio = Crowd.h('input', { type: 'radio', checked: this.hasAttribute('checked'), disabled: this.hasAttribute('disabled') });
      var text = Crowd.moveChildren(this, Crowd.h('span'));
      this.append(Crowd.h('label', { class: 'crowd-check crowd-internal' }, [this.radio, text]));
      this.radio.addEventListener('change', function () { if (self.radio.checked) self.clearSiblings(); });
    }

    // Buttons in the same crowd-radio-group, or with the same name outside any group.
    siblings() {
      var group = this.closest('crowd-radio-group');
      var name = this.getAttribute('name');
      var all = group ? group.querySelectorAll('crowd-radio-button') : document.querySelectorAll('crowd-radio-button');
      var self = this;
      return Array.prototype.filter.call(all, function (b) {
        return b !== self && (group ? b.closest('crowd-radio-group') === group : !b.closest('crowd-radio-group') && b.getAttribute('name') === name);
      });
    }

    clearSiblings() {
      this.siblings().forEach(function (b) { b.checked = false; });
      var group = this.closest('crowd-radio-group');
      if (group) group.classList.remove('crowd-invalid');
    }

    get checked() { return this.radio ? this.radio.checked : this.hasAttribute('checked'); }

    set checked(value) {
      if (this.radio) this.radio.checked = Boolean(value); else this.toggleAttribute('checked', Boolean(value));
      if (value) this.clearSiblings();
    }

    crowdAnswer() {
      var answer = {};
      answer[this.getAttribute('value') || 'on'] = this.checked;
      return answer;
    }
  }

  class CrowdRadioGroup extends HTMLElement {
    crowdValidate() {
      if (!this.hasAttribute('required')) return '';
      var buttons = Array.prototype.slice.call(this.querySelectorAll('crowd-radio-button'));
      if (buttons.some(function (b) { return b.checked; })) return '';
      this.classList.add('crowd-invalid');
      return 'Please choose one of the options.';
    }
  }

  Crowd.define('crowd-radio-group', CrowdRadioGroup);
  Crowd.define('crowd-radio-button', CrowdRadioButton);
})();
