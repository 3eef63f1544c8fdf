// Helpers shared by the annotation tools (image tools, entity annotation, verification).
(function () {
  'use strict';
  var Crowd = window.Crowd;
  var SVG = 'http://www.w3.org/2000/svg';

  // Ground Truth's label colours (d3 category10), in label order.
  Crowd.PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

  Crowd.svg = function (tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  };

  // An attribute holding JSON or a loose JS literal (GT templates write both).
  Crowd.parseValue = function (text) {
    if (!text || !text.trim()) return null;
    if (text.trim().charAt(0) === '[') {
      var items = Crowd.parseObject('{"v":' + text + '}');
      return items ? items.v : null;
    }
    return Crowd.parseObject(text);
  };

  // (Re)build a tool's label buttons (keys 1-9, 0) in tool.labelBox; sets tool.labelButtons.
  Crowd.labelButtons = function (tool, names, captions) {
    var current = tool.labelIndex || 0;
    tool.labelButtons = names.map(function (label, index) {
      var key = index < 9 ? String(index + 1) : index === 9 ? '0' : '';
      return Crowd.h('button', {
        type: 'button', class: 'crowd-annot-label', role: 'radio', 'aria-checked': String(index === current), 'data-label': label,
        style: '--label-color:' + (tool.color ? tool.color(label) : Crowd.PALETTE[index % 10]), onclick: function () { tool.pickLabel(index); },
      }, [key ? Crowd.h('kbd', { text: key }) : '', Crowd.h('span', { text: captions[index] })]);
    });
    tool.labelBox.replaceChildren.apply(tool.labelBox, tool.labelButtons);
  };

  // The tools' sidebar: label buttons (keys 1-9, 0) first, then the instructions and a hint.
  // `names` are the label values, `captions` what the buttons show; sets tool.labelButtons.
  Crowd.annotationSidebar = function (tool, short, full, names, captions, hint) {
    var side = Crowd.h('aside', { class: 'crowd-annot-side' });
    var labels = Crowd.h('div', { class: 'crowd-annot-labels', role: 'radiogroup', 'aria-label': 'Labels' });
    side.append(Crowd.h('h2', { text: 'Labels' }), labels, Crowd.h('h2', { text: 'Instructions' }));
    if (full) {
      var modal = Crowd.modal(full.getAttribute('header') || 'Instructions',
        Crowd.moveChildren(full, Crowd.h('div', { class: 'crowd-full-instructions' })));
      side.append(Crowd.h('button', { type: 'button', class: 'crowd-link', text: 'View full instructions', onclick: modal.open }));
    }
    if (short) side.append(Crowd.moveChildren(short, Crowd.h('div', { class: 'crowd-short-instructions' })));
    tool.labelBox = labels;
    Crowd.labelButtons(tool, names, captions);
    side.append(Crowd.h('p', { class: 'crowd-hint', text: hint }));
    return side;
  };
})();
