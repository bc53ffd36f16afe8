// The spawn page's line "when would it start?": the hub asks Slurm
// (sbatch --test-only, as the user) for the options shown, once they stop changing.
// The URL comes from the JSON block rendered with the form (#moss-data).
(function () {
  "use strict";

  const root = document.getElementById("moss-form");
  const line = document.getElementById("moss-estimate");
  const dataBlock = document.getElementById("moss-data");
  if (!root || !line || !dataBlock || !window.fetch || !window.AbortController) {
    return;
  }
  const url = JSON.parse(dataBlock.textContent).estimate_url;
  const form = root.closest("form");
  if (!url || !form) {
    return;
  }
  const DEBOUNCE_MS = 800;
  const REASK_MS = 60000;
  const OPTION_NAME = /^[a-z_]{1,32}$/;

  let timer = null;
  let controller = null;
  let lastKey = null;
  let lastAt = 0;
  root.dataset.mossEstimates = "0";

  function show(text, state) {
    line.textContent = text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
    line.hidden = !text;
    line.dataset.state = state;
  }

  // The options of the visible tab, as the Start button would send them; null
  // while a field fails the page's own checks. The other tab's fields are
  // disabled, and FormData leaves disabled fields out.
  function currentOptions() {
    const names = new Set();
    for (const field of root.querySelectorAll("input, select, textarea")) {
      if (field.disabled) continue;
      if (field.willValidate && !field.validity.valid) return null;
      if (field.name && OPTION_NAME.test(field.name)) names.add(field.name);
    }
    const options = {};
    for (const [name, value] of new FormData(form)) {
      if (names.has(name) && typeof value === "string" && !(name in options)) {
        options[name] = value;
      }
    }
    return options;
  }

  function schedule(delay) {
    if (timer !== null) window.clearTimeout(timer);
    timer = window.setTimeout(ask, delay);
  }

  async function ask() {
    timer = null;
    if (document.hidden) return;
    const options = currentOptions();
    if (options === null) {
      if (controller) controller.abort();
      show("", "invalid");
      return;
    }
    const key = JSON.stringify(options);
    if (key === lastKey && Date.now() - lastAt < REASK_MS) return;
    if (controller) controller.abort();
    const mine = (controller = new AbortController());
    lastKey = key;
    lastAt = Date.now();
    root.dataset.mossEstimates = String(Number(root.dataset.mossEstimates) + 1);
    try {
      const response = await window.mossFetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_options: options }),
        signal: mine.signal,
      });
      if (mine !== controller) return;
      if (response.status === 429) {
        // Asked too often: once more when the hub allows it.
        lastKey = null;
        schedule((Number(response.headers.get("Retry-After")) || 3) * 1000);
        return;
      }
      const body = await response.json().catch(() => ({}));
      if (mine !== controller) return;
      if (response.ok && body.state !== "unknown") {
        show(String(body.text || ""), String(body.state));
      } else if (response.status === 400 && body.message) {
        // What the Start button would be told.
        show(`cannot start: ${body.message}`, "invalid");
      } else {
        show("", "unknown");
      }
    } catch (error) {
      if (error.name !== "AbortError" && mine === controller) show("", "unknown");
    } finally {
      if (controller === mine) controller = null;
    }
  }

  const later = () => schedule(DEBOUNCE_MS);
  root.addEventListener("change", later);
  root.addEventListener("input", later);
  for (const button of root.querySelectorAll("[data-moss-tab]")) {
    button.addEventListener("click", later);
    button.addEventListener("keyup", later);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule(0);
  });
  // Re-asked when the answer is a minute old, or the fields changed without an event.
  window.setInterval(() => {
    if (timer === null && controller === null) ask();
  }, 15000);
  show("", "none");
  schedule(DEBOUNCE_MS);
})();
