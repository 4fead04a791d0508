// Kaizen Console: progressive enhancement only (every page works without it).
// A job's live section polls its fragment until the job ends or a deadline passes.
"use strict";
(function () {
  const POLL_MS = 1000;
  const DEADLINE_MS = 30 * 60 * 1000;

  function follow(section) {
    const url = section.dataset.liveUrl;
    const started = Date.now();
    async function poll() {
      if (section.dataset.liveDone === "true" || Date.now() - started > DEADLINE_MS) {
        return;
      }
      try {
        const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
        if (response.ok) {
          const html = await response.text();
          const fragment = new DOMParser().parseFromString(html, "text/html");
          const state = fragment.querySelector(".job-state");
          if (state) {
            section.replaceChildren(state);
          }
          if (state && state.dataset.done === "true") {
            section.dataset.liveDone = "true";
            window.location.reload();  // the finished job's evaluation is on the full page
            return;
          }
        }
      } catch (error) {
        // A failed poll is retried on the next tick.
      }
      window.setTimeout(poll, POLL_MS);
    }
    window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(follow);
  });
})();
