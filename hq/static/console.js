"use strict";
const {api, $, esc, t, addDays, signOut} = SL;
const period = () => `from=${$("from").value}&to=${addDays($("to").value, 1)}`;

async function fail(res) { $("error").textContent = res.ok ? "" : await SL.detail(res); return !res.ok; }

// transactions, conversion and sales: "unavailable" where head office does not hold the till's data, never 0
const till = (r) => r.transactions == null ? Array(3).fill(esc(t("unavailable")))
  : [SL.number(r.transactions), esc(SL.percent(r.conversion, 1)), esc(SL.money(r.sales))];

async function chain() {
  const q = `${period()}&interval=1d&level=${$("level").value}`;
  const res = await api("/api/v1/chain/footfall?" + q);
  if (await fail(res)) return;
  const rows = await res.json();
  const chart = SL.image($("chain-chart"), "/api/v1/chain/footfall/chart.png?" + q + SL.langParam());
  SL.table($("chain-table"), [t("Day"), t("Where"), t("Entries"), t("Exits"), t("Passers-by"), t("Capture rate"), t("Unique visitors"),
    t("VIP arrivals"), t("Transactions"), t("Conversion"), t("Sales")],
    rows.map((r) => [esc(SL.date(r.local_start.slice(0, 10) + "T12:00:00Z")), esc(r.store_id === "chain" ? t("the chain") : r.store_id),
      SL.number(r.entries), SL.number(r.exits), SL.number(r.passers_by), esc(SL.percent(r.capture_rate, 1)), r.unique_visitors == null ? esc(t("unavailable")) : SL.number(r.unique_visitors), SL.number(r.vip_arrivals),
      ...till(r)]),
    t("Nothing counted in this period."));
  $("chain-note").textContent = rows.some((r) => r.transactions == null) ? t("Transactions, conversion and sales stay in each store's books: head office does not receive them.") : "";
  await chart;
}

async function ranking() {
  const res = await api(`/api/v1/chain/ranking?${period()}&by=${$("by").value}`);
  if (await fail(res)) return;
  SL.table($("rank-table"), ["#", t("Store"), t("Region"), t("Entries"), t("Capture rate"), t("VIP arrivals"), t("Transactions"), t("Conversion"), t("Sales")],
    (await res.json()).map((r) => [SL.number(r.rank), `<b>${esc(r.name || r.store_id)}</b>`, esc(r.region), SL.number(r.entries),
      esc(SL.percent(r.capture_rate, 1)), SL.number(r.vip_arrivals), ...till(r)]),
    t("Nothing counted in this period."));
  const arrivals = await api(`/api/v1/chain/arrivals?${period()}`);
  if (await fail(arrivals)) return;
  SL.table($("arrivals-table"), [t("Store"), t("Region"), t("VIP arrivals"), t("Different members")],
    (await arrivals.json()).map((a) => [esc(a.store_id), esc(a.region), SL.number(a.arrivals), SL.number(a.members)]),
    t("No VIP arrival in this period."));
}

async function boxes() {
  const res = await api("/api/v1/chain/boxes");
  if (await fail(res)) return;
  const state = {online: t("online"), reconnecting: t("reconnecting"), offline: t("offline")};
  SL.table($("boxes-table"), [t("Store"), t("Camera"), t("Status"), t("Since"), t("Frames per second"), t("Software"), t("Last heard")],
    (await res.json()).map((b) => [esc(b.store_id), esc(b.camera_id), `<span class="pill ${esc(b.state)}">${esc(state[b.state] || b.state)}</span>`,
      esc(SL.dateTime(b.ts)), SL.number(b.fps, 1), `<code>${esc(b.software)}</code>`, esc(SL.dateTime(b.received_at))]),
    t("No box has reported yet."));
}

async function members() {
  const res = await api("/api/v1/chain/members");
  if (res.status === 403) { $("members-note").textContent = t("Members and erasures are for admin tokens."); $("members-table").innerHTML = ""; $("erasures-table").innerHTML = ""; return; }
  if (await fail(res)) return;
  $("members-note").textContent = "";
  const states = {pending: t("pending"), confirmed: t("confirmed"), refused: t("refused")};
  SL.table($("members-table"), [t("Member"), t("Scope"), t("Home store"), t("Boxes"), t("Updated")],
    (await res.json()).map((m) => [`<code>${esc(m.member_id)}</code>`, esc(m.scope === "chain" ? t("every store") : t("home store")), esc(m.home_store || ""),
      Object.entries(m.stores).map(([s, d]) => `${esc(s)}: <span class="pill ${d.state === "confirmed" ? "online" : d.state === "refused" ? "offline" : ""}">${esc(states[d.state] || d.state)}</span>`).join(" "),
      esc(SL.dateTime(m.updated_at))]), t("No chain member yet."));
  const er = await api("/api/v1/chain/erasures");
  if (await fail(er)) return;
  SL.table($("erasures-table"), [t("Erasure"), t("Requested"), t("Completed"), t("Confirmed by"), t("Pending at")],
    (await er.json()).map((e) => [`<code>${esc(e.erasure_id)}</code>`, esc(SL.dateTime(e.requested_at)), e.completed_at ? esc(SL.dateTime(e.completed_at)) : esc(t("not yet")),
      esc(Object.keys(e.confirmed).join(", ")), esc(e.pending.map((p) => p.store_id).join(", "))]), t("No erasure yet."));
  const pl = await api("/api/v1/chain/member-platform");
  if (await fail(pl)) return;
  const p = await pl.json();
  $("platform-note").textContent = [p.configured ? "" : t("No member platform webhook is set (crm.webhook_url)."),
    t("{pending} waiting, {retrying} of them retried, {delivered} delivered.", {pending: SL.number(p.pending), retrying: SL.number(p.retrying), delivered: SL.number(p.delivered)}),
    p.last_error ? t("Last refusal after {attempts} tries: {error}", {attempts: SL.number(p.attempts), error: p.last_error}) : ""].filter(Boolean).join(" ");
}

async function start() {
  if (!SL.token()) { signOut(""); return; }
  const res = await api("/api/v1/chain/boxes");
  if (SL.refused(res)) return;
  SL.showApp();
  $("hq-name").textContent = SL.state.store_name;
  if (!$("from").value) { const today = SL.isoDay(new Date()); $("from").value = addDays(today, -6); $("to").value = today; }
  await show(location.hash.slice(1));
}

// the period applies to footfall and ranking only
const show = SL.pages({chain, ranking, boxes, members}, (page) => { $("period").hidden = page === "boxes" || page === "members"; });
window.onhashchange = () => show(location.hash.slice(1));
$("period").onsubmit = (e) => { e.preventDefault(); show(location.hash.slice(1)); };
$("level").onchange = () => chain();
$("by").onchange = () => ranking();
SL.onSignIn(start);
SL.loadLocale().then(start);
