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

  // The words of each chart (title, axis titles, legends) come from the page in the user's language
  // (a json_script block: the CSP allows no inline script).
  function words() {
    return readJson("chart-words") || { charts: {} };
  }

  // Paints a white background under each chart, so that a downloaded PNG is not transparent.
  var whiteBackground = {
    id: "whiteBackground",
    beforeDraw: function (chart) {
      var context = chart.ctx;
      context.save();
      context.globalCompositeOperation = "destination-over";
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, chart.width, chart.height);
      context.restore();
    },
  };

  // counts: the y axis counts patients (from zero, whole numbers); otherwise it shows measured values.
  function common(id, legend, counts) {
    var text = words().charts[id] || {};
    return {
      animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { display: legend }, title: { display: Boolean(text.title), text: text.title } },
      scales: {
        x: { title: { display: Boolean(text.x), text: text.x } },
        y: { beginAtZero: counts, ticks: counts ? { precision: 0 } : {},
             title: { display: Boolean(text.y), text: text.y } },
      },
    };
  }

  function draw() {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    document.documentElement.removeAttribute("data-charts-drawn");
    var data = readJson("chart-data");
    var text = words();
    if (!data || typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-variable]").forEach(function (canvas) {
      var pairs = data.lines[canvas.dataset.variable] || [];
      // A line per patient, or (many patients) a named line per percentile, the median drawn thickest.
      var names = (text.charts[canvas.id] || {}).series;
      charts.push(new Chart(canvas, {
        type: "line",
        data: { labels: [text.before, text.after], datasets: pairs.map(function (pair, index) {
          var median = names && names.length === 5 && index === 2;
          return { data: pair, label: names ? names[index] : undefined, borderColor: "rgba(13,110,253,0.55)",
                   pointRadius: 2, borderWidth: median ? 3.5 : 1.5, borderDash: names && !median ? [4, 3] : [] };
        }) },
        options: common(canvas.id, Boolean(names), false),
        plugins: [whiteBackground],
      }));
    });
    var response = readJson("response-data") || {};
    var responseCanvas = document.getElementById("chart-response");
    if (responseCanvas) {
      charts.push(new Chart(responseCanvas, {
        type: "bar",
        data: { labels: Object.keys(response), datasets: [{ data: Object.values(response), backgroundColor: "#0d6efd" }] },
        options: common("chart-response", false, true),
        plugins: [whiteBackground],
      }));
    }
    var painCanvas = document.getElementById("chart-pain");
    if (painCanvas) {
      charts.push(new Chart(painCanvas, {
        type: "bar",
        data: { labels: ["0", "I", "II", "III"], datasets: [
          { label: text.baseline, data: data.pain_shift.baseline, backgroundColor: "#adb5bd" },
          { label: text.follow_up, data: data.pain_shift.follow_up, backgroundColor: "#0d6efd" },
        ] },
        options: common("chart-pain", true, true),
        plugins: [whiteBackground],
      }));
    }
    // Marks the page once every chart is drawn (what a downloaded image or a test waits for).
    document.documentElement.setAttribute("data-charts-drawn", String(charts.length));
  }

  // "Download image (PNG)": the chart as drawn, through the link's download attribute (no inline
  // handler: the CSP forbids them; one listener on the document survives the body's live refresh).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-chart-download]");
    if (!link) return;
    var canvas = document.getElementById(link.dataset.chartDownload);
    if (!canvas) { event.preventDefault(); return; }
    link.href = canvas.toDataURL("image/png");
  });

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
