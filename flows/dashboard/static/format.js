// Numbers, times and names as the page shows them.

export const fmt = (x, digits) => (x === null || x === undefined ? "–" : Number(x).toPrecision(digits || 3));
export const pct = (x) => (x * 100).toFixed(x < 1 && x > 0.999 ? 2 : 0) + "%";
export const byText = (r) => (r.by ? `${r.by} (automatic)` : r.user || "?");

export function shortTime(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString();
}
