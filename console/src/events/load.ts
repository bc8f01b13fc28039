// Loading many events at once: the map shows every open event of the street, which can be
// thousands, so each open status is paged through in parallel, 200 a page (the API's largest).
import { api, data } from '../api/client'
import { OPEN_STATUSES, type EventView, type Status } from './meta'

async function allOf(status: Status): Promise<EventView[]> {
  const out: EventView[] = []
  let cursor: string | undefined
  do {
    const page = await data(api.GET('/api/v1/events', { params: { query: { status, limit: 200, cursor } } }))
    out.push(...page.items)
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return out
}

/** Every open event the caller may see. */
export async function openEvents(): Promise<EventView[]> {
  const lists = await Promise.all(OPEN_STATUSES.map(allOf))
  return lists.flat()
}

export function isOpen(e: EventView): boolean {
  return OPEN_STATUSES.includes(e.status)
}
