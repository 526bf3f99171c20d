// What every StoreLens page shares: the token, API calls, the store's language and its formats.
// Words are marked data-i18n=(the English words) for text, data-i18n-placeholder / -title / -label (attributes) and
// t(English words) in scripts; /api/v1/locale sends their translations in the store's locale (or ?lang=), and
// the browser's Intl formats dates, times, numbers and money in that locale and the store's time zone.
"use strict";
const SL = (() => {
  const state = {locale: "en", bcp47: "en", timezone: "UTC", currency: "EUR", messages: {}, plurals: {}, missing: new Set()};
  // each page keeps its own token (an iPad's associate token, the console's admin token)
  const key = () => (document.body && document.body.dataset.tokenKey) || "storelens-token";
  const token = () => localStorage.getItem(key()) || "";
  const setToken = (value) => value ? localStorage.setItem(key(), value) : localStorage.removeItem(key());
  const api = (path, opts = {}) => fetch(path, {...opts, headers: {...(opts.headers || {}), Authorization: "Bearer " + token()}});
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  // A message in the page's language, its {placeholders} filled from values (escaped by the caller where HTML).
  function t(message, values = {}) {
    let text = state.messages[message];
    if (text === undefined) { if (state.bcp47.split("-")[0] !== "en") state.missing.add(message); text = message; }
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
  }
  // The form of a message with plural forms for the number n (the language's CLDR rule, as the browser's
  // Intl.PluralRules knows it: French "0 photo", "2 photos"; one form in Chinese), {n} filled from values or n.
  function tn(singular, plural, n, values = {}) {
    const forms = state.plurals[singular];
    let text;
    if (forms) text = forms[new Intl.PluralRules(state.bcp47).select(n)] || forms.other;
    else { if (state.bcp47.split("-")[0] !== "en") state.missing.add(singular); text = n === 1 ? singular : plural; }
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : name === "n" ? String(n) : m));
  }
  function translate(root = document) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const attr of ["placeholder", "title", "label"]) {
      for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
        const text = t(el.getAttribute(`data-i18n-${attr}`));
        el.setAttribute(attr === "label" ? "aria-label" : attr, text);
      }
    }
  }
  // The reader's language: ?lang= in the address, else the one chosen on this device (kept in localStorage,
  // for every page of this server), else the store's. The switch on every page sets the device's choice.
  const LANG_KEY = "storelens-lang";
  const chosenLang = () => new URLSearchParams(location.search).get("lang") || localStorage.getItem(LANG_KEY) || "";
  async function loadLocale() {
    const lang = chosenLang();
    const res = await fetch("/api/v1/locale" + (lang ? "?lang=" + encodeURIComponent(lang) : ""));
    if (res.ok) Object.assign(state, await res.json());
    document.documentElement.lang = state.bcp47;
    translate();
    languageSwitch();
    return state;
  }
  function languageSwitch() {
    const select = $("lang-switch");
    if (!select) return;
    const names = {...state.languages};
    if (!(state.locale in names)) names[state.locale] = state.locale;
    select.innerHTML = Object.entries(names).map(([loc, name]) => `<option value="${esc(loc)}"${loc === state.locale ? " selected" : ""}>${esc(name)}</option>`).join("");
    select.onchange = () => {
      localStorage.setItem(LANG_KEY, select.value);
      location.replace(location.pathname + location.hash);  // the address's ?lang= would outrank the choice
    };
    $("lang-note").textContent = state.fallback || "";
  }
  const zone = () => ({timeZone: state.timezone});
  const time = (iso) => iso ? new Intl.DateTimeFormat(state.bcp47, {...zone(), hour: "2-digit", minute: "2-digit"}).format(new Date(iso)) : "";
  const date = (iso, style = "medium") => iso ? new Intl.DateTimeFormat(state.bcp47, {...zone(), dateStyle: style}).format(new Date(iso)) : "";
  const dateTime = (iso) => iso ? new Intl.DateTimeFormat(state.bcp47, {...zone(), dateStyle: "medium", timeStyle: "short"}).format(new Date(iso)) : "";
  const number = (v, digits = 0) => v == null ? "–" : new Intl.NumberFormat(state.bcp47, {maximumFractionDigits: digits}).format(v);
  const percent = (v, digits = 0) => v == null ? "–" : new Intl.NumberFormat(state.bcp47, {style: "percent", maximumFractionDigits: digits}).format(v);
  const money = (v, cur) => v == null ? "–" : new Intl.NumberFormat(state.bcp47, {style: "currency", currency: cur || state.currency, maximumFractionDigits: 0}).format(v);
  // an image only a token may fetch (a chart, a snapshot): fetched, then shown from memory
  async function image(el, url) {
    const res = await api(url);
    if (!res.ok) { el.removeAttribute("src"); el.hidden = true; return res; }
    if (el.dataset.blob) URL.revokeObjectURL(el.dataset.blob);
    el.dataset.blob = URL.createObjectURL(await res.blob());
    const shown = new Promise((done) => { el.onload = done; el.onerror = done; });
    el.src = el.dataset.blob; el.hidden = false;
    await shown;
    return res;
  }
  async function download(url, name) {
    const res = await api(url);
    if (!res.ok) return res;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await res.blob()); a.download = name;
    document.body.append(a); a.click(); a.remove();
    return res;
  }
  // a table from headers (already translated) and rows of cells (HTML, escaped by the caller)
  function table(el, headers, rows, empty) {
    el.innerHTML = rows.length
      ? `<thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody>`
      : `<tbody><tr><td class="empty">${esc(empty || "")}</td></tr></tbody>`;
  }
  // A refusal in the reader's language: the catalogued message and its values where the server sent them (the
  // English detail otherwise, which is for machines and logs).
  async function detail(res) {
    try {
      const body = await res.json();
      return body.message ? t(body.message, body.params || {}) : body.detail || res.statusText;
    } catch (e) { return res.statusText; }
  }
  // The sign-in screen or the app: signing out forgets this page's token.
  function signOut(message) {
    setToken("");
    $("app").hidden = true; $("signin").hidden = false; $("signin-error").textContent = message || "";
  }
  function showApp() { $("signin").hidden = true; $("app").hidden = false; }
  // A refused token, said and signed out: 401 unknown (or revoked), 429 too many wrong tokens from this device,
  // with the seconds to wait. True when the answer was such a refusal.
  function refused(res) {
    if (res.status === 401) { signOut(t("Unknown token.")); return true; }
    if (res.status === 429) {
      signOut(t("Too many wrong tokens from this device: try again in {seconds} s.", {seconds: res.headers.get("Retry-After") || "60"}));
      return true;
    }
    return false;
  }
  function onSignIn(start) {
    $("signin-form").onsubmit = (e) => { e.preventDefault(); setToken($("token").value.trim()); start(); };
  }
  // A console's pages by #hash, from handlers {name: async draw}: one shown, its tab lit, then
  // body[data-ready=name] once the latest navigation has drawn everything it asked for (the browser tests
  // wait on it; a slower earlier page never claims to be the current one). ``before(name)`` runs first.
  function pages(handlers, before = () => {}) {
    const names = Object.keys(handlers);
    let navigation = 0;
    return async function show(page) {
      if (!names.includes(page)) page = names[0];
      for (const p of names) $("page-" + p).hidden = p !== page;
      for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.getAttribute("href") === "#" + page);
      before(page);
      const mine = ++navigation;
      delete document.body.dataset.ready;
      await handlers[page]();
      if (mine === navigation) document.body.dataset.ready = page;
    };
  }
  // Days as "YYYY-MM-DD" in the page's zone (the store's, or head office's); the APIs read them as local midnights.
  const isoDay = (d) => new Intl.DateTimeFormat("en-CA", {timeZone: state.timezone}).format(d);
  const addDays = (day, n) => { const d = new Date(day + "T12:00:00Z"); d.setUTCDate(d.getUTCDate() + n); return d.toISOString().slice(0, 10); };
  // "&lang=xx" when the page reads another language than the store's (server-drawn charts then speak it too)
  const langParam = () => { const l = chosenLang(); return l ? "&lang=" + encodeURIComponent(l) : ""; };
  return {state, langParam, token, setToken, signOut, showApp, refused, onSignIn, pages, isoDay, addDays, api, $, esc, t, tn, translate, loadLocale, time, date, dateTime, number, percent, money,
          image, download, table, detail};
})();
