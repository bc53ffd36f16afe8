// jupyterhub_moss: on JupyterHub's home page, a line under each server about its
// Slurm job ("cpu · 4 cores · node2 · ends at 17:00, in 55 min") and a link to the
// job's output. Data from {hub}/api/moss/servers, which makes no Slurm call; every
// value is written as text.
(function () {
  "use strict";

  const script = document.currentScript;
  const serversUrl = script && script.dataset.serversUrl;
  if (!serversUrl || !window.fetch) {
    return;
  }
  const WAITING = new Set(["PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"]);
  const REFETCH_MS = 30000;
  const REWORD_MS = 15000;
  let latest = null;
  let skew = 0; // the browser's clock minus the hub's, in ms

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function inWords(ms) {
    const minutes = Math.round(ms / 60000);
    if (minutes < 1) {
      return "in less than a minute";
    }
    if (minutes < 60) {
      return "in " + minutes + " min";
    }
    const hours = Math.floor(minutes / 60);
    if (hours < 24) {
      const rest = minutes % 60;
      return "in " + hours + " h" + (rest ? " " + rest + " min" : "");
    }
    const days = Math.floor(hours / 24);
    const rest = hours % 24;
    return "in " + plural(days, "day") + (rest ? " " + rest + " h" : "");
  }

  function clock(date, now) {
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    if (date.toDateString() === now.toDateString()) {
      return time;
    }
    const day = date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
    return day + " " + time;
  }

  function describe(server) {
    const parts = [];
    if (server.partition) {
      parts.push(String(server.partition));
    }
    if (server.cpus) {
      parts.push(plural(Number(server.cpus), "core"));
    }
    if (server.gpus) {
      parts.push(Number(server.gpus) + (Number(server.gpus) === 1 ? " GPU" : " GPUs"));
    }
    if (WAITING.has(server.state)) {
      parts.push("waiting in the queue");
    } else if (server.node) {
      parts.push(String(server.node));
    }
    if (server.end) {
      const end = new Date(server.end);
      const now = new Date(Date.now() - skew);
      if (!isNaN(end.getTime())) {
        const left = end.getTime() - now.getTime();
        parts.push(
          left > 0
            ? "ends at " + clock(end, now) + ", " + inWords(left)
            : "time limit reached at " + clock(end, now),
        );
      }
    }
    return parts.join(" · ");
  }

  function safeUrl(url) {
    return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
  }

  // Where a server's line goes: under the Start button for the default server, in
  // the name cell of a named server's row.
  function slotFor(name) {
    const id = name === "" ? "moss-job-default" : null;
    if (id) {
      let slot = document.getElementById(id);
      if (!slot) {
        const start = document.getElementById("start");
        if (!start) {
          return null;
        }
        slot = document.createElement("p");
        slot.id = id;
        slot.className = "moss-job text-center small text-body-secondary mt-2";
        const row = start.closest(".row") || start.parentNode;
        row.parentNode.insertBefore(slot, row.nextSibling);
      }
      return slot;
    }
    for (const row of document.querySelectorAll("tr[data-server-name]")) {
      if (row.dataset.serverName !== name || !row.cells.length) {
        continue;
      }
      let slot = row.querySelector(".moss-job");
      if (!slot) {
        slot = document.createElement("div");
        slot.className = "moss-job small text-body-secondary";
        row.cells[0].appendChild(slot);
      }
      return slot;
    }
    return null;
  }

  function render() {
    if (!latest) {
      return;
    }
    for (const [name, server] of Object.entries(latest.servers || {})) {
      const slot = slotFor(name);
      if (!slot) {
        continue;
      }
      slot.replaceChildren();
      const words = server.job_id ? describe(server) : "";
      if (words) {
        const text = document.createElement("span");
        text.className = "moss-job-text";
        text.textContent = words;
        slot.appendChild(text);
      }
      const logUrl = safeUrl(server.log_url);
      if (logUrl) {
        if (words) {
          slot.appendChild(document.createTextNode(" · "));
        }
        const link = document.createElement("a");
        link.className = "moss-job-log";
        link.href = logUrl;
        link.textContent = server.job_id ? "Job output" : "Last job's output";
        slot.appendChild(link);
      }
      slot.hidden = !slot.childNodes.length;
    }
  }

  async function refetch() {
    try {
      const response = await window.mossFetch(serversUrl, { cache: "no-store" });
      if (!response.ok) {
        return;
      }
      const data = await response.json();
      const hubNow = new Date(data.now).getTime();
      skew = isNaN(hubNow) ? 0 : Date.now() - hubNow;
      latest = data;
      render();
    } catch (error) {
      // The next round tries again.
    }
  }

  function start() {
    refetch();
    setInterval(function () {
      if (!document.hidden) {
        refetch();
      }
    }, REFETCH_MS);
    setInterval(render, REWORD_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        refetch();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
