// Live parts of the pages, without a framework: an element with data-live-url and
// data-finished="false" is refreshed from its fragment URL until it reports it is finished.
// With data-events-url it follows the API's server-sent events and refreshes on each event;
// otherwise (or when the stream fails) it polls. Pages stay readable without JavaScript.
(function () {
  "use strict";

  function finishedIn(html) {
    // The fragment's root carries data-status / data-state.
    return !/data-(status|state)="(queued|running|pending)"/.test(html);
  }

  function follow(el) {
    var url = el.getAttribute("data-live-url");
    var eventsUrl = el.getAttribute("data-events-url");
    var stopped = false;
    var timer = null;
    var source = null;
    var inFlight = false;

    function stop() {
      stopped = true;
      el.setAttribute("data-finished", "true");
      if (source) { source.close(); }
      if (timer) { clearInterval(timer); }
    }

    function refresh() {
      if (stopped || inFlight) { return; }
      inFlight = true;
      fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          el.innerHTML = html;
          if (finishedIn(html)) { stop(); }
        })
        .catch(function () { /* keep the last good view; the next tick retries */ })
        .then(function () { inFlight = false; });
    }

    function poll() {
      if (!timer) { timer = setInterval(refresh, 1000); }
    }

    if (eventsUrl && window.EventSource) {
      source = new EventSource(eventsUrl);
      source.addEventListener("progress", refresh);
      source.addEventListener("done", function () { source.close(); refresh(); });
      source.onerror = function () { source.close(); poll(); };
    } else {
      poll();
    }
    refresh();
  }

  function enableTabInEditors() {
    // Tab indents in code editors; Esc releases the trap so Tab moves focus again.
    document.querySelectorAll("textarea.code-editor").forEach(function (ta) {
      var trapped = true;
      ta.addEventListener("keydown", function (e) {
        if (e.key === "Escape") { trapped = false; return; }
        if (e.key === "Tab" && trapped && !e.shiftKey) {
          e.preventDefault();
          var s = ta.selectionStart;
          ta.setRangeText("    ", s, ta.selectionEnd, "end");
        }
      });
      ta.addEventListener("focus", function () { trapped = true; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url][data-finished='false']").forEach(follow);
    enableTabInEditors();
  });
})();
