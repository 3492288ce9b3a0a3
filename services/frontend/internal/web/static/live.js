// Live updates: one EventSource on /api/events, reconnected with back-off
// when the browser gives up, and an indicator of the connection's state.
// Item events are re-dispatched on `live` as "item" CustomEvents whose detail
// is {type, id, item, instance_id}.

export const live = new EventTarget();

const labels = { connecting: "Connecting…", live: "Live", offline: "Offline" };
const types = ["item.created", "item.updated", "item.deleted"];
let source = null;
let retry = 1000;

function show(state) {
  const el = document.getElementById("live");
  el.dataset.state = state;
  document.getElementById("live-text").textContent = labels[state];
  el.title = state === "live" ? "Live updates are on" : "Live updates are paused; changes appear after a reload";
}

/** connect opens the stream; it is called once, at start-up. */
export function connect() {
  if (source) source.close();
  show("connecting");
  source = new EventSource("/api/events");
  source.onopen = () => {
    retry = 1000;
    show("live");
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // The browser does not retry after an error answer: we do, slower each time.
      show("offline");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 60000);
    } else {
      show("connecting");
    }
  };
  for (const type of types) {
    source.addEventListener(type, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      live.dispatchEvent(new CustomEvent("item", { detail: { ...data, type } }));
    });
  }
}
