// jupyterhub_moss: the one way its pages ask the hub. A request carries the
// browser's cookies (same origin only), asks for JSON, and sends JupyterHub's
// XSRF token in the header the hub checks. Loaded before the page's own script.
(function () {
  "use strict";

  // The user's XSRF token, as JupyterHub puts it on its pages ("" where it does not).
  function xsrfToken() {
    return (window.jhdata && window.jhdata.xsrf_token) || "";
  }

  // fetch(), with the headers above added to those of `options`.
  function mossFetch(url, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const token = xsrfToken();
    if (token) {
      headers["X-XSRFToken"] = token;
    }
    return fetch(url, { ...options, headers, credentials: "same-origin" });
  }

  mossFetch.xsrfToken = xsrfToken;
  window.mossFetch = mossFetch;
})();
