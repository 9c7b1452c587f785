// Background job page: show the progress, reload once the job has finished.
(function () {
  "use strict";
  var job = document.getElementById("job");
  var bar = document.getElementById("job-bar");
  if (bar) bar.style.width = bar.dataset.progress + "%";
  if (!job || (job.dataset.status !== "running" && job.dataset.status !== "queued")) return;
  function poll() {
    fetch(job.dataset.statusUrl, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        bar.style.width = state.progress + "%";
        bar.textContent = state.progress + "%";
        if (state.status !== "running" && state.status !== "queued") { window.location.reload(); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 500);
})();
