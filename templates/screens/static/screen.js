// The live screen page's kiosk loop (served as a file: the page's CSP forbids inline scripts).
(() => {
  "use strict";
  // Kiosk loop: rotate the notices whose display period contains "now"; poll the feed for changes.
  // The last good feed stays in memory, so a network or server outage never blanks the screen.
  const stage = document.getElementById("stage");
  const FEED_URL = stage.dataset.feedUrl;
  const W = Number(stage.dataset.width), H = Number(stage.dataset.height);
  const slot = document.getElementById("slot");
  const counter = document.getElementById("counter");
  const progress = document.getElementById("progress");
  let feed = JSON.parse(document.getElementById("initial-feed").textContent);
  let shownKey = null;      // "document:version:page" of the slide on screen
  let shownSince = 0;
  let rotateTimer = null;

  function fit() {
    const s = Math.min(window.innerWidth / W, window.innerHeight / H);
    stage.style.transform = "scale(" + s + ")";
    stage.style.left = ((window.innerWidth - W * s) / 2) + "px";
    stage.style.top = ((window.innerHeight - H * s) / 2) + "px";
  }
  // A long document is several slides (pages), each with its own duration (long enough to read it).
  const keyOf = (n) => n.document + ":" + n.version + ":" + (n.page || 1);
  function live() {
    const now = Date.now();
    return (feed.notices || []).filter((n) => Date.parse(n.start) <= now && now < Date.parse(n.end));
  }
  function render(n, list) {
    if (!n) {
      if (shownKey !== "") { slot.innerHTML = document.getElementById("empty-slide").innerHTML; }
      shownKey = ""; counter.textContent = ""; progress.style.width = "0";
      document.body.dataset.showing = "";
      return;
    }
    if (keyOf(n) !== shownKey) { slot.innerHTML = n.html; shownKey = keyOf(n); shownSince = Date.now(); }
    counter.textContent = (list.indexOf(n) + 1) + " / " + list.length;
    document.body.dataset.showing = String(n.document);
  }
  function advance() {
    clearTimeout(rotateTimer);
    const list = live();
    let i = list.findIndex((n) => keyOf(n) === shownKey);
    const n = list.length ? list[(i + 1) % list.length] : null;
    render(n, list);
    rotateTimer = setTimeout(advance, ((n && n.duration) || 10) * 1000);
  }
  // Called after every feed change and every second: a withdrawn or expired slide leaves at once.
  function reconcile() {
    const list = live();
    const cur = list.find((n) => keyOf(n) === shownKey);
    if (cur) {
      render(cur, list);
      progress.style.width = Math.min(100, (Date.now() - shownSince) / (cur.duration * 10)) + "%";
    } else if (list.length || shownKey !== "") {
      advance();
    }
  }
  async function poll() {
    try {
      const r = await fetch(FEED_URL, { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      feed = await r.json();
      document.body.classList.remove("offline");
      document.body.dataset.revision = String(feed.revision);
      reconcile();
    } catch (e) {
      document.body.classList.add("offline");
    } finally {
      setTimeout(poll, (feed.poll_seconds || 10) * 1000);
    }
  }
  window.addEventListener("resize", fit);
  fit();
  document.body.dataset.revision = String(feed.revision);
  advance();
  setInterval(reconcile, 1000);
  setTimeout(poll, (feed.poll_seconds || 10) * 1000);
})();
