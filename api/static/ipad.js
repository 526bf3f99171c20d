// The associate's iPad page: live arrivals, taking one, today's panel, a member by code (served as a file:
// the pages' Content-Security-Policy runs no inline script).
"use strict";
const {api, token, $, esc, t, signOut} = SL;
let lastSeq = Number(sessionStorage.getItem("storelens-seq") || 0);
const cards = new Map();
const FRESH_MS = 8000;  // a new arrival is outlined this long after it happened (never a replayed old one)

function cardHtml(card, extra) {
  const sizes = Object.entries(card.sizes || {}).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(", ");
  const initials = esc((card.name || "?").split(" ").map((w) => w[0]).join("").slice(0, 2));
  const visits = card.last_visit ? t("Last visit: {date}", {date: SL.date(card.last_visit)}) : t("First visit");
  return `<div class="avatar" data-photo="${esc(card.photo_url || "")}">${initials}</div>
    <div class="main-col">
      <div class="who">${esc(card.name)}${card.tier ? `<span class="tier">${esc(card.tier)}</span>` : ""}</div>
      <div class="facts">${sizes ? `<b>${esc(t("Sizes:"))}</b> ${sizes}<br>` : ""}${card.preferences ? `<b>${esc(t("Likes:"))}</b> ${esc(card.preferences)}<br>` : ""}${card.notes ? `<b>${esc(t("Notes:"))}</b> ${esc(card.notes)}` : ""}</div>
      ${valueHtml(card)}
      <div class="meta">${esc(visits)} &middot; ${esc(t("Visits: {n}", {n: SL.number(card.visits)}))}</div>
      ${extra || ""}
    </div>
    ${recsHtml(card)}`;
}

const dots = (n) => "●".repeat(n || 0) + "○".repeat(5 - (n || 0));

function valueHtml(card) {
  if (!card.purchases_12m && !(card.other_currencies || []).length && !card.segment) return "";
  const s = card.value_scores;
  const last = (card.last_purchases || [])[0];
  const bought = Object.entries(card.sizes_bought || {}).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(", ");
  const spend = (v, cur, n) => esc(SL.tn("{amount} in {n} purchase", "{amount} in {n} purchases", n, {amount: SL.money(v, cur), n: SL.number(n)}));
  return `<div class="value">
      ${card.segment ? `<span class="segment">${esc(t(card.segment))}</span>` : ""}
      <span>${esc(t("12 months:"))} <b>${spend(card.spend_12m, card.currency, card.purchases_12m)}</b></span>
      ${(card.other_currencies || []).map((o) => `<span>+ <b>${spend(o.spend, o.currency, o.purchases)}</b></span>`).join("")}
      <span>${esc(t("Average basket"))} <b>${esc(SL.money(card.average_basket, card.currency))}</b></span>
    </div>
    ${s ? `<div class="value"><span>${esc(t("Purchasing power"))} <span class="dots">${dots(s.purchasing_power)}</span></span><span>${esc(t("Loyalty"))} <span class="dots">${dots(s.loyalty)}</span></span><span>${esc(t("Willing to buy"))} <span class="dots">${dots(s.willingness)}</span></span></div>` : ""}
    ${last ? `<div class="bought">${esc(t("Last bought {date}:", {date: SL.date(last.time)}))} ${esc(last.items.join(", "))}</div>` : ""}
    ${(card.favourite_categories || []).length ? `<div class="bought">${esc(t("Favourites:"))} ${esc(card.favourite_categories.join(", "))}${bought ? ` &middot; ${esc(t("sizes bought:"))} ${bought}` : ""}</div>` : ""}`;
}

function recsHtml(card) {
  const recs = card.recommendations || [];
  if (!recs.length) return "";
  return `<div class="recs"><h3>${esc(t("Show them"))}</h3>${recs.map((r) =>
    `<div class="rec"><b>${esc(r.name)}</b><br><small>${esc(r.reason_message ? t(r.reason_message, r.reason_params) : r.reason)}</small></div>`).join("")}</div>`;
}

async function loadPhotos(root) {
  for (const el of root.querySelectorAll(".avatar[data-photo]")) {
    const url = el.dataset.photo;
    if (!url) continue;
    const res = await api(url);
    if (res.ok) {
      const img = document.createElement("img");
      img.className = "avatar"; img.alt = t("member photo");
      img.src = URL.createObjectURL(await res.blob());
      el.replaceWith(img);
    }
  }
}

function actionsHtml(msg) {
  if (msg.rejected) return `<span class="rejected">${esc(t("Not this person: noted by {by} at {time}", {by: msg.rejected.by, time: SL.time(msg.rejected.at)}))}</span>`;
  const taken = msg.taken ? `<b>${esc(t("Taken by {by} at {time}", {by: msg.taken.by, time: SL.time(msg.taken.at)}))}</b>` : "";
  return `<button class="take" ${msg.taken ? "disabled" : ""}>${esc(msg.taken ? t("Taken") : t("I'll take this"))}</button>
    <button class="reject secondary">${esc(t("Not this person"))}</button><span class="taken-by">${taken}</span>`;
}

function render(msg) {
  $("empty").hidden = true;
  const id = msg.event.event_id;
  let el = cards.get(id);
  if (!el) {
    el = document.createElement("div"); el.className = "card"; el.dataset.eventId = id; cards.set(id, el); $("feed").prepend(el);
    const left = FRESH_MS - (Date.now() - Date.parse(msg.event.ts));
    if (left > 0) { el.classList.add("new"); setTimeout(() => el.classList.remove("new"), left); }
  }
  el.dataset.seq = msg.seq;
  const arrived = t("Arrived {time} at {camera}", {time: SL.time(msg.event.ts), camera: msg.event.camera_id});
  const quiet = t("not announced again before {time}", {time: SL.time(msg.cooldown_until)});
  el.innerHTML = cardHtml(msg.card, `<div class="cool">${esc(arrived)} &middot; ${esc(quiet)}</div><div class="actions">${actionsHtml(msg)}</div>`);
  el.classList.toggle("taken", !!msg.taken || !!msg.rejected);
  const take = el.querySelector(".take"), reject = el.querySelector(".reject");
  if (take) take.onclick = async () => {
    const res = await api(`/api/v1/notifications/${id}/take`, {method: "POST"});
    if (res.ok) update(id, {taken: await res.json()});
  };
  if (reject) reject.onclick = async () => {
    const res = await api(`/api/v1/notifications/${id}/reject`, {method: "POST"});
    if (res.ok) update(id, {rejected: await res.json()});
  };
  el._msg = msg;
  loadPhotos(el);
}

function update(id, change) {
  const el = cards.get(id);
  if (el && el._msg) render({...el._msg, ...change});
}

function drawChart(hours) {
  // Entries per hour: a bar per hour with its count above it and the hour below, on a baseline.
  const svg = $("chart"), w = svg.clientWidth || 300, h = 150, top = 18, base = h - 22;
  const max = Math.max(1, ...hours.map((x) => x.entries));
  const bw = w / Math.max(hours.length, 6);
  if (!hours.length) { svg.innerHTML = `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" fill="#667085" font-size="14">${esc(t("No entries counted yet today"))}</text>`; return; }
  svg.innerHTML = `<line x1="0" x2="${w}" y1="${base}" y2="${base}" stroke="#98a2b3"/>` + hours.map((x, i) => {
    const bh = (base - top) * x.entries / max, cx = i * bw + bw / 2;
    return `<rect x="${i * bw + 3}" y="${base - bh}" width="${Math.max(2, bw - 6)}" height="${bh}" rx="3" fill="#1f6feb"><title>${esc(x.hour)}: ${x.entries}</title></rect>
      <text x="${cx}" y="${base - bh - 4}" font-size="12" text-anchor="middle" fill="#1d2330">${SL.number(x.entries)}</text>
      <text x="${cx}" y="${h - 6}" font-size="12" text-anchor="middle" fill="#667085">${esc(x.hour)}</text>`;
  }).join("");
}

async function refreshToday() {
  const res = await api("/api/v1/today");
  if (SL.refused(res) || !res.ok) return;  // a revoked token signs the iPad out here too
  const d = await res.json();
  $("t-entries").textContent = SL.number(d.entries);
  $("t-counted").textContent = d.counted_to ? t("counted to {time}", {time: SL.time(d.counted_to)}) : t("counted when the first interval closes");
  $("t-unique").textContent = d.unique_visitors == null ? t("unavailable") : SL.number(d.unique_visitors);
  $("t-vip").textContent = SL.number(d.vip_arrivals);
  $("t-occupancy").textContent = SL.number(d.occupancy); $("t-exits").textContent = SL.number(d.exits);
  $("t-passers").textContent = SL.number(d.passers_by); $("t-capture").textContent = SL.percent(d.capture_rate);
  $("t-txn").textContent = SL.number(d.transactions); $("t-conv").textContent = SL.percent(d.conversion);
  $("t-basket").textContent = SL.money(d.average_basket, d.currency);
  drawChart(d.entries_per_hour);
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/live");
  ws.onopen = () => ws.send(JSON.stringify({token: token(), since_seq: lastSeq}));
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.kind === "ready") { $("state").textContent = t("live"); $("state").className = "live"; }
    else if (msg.kind === "arrival") { render(msg); lastSeq = Math.max(lastSeq, msg.seq); sessionStorage.setItem("storelens-seq", lastSeq); refreshToday(); }
    else if (msg.kind === "taken") { update(msg.event_id, {taken: msg.taken}); }
    else if (msg.kind === "rejected") { update(msg.event_id, {rejected: msg.rejected}); }
    else if (msg.kind === "footfall") { refreshToday(); }
  };
  ws.onclose = (e) => {
    $("state").textContent = t("reconnecting"); $("state").className = "";
    if (e.code === 1008) { signOut(t("This token is not valid any more.")); return; }
    if (e.code === 4429) { signOut(t("Too many wrong tokens from this device: try again in {seconds} s.", {seconds: (e.reason.match(/\d+/) || ["60"])[0]})); return; }
    setTimeout(connect, 1000);
  };
}

async function start() {
  if (!token()) { signOut(""); return; }
  const res = await api("/api/v1/today");
  if (SL.refused(res)) return;
  SL.showApp();
  lastSeq = 0; sessionStorage.removeItem("storelens-seq");
  refreshToday();
  connect();
  setInterval(refreshToday, 60000);
}

SL.onSignIn(start);
$("lookup-form").onsubmit = async (e) => {
  e.preventDefault();
  const q = $("lookup").value.trim();
  const param = /^[+\d][\d\s().-]*$/.test(q) ? "phone" : "code";
  const res = await api(`/api/v1/members/lookup?${param}=${encodeURIComponent(q)}`);
  $("lookup-error").textContent = res.ok ? "" : t("No member found.");
  $("lookup-result").innerHTML = res.ok ? `<div class="card">${cardHtml(await res.json())}</div>` : "";
  if (res.ok) loadPhotos($("lookup-result"));
};
SL.loadLocale().then(start);
