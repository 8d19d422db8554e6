// The form's only stylesheet and script, served from our own origin so the
// Content-Security-Policy can forbid inline code.

export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fdfdfb; --muted: #5c5c5c; --line: #c9c9c4; --accent: #0b5cad; --danger: #a4161a; --ok: #1d6b2f; }
@media (prefers-color-scheme: dark) { :root { --fg: #eaeaea; --bg: #161616; --muted: #b0b0b0; --line: #444; --accent: #7fb4ff; --danger: #ff8a80; --ok: #8fd19e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 1.05rem/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; font-size: 1.2rem; }
header nav { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
/* A long unbroken word (an address) breaks only where it would not fit its line... */
main { max-width: 40rem; margin: 0 auto; padding: 1rem; overflow-wrap: break-word; }
main.wide { max-width: 64rem; }
/* ...and an address anywhere: it has no words to keep whole, and a table column may shrink it. */
.address { overflow-wrap: anywhere; }
.address .hint { overflow-wrap: break-word; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
label.inline { display: inline; font-weight: 400; margin: 0 0 0 .35rem; }
input[type=text], input[type=password], input[type=email], input[type=date], select { width: 100%; font: inherit; padding: .55rem .6rem; border: 1px solid var(--muted); border-radius: 4px; background: var(--bg); color: var(--fg); }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem 1rem; }
legend { font-weight: 600; padding: 0 .25rem; }
.choice { margin-top: .75rem; }
.suffix { color: var(--muted); }
.hint { color: var(--muted); font-size: .92rem; margin: .25rem 0 0; }
button, .button { display: inline-block; font: inherit; padding: .55rem 1.1rem; margin: 1rem .5rem 0 0; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: var(--bg); cursor: pointer; text-decoration: none; }
button.link { background: none; color: var(--accent); border: none; padding: 0; margin: 0; text-decoration: underline; }
.danger { background: var(--danger); border-color: var(--danger); color: #fff; }
.secondary { background: none; color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.notice, .error { border-left: 4px solid var(--ok); padding: .5rem .75rem; margin: 0 0 1rem; background: color-mix(in srgb, var(--ok) 10%, transparent); }
.error, .notice[data-state=failed] { border-color: var(--danger); background: color-mix(in srgb, var(--danger) 10%, transparent); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
/* A record or command wraps rather than hide its end behind a scroll bar that some systems
   draw only on hover: copying still gives the one line, since a wrap adds no newline. */
pre { white-space: pre-wrap; overflow-wrap: anywhere; padding: .6rem; border: 1px solid var(--line); border-radius: 4px; }
pre .line { display: block; padding-left: 2ch; text-indent: -2ch; }
textarea { display: block; width: 100%; font: .95rem/1.4 ui-monospace, monospace; padding: .55rem .6rem; border: 1px solid var(--muted); border-radius: 4px; background: var(--bg); color: var(--fg); resize: vertical; }
.status[data-state=failed] strong { color: var(--danger); }
.status[data-state=done] strong { color: var(--ok); }
table { width: 100%; border-collapse: collapse; }
caption { text-align: left; caption-side: top; }
/* Names and headings stay whole (no "De/le/te"); only .address may break anywhere. */
th, td { text-align: left; padding: .5rem .25rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td form { display: flex; flex-wrap: wrap; gap: .25rem; align-items: center; }
/* On a wide screen the other columns take what their content needs, the address the rest. */
@media (min-width: 40.01rem) { th:not(:first-child), td:not(.address) { width: 1%; } }
td input[type=text] { width: 7rem; }
td input[type=date] { width: auto; }
/* A member's Remove stays on the member's line. */
ul.members form { display: inline; margin-left: .5rem; }
td button { margin: 0; padding: .3rem .6rem; }
.findings { padding-left: 1.25rem; }
.findings li { margin: .4rem 0; }
.findings li[data-status=FAIL] > strong { color: var(--danger); }
.findings li[data-status=OK] > strong { color: var(--ok); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@media (max-width: 30rem) { dl { grid-template-columns: 1fr; } dd { margin-bottom: .5rem; } }
/* On a phone each mailbox is a card: one labelled line per column. */
@media (max-width: 40rem) {
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  /* Stacked, the hidden headings keep within their 1px box however many columns there are. */
  thead tr, thead th { display: block; white-space: nowrap; }
  table, caption, tbody, tr, td { display: block; }
  tr { border-bottom: 1px solid var(--line); padding: .5rem 0; }
  td { border: none; padding: .2rem 0; }
  td::before { content: attr(data-label) ": "; font-weight: 600; }
  td form { display: inline-flex; }
}
`;

/**
 * Polls /status.json while an apply is queued or running and updates the status line in
 * place. On a mailbox page it also follows the part that changes by itself (#mailbox-follows:
 * the proof, the MX check, the SSH line once the container is made): asked with ?follow,
 * swapped when its digest changes, and asked again, ever less often, while it still waits.
 */
export const STATUS_SCRIPT = `
(function () {
  var box = document.getElementById("apply-status");
  if (!box || !window.fetch) return;
  var text = box.querySelector("[data-status-text]");
  var reason = box.querySelector("[data-status-reason]");
  // A notice about the change follows the status too: it has a text for each state.
  var notice = document.getElementById("change-notice");
  var region = document.getElementById("mailbox-follows");
  var tries = 0;
  var wait = 2000;
  function busy(state) { return state === "queued" || state === "applying"; }
  function waiting() { return region !== null && region.getAttribute("data-waiting") === "true"; }
  function follow(f) {
    if (f.view !== region.getAttribute("data-view")) {
      if (f.live && region.getAttribute("data-live") === "false") {
        var said = document.querySelector("main > p.notice");
        if (said) said.textContent = f.liveNotice;
      }
      region.innerHTML = f.html;
      region.setAttribute("data-view", f.view);
      region.setAttribute("data-live", String(f.live));
    }
    region.setAttribute("data-waiting", String(f.waiting));
  }
  function poll() {
    if (tries++ > 900) return;
    fetch(region ? "/status.json?follow" : "/status.json", { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (s) {
        box.setAttribute("data-state", s.state);
        text.textContent = s.label;
        reason.textContent = s.reason ? " " + s.reason : s.progress ? " " + s.progress : "";
        if (notice) {
          var state = s.state === "failed" ? "failed" : (busy(s.state) || s.pending) ? "applying" : "done";
          notice.setAttribute("data-state", state);
          notice.textContent = notice.getAttribute("data-" + state);
        }
        if (region && s.follow) follow(s.follow);
        if (busy(s.state) || s.pending) { wait = 2000; setTimeout(poll, 1000); }
        else if (waiting()) { setTimeout(poll, wait); wait = Math.min(wait * 1.5, 30000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (busy(box.getAttribute("data-state")) || box.getAttribute("data-pending") === "true" || waiting()) setTimeout(poll, 500);
})();
`;
