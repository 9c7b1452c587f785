// Inactivity logout, the page side (the server side is trials.security.IdleTimeoutMiddleware).
// A warning with a "Stay signed in" button shows SESSION_IDLE_WARNING seconds before the end;
// typing in a form pings the keep-alive (throttled), so a long form never loses its session.
// Before warning or leaving, the page asks the server how long is left: another tab may have
// kept the session alive meanwhile.
(function () {
  "use strict";
  var body = document.body;
  var timeout = parseInt(body.dataset.sessionTimeout || "0", 10);
  if (!timeout) return;
  var warning = parseInt(body.dataset.sessionWarning || "0", 10);
  var statusUrl = body.dataset.sessionUrl;
  var banner = document.getElementById("session-warning");
  var countdown = document.getElementById("session-countdown");
  // Typing pings at most this often: often enough to beat the timeout, rarely enough to be cheap.
  var pingEvery = Math.max(1, Math.min(60, timeout / 4)) * 1000;
  var deadline = Date.now() + timeout * 1000;
  var lastPing = Date.now();
  var asking = false;
  var checkedDeadline = 0;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function apply(data) {
    if (!data.authenticated) {
      var here = window.location.pathname + window.location.search;
      window.location.assign(body.dataset.loginUrl + "?expired=1&next=" + encodeURIComponent(here));
      return;
    }
    deadline = Date.now() + data.remaining * 1000;
    checkedDeadline = deadline;
    if (data.remaining > warning) banner.classList.add("d-none");
  }

  function ask(method) {
    if (asking) return;
    asking = true;
    var options = { method: method, cache: "no-store", credentials: "same-origin", headers: {} };
    if (method === "POST") options.headers["X-CSRFToken"] = csrfToken();
    fetch(statusUrl, options)
      .then(function (response) { return response.json(); })
      .then(apply)
      .catch(function () { /* offline for a moment: the next tick asks again */ })
      .finally(function () { asking = false; });
  }

  function keepAlive() {
    lastPing = Date.now();
    ask("POST");
  }

  function tick() {
    var left = Math.round((deadline - Date.now()) / 1000);
    if (left <= warning) {
      // Check once with the server (other tabs) before warning, and again at the end.
      if (checkedDeadline !== deadline || left <= 0) {
        checkedDeadline = deadline;
        ask("GET");
      }
      var shown = Math.max(0, left);
      countdown.textContent = Math.floor(shown / 60) + ":" + String(shown % 60).padStart(2, "0");
      banner.classList.remove("d-none");
    }
  }

  document.getElementById("session-stay").addEventListener("click", keepAlive);
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form");
    if (form && Date.now() - lastPing >= pingEvery) keepAlive();
  });
  setInterval(tick, 1000);
})();
