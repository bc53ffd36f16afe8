// The parts of the spawn page that come from what Slurm knows about the user:
// accounts and QOS, GPU types, reservations (data.facts of #moss-data). A part the
// cluster lacks is null there, and its fields stay hidden. Loaded before
// moss-form.js, which calls window.mossFacts(facts, helpers).
(function () {
  "use strict";

  window.mossFacts = function (facts, helpers) {
    const { $, words } = helpers;

    function fillSelect(select, items, selected) {
      select.replaceChildren();
      for (const item of items) {
        const option = document.createElement("option");
        option.value = item.value;
        option.textContent = item.label;
        select.append(option);
      }
      if (items.some((item) => item.value === selected)) select.value = selected;
      return select.value || null;
    }

    function accountsFor(partName) {
      const view = facts.accounts;
      if (!view) return [];
      const names = Object.keys(view.accounts).filter((a) => view.accounts[a].partitions[partName]);
      const index = names.indexOf(view.default_account);
      if (index > 0) names.unshift(...names.splice(index, 1));
      return names;
    }

    function accountChoice(account, partName) {
      const view = facts.accounts;
      const entry = view && account ? view.accounts[account] : null;
      return entry ? entry.partitions[partName] || null : null;
    }

    // The account select of a tab ("simple" or "adv"): shown when there is a choice.
    function renderAccount(prefix, partName, selected) {
      const names = accountsFor(partName);
      const fallback = names[0] || null;
      const value = fillSelect($(`moss-${prefix}-account`), names.map((name) => ({
        value: name,
        label: facts.accounts && name === facts.accounts.default_account ? `${name} (default)` : name,
      })), selected || fallback);
      const row = prefix === "simple" ? $("moss-simple-account-row") : $("moss-adv-account-col");
      row.hidden = names.length <= 1;
      return value;
    }

    function renderQos(partName, account, selected) {
      const choice = accountChoice(account, partName);
      const names = choice ? choice.qos : [];
      const value = fillSelect($("moss-adv-qos"), names.map((name) => {
        const cap = choice.max_runtime_by_qos[name];
        return { value: name, label: cap ? `${name} · up to ${words(cap)}` : name };
      }), selected && names.includes(selected) ? selected : choice && choice.default_qos);
      $("moss-adv-qos-col").hidden = names.length <= 1;
      $("moss-adv-accounting-row").hidden =
        $("moss-adv-account-col").hidden && $("moss-adv-qos-col").hidden;
      $("moss-adv-qos-help").textContent =
        choice && choice.default_qos && names.length > 1 ? `Default: ${choice.default_qos}` : "";
      return value;
    }

    // The longest run time: the partition's, lowered to what the account's QOS allows.
    function runtimeCap(part, account, qos) {
      let max = part.max_runtime;
      let source = `partition ${part.name}`;
      const choice = accountChoice(account, part.name);
      if (choice) {
        const name = qos || choice.default_qos;
        const cap = name && name in choice.max_runtime_by_qos
          ? choice.max_runtime_by_qos[name] : choice.max_runtime;
        if (cap && cap < max) {
          max = cap;
          source = name ? `QOS ${name}` : `account ${account}`;
        }
      }
      return { max, source };
    }

    function gpuTypeChoice(part, type) {
      return (part.gpu_types || []).find((choice) => choice.type === type) || null;
    }

    function renderGpuTypes(part, selected) {
      const types = part.has_gpu ? part.gpu_types || [] : [];
      const items = [{ value: "any", label: "Any type" }].concat(types.map((choice) => ({
        value: choice.type,
        label: choice.total === null ? choice.label
          : `${choice.label} · ${choice.idle} idle of ${choice.total}`,
      })));
      const value = fillSelect($("moss-adv-gpu-type"), items, selected || "any");
      $("moss-adv-gpu-type-row").hidden = types.length <= 1;
      return value === "any" ? null : value;
    }

    function renderReservations(partName, selected) {
      const open = facts.reservations ? facts.reservations[partName] || [] : [];
      const items = [{ value: "", label: "None" }].concat(
        open.map((r) => ({ value: r.name, label: r.label })));
      const value = fillSelect($("moss-adv-reservation"), items, selected || "");
      $("moss-adv-reservation-row").hidden = open.length === 0;
      return value;
    }

    return {
      renderAccount,
      renderQos,
      runtimeCap,
      gpuTypeChoice,
      renderGpuTypes,
      renderReservations,
    };
  };
})();
