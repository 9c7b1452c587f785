// Outcome dashboard: draws the plots and keeps the page live.
// Every 3 s it asks /dashboard/version/ with the last ETag; the server answers 304 while nothing
// changed (no recomputation), and when it did, the body is fetched again and the plots redrawn.
(function () {
  "use strict";
  var charts = [];
  var POLL_MS = 3000;

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function common(extra) {
    var options = { animation: false, responsive: true, maintainAspectRatio: false,
                    plugins: { legend: { display: false } } };
    return Object.assign(options, extra || {});
  }

  function draw() {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    var data = readJson("chart-data");
    if (!data || typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-variable]").forEach(function (canvas) {
      var pairs = data.lines[canvas.dataset.variable] || [];
      charts.push(new Chart(canvas, {
        type: "line",
        data: { labels: ["before", "after"], datasets: pairs.map(function (pair) {
          return { data: pair, borderColor: "rgba(13,110,253,0.55)", pointRadius: 2, borderWidth: 1.5 };
        }) },
        options: common(),
      }));
    });
    var response = readJson("response-data") || {};
    var responseCanvas = document.getElementById("chart-response");
    if (responseCanvas) {
      charts.push(new Chart(responseCanvas, {
        type: "bar",
        data: { labels: Object.keys(response), datasets: [{ data: Object.values(response), backgroundColor: "#0d6efd" }] },
        options: common({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }),
      }));
    }
    var painCanvas = document.getElementById("chart-pain");
    if (painCanvas) {
      charts.push(new Chart(painCanvas, {
        type: "bar",
        data: { labels: ["0", "I", "II", "III"], datasets: [
          { label: "baseline", data: data.pain_shift.baseline, backgroundColor: "#adb5bd" },
          { label: "follow-up", data: data.pain_shift.follow_up, backgroundColor: "#0d6efd" },
        ] },
        options: common({ plugins: { legend: { display: true } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }),
      }));
    }
  }

  function poll() {
    var body = document.getElementById("dashboard-body");
    if (!body) return;
    var etag = '"v' + body.dataset.version + '"';
    // X-Background-Poll: a poll is not the user being active (no keep-alive for an idle screen).
    var headers = { "If-None-Match": etag, "X-Background-Poll": "1" };
    fetch(body.dataset.versionUrl, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status !== 200) return null;
        return response.json();
      })
      .then(function (latest) {
        if (!latest || String(latest.data_version) === body.dataset.version) return null;
        return fetch(body.dataset.bodyUrl, { headers: { "X-Background-Poll": "1" }, cache: "no-store", credentials: "same-origin" }).then(function (response) {
          return response.text().then(function (html) {
            body.innerHTML = html;
            body.dataset.version = String(latest.data_version);
            draw();
            var status = document.getElementById("live-status");
            if (status) status.dataset.updatedAt = new Date().toISOString();
          });
        });
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }

  window.addEventListener("beforeprint", function () { charts.forEach(function (chart) { chart.resize(); }); });
  document.addEventListener("DOMContentLoaded", function () { draw(); setTimeout(poll, POLL_MS); });
})();
