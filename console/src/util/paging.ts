// Cursor pagination as the API does it (`limit` + `next_cursor`): the pages seen so far are
// remembered by the cursor that opened them, so 上一页 goes back without the API having to.
import { computed, ref, type Ref } from 'vue'
import { messageOf } from '../api/problem'

/** One page of a cursor-paginated list, as every list of the API answers. */
export interface CursorPage<T> {
  items: T[]
  next_cursor?: string | null
}

/**
 * One paginated list. `fetch(cursor, limit)` asks for one page with the current filters;
 * `reload()` starts over at the first page (after a filter changed or a row was added),
 * `refresh()` reads the page shown again (after a row on it changed), `next()`/`prev()` move.
 */
export function useCursorList<T>(
  fetch: (cursor: string | undefined, limit: number) => Promise<CursorPage<T>>,
  limit = 20,
) {
  const items = ref<T[]>([]) as Ref<T[]>
  const loading = ref(false)
  // True once a first answer (or failure) came: an empty table says "no rows", not "loading".
  const loaded = ref(false)
  const error = ref('')
  // cursors[i] opened page i (undefined: the first page).
  const cursors = ref<Array<string | undefined>>([undefined])
  const index = ref(0)
  const nextCursor = ref<string | null>(null)
  // Answers to an older request (filters changed meanwhile) are dropped.
  let generation = 0

  async function load(at: number): Promise<void> {
    const mine = ++generation
    loading.value = true
    try {
      const page = await fetch(cursors.value[at], limit)
      if (mine !== generation) return
      items.value = page.items
      index.value = at
      nextCursor.value = page.next_cursor ?? null
      error.value = ''
    } catch (e) {
      if (mine !== generation) return
      error.value = messageOf(e, '加载失败，请稍后再试')
    } finally {
      if (mine === generation) {
        loading.value = false
        loaded.value = true
      }
    }
  }

  return {
    items,
    loading,
    loaded,
    error,
    page: computed(() => index.value + 1),
    hasNext: computed(() => nextCursor.value !== null),
    hasPrev: computed(() => index.value > 0),
    reload: () => {
      cursors.value = [undefined]
      return load(0)
    },
    refresh: () => load(index.value),
    next: () => {
      if (nextCursor.value === null) return Promise.resolve()
      cursors.value = [...cursors.value.slice(0, index.value + 1), nextCursor.value]
      return load(index.value + 1)
    },
    prev: () => (index.value > 0 ? load(index.value - 1) : Promise.resolve()),
  }
}

export type CursorList<T> = ReturnType<typeof useCursorList<T>>

/** Every page of a list, for small reference lists (areas, teams) that pickers show whole. */
export async function allPages<T>(fetch: (cursor: string | undefined) => Promise<CursorPage<T>>): Promise<T[]> {
  const out: T[] = []
  let cursor: string | undefined
  for (;;) {
    const page = await fetch(cursor)
    out.push(...page.items)
    if (!page.next_cursor) return out
    cursor = page.next_cursor
  }
}
