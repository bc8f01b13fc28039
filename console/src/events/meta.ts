// How events read in Chinese, and the catalogue and area names pages look codes up in, each
// fetched once per page load.
import type { components } from '../../generated/openapi'
import { api, data } from '../api/client'

export type EventView = components['schemas']['EventView']
export type EventDetail = components['schemas']['EventDetail']
export type TaskView = components['schemas']['TaskView']
export type Status = components['schemas']['Status']
export type Colour = components['schemas']['Colour']
export type Category = components['schemas']['Category']
export type AreaView = components['schemas']['AreaView']
export type TeamView = components['schemas']['TeamView']

export const STATUS_LABELS: Record<Status, string> = {
  reported: '待受理',
  accepted: '已受理',
  dispatched: '已派遣',
  signed: '已签收',
  on_site: '已到场',
  handled: '已处置',
  completed: '已办结',
  evaluated: '已评价',
  rejected: '已驳回',
  merged: '已合并',
}

/** Statuses of an event still being worked on: what the map shows. */
export const OPEN_STATUSES: Status[] = ['reported', 'accepted', 'dispatched', 'signed', 'on_site', 'handled']

export const STATUS_TAG: Record<Status, 'primary' | 'success' | 'warning' | 'danger' | 'info'> = {
  reported: 'danger',
  accepted: 'warning',
  dispatched: 'primary',
  signed: 'primary',
  on_site: 'primary',
  handled: 'warning',
  completed: 'success',
  evaluated: 'success',
  rejected: 'info',
  merged: 'info',
}

export const COLOUR_LABELS: Record<string, string> = { blue: '蓝色', yellow: '黄色', orange: '橙色', red: '红色' }
export const COLOUR_HEX: Record<string, string> = { blue: '#1677ff', yellow: '#e6b800', orange: '#fa8c16', red: '#f5222d' }
export const LIGHT_LABELS: Record<string, string> = { none: '未亮灯', yellow: '黄灯', red: '红灯' }
export const SOURCE_LABELS: Record<string, string> = { citizen: '居民上报', patrol: '巡查发现', hotline: '热线', machine: '物联感知' }
export const ACTION_LABELS: Record<string, string> = {
  report: '上报',
  accept: '受理',
  dispatch: '派遣',
  sign: '签收',
  arrive: '到场',
  handle: '处置',
  complete: '办结',
  return: '退回重办',
  redispatch: '改派',
  reject: '驳回',
  evaluate: '评价',
  merge: '合并',
  light: '亮灯',
  recolour: '调整颜色',
  recategorise: '调整类别',
  reword: '修改描述',
  note: '现场记录',
}
export const MISSED_LABELS: Record<string, string> = { accept: '受理', dispatch: '派遣', sign: '签收', arrive: '到场', handle: '处置' }

let categories: Promise<Map<string, Category>> | null = null
/** The category catalogue by code. */
export function categoryMap(): Promise<Map<string, Category>> {
  categories ??= data(api.GET('/api/v1/categories')).then((list) => new Map(list.map((c) => [c.code, c])))
  categories.catch(() => {
    categories = null
  })
  return categories
}

let teams: Promise<TeamView[]> | null = null
/** Every team (a street has a handful). */
export function teamList(): Promise<TeamView[]> {
  teams ??= (async () => {
    const out: TeamView[] = []
    let cursor: string | undefined
    do {
      const page = await data(api.GET('/api/v1/teams', { params: { query: { limit: 200, cursor } } }))
      out.push(...page.items)
      cursor = page.next_cursor ?? undefined
    } while (cursor)
    return out
  })()
  teams.catch(() => {
    teams = null
  })
  return teams
}

const areaLists = new Map<string, Promise<AreaView[]>>()
/** Every area of a level (e.g. all grids of the street), paged through once. */
export function areasOf(level: 'community' | 'grid' | 'micro_grid'): Promise<AreaView[]> {
  let p = areaLists.get(level)
  if (!p) {
    p = (async () => {
      const out: AreaView[] = []
      let cursor: string | undefined
      do {
        const page = await data(api.GET('/api/v1/areas', { params: { query: { level, limit: 200, cursor } } }))
        out.push(...page.items)
        cursor = page.next_cursor ?? undefined
      } while (cursor)
      return out
    })()
    areaLists.set(level, p)
    p.catch(() => areaLists.delete(level))
  }
  return p
}

/** How long until (positive) or since (negative) `at`, as 「2 小时 5 分」. */
export function durationText(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d > 0) return `${d} 天 ${h} 小时`
  if (h > 0) return `${h} 小时 ${m} 分`
  if (m > 0) return `${m} 分 ${sec} 秒`
  return `${sec} 秒`
}

/** The deadlines of a task in order, with what each one is. */
export function deadlines(t: TaskView): Array<{ step: string; due: string; doneAt: string | null }> {
  const out: Array<{ step: string; due: string; doneAt: string | null }> = []
  if (t.sign_due) out.push({ step: '签收', due: t.sign_due, doneAt: t.signed_at ?? null })
  if (t.arrive_due) out.push({ step: '到场', due: t.arrive_due, doneAt: t.arrived_at ?? null })
  if (t.handle_due) out.push({ step: '处置', due: t.handle_due, doneAt: t.handled_at ?? null })
  return out
}

/** How late a task is now: milliseconds past its earliest missed, unmet deadline (0 if none). */
export function lateness(t: TaskView, now: number): number {
  let worst = 0
  for (const d of deadlines(t)) {
    if (d.doneAt !== null) continue
    const over = now - new Date(d.due).getTime()
    if (over > worst) worst = over
  }
  return worst
}

/** The command centre's moves from each status, as api/src/events/flow.rs allows them. */
export type MoveKind = 'accept' | 'dispatch' | 'redispatch' | 'merge' | 'reject' | 'return' | 'complete'

export function commandMoves(s: Status): MoveKind[] {
  switch (s) {
    case 'reported':
      return ['accept', 'dispatch', 'reject', 'merge']
    case 'accepted':
      return ['dispatch', 'reject', 'merge']
    case 'dispatched':
      return ['redispatch', 'reject', 'merge']
    case 'signed':
    case 'on_site':
      return ['redispatch', 'merge']
    case 'handled':
      return ['complete', 'return', 'redispatch', 'merge']
    default:
      return []
  }
}

export const MOVE_LABELS: Record<string, string> = {
  accept: '受理',
  dispatch: '派遣',
  redispatch: '改派',
  merge: '合并',
  reject: '驳回',
  return: '退回',
  complete: '办结',
}
