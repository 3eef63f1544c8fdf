// Shared helpers for crowd-broker's crowd HTML elements (inlined into every HIT).
// Elements are defined at once, but each builds its UI only after the document is
// parsed, so light-DOM children (regions such as <short-instructions>) are present.
(function () {
  'use strict';
  var Crowd = (window.Crowd = window.Crowd || {});

  // Run fn once the whole document has been parsed.
  Crowd.whenParsed = function (fn) {
    if (document.readyState !== 'loading') { fn(); return; }
    document.addEventListener('DOMContentLoaded', fn, { once: true });
  };

  // Build an element: Crowd.h('button', {type: 'button', class: 'x'}, ['text', node]).
  Crowd.h = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === false || value === null || value === undefined) return;
      if (key === 'text') node.textContent = value;
      else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    });
    (children || []).forEach(function (child) {
      node.append(child);
    });
    return node;
  };

  // Parse a list attribute: JSON ("[\"a\"]") or Ground Truth's JS style ("['a', 'b']").
  Crowd.parseList = function (text) {
    if (!text) return [];
    try {
      var value = JSON.parse(text);
      if (Array.isArray(value)) return value.map(String);
    } catch (ignored) { /* fall through to the quoted-string reader */ }
    var items = [];
    var pattern = /'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var raw = match[1] !== undefined ? match[1] : match[2];
      items.push(raw.replace(/\\(.)/g, '$1'));
    }
    return items;
  };

  // Parse a loose JS object literal such as "{ text: 'None of the above' }".
  Crowd.parseObject = function (text) {
    if (!text) return null;
    try { return JSON.parse(text); } catch (ignored) { /* loose syntax below */ }
    var json = text
      .replace(/'((?:[^'\\]|\\.)*)'/g, function (_, s) { return JSON.stringify(s.replace(/\\(.)/g, '$1')); })
      .replace(/([{,]\s*)([A-Za-z_$][\w$]*)\s*:/g, '$1"$2":')
      .replace(/,\s*([}\]])/g, '$1');
    try { return JSON.parse(json); } catch (ignored) { return null; }
  };

  // Move the children of `from` into `to` (regions keep their nodes and listeners).
  Crowd.moveChildren = function (from, to) {
    while (from.firstChild) to.appendChild(from.firstChild);
    return to;
  };

  // A modal dialog holding `content`; returns {dialog, open()}.
  Crowd.modal = function (title, content) {
    var close = Crowd.h('button', { type: 'button', class: 'crowd-modal-close', 'aria-label': 'Close', text: '\u00d7' });
    var dialog = Crowd.h('dialog', { class: 'crowd-modal' }, [
      Crowd.h('div', { class: 'crowd-modal-head' }, [Crowd.h('h2', { text: title }), close]),
      Crowd.h('div', { class: 'crowd-modal-body' }, [content]),
    ]);
    close.addEventListener('click', function () { dialog.close(); });
    dialog.addEventListener('click', function (event) { if (event.target === dialog) dialog.close(); });
    document.body.appendChild(dialog);
    return { dialog: dialog, open: function () { dialog.showModal(); } };
  };

  // True when a key press is typing into a field rather than a shortcut.
  Crowd.isTyping = function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return true;
    if (!target || !target.closest) return false;
    return Boolean(target.isContentEditable || target.closest('input, textarea, select, [contenteditable]'));
  };

  // Ground Truth's elements render in a shadow root and some templates reach into it
  // (el.shadowRoot.querySelector('.category-picker-wrapper')). Ours render in the light DOM:
  // the open shadow root holds one <slot> (the children show as they are) and answers the
  // selectors templates use with our equivalent nodes: parts maps selector -> () => node.
  // `content` (optional) replaces the single slot with the element's own shadow layout.
  Crowd.exposeShadow = function (el, parts, content) {
    var root = el.shadowRoot || el.attachShadow({ mode: 'open' });
    if (content) root.append.apply(root, content);
    else if (!root.querySelector('slot')) root.append(document.createElement('slot'));
    var own = ShadowRoot.prototype.querySelector;
    root.querySelector = function (selector) {
      var key = String(selector).replace(/\s+/g, ' ').trim();
      return parts[key] ? parts[key]() : own.call(root, selector);
    };
    return root;
  };

  // Define a custom element whose build() runs once, after parsing, when connected.
  Crowd.define = function (tag, cls) {
    var connected = cls.prototype.connectedCallback;
    cls.prototype.connectedCallback = function () {
      var self = this;
      if (connected) connected.call(self);
      if (self.crowdBuilt) return;
      self.crowdBuilt = true;
      Crowd.whenParsed(function () { if (self.build) self.build(); });
    };
    if (!customElements.get(tag)) customElements.define(tag, cls);
  };

  // Ground Truth's signal that every element on the page has been built.
  Crowd.whenParsed(function () {
    setTimeout(function () {
      Crowd.ready = true;
      document.dispatchEvent(new CustomEvent('all-crowd-elements-ready'));
    }, 0);
  });
})();
