// <crowd-text-ranking name text responses='["...", ...]'
//   ordinal-ranking-dimensions='[{"name": "Clarity", "allowTie": true}, ...]'> (Ground Truth's v2
// element): the worker ranks every response on every dimension (1 = best; ties only where the
// dimension allows them). Like Ground Truth's, it answers at the top of the answer object:
// {"ordinalRankingDimensions": [{"name", "responseRankings": [rank of response 1, ...]}]}.
(function () {
  'use strict';
  var Crowd = window.Crowd;

  function parseJson(text, fallback) {
    try { var value = JSON.parse(text); return value === null || value === undefined ? fallback : value; } catch (ignored) { return fallback; }
  }

  class CrowdTextRanking extends HTMLElement {
    build() {
      var self = this;
      var short = this.querySelector(':scope > short-instructions');
      this.responses = parseJson(this.getAttribute('responses'), []).map(String);
      this.dimensions = parseJson(this.getAttribute('ordinal-ranking-dimensions'), []).filter(function (d) { return d && d.name; });
      var count = this.responses.length;
      this.selects = this.dimensions.map(function (dimension) {
        return self.responses.map(function (_, index) {
          var select = Crowd.h('select', { class: 'crowd-rank', 'aria-label': dimension.name + ' rank for response ' + (index + 1) },
            [Crowd.h('option', { value: '', text: '\u2013' })].concat(self.responses.map(function (__, rank) {
              return Crowd.h('option', { value: String(rank + 1), text: String(rank + 1) });
            })));
          select.addEventListener('change', function () { self.error.textContent = ''; self.classList.remove('crowd-invalid'); });
          return select;
        });
      });
      var head = Crowd.h('tr', {}, [Crowd.h('th', { text: 'Response' })].concat(this.dimensions.map(function (d) {
        return Crowd.h('th', { text: d.name + (d.allowTie ? ' (ties allowed)' : '') });
      })));
      var rows = this.responses.map(function (response, index) {
        return Crowd.h('tr', {}, [Crowd.h('td', {}, [Crowd.h('strong', { text: (index + 1) + '. ' }), response])]
          .concat(self.selects.map(function (column) { return Crowd.h('td', {}, [column[index]]); })));
      });
      this.error = Crowd.h('p', { class: 'crowd-error', role: 'alert' });
      var panel = Crowd.h('div', { class: 'crowd-v2 crowd-internal' }, [
        short ? Crowd.moveChildren(short, Crowd.h('div', { class: 'crowd-short-instructions' })) : '',
        Crowd.h('h2', { text: 'Prompt' }), Crowd.h('div', { class: 'crowd-v2-text', text: this.getAttribute('text') || '' }),
        Crowd.h('h2', { text: 'Rank the ' + count + ' responses (1 = best)' }),
        Crowd.h('table', { class: 'crowd-rank-table' }, [Crowd.h('thead', {}, [head]), Crowd.h('tbody', {}, rows)]),
        this.error,
      ]);
      if (short) short.remove();
      this.prepend(panel);
    }

    // Rank of each response on each dimension (null where not ranked yet).
    get value() {
      var self = this;
      if (!this.selects) return undefined;
      return {
        ordinalRankingDimensions: this.dimensions.map(function (dimension, d) {
          return {
            name: String(dimension.name),
            responseRankings: self.selects[d].map(function (select) { return select.value ? Number(select.value) : null; }),
          };
        }),
      };
    }

    crowdValidate() {
      if (!this.selects) return '';
      var problem = '';
      this.value.ordinalRankingDimensions.forEach(function (dimension, d) {
        if (problem) return;
        var ranks = dimension.responseRankings;
        if (ranks.indexOf(null) >= 0) problem = 'Please rank every response on ' + dimension.name + '.';
        else if (!this.dimensions[d].allowTie && new Set(ranks).size !== ranks.length) {
          problem = 'Give each response a different rank on ' + dimension.name + ' (no ties).';
        }
      }, this);
      this.error.textContent = problem;
      this.classList.toggle('crowd-invalid', Boolean(problem));
      return problem;
    }

    crowdAnswer() { return this.value; }
  }
  CrowdTextRanking.prototype.crowdTopLevel = true;

  Crowd.define('crowd-text-ranking', CrowdTextRanking);
})();
