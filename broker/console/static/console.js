// The console's small behaviours: live figures (a fetch every few seconds) and review-queue keys.
(function () {
  "use strict";
  var POLL_MS = 3000;

  function setField(row, name, value) {
    var cell = row.querySelector('[data-field="' + name + '"]');
    if (!cell) return;
    if (cell.tagName === "PROGRESS") { cell.value = value; return; }
    var link = cell.querySelector("a");
    (link || cell).textContent = String(value);
  }

  function showJob(row, job) {
    setField(row, "status", job.status);
    setField(row, "progress", job.progress);
    setField(row, "published", job.published + "/" + job.objects);
    ["answered", "consolidated", "failed", "awaiting_review", "spent", "committed", "budget", "eta", "flagged_workers"]
      .forEach(function (name) { setField(row, name, job[name]); });
    var list = document.querySelector('[data-attention="' + job.name + '"]');
    if (list) {
      var ul = list.tagName === "UL" ? list : list.querySelector("ul");
      ul.textContent = "";
      job.attention.forEach(function (a) {
        var li = document.createElement("li");
        li.textContent = a.stage + " has failed " + a.count + " times in a row since " +
          a.since.slice(0, 19).replace("T", " ") + " UTC: " + a.error;
        ul.appendChild(li);
      });
      if (list.tagName === "TR") list.hidden = job.attention.length === 0;
    }
  }

  function poll(table) {
    var live = document.getElementById("live");
    fetch(table.dataset.poll, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (data) {
        var jobs = Array.isArray(data) ? data : [data];
        if (Array.isArray(data) && jobs.length !== table.querySelectorAll("tr[data-job]").length) {
          window.location.reload();  // a job was submitted meanwhile
          return;
        }
        jobs.forEach(function (job) {
          var row = table.dataset.job ? table : table.querySelector('tr[data-job="' + CSS.escape(job.name) + '"]');
          if (row) showJob(row, job);
        });
        if (live) { live.classList.remove("stale"); live.textContent = "live " + new Date().toISOString().slice(11, 19) + " UTC"; }
        table.dataset.polls = String(Number(table.dataset.polls || 0) + 1);
      })
      .catch(function () { if (live) { live.classList.add("stale"); live.textContent = "not updating"; } });
  }

  document.querySelectorAll("[data-poll]").forEach(function (table) {
    setInterval(function () { poll(table); }, POLL_MS);
  });

  // review queue: j/k move, a approve, r reject, x tick, / reason
  var form = document.getElementById("review-form");
  if (!form) return;
  var rows = Array.prototype.slice.call(form.querySelectorAll("tr.item"));
  var reason = document.getElementById("reason");
  var cursorField = document.getElementById("cursor");
  var cursor = Math.min(Number(form.dataset.cursor || 0), Math.max(rows.length - 1, 0));

  function select(i) {
    if (!rows.length) return;
    cursor = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (row, k) { row.classList.toggle("current", k === cursor); });
    cursorField.value = String(cursor);
    rows[cursor].scrollIntoView({ block: "nearest" });
  }
  rows.forEach(function (row, k) { row.addEventListener("click", function () { select(k); }); });
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && /^reject/.test(button.name) && !reason.value.trim()) {
      event.preventDefault();
      reason.focus();
      reason.placeholder = "a reason is needed to reject: type it, then press Enter on Reject or r";
    }
  });
  select(cursor);

  document.addEventListener("keydown", function (event) {
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName) && event.target.type !== "checkbox";
    if (event.key === "Escape" && typing) { event.target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !rows.length) return;
    var row = rows[cursor];
    if (event.key === "j") select(cursor + 1);
    else if (event.key === "k") select(cursor - 1);
    else if (event.key === "x") { var box = row.querySelector("input[type=checkbox]"); box.checked = !box.checked; }
    else if (event.key === "a") form.requestSubmit(row.querySelector("button.approve"));
    else if (event.key === "r") form.requestSubmit(row.querySelector("button.reject"));
    else if (event.key === "/") { event.preventDefault(); reason.focus(); return; }
    else return;
    event.preventDefault();
  });
})();
