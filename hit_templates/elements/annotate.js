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
})();
