// Starboard's page script: small glue between the admin pages and htmx.

// Every htmx request that changes something carries the CSRF token the admin checks
// (starlette-admin's double-submit cookie, readable by scripts by design).
document.addEventListener("htmx:configRequest", (event) => {
  const match = document.cookie.match(/(?:^|;\s*)starlette_admin_csrftoken=([^;]+)/);
  if (match && event.detail.verb !== "get") {
    event.detail.headers["X-CSRFToken"] = decodeURIComponent(match[1]);
  }
});
