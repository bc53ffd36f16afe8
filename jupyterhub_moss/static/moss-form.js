// The spawn page of jupyterhub_moss: Simple and Advanced tabs, the resource table.
// Data comes from the JSON block rendered with the form (#moss-data).
(function () {
  "use strict";

  const root = document.getElementById("moss-form");
  const dataBlock = document.getElementById("moss-data");
  if (!root || !dataBlock) {
    return;
  }
  const data = JSON.parse(dataBlock.textContent);
  const partitions = new Map(data.partitions.map((p) => [p.name, p]));
  const state = data.state;

  const $ = (id) => document.getElementById(id);

  // ---- helpers -------------------------------------------------------------

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function clock(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return `${pad(h)}:${pad(m)}:${pad(s)}`;
  }

  function words(seconds) {
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const parts = [];
    if (days) parts.push(days === 1 ? "1 day" : `${days} days`);
    if (hours) parts.push(`${hours} h`);
    if (minutes || !parts.length) parts.push(`${minutes} min`);
    return parts.join(" ");
  }

  function parseClock(text) {
    const m = /^(\d+):(\d{1,2}):(\d{1,2})$/.exec(text || "");
    return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : null;
  }

  // The Simple tab's choices come with each partition (web/simple_tab.py): the
  // run times under each cap the account and QOS may set, keyed by the cap.
  function runtimeChoices(part, cap) {
    const byCap = part.simple_choices.runtime;
    return byCap[String(cap)] || byCap[String(part.max_runtime)] || [];
  }


  // ---- environments ------------------------------------------------------------

  function ownEnvironment() {
    // The user's own environment (Advanced tab, when the admin allows it).
    return ["moss-adv-environment-path", "moss-adv-environment-modules"].some((id) => {
      const input = $(id);
      return input && input.value.trim() !== "";
    });
  }

  // Fill the environment list of a tab ("simple" or "adv") for a partition: shown
  // only when the partition has more than one.
  function renderEnvironments(prefix, part, selected) {
    const select = $(`moss-${prefix}-environment`);
    const envs = (part && part.environments) || [];
    select.replaceChildren();
    for (const env of envs) {
      const option = document.createElement("option");
      option.value = env.id;
      option.textContent = env.description || env.id;
      select.append(option);
    }
    if (envs.some((env) => env.id === selected)) select.value = selected;
    $(`moss-${prefix}-environment-row`).hidden = envs.length <= 1;
  }

  function environmentUsable(select) {
    const prefix = select.id === "moss-simple-environment" ? "simple" : "adv";
    const row = $(`moss-${prefix}-environment-row`);
    return !row.hidden && !(prefix === "adv" && ownEnvironment());
  }


  // ---- Slurm accounts, QOS, GPU types, reservations (moss-facts.js) ---------

  const {
    renderAccount,
    renderQos,
    runtimeCap,
    gpuTypeChoice,
    renderGpuTypes,
    renderReservations,
  } = window.mossFacts(data.facts || {}, { $, words });

  // ---- Simple tab ------------------------------------------------------------

  function renderChoices(containerId, name, choices, selected) {
    const container = $(containerId);
    container.replaceChildren();
    let found = choices.some((c) => String(c.value) === String(selected));
    choices.forEach((choice, index) => {
      const id = `${containerId}-${index}`;
      const input = document.createElement("input");
      input.type = "radio";
      input.className = "btn-check";
      input.name = name;
      input.id = id;
      input.value = String(choice.value);
      input.autocomplete = "off";
      input.checked = found ? String(choice.value) === String(selected) : index === 0;
      const label = document.createElement("label");
      label.className = "btn btn-outline-primary";
      label.htmlFor = id;
      label.textContent = choice.label;
      container.append(input, label);
    });
  }

  function checkedValue(name, panel) {
    const input = panel.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : null;
  }

  function renderSimple() {
    const simple = state.simple;
    const part = partitions.get(simple.partition);
    if (!part) return;
    renderEnvironments("simple", part, simple.environment_id);
    simple.account = renderAccount("simple", part.name, simple.account);
    renderChoices("moss-simple-nprocs", "nprocs", part.simple_choices.nprocs, simple.nprocs);
    const gpuRow = $("moss-simple-gpu-row");
    if (part.has_gpu) {
      gpuRow.hidden = false;
      renderChoices("moss-simple-ngpus", "ngpus", part.simple_choices.ngpus, simple.ngpus);
    } else {
      gpuRow.hidden = true;
      $("moss-simple-ngpus").replaceChildren();
    }
    const cap = runtimeCap(part, simple.account, null);
    renderChoices("moss-simple-runtime", "runtime", runtimeChoices(part, cap.max), simple.runtime);
    readSimple();
    setPanelEnabled();
  }

  function readSimple() {
    const panel = $("moss-panel-simple");
    const simple = state.simple;
    simple.partition = checkedValue("partition", panel) || simple.partition;
    simple.nprocs = Number(checkedValue("nprocs", panel) || 1);
    simple.ngpus = Number(checkedValue("ngpus", panel) || 0);
    simple.runtime = checkedValue("runtime", panel) || simple.runtime;
    simple.environment_id = $("moss-simple-environment").value || simple.environment_id;
    simple.account = $("moss-simple-account").value || simple.account;
  }

  // ---- Advanced tab ------------------------------------------------------------

  function setLimit(input, helpId, min, max, text) {
    input.min = String(min);
    input.max = String(max);
    $(helpId).textContent = text;
  }

  function updateAdvancedLimits() {
    const adv = state.advanced;
    const part = partitions.get($("moss-adv-partition").value);
    if (!part) return;
    adv.partition = part.name;
    renderEnvironments("adv", part, adv.environment_id);
    adv.account = renderAccount("adv", part.name, adv.account);
    adv.qos = renderQos(part.name, adv.account, adv.qos);
    adv.gpu_type = renderGpuTypes(part, adv.gpu_type);
    adv.reservation = renderReservations(part.name, adv.reservation);
    setPanelEnabled();
    $("moss-adv-partition-help").textContent =
      [part.description, part.architecture].filter(Boolean).join(" · ");

    const nprocs = $("moss-adv-nprocs");
    setLimit(nprocs, "moss-adv-nprocs-limit", 1, part.max_nprocs, `1 to ${part.max_nprocs} cores`);

    const ngpus = $("moss-adv-ngpus");
    if (part.has_gpu) {
      ngpus.readOnly = false;
      const max = maxGpus(part);
      setLimit(ngpus, "moss-adv-ngpus-limit", 0, max, `0 to ${max} GPUs`);
    } else {
      ngpus.value = "0";
      ngpus.readOnly = true;
      setLimit(ngpus, "moss-adv-ngpus-limit", 0, 0, "This partition has no GPUs");
    }

    const cap = runtimeCap(part, adv.account, adv.qos);
    $("moss-adv-hours").max = String(Math.floor(cap.max / 3600));
    $("moss-adv-runtime-limit").textContent =
      `1 min to ${words(cap.max)} (${clock(cap.max)})` +
      (cap.max < part.max_runtime ? `: the limit of ${cap.source}` : "");

    const memory = $("moss-adv-memory-gb");
    if (part.max_memory_gb) {
      setLimit(memory, "moss-adv-memory-limit", 1, part.max_memory_gb,
        `1 to ${part.max_memory_gb} GB per node; empty for Slurm's default`);
    } else {
      memory.removeAttribute("max");
      $("moss-adv-memory-limit").textContent = "Empty for Slurm's default";
    }
    checkAdvanced();
  }

  function checkNumber(input, min, max, message) {
    const value = input.value === "" ? NaN : Number(input.value);
    const ok = Number.isInteger(value) && value >= min && value <= max;
    input.setCustomValidity(ok ? "" : message);
    return ok ? value : null;
  }

  // The most GPUs of the chosen type (any type: the partition's).
  function maxGpus(part) {
    const choice = gpuTypeChoice(part, state.advanced.gpu_type);
    return choice && choice.max_per_job !== null ? choice.max_per_job : part.max_ngpus;
  }

  function checkAdvanced() {
    const adv = state.advanced;
    const part = partitions.get(adv.partition);
    if (!part) return;
    const cap = runtimeCap(part, adv.account, adv.qos);
    const nprocs = checkNumber($("moss-adv-nprocs"), 1, part.max_nprocs,
      `Choose 1 to ${part.max_nprocs} cores on partition ${part.name}`);
    if (nprocs !== null) adv.nprocs = nprocs;
    const ngpus = checkNumber($("moss-adv-ngpus"), 0, maxGpus(part),
      part.has_gpu ? `Choose 0 to ${maxGpus(part)} GPUs on partition ${part.name}`
        : `Partition ${part.name} has no GPUs`);
    if (ngpus !== null) adv.ngpus = ngpus;

    const hoursInput = $("moss-adv-hours");
    const minutesInput = $("moss-adv-minutes");
    const hours = Number(hoursInput.value || 0);
    const minutes = Number(minutesInput.value || 0);
    const seconds = hours * 3600 + minutes * 60;
    let message = "";
    if (!Number.isInteger(hours) || !Number.isInteger(minutes) || hours < 0 || minutes < 0 || minutes > 59) {
      message = "Give whole hours and minutes (0 to 59)";
    } else if (seconds < 60 || seconds > cap.max) {
      message = `Choose 1 min to ${words(cap.max)} (the limit of ${cap.source})`;
    }
    hoursInput.setCustomValidity(message);
    minutesInput.setCustomValidity(message);
    if (!message) {
      adv.hours = hours;
      adv.minutes = minutes;
      $("moss-adv-runtime").value = `${hours}:${pad(minutes)}:00`;
    }

    const memoryInput = $("moss-adv-memory-gb");
    if (memoryInput.value === "") {
      memoryInput.setCustomValidity("");
      $("moss-adv-memory").value = "";
      adv.memory_gb = "";
    } else {
      const gb = checkNumber(memoryInput, 1, part.max_memory_gb || Number.MAX_SAFE_INTEGER,
        `Choose 1 to ${part.max_memory_gb} GB on partition ${part.name}`);
      $("moss-adv-memory").value = gb === null ? "" : `${gb}G`;
      if (gb !== null) adv.memory_gb = gb;
    }
  }

  // ---- tabs ------------------------------------------------------------------

  function setPanelEnabled() {
    // Only the visible tab's fields are submitted.
    const noSimple = !data.partitions.some((p) => p.simple && p.available);
    $("moss-simple-none").hidden = !noSimple;
    for (const tab of ["simple", "advanced"]) {
      const panel = $(`moss-panel-${tab}`);
      const active = state.tab === tab;
      panel.hidden = !active;
      panel.querySelectorAll("input, select").forEach((input) => {
        let disabled = !active;
        if (input.type === "radio" && input.name === "partition") {
          // An unavailable partition cannot be picked; if it is the one picked
          // already, it stays submitted and the hub says why it is refused.
          const part = partitions.get(input.value);
          disabled = disabled || ((!part || !part.available) && !input.checked);
        } else if (input.name === "environment_id") {
          // Not sent when there is nothing to choose, or the user gives their own.
          disabled = disabled || !environmentUsable(input);
        } else if (["account", "qos", "gpu_type", "reservation"].includes(input.name)) {
          // Not sent when hidden: the hub then takes the defaults.
          disabled = disabled || Boolean(input.closest("[hidden]"));
        }
        input.disabled = disabled;
      });
    }
  }

  function syncToAdvanced() {
    const simple = state.simple;
    const adv = state.advanced;
    adv.partition = simple.partition;
    adv.nprocs = simple.nprocs;
    adv.ngpus = simple.ngpus;
    adv.environment_id = simple.environment_id;
    adv.account = simple.account;
    const seconds = parseClock(simple.runtime) || 3600;
    adv.hours = Math.floor(seconds / 3600);
    adv.minutes = Math.floor((seconds % 3600) / 60);
    $("moss-adv-partition").value = adv.partition;
    $("moss-adv-nprocs").value = adv.nprocs;
    $("moss-adv-ngpus").value = adv.ngpus;
    $("moss-adv-hours").value = adv.hours;
    $("moss-adv-minutes").value = adv.minutes;
  }

  function syncToSimple() {
    const adv = state.advanced;
    const part = partitions.get(adv.partition);
    if (!part || !part.simple) return;
    state.simple.partition = part.name;
    state.simple.nprocs = adv.nprocs;
    state.simple.ngpus = adv.ngpus;
    state.simple.environment_id = adv.environment_id;
    state.simple.account = adv.account;
    state.simple.runtime = `${adv.hours}:${pad(adv.minutes)}:00`;
    const radio = $("moss-panel-simple").querySelector(
      `input[name="partition"][value="${CSS.escape(part.name)}"]`);
    if (radio) radio.checked = true;
  }

  function setTab(tab, focus) {
    if (tab === state.tab) return;
    if (tab === "advanced") {
      readSimple();
      syncToAdvanced();
    } else {
      checkAdvanced();
      syncToSimple();
    }
    state.tab = tab;
    for (const name of ["simple", "advanced"]) {
      const button = $(`moss-tab-${name}`);
      const selected = name === tab;
      button.classList.toggle("active", selected);
      button.setAttribute("aria-selected", selected ? "true" : "false");
      button.tabIndex = selected ? 0 : -1;
      if (selected && focus) button.focus();
    }
    setPanelEnabled();
    if (tab === "simple") renderSimple();
    else updateAdvancedLimits();
    highlightTable();
  }

  // ---- resource table ----------------------------------------------------------

  function selectedPartition() {
    return state.tab === "simple" ? state.simple.partition : state.advanced.partition;
  }

  function highlightTable() {
    const selected = selectedPartition();
    $("moss-resources").querySelectorAll("tbody tr").forEach((row) => {
      const visible = state.tab === "advanced" || row.dataset.simple === "true";
      row.hidden = !visible;
      const active = row.dataset.partition === selected;
      row.classList.toggle("table-active", active);
      row.classList.toggle("moss-selected", active);
      if (active) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
  }

  function fraction(idle, total) {
    return `${idle} / ${total}`;
  }

  function updateTable(payload) {
    const tbody = $("moss-resources").querySelector("tbody");
    for (const p of payload.partitions) {
      const known = partitions.get(p.name);
      if (known) Object.assign(known, p);
      const row = tbody.querySelector(`tr[data-partition="${CSS.escape(p.name)}"]`);
      if (!row) continue;
      const cells = [];
      const res = p.resources;
      if (res) {
        cells.push(["cpus", fraction(res.cpus_idle, res.cpus_total)]);
        cells.push(["nodes", fraction(res.nodes_idle, res.nodes_total)]);
        cells.push(["gpus", res.gpus_total ? fraction(res.gpus_idle, res.gpus_total) : "–"]);
      }
      row.querySelectorAll("td").forEach((td) => td.remove());
      if (cells.length) {
        for (const [field, text] of cells) {
          const td = document.createElement("td");
          td.dataset.field = field;
          td.textContent = text;
          row.append(td);
        }
      } else {
        const td = document.createElement("td");
        td.dataset.field = "cpus";
        td.colSpan = 3;
        td.textContent = "unavailable";
        row.append(td);
      }
    }
    const status = $("moss-resources-status");
    status.textContent = payload.error
      ? `The Slurm controller did not answer: ${payload.error}`
      : `Updated at ${new Date().toLocaleTimeString()}`;
    setPanelEnabled();
    highlightTable();
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const response = await window.mossFetch(data.resources_url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      updateTable(await response.json());
      root.dataset.mossRefreshed = String(Number(root.dataset.mossRefreshed || 0) + 1);
    } catch (error) {
      $("moss-resources-status").textContent = `Could not refresh the resources (${error.message})`;
    }
  }

  // ---- events ------------------------------------------------------------------

  $("moss-panel-simple").addEventListener("change", (event) => {
    const target = event.target;
    if (target.name === "partition") {
      state.simple.partition = target.value;
      renderSimple();
      highlightTable();
    } else if (target.name === "account") {
      // The run times offered follow the account's QOS.
      readSimple();
      renderSimple();
    } else {
      readSimple();
    }
  });

  $("moss-adv-environment").addEventListener("change", (event) => {
    state.advanced.environment_id = event.target.value;
  });
  for (const [id, key] of [["moss-adv-account", "account"], ["moss-adv-qos", "qos"],
    ["moss-adv-gpu-type", "gpu_type"]]) {
    $(id).addEventListener("change", (event) => {
      state.advanced[key] = event.target.value === "any" ? null : event.target.value;
      updateAdvancedLimits();
    });
  }
  $("moss-adv-reservation").addEventListener("change", (event) => {
    state.advanced.reservation = event.target.value;
  });
  for (const id of ["moss-adv-environment-path", "moss-adv-environment-modules"]) {
    if ($(id)) $(id).addEventListener("input", setPanelEnabled);
  }

  $("moss-adv-partition").addEventListener("change", () => {
    updateAdvancedLimits();
    highlightTable();
  });
  for (const id of ["moss-adv-nprocs", "moss-adv-ngpus", "moss-adv-hours", "moss-adv-minutes",
    "moss-adv-memory-gb"]) {
    $(id).addEventListener("input", checkAdvanced);
  }

  const tabs = [$("moss-tab-simple"), $("moss-tab-advanced")];
  tabs.forEach((button) => {
    button.addEventListener("click", () => setTab(button.dataset.mossTab, false));
    button.addEventListener("keydown", (event) => {
      // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        event.preventDefault();
        const next = state.tab === "simple" ? "advanced" : "simple";
        setTab(next, true);
      }
    });
  });

  // A "Start again" link starts the server at once only when the hub can tell it
  // came from its own page: the browser's Sec-Fetch-Site says so, and where a
  // browser does not send it, the user's XSRF token in the link does.
  const presets = $("moss-presets");
  if (presets) {
    presets.addEventListener("click", (event) => {
      const link = event.target.closest("a[href]");
      const token = window.mossFetch.xsrfToken();
      if (!link || !token) return;
      const url = new URL(link.href, window.location.href);
      url.searchParams.set("_xsrf", token);
      link.href = url.toString();
    });
  }

  const form = root.closest("form");
  if (form) {
    form.addEventListener("submit", () => {
      if (state.tab === "advanced") checkAdvanced();
    });
  }

  // ---- start -------------------------------------------------------------------

  setPanelEnabled();
  if (state.tab === "simple") renderSimple();
  updateAdvancedLimits();
  setPanelEnabled();
  highlightTable();
  if (data.refresh_seconds > 0) {
    window.setInterval(refresh, data.refresh_seconds * 1000);
  }
  root.dataset.mossReady = "true";
})();
