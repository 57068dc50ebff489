// gatehub console: progressive enhancement only. Every page works without
// this file; with it, live regions follow server-sent events and
// destructive forms ask for confirmation.
(function () {
  "use strict";
  function indicator(state) {
    document.querySelectorAll("[data-live-indicator]").forEach(function (el) { el.setAttribute("data-state", state); });
  }
  function live(el) {
    var url = el.getAttribute("data-live");
    var es = new EventSource(url);
    es.onopen = function () { indicator("on"); el.setAttribute("data-connected", "true"); };
    es.onerror = function () { indicator("off"); };
    if (el.hasAttribute("data-board")) {
      es.addEventListener("lane", function (e) {
        var msg = JSON.parse(e.data);
        var old = document.getElementById("lane-" + msg.lane);
        if (!old) { return; }
        var tmp = document.createElement("div");
        tmp.innerHTML = msg.html; // rendered and escaped by the server's templates
        var card = tmp.firstElementChild;
        card.classList.add("flash");
        old.replaceWith(card);
      });
      es.addEventListener("waiting", function (e) {
        var w = document.getElementById("waiting");
        if (w) { w.innerHTML = e.data; }
      });
      return;
    }
    var ev = el.getAttribute("data-event") || "view";
    es.addEventListener(ev, function (e) { el.innerHTML = e.data; });
    es.addEventListener("done", function () { es.close(); indicator("off"); });
    es.addEventListener("gone", function () { es.close(); indicator("off"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (window.EventSource) { document.querySelectorAll("[data-live]").forEach(live); }
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        var q = f.getAttribute("data-confirm");
        if (q && !window.confirm(q)) { e.preventDefault(); }
      });
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
})();
