// jupyterhub_moss: the job output page. While the job is pending or running, its
// last lines are read again every 5 s from {hub}/api/moss/log/...; they are
// written as text.
(function () {
  "use strict";

  const pre = document.getElementById("moss-log");
  if (!pre || !window.fetch) {
    return;
  }
  const url = pre.dataset.apiUrl;
  const stateText = document.getElementById("moss-log-state");
  const truncated = document.getElementById("moss-log-truncated");
  const empty = document.getElementById("moss-log-empty");
  const ACTIVE = new Set([
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "UNKNOWN",
  ]);
  const EVERY_MS = 5000;
  let active = pre.dataset.active === "true";

  function atBottom() {
    return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
  }

  function show(data) {
    const follow = atBottom();
    const lines = Array.isArray(data.lines) ? data.lines : [];
    pre.textContent = lines.join("\n");
    if (follow) {
      pre.scrollTop = pre.scrollHeight;
    }
    if (stateText) {
      stateText.textContent = data.job_id ? String(data.state || "").toLowerCase() : "no job yet";
    }
    if (truncated) {
      truncated.hidden = !data.truncated;
    }
    if (empty) {
      empty.hidden = lines.length > 0;
      let said = "No output yet.";
      if (data.job_id && !data.found) {
        said = "The output file cannot be read from the hub (yet).";
        if (data.where) {
          said += " On the cluster, it is " + String(data.where);
        }
      }
      empty.textContent = said;
    }
  }

  async function refresh() {
    let delay = EVERY_MS;
    try {
      const response = await window.mossFetch(url, { cache: "no-store" });
      if (response.status === 429) {
        delay = Math.max(1000, (parseFloat(response.headers.get("Retry-After")) || 2) * 1000);
      } else if (response.ok) {
        const data = await response.json();
        show(data);
        active = ACTIVE.has(data.state);
      } else {
        active = false;
        if (stateText) {
          stateText.textContent = "cannot be read (" + response.status + ")";
        }
      }
    } catch (error) {
      // A network error: try again at the next round.
    }
    if (active) {
      setTimeout(refresh, document.hidden ? 4 * delay : delay);
    }
  }

  pre.scrollTop = pre.scrollHeight;
  if (active) {
    // A page shown before its first read (the viewer read just before) asks soon.
    setTimeout(refresh, stateText && stateText.textContent.trim() === "loading…" ? 2100 : EVERY_MS);
  }
})();
