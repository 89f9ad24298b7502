// Formatting for people: clock times, durations, counts, sizes, speeds.

/** `h:mm:ss` or `m:ss`. */
export function clock(seconds: number | null | undefined): string {
  const s = Math.max(0, Math.floor(seconds ?? 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** "about 3 minutes left" style remaining time. */
export function remaining(seconds: number): string {
  if (!isFinite(seconds) || seconds < 0) return 'estimating time left';
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min left`;
  return `${(seconds / 3600).toFixed(1)} h left`;
}

export function date(unix: number): string {
  return new Date(unix * 1000).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

/** A stable colour for a mark category: known ones fixed, others from a hash. */
export function categoryColour(category: string): string {
  const known: Record<string, string> = {
    'key point': '#2563eb',
    question: '#d97706',
    important: '#dc2626',
    todo: '#059669',
    review: '#7c3aed',
  };
  const fixed = known[category.toLowerCase()];
  if (fixed) return fixed;
  let hash = 0;
  for (const c of category) hash = (hash * 31 + c.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 65% 42%)`;
}

/** Tags as the API takes them: comma separated, lowercase, spaces turned into dashes. */
export function normalTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim().toLowerCase().replace(/\s+/g, '-'))
    .filter(Boolean);
}
