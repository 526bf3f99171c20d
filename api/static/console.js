// The store console: the manager's pages over the store API (an admin token). Every word through t().
"use strict";
const {api, $, esc, t, isoDay, addDays, signOut} = SL;
let rules = null;  // what a consent must hold under the store's privacy profile

const tile = (label, value, note) => `<div class="tile"><span>${esc(label)}</span><b${/\p{L}{3}/u.test(value) ? ' class="word"' : ""}>${esc(value)}</b>${note ? `<span>${esc(note)}</span>` : ""}</div>`;

async function overview() {
  const res = await api("/api/v1/today");
  if (!res.ok) return;
  const d = await res.json();
  $("today-tiles").innerHTML = [
    tile(t("Entries"), SL.number(d.entries)),
    tile(t("Unique visitors"), d.unique_visitors == null ? t("unavailable") : SL.number(d.unique_visitors)),
    tile(t("VIP arrivals"), SL.number(d.vip_arrivals)),
    tile(t("Inside now"), SL.number(d.occupancy)),
    tile(t("Exits"), SL.number(d.exits)),
    tile(t("Passers-by"), SL.number(d.passers_by)),
    tile(t("Capture rate"), SL.percent(d.capture_rate, 1), t("entries / (entries + passers-by)")),
    tile(t("Transactions"), SL.number(d.transactions)),
    tile(t("Conversion"), SL.percent(d.conversion, 1)),
    tile(t("Average basket"), SL.money(d.average_basket, d.currency)),
  ].join("");
  $("today-note").textContent = d.counted_to ? t("counted to {time}", {time: SL.time(d.counted_to)}) : t("counted when the first interval closes");
  const today = d.date, from = addDays(today, -6), to = addDays(today, 1);
  const charts = Promise.all([
    SL.image($("today-chart"), `/api/v1/reports/footfall/chart.png?from=${today}&to=${to}&interval=1h${SL.langParam()}`),
    SL.image($("week-chart"), `/api/v1/reports/footfall/chart.png?from=${from}&to=${to}&interval=1d${SL.langParam()}`),
  ]);
  const rows = await (await api(`/api/v1/reports/footfall?from=${from}&to=${to}&interval=1d`)).json();
  const store = storeRows(rows);
  const sum = (f) => store.reduce((a, r) => a + (r[f] || 0), 0);
  const entries = sum("entries"), txn = sum("transactions"), sales = sum("sales"), passers = sum("passers_by");
  const uniques = store.some((r) => r.unique_visitors == null) ? t("unavailable") : SL.number(sum("unique_visitors"));
  $("week-tiles").innerHTML = [
    tile(t("Entries"), SL.number(entries)),
    tile(t("Unique visitors"), uniques, t("sum of each day's")),
    tile(t("VIP arrivals"), SL.number(sum("vip_arrivals"))),
    tile(t("Exits"), SL.number(sum("exits"))),
    tile(t("Passers-by"), SL.number(passers)),
    tile(t("Capture rate"), entries + passers ? SL.percent(entries / (entries + passers), 1) : "–"),
    tile(t("Transactions"), SL.number(txn)),
    tile(t("Conversion"), entries ? SL.percent(txn / entries, 1) : "–",
      t("{transactions} transactions (the till's, every hour) / {entries} entries", {transactions: SL.number(txn), entries: SL.number(entries)})),
    tile(t("Average basket"), txn ? SL.money(sales / txn) : "–"),
  ].join("");
  await charts;
}

// the store-wide rows of a report: "all" when there are several cameras, else the one camera's
function storeRows(rows) {
  const cameras = new Set(rows.map((r) => r.camera_id));
  return rows.filter((r) => r.camera_id === "all" || cameras.size === 1);
}

function period(fromId, toId) {
  return `from=${$(fromId).value}&to=${addDays($(toId).value, 1)}`;
}

async function reports() {
  if (!$("r-from").value) { const today = isoDay(new Date()); $("r-from").value = addDays(today, -6); $("r-to").value = today; }
  const q = period("r-from", "r-to") + "&interval=" + $("r-interval").value;
  const res = await api("/api/v1/reports/footfall?" + q);
  $("r-error").textContent = res.ok ? "" : await SL.detail(res);
  if (!res.ok) return;
  const rows = storeRows(await res.json());
  const chart = SL.image($("r-chart"), "/api/v1/reports/footfall/chart.png?" + q + SL.langParam());
  const when = (r) => $("r-interval").value === "1d" ? SL.date(r.interval_start) : SL.dateTime(r.interval_start);
  SL.table($("r-table"), [t("Start"), t("Entries"), t("Exits"), t("Passers-by"), t("Capture rate"), t("Inside"), t("Unique visitors"),
    t("VIP arrivals"), t("Transactions"), t("Conversion"), t("Average basket")],
    rows.map((r) => [esc(when(r)), SL.number(r.entries), SL.number(r.exits), SL.number(r.passers_by), esc(SL.percent(r.capture_rate, 1)),
      SL.number(r.occupancy), r.unique_visitors == null ? esc(t("unavailable")) : SL.number(r.unique_visitors),
      SL.number(r.vip_arrivals), SL.number(r.transactions), esc(SL.percent(r.conversion, 1)), esc(SL.money(r.average_basket))]),
    t("Nothing counted in this period."));
  await chart;
}

async function health() {
  if (!$("h-from").value) { const today = isoDay(new Date()); $("h-from").value = addDays(today, -6); $("h-to").value = today; }
  const q = period("h-from", "h-to");
  const res = await api("/api/v1/reports/health?" + q + SL.langParam());
  $("h-error").textContent = res.ok ? "" : await SL.detail(res);
  if (!res.ok) return;
  const r = await res.json();
  const chart = SL.image($("h-chart"), "/api/v1/reports/health?format=png&" + q + SL.langParam());
  const names = {acquisition: t("acquisition"), conversion: t("conversion"), service: t("service"), retention: t("retention"), member_value: t("member value")};
  SL.table($("h-table"), [t("Score"), t("This period"), t("Reference")], Object.keys(names).map((k) => [esc(names[k]),
    esc(r.shown.scores[k]), esc(r.shown.reference[k])]));  // the server's words, as the chart draws them
  $("h-note").textContent = r.note;
  await chart;
}

async function members() {
  await loadRules();
  await Promise.all([memberList(), accessLog()]);
}

// Every member, a page at a time: a click on a column sorts by it (again: the other way); erase and export per row.
const list = {sort: "name", order: "asc", offset: 0, limit: 50};
async function memberList() {
  const q = new URLSearchParams({sort: list.sort, order: list.order, offset: list.offset, limit: list.limit});
  const res = await api("/api/v1/member-list?" + q);
  if (!res.ok) return;
  const page = await res.json();
  const columns = [["name", t("Name")], ["member_id", t("Member id")], ["enrolled_at", t("Enrolled")],
    ["last_seen_at", t("Last seen")], ["consent_reference", t("Consent")]];
  const arrow = (k) => k === list.sort ? (list.order === "asc" ? " ▲" : " ▼") : "";
  SL.table($("ml-table"), [...columns.map(([k, label]) => label + arrow(k)), ""],
    page.rows.map((m) => [esc(m.name), `<code>${esc(m.member_id)}</code>`, esc(m.enrolled_at ? SL.date(m.enrolled_at) : t("no face enrolled")),
      esc(m.last_seen_at ? SL.dateTime(m.last_seen_at) : t("not seen yet")), esc(m.consent_reference || "–"),
      `<button class="secondary export" data-id="${esc(m.member_id)}">${esc(t("Export"))}</button> <button class="danger erase" data-id="${esc(m.member_id)}">${esc(t("Erase"))}</button>`]),
    t("No member yet."));
  const heads = $("ml-table").querySelectorAll("th");
  columns.forEach(([k], i) => {
    if (!heads[i]) return;
    heads[i].classList.add("sortable");
    heads[i].dataset.sort = k;
    heads[i].onclick = () => { list.order = list.sort === k && list.order === "asc" ? "desc" : "asc"; list.sort = k; list.offset = 0; memberList(); };
  });
  for (const b of $("ml-table").querySelectorAll(".erase")) b.onclick = () => erase(b.dataset.id);
  for (const b of $("ml-table").querySelectorAll(".export")) b.onclick = () => SL.download(`/api/v1/members/${encodeURIComponent(b.dataset.id)}/export`, `member-${b.dataset.id}.json`);
  const first = page.total ? page.offset + 1 : 0, last = page.offset + page.rows.length;
  $("ml-count").textContent = t("{first}–{last} of {total}", {first: SL.number(first), last: SL.number(last), total: SL.number(page.total)});
  $("ml-prev").disabled = page.offset === 0;
  $("ml-next").disabled = last >= page.total;
}
$("ml-prev").onclick = () => { list.offset = Math.max(0, list.offset - list.limit); memberList(); };
$("ml-next").onclick = () => { list.offset += list.limit; memberList(); };

async function loadRules() {
  if (rules) return;
  const res = await api("/api/v1/privacy/consent");
  if (!res.ok) return;
  rules = await res.json();
  $("e-separate-row").hidden = !rules.separate_consent;
  $("e-release-row").hidden = !rules.written_release;
  $("e-minor-label").textContent = t("Under {age}: a guardian consents too", {age: rules.guardian_age});
  const needs = [t("a signed consent")];
  if (rules.separate_consent) needs.push(t("given on its own"));
  if (rules.written_release) needs.push(t("a written release"));
  $("e-rules").textContent = t("This store's privacy rules need: {needs}.", {needs: needs.join(", ")});
}

const PURPOSES = {arrival: t("arrival"), lookup: t("lookup"), admin: t("admin"), search: t("search")};
async function accessLog() {
  const readers = await api("/api/v1/privacy/access-log/readers");
  if (readers.ok) {
    const chosen = $("a-reader").value;
    $("a-reader").innerHTML = `<option value="">${esc(t("everyone"))}</option>` + (await readers.json()).map((w) => `<option value="${esc(w)}"${w === chosen ? " selected" : ""}>${esc(w)}</option>`).join("");
  }
  if (!$("a-why").options.length) $("a-why").innerHTML = `<option value="">${esc(t("every purpose"))}</option>` + Object.entries(PURPOSES).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("");
  const q = new URLSearchParams({limit: 50, grouped: $("a-grouped").checked});
  if ($("a-reader").value) q.set("reader", $("a-reader").value);
  if ($("a-why").value) q.set("why", $("a-why").value);
  const res = await api("/api/v1/privacy/access-log?" + q);
  if (!res.ok) return;
  SL.table($("a-table"), [t("When"), t("Member"), t("Who"), t("What"), t("Why"), t("Reads")],
    (await res.json()).map((r) => [esc(SL.dateTime(r.at)), r.member ? `<code>${esc(r.member)}</code>` : esc(t("several members")), esc(r.who), esc(t(r.what)), esc(t(r.why)),
      r.count > 1 ? esc(t("{count} since {time}", {count: SL.number(r.count), time: SL.dateTime(r.first_at)})) : "1"]),
    t("No read recorded yet."));
}
for (const id of ["a-reader", "a-why", "a-grouped"]) $(id).onchange = () => accessLog();

$("search-form").onsubmit = async (e) => {
  e.preventDefault();
  const q = $("search").value.trim();
  if (!q) return;
  const res = await api("/api/v1/members?q=" + encodeURIComponent(q));
  if (!res.ok) { $("m-table").innerHTML = ""; return; }
  SL.table($("m-table"), [t("Name"), t("Member id"), t("Tier"), t("Face enrolled"), ""],
    (await res.json()).map((m) => [esc(m.name), `<code>${esc(m.member_id)}</code>`, esc(m.tier),
      esc(m.vectors ? SL.tn("yes ({n} photo)", "yes ({n} photos)", m.vectors, {n: SL.number(m.vectors)}) : t("no")),
      `<button class="danger erase" data-id="${esc(m.member_id)}">${esc(t("Erase"))}</button>`]),
    t("No member found."));
  for (const b of document.querySelectorAll("#m-table .erase")) b.onclick = () => erase(b.dataset.id);
};

async function erase(id) {
  if (!confirm(t("Erase every trace of {id}: face, photos, consent, profile and visits?", {id}))) return;
  const res = await api("/api/v1/members/" + encodeURIComponent(id), {method: "DELETE"});
  if (!res.ok) { $("receipt").innerHTML = `<p class="error">${esc(await SL.detail(res))}</p>`; return; }
  const r = await res.json();
  const kinds = {vectors: t("face vectors"), gallery_photos: t("enrolment photos"), consents: t("consent records"),
    profile: t("profile"), arrival_events: t("arrivals"), acknowledgements: t("acknowledgements"),
    purchases_unlinked: t("purchases unlinked"), insights: t("insights"), card_photo: t("card photo")};
  const removed = Object.entries(r.removed).map(([k, v]) => `${esc(kinds[k] || k)}: ${SL.number(v)}`).join(", ");
  $("receipt").innerHTML = `<p class="ok" id="receipt-line">${esc(t("Erased {id} at {time}. Receipt {receipt}.", {id: r.member_id, time: SL.dateTime(r.at), receipt: r.receipt_id}))}</p><p class="meta">${removed}</p>`;
  $("search-form").requestSubmit();
  memberList();
  accessLog();
}

$("e-photo").onchange = async () => {
  $("e-save").disabled = true;
  const file = $("e-photo").files[0];
  const box = $("e-verdict");
  if (!file) { box.textContent = ""; return; }
  box.className = "verdict"; box.textContent = t("Checking the photo…");
  const form = new FormData(); form.append("photo", file);
  const res = await api("/api/v1/members/photo-check", {method: "POST", body: form});
  if (!res.ok) { box.className = "verdict bad"; box.textContent = await SL.detail(res); return; }
  const v = await res.json();
  const measures = v.width != null ? t("face {width} px wide, confidence {score}, sharpness {sharpness}, yaw {yaw}, pitch {pitch}",
    {width: SL.number(v.width), score: SL.number(v.score, 2), sharpness: SL.number(v.sharpness), yaw: SL.number(v.yaw, 2), pitch: SL.number(v.pitch, 2)}) : "";
  const reasons = {"no-face": t("no face found"), "many-faces": t("{n} faces found and none clearly the member's: crop the photo to them", {n: v.faces}),
    exposure: t("the face is too dark, flat or noisy to recognise"),
    "too-small": t("the face is too small"), "low-confidence": t("the face is not clear enough to the detector"),
    blurred: t("the face is blurred"), turned: t("the face is turned sideways"), tilted: t("the face is tilted up or down")};
  box.className = "verdict " + (v.usable ? "good" : "bad");
  box.textContent = (v.usable ? t("Usable: {measures}", {measures}) : t("Refused: {problem}", {problem: reasons[v.code] || v.problem}) + (measures ? ` (${measures})` : ""))
    + (v.usable && v.ignored ? " " + SL.tn("{n} other face in the photo will be ignored.", "{n} other faces in the photo will be ignored.", v.ignored) : "");
  $("e-save").disabled = !v.usable;
};
$("e-minor").onchange = () => { $("e-guardian-row").hidden = !$("e-minor").checked; };

$("enrol-form").onsubmit = async (e) => {
  e.preventDefault();
  $("e-error").textContent = ""; $("e-result").textContent = "";
  const id = $("e-id").value.trim();
  if (rules && rules.separate_consent && !$("e-separate").checked) { $("e-error").textContent = t("This store's rules need the consent given on its own."); return; }
  if (rules && rules.written_release && !$("e-release").value.trim()) { $("e-error").textContent = t("This store's rules need a written release reference."); return; }
  if ($("e-minor").checked && !$("e-guardian").value.trim()) { $("e-error").textContent = t("A minor needs a guardian's consent reference."); return; }
  const name = $("e-name").value.trim();
  if (name) {  // a new member gets a profile with their name; an existing profile is left as it is
    const found = await api("/api/v1/members?q=" + encodeURIComponent(id));
    const known = found.ok && (await found.json()).some((m) => m.member_id === id);
    if (!known) {
      const made = await api("/api/v1/members/" + encodeURIComponent(id), {method: "PUT", headers: {"Content-Type": "application/json"}, body: JSON.stringify({name})});
      if (!made.ok) { $("e-error").textContent = await SL.detail(made); return; }
    }
  }
  const form = new FormData();
  form.append("photos", $("e-photo").files[0]);
  form.append("consent", $("e-consent").value.trim());
  if ($("e-separate").checked) form.append("separate_consent", "true");
  if ($("e-release").value.trim()) form.append("written_release", $("e-release").value.trim());
  if ($("e-minor").checked) { form.append("minor", "true"); form.append("guardian_consent", $("e-guardian").value.trim()); }
  const res = await api(`/api/v1/members/${encodeURIComponent(id)}/enrol`, {method: "POST", body: form});
  if (!res.ok) { $("e-error").textContent = await SL.detail(res); return; }
  const r = await res.json();
  $("e-result").textContent = SL.tn("Enrolled {id}: {n} face vector stored.", "Enrolled {id}: {n} face vectors stored.", r.total_vectors, {id: r.member_id});
  accessLog();
};

$("import-form").onsubmit = async (e) => {
  e.preventDefault();
  $("i-error").textContent = ""; $("i-summary").textContent = ""; $("i-table").innerHTML = "";
  const form = new FormData();
  form.append("manifest", $("i-manifest").files[0]);
  form.append("photos", $("i-photos").files[0]);
  if ($("i-lookalikes").checked) form.append("allow_lookalikes", "true");
  $("i-start").disabled = true;
  const res = await api("/api/v1/member-imports", {method: "POST", body: form});
  if (!res.ok) { $("i-error").textContent = await SL.detail(res); $("i-start").disabled = false; return; }
  let job = await res.json();
  const rows = [...job.verdicts];
  const said = {enrolled: t("enrolled"), skipped: t("skipped"), refused: t("refused")};
  const show = () => {
    $("i-progress").hidden = job.state !== "running";
    $("i-progress").max = Math.max(job.total, 1); $("i-progress").value = job.done;
    $("i-summary").textContent = t("{done} of {total} member(s) done: {enrolled} enrolled, {skipped} skipped, {refused} refused",
      {done: SL.number(job.done), total: SL.number(job.total), enrolled: SL.number(job.enrolled), skipped: SL.number(job.skipped), refused: SL.number(job.refused)});
    SL.table($("i-table"), [t("Row"), t("Member id"), t("Result"), t("Why")],  // rows with nothing to say are counted, not listed
      rows.filter((v) => v.status !== "enrolled" || v.reason).map((v) => [SL.number(v.row), esc(v.member_id || ""),
        `<span class="pill ${v.status === "refused" ? "offline" : "online"}">${esc(said[v.status])}</span>`, esc(v.reason)]));
  };
  show();
  while (job.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const next = await api(`/api/v1/member-imports/${job.id}?since=${rows.length}`);
    if (!next.ok) { $("i-error").textContent = await SL.detail(next); break; }
    job = await next.json();
    rows.push(...job.verdicts);
    show();
  }
  if (job.state === "failed") $("i-error").textContent = job.error;
  $("i-start").disabled = false;
};

async function cameras() {
  const res = await api("/api/v1/cameras");
  if (!res.ok) return;
  const state = {online: t("online"), reconnecting: t("reconnecting"), offline: t("offline")};
  SL.table($("c-table"), [t("Camera"), t("Status"), t("Since"), t("Frames per second"), t("Minimum face"), t("Software"), ""],
    (await res.json()).map((c) => [`<b>${esc(c.id)}</b>${c.members_only ? ` <span class="pill">${esc(t("members only"))}</span>` : ""}`,
      c.status ? `<span class="pill ${esc(c.status.state)}">${esc(state[c.status.state] || c.status.state)}</span>` : `<span class="pill">${esc(t("no status yet"))}</span>`,
      c.status ? esc(SL.dateTime(c.status.since)) : "", c.status ? SL.number(c.status.fps, 1) : "",
      esc(t("{px} px", {px: c.min_face_px})), c.status ? esc(c.status.software) : "",
      `<button class="secondary snap" data-id="${esc(c.id)}">${esc(t("Snapshot"))}</button>`]));
  for (const b of document.querySelectorAll("#c-table .snap")) b.onclick = async () => {
    $("c-error").textContent = t("Taking a snapshot…");
    const shot = await SL.image($("c-snapshot"), `/api/v1/cameras/${encodeURIComponent(b.dataset.id)}/snapshot.png${SL.langParam().replace("&", "?")}`);
    $("c-error").textContent = shot.ok ? "" : await SL.detail(shot);
  };
  const today = isoDay(new Date());
  const out = await api(`/api/v1/reports/announcements?from=${addDays(today, -6)}&to=${addDays(today, 1)}`);
  if (!out.ok) return;
  SL.table($("o-table"), [t("Camera"), t("Announced"), t("Confirmed"), t("Rejected"), t("Unanswered"), t("Rejected share")],
    (await out.json()).map((o) => [esc(o.camera_id), SL.number(o.announced), SL.number(o.confirmed), SL.number(o.rejected),
      SL.number(o.unanswered), esc(SL.percent(o.rejected_share, 1))]), t("No announcement in these days."));
}

async function tokens() {
  const res = await api("/api/v1/tokens");
  if (!res.ok) return;
  const roles = {admin: t("admin"), associate: t("associate")};
  SL.table($("t-table"), [t("Name"), t("Role"), t("Created"), ""],
    (await res.json()).map((k) => [esc(k.name), esc(roles[k.role] || k.role), esc(SL.dateTime(k.created_at)),
      `<button class="danger revoke" data-name="${esc(k.name)}">${esc(t("Revoke"))}</button>`]));
  for (const b of document.querySelectorAll("#t-table .revoke")) b.onclick = async () => {
    if (!confirm(t("Revoke the token of {name}? Its device is signed out at once.", {name: b.dataset.name}))) return;
    const done = await api("/api/v1/tokens/" + encodeURIComponent(b.dataset.name), {method: "DELETE"});
    $("t-error").textContent = done.ok ? "" : await SL.detail(done);
    tokens();
  };
}

$("token-form").onsubmit = async (e) => {
  e.preventDefault();
  const res = await api("/api/v1/tokens", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({name: $("t-name").value.trim(), role: $("t-role").value})});
  $("t-error").textContent = res.ok ? "" : await SL.detail(res);
  if (!res.ok) return;
  const k = await res.json();
  $("t-new").innerHTML = `${esc(t("Token for {name}, shown once: copy it to the device now.", {name: k.name}))}<br><code id="t-value">${esc(k.token)}</code>`;
  tokens();
};

$("report-form").onsubmit = (e) => { e.preventDefault(); reports(); };
$("health-form").onsubmit = (e) => { e.preventDefault(); health(); };
$("r-csv").onclick = () => SL.download(`/api/v1/reports/footfall?${period("r-from", "r-to")}&interval=${$("r-interval").value}&format=csv`, "footfall.csv");
$("r-xlsx").onclick = () => SL.download(`/api/v1/reports/footfall?${period("r-from", "r-to")}&interval=${$("r-interval").value}&format=xlsx`, "footfall.xlsx");

async function start() {
  if (!SL.token()) { signOut(""); return; }
  const res = await api("/api/v1/tokens");
  if (SL.refused(res)) return;
  if (res.status === 403) { signOut(t("This console needs an admin token.")); return; }
  SL.showApp();
  $("store-name").textContent = SL.state.store_name;
  await show(location.hash.slice(1));
}

const show = SL.pages({overview, reports, health, members, cameras, tokens});
window.onhashchange = () => show(location.hash.slice(1));
SL.onSignIn(start);
SL.loadLocale().then(start);
