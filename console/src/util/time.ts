// Times are stored and sent in UTC; people read them in Asia/Shanghai, wherever the browser is.
const full = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
})

/** `2026-12-05 18:30:00` in Asia/Shanghai, from an RFC 3339 timestamp or a Date. */
export function shanghaiTime(at: string | Date | null | undefined): string {
  if (at === null || at === undefined || at === '') return '—'
  const d = typeof at === 'string' ? new Date(at) : at
  if (Number.isNaN(d.getTime())) return '—'
  const p = Object.fromEntries(full.formatToParts(d).map((x) => [x.type, x.value]))
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`
}
