// A list's filter panel (templates/admin/filter_panel.html): its form's fields are lookups
// (`status__in`, `created_at__gte`); this keeps the URL they make short and bookmarkable.
(() => {
  const SUGGESTIONS = 10;
  const TYPING_PAUSE_MS = 200;

  // Empty fields are left out; a multi-select's choices become one `field__in=a,b`.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-sb-filter-form")) return;
    event.preventDefault();
    const joined = new Map();
    for (const [name, value] of new FormData(form)) {
      if (typeof value !== "string" || value === "") continue;
      if (joined.has(name) && name.endsWith("__in")) joined.set(name, `${joined.get(name)},${value}`);
      else if (!joined.has(name) || name === "sort") joined.set(name, value);
    }
    const query = new URLSearchParams();
    for (const [name, value] of joined) query.append(name, value);
    // Repeated sorts are kept as they were given.
    query.delete("sort");
    for (const input of form.querySelectorAll('input[type=hidden][name="sort"]')) {
      query.append("sort", input.value);
    }
    // Nothing chosen is every row: a bare list URL would open the user's default view instead.
    const text = query.toString().replaceAll("%2C", ",") || "_default=off";
    window.location.assign(`${window.location.pathname}?${text}`);
  });

  // Date presets, as UTC days (the server reads a date as a whole day in UTC).
  function day(date) {
    return date.toISOString().slice(0, 10);
  }
  function presetRange(preset) {
    const now = new Date();
    const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const year = today.getUTCFullYear();
    const month = today.getUTCMonth();
    if (preset === "today") return [today, today];
    if (preset === "last-7-days") return [new Date(today.getTime() - 6 * 86_400_000), today];
    if (preset === "this-month") {
      return [new Date(Date.UTC(year, month, 1)), new Date(Date.UTC(year, month + 1, 0))];
    }
    return [new Date(Date.UTC(year, month - 1, 1)), new Date(Date.UTC(year, month, 0))];
  }
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-sb-date-preset]");
    if (!button) return;
    const box = button.closest("[data-sb-filter]");
    const name = box.dataset.sbFilter;
    const [from, to] = presetRange(button.dataset.sbDatePreset);
    box.querySelector(`input[name="${name}__gte"]`).value = day(from);
    box.querySelector(`input[name="${name}__lte"]`).value = day(to);
  });

  // A relation's field suggests matching rows (the admin's relation lookup) as one types.
  const timers = new WeakMap();
  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.dataset.sbLookup) return;
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(() => suggest(input), TYPING_PAUSE_MS));
  });
  async function suggest(input) {
    const term = input.value.trim();
    const list = document.getElementById(input.getAttribute("list"));
    if (!list || term === "" || /^\d+$/.test(term)) return; // a key needs no suggestion
    const url = new URL(input.dataset.sbLookup, window.location.href);
    url.searchParams.set("q", term);
    url.searchParams.set("limit", String(SUGGESTIONS));
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { items } = await response.json();
    list.replaceChildren(
      ...items.map((item) => {
        const option = document.createElement("option");
        option.value = String(item.id ?? item._meta?.pk ?? "");
        option.label = item._meta?.repr ?? option.value;
        option.textContent = option.label;
        return option;
      }),
    );
  }
})();
